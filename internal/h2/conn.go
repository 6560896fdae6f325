package h2

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const (
	// outLimit is what a connection's outgoing buffer holds before a
	// handler's Write waits for the writer (within its write deadline): a
	// client that reads slowly costs the server at most this much, plus
	// the write in progress.
	outLimit = 256 << 10
	// controlSlack is the room beyond outLimit for the frames the server
	// owes a client whatever the buffer holds (SETTINGS and PING
	// acknowledgements, WINDOW_UPDATE, RST_STREAM, GOAWAY). A client that
	// keeps asking for them without reading the answers fills it and is
	// disconnected.
	controlSlack = 64 << 10
	// keepBuffer is the largest outgoing buffer a connection keeps between
	// writes; a larger one (after a burst) goes back to the heap.
	keepBuffer = 64 << 10
	// refreshMin is the least window given back in one WINDOW_UPDATE.
	refreshMin = 4 << 10
	// maxWindow is the largest flow-control window (RFC 9113, 6.9.1).
	maxWindow = 1<<31 - 1
	// closeFlushTimeout bounds the last write of a connection that ends.
	closeFlushTimeout = time.Second
	// prefaceTimeout bounds the wait for the client's connection preface.
	prefaceTimeout = 10 * time.Second
	// initialWindow is the window both sides start with (RFC 9113, 6.9.2).
	initialWindow = 65535
	// defaultMaxFrame is the frame size both sides may send until told
	// otherwise.
	defaultMaxFrame = 16384
)

var (
	errConnClosed   = errors.New("h2: connection closed")
	errStreamClosed = errors.New("h2: stream closed")
	errClientReset  = errors.New("h2: client reset the stream")
)

// conn is one HTTP/2 connection. Its serve goroutine reads frames and
// starts a goroutine per request; its writer goroutine sends what the
// others append to out. Everything below mu is guarded by it.
type conn struct {
	srv          *Server
	hs           *http.Server
	nc           *tls.Conn
	handler      http.Handler
	baseCtx      context.Context
	log          *slog.Logger
	fr           *http2.Framer // reading: owned by serve
	remoteAddr   string
	tlsState     tls.ConnectionState
	maxStreams   uint32
	streamWindow int32
	writeTimeout time.Duration
	idleTimeout  time.Duration

	handlers   sync.WaitGroup
	wake       chan struct{} // capacity 1: out has something for the writer
	writerDone chan struct{}
	idle       *time.Timer

	mu  sync.Mutex
	out bytes.Buffer  // frames not yet taken by the writer
	wfr *http2.Framer // writes into out
	// hbuf and henc encode header blocks; the encoder's table follows the
	// order of out, so blocks are encoded and appended under mu at once.
	hbuf    bytes.Buffer
	henc    *hpack.Encoder
	changed chan struct{} // closed (and replaced) when a waiting Write may go on
	waiting int           // Writes waiting on changed
	// sendWindow is what the client lets the server send on the
	// connection; peerInitialWindow and peerMaxFrame are from its SETTINGS.
	sendWindow        int64
	peerInitialWindow int64
	peerMaxFrame      uint32
	// recvWindow is what the client may still send on the connection;
	// recvUnacked has been read (or dropped) but not yet given back.
	recvWindow        int64
	recvUnacked       int64
	streams           map[uint32]*stream
	maxClientStreamID uint32
	running           int // handlers that have not returned
	sawSettings       bool
	goAwaySent        bool
	shuttingDown      bool
	closeAfterFlush   bool  // the writer closes the connection once out is sent
	err               error // set when the connection ends: writes fail with it
}

func newConn(s *Server, hs *http.Server, nc *tls.Conn, h http.Handler) *conn {
	ctx := context.Background()
	if bc, ok := h.(interface{ BaseContext() context.Context }); ok {
		ctx = bc.BaseContext()
	}
	c := &conn{
		srv:               s,
		hs:                hs,
		nc:                nc,
		handler:           h,
		baseCtx:           ctx,
		log:               s.logger(),
		remoteAddr:        nc.RemoteAddr().String(),
		tlsState:          nc.ConnectionState(),
		maxStreams:        s.maxStreams(),
		streamWindow:      s.streamWindow(),
		writeTimeout:      s.writeTimeout(),
		idleTimeout:       s.idleTimeout(hs),
		wake:              make(chan struct{}, 1),
		writerDone:        make(chan struct{}),
		changed:           make(chan struct{}),
		sendWindow:        initialWindow,
		peerInitialWindow: initialWindow,
		peerMaxFrame:      defaultMaxFrame,
		recvWindow:        initialWindow,
		streams:           make(map[uint32]*stream),
	}
	c.fr = http2.NewFramer(nil, nc)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.MaxHeaderListSize = s.maxHeaderListSize(hs)
	c.fr.SetReuseFrames()
	c.fr.SetMaxReadFrameSize(defaultMaxFrame) // as advertised: the default
	c.wfr = http2.NewFramer(&c.out, nil)
	c.henc = hpack.NewEncoder(&c.hbuf)
	return c
}

// serve reads and handles frames until the connection ends, then waits
// for its handlers and its writer.
func (c *conn) serve() {
	go c.writeLoop()
	defer c.cleanup()

	c.mu.Lock()
	_ = c.wfr.WriteSettings(
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: c.maxStreams},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(c.streamWindow)},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: c.fr.MaxHeaderListSize},
	)
	connWindow := 4 * int64(c.streamWindow)
	if connWindow > maxWindow {
		connWindow = maxWindow
	}
	_ = c.wfr.WriteWindowUpdate(0, uint32(connWindow-initialWindow))
	c.recvWindow = connWindow
	if err := checkTLS(c.tlsState); err != nil {
		c.log.Debug("h2: refusing the connection", "remote", c.remoteAddr, "err", err)
		c.goAwayLocked(http2.ErrCodeInadequateSecurity)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.kick()

	_ = c.nc.SetReadDeadline(time.Now().Add(prefaceTimeout))
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c.nc, preface); err != nil || string(preface) != http2.ClientPreface {
		c.log.Debug("h2: bad connection preface", "remote", c.remoteAddr, "err", err)
		c.mu.Lock()
		c.goAwayLocked(http2.ErrCodeProtocol)
		c.mu.Unlock()
		return
	}
	_ = c.nc.SetReadDeadline(time.Time{})
	c.idle = time.AfterFunc(c.idleTimeout, c.onIdle)
	defer c.idle.Stop()

	for {
		f, err := c.fr.ReadFrame()
		if err == nil {
			err = c.process(f)
		}
		if err != nil && !c.handleError(err) {
			return
		}
	}
}

// handleError answers a protocol error: a stream error resets the stream
// and the connection goes on; anything else ends the connection (after a
// GOAWAY naming a connection error). It reports whether to go on reading.
func (c *conn) handleError(err error) bool {
	var se http2.StreamError
	var ce http2.ConnectionError
	switch {
	case errors.As(err, &se):
		c.mu.Lock()
		if se.StreamID > c.maxClientStreamID && se.StreamID%2 == 1 {
			c.maxClientStreamID = se.StreamID
		}
		if st := c.streams[se.StreamID]; st != nil {
			c.resetStreamLocked(st, se.Code, fmt.Errorf("h2: stream error: %w", err))
		} else {
			_ = c.wfr.WriteRSTStream(se.StreamID, se.Code)
		}
		over := c.floodedLocked()
		c.mu.Unlock()
		c.kick()
		c.log.Debug("h2: stream error", "remote", c.remoteAddr, "stream", se.StreamID, "err", err)
		return !over
	case errors.As(err, &ce):
		c.log.Debug("h2: connection error", "remote", c.remoteAddr, "err", err, "detail", c.fr.ErrorDetail())
		c.mu.Lock()
		c.goAwayLocked(http2.ErrCode(ce))
		c.mu.Unlock()
		return false
	case errors.Is(err, http2.ErrFrameTooLarge):
		c.mu.Lock()
		c.goAwayLocked(http2.ErrCodeFrameSize)
		c.mu.Unlock()
		return false
	case errors.Is(err, errFlood):
		c.log.Debug("h2: client does not read what it asks for", "remote", c.remoteAddr)
		return false
	}
	return false // the connection is gone (EOF, closed, reset)
}

// errFlood ends a connection whose client keeps asking for control frames
// without reading them.
var errFlood = errors.New("h2: too many frames owed to a client that does not read")

// floodedLocked reports whether what the server owes the client has grown
// past the room kept for it: the client asks for frames and reads nothing.
func (c *conn) floodedLocked() bool {
	return c.out.Len() > outLimit+controlSlack
}

// process handles one frame.
func (c *conn) process(f http2.Frame) error {
	if !c.sawSettings {
		if _, ok := f.(*http2.SettingsFrame); !ok {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.sawSettings = true
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return c.processSettings(f)
	case *http2.MetaHeadersFrame:
		return c.processHeaders(f)
	case *http2.DataFrame:
		return c.processData(f)
	case *http2.WindowUpdateFrame:
		return c.processWindowUpdate(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		return c.control(func() error { return c.wfr.WritePing(true, f.Data) })
	case *http2.RSTStreamFrame:
		return c.processReset(f)
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeProtocol}
		}
		return nil
	case *http2.GoAwayFrame:
		// The client opens no more streams; those open are served to
		// their end.
		return nil
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	return nil // unknown frame types are ignored (RFC 9113, 5.5)
}

// control appends a frame the server owes the client whatever its
// buffer holds.
func (c *conn) control(write func() error) error {
	c.mu.Lock()
	err := write()
	over := c.floodedLocked()
	c.mu.Unlock()
	c.kick()
	if err != nil {
		return err
	}
	if over {
		return errFlood
	}
	return nil
}

func (c *conn) processSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	c.mu.Lock()
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - c.peerInitialWindow
			c.peerInitialWindow = int64(s.Val)
			for _, st := range c.streams {
				st.sendWindow += delta
				if st.sendWindow > maxWindow {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
			}
		case http2.SettingMaxFrameSize:
			c.peerMaxFrame = s.Val
		case http2.SettingHeaderTableSize:
			c.henc.SetMaxDynamicTableSizeLimit(s.Val)
		}
		return nil
	})
	if err == nil {
		_ = c.wfr.WriteSettingsAck()
		c.broadcastLocked()
		if c.floodedLocked() {
			err = errFlood
		}
	}
	c.mu.Unlock()
	c.kick()
	return err
}

func (c *conn) processWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.StreamID == 0 {
		c.sendWindow += int64(f.Increment)
		if c.sendWindow > maxWindow {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		c.broadcastLocked()
		return nil
	}
	if f.StreamID%2 == 1 && f.StreamID > c.maxClientStreamID {
		return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
	}
	st := c.streams[f.StreamID]
	if st == nil {
		return nil // a closed stream: the update was in flight
	}
	st.sendWindow += int64(f.Increment)
	if st.sendWindow > maxWindow {
		return http2.StreamError{StreamID: f.StreamID, Code: http2.ErrCodeFlowControl}
	}
	c.broadcastLocked()
	return nil
}

func (c *conn) processReset(f *http2.RSTStreamFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.StreamID%2 == 1 && f.StreamID > c.maxClientStreamID || f.StreamID%2 == 0 {
		return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
	}
	if st := c.streams[f.StreamID]; st != nil {
		st.endLocked(errClientReset)
		c.closeStreamLocked(st)
	}
	return nil
}

func (c *conn) processData(f *http2.DataFrame) error {
	id := f.StreamID
	n := int64(f.Length) // padding counts against the windows too
	c.mu.Lock()
	defer func() {
		c.mu.Unlock()
		c.kick()
	}()
	if id%2 == 0 || id > c.maxClientStreamID {
		return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
	}
	if n > c.recvWindow {
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	c.recvWindow -= n
	st := c.streams[id]
	if st == nil || st.peerEnded || st.err != nil {
		c.consumedLocked(nil, n)
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
	}
	if n > st.recvWindow {
		c.consumedLocked(nil, n)
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeFlowControl}
	}
	st.recvWindow -= n
	data := f.Data()
	if pad := n - int64(len(data)); pad > 0 {
		c.consumedLocked(st, pad)
	}
	st.received += int64(len(data))
	if st.declared >= 0 && (st.received > st.declared || f.StreamEnded() && st.received != st.declared) {
		c.consumedLocked(nil, int64(len(data)))
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	if b := st.body; b != nil && !b.closed {
		b.buf.Write(data)
		b.signalLocked()
	} else {
		c.consumedLocked(st, int64(len(data)))
	}
	if f.StreamEnded() {
		c.peerEndedLocked(st)
	}
	return nil
}

// sentEndLocked notes that the server sent its last frame on st.
func (c *conn) sentEndLocked(st *stream) {
	st.sentEnd = true
	if st.peerEnded {
		c.closeStreamLocked(st)
	}
}

// peerEndedLocked notes that the client sent its last frame on st.
func (c *conn) peerEndedLocked(st *stream) {
	st.peerEnded = true
	if st.body != nil && st.body.err == nil {
		st.body.err = io.EOF
		st.body.signalLocked()
	}
	if st.sentEnd {
		c.closeStreamLocked(st)
	}
}

// consumedLocked gives n bytes of window back to the client, on the
// connection and (when st is still receiving) on st, once enough has
// gathered for a WINDOW_UPDATE.
func (c *conn) consumedLocked(st *stream, n int64) {
	if n <= 0 {
		return
	}
	c.recvUnacked += n
	if c.recvUnacked >= refreshMin {
		_ = c.wfr.WriteWindowUpdate(0, uint32(c.recvUnacked))
		c.recvWindow += c.recvUnacked
		c.recvUnacked = 0
	}
	if st == nil || st.peerEnded || st.err != nil {
		return
	}
	st.recvUnacked += n
	if st.recvUnacked >= refreshMin {
		_ = c.wfr.WriteWindowUpdate(st.id, uint32(st.recvUnacked))
		st.recvWindow += st.recvUnacked
		st.recvUnacked = 0
	}
}

func (c *conn) processHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	c.mu.Lock()
	defer func() {
		c.mu.Unlock()
		c.kick()
	}()
	if st := c.streams[id]; st != nil {
		// Trailers: they must end the stream and carry no pseudo-header.
		// Their fields are dropped.
		switch {
		case st.peerEnded:
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
		case !f.StreamEnded() || len(f.PseudoFields()) > 0:
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
		case st.declared >= 0 && st.received != st.declared:
			return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
		}
		c.peerEndedLocked(st)
		return nil
	}
	if id <= c.maxClientStreamID {
		return http2.ConnectionError(http2.ErrCodeStreamClosed)
	}
	c.maxClientStreamID = id
	if c.goAwaySent {
		return nil // past the GOAWAY: the client retries it elsewhere
	}
	if f.HasPriority() && f.Priority.StreamDep == id {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	if len(c.streams) >= int(c.maxStreams) || c.running >= int(c.maxStreams) {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeRefusedStream}
	}
	st := &stream{
		c:          c,
		id:         id,
		sendWindow: c.peerInitialWindow,
		recvWindow: int64(c.streamWindow),
		declared:   -1,
	}
	req, err := c.newRequest(st, f)
	if err != nil {
		c.log.Debug("h2: bad request", "remote", c.remoteAddr, "stream", id, "err", err)
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol, Cause: err}
	}
	c.streams[id] = st
	c.running++
	c.idle.Stop()
	if f.StreamEnded() {
		st.peerEnded = true
	}
	h := c.handler
	switch {
	case f.Truncated:
		h = http.HandlerFunc(headersTooLarge)
	case req.Method == http.MethodConnect:
		h = http.HandlerFunc(connectNotAllowed)
	}
	c.handlers.Add(1)
	go c.runHandler(st, req, h)
	return nil
}

func headersTooLarge(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "request header fields too large", http.StatusRequestHeaderFieldsTooLarge)
}

func connectNotAllowed(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "CONNECT is not supported", http.StatusMethodNotAllowed)
}

// resetStreamLocked ends st with an RST_STREAM of code; err is what its
// handler's writes and body reads return from then on.
func (c *conn) resetStreamLocked(st *stream, code http2.ErrCode, err error) {
	if st.err == nil && !(st.sentEnd && st.peerEnded) {
		_ = c.wfr.WriteRSTStream(st.id, code)
	}
	st.endLocked(err)
	c.closeStreamLocked(st)
}

// closeStreamLocked forgets st: both sides are done with it, or it was
// reset. Body bytes it never read are given back to the connection.
func (c *conn) closeStreamLocked(st *stream) {
	if c.streams[st.id] != st {
		return
	}
	delete(c.streams, st.id)
	if b := st.body; b != nil && b.buf.Len() > 0 {
		n := int64(b.buf.Len())
		b.buf.Reset()
		c.consumedLocked(nil, n)
	}
	if len(c.streams) > 0 {
		return
	}
	switch {
	case c.shuttingDown:
		c.closeAfterFlush = true
		c.kick() // the writer closes the connection once out is sent
	case c.idle != nil && c.err == nil:
		c.idle.Reset(c.idleTimeout)
	}
}

// onIdle closes a connection that has had no stream for the idle timeout.
func (c *conn) onIdle() {
	c.mu.Lock()
	if len(c.streams) == 0 && c.err == nil {
		c.goAwayLocked(http2.ErrCodeNo)
		c.closeAfterFlush = true
	}
	c.mu.Unlock()
	c.kick()
}

// startGracefulShutdown sends GOAWAY: open streams are served to their
// end, new ones are not, and the connection closes when the last ends.
func (c *conn) startGracefulShutdown() {
	c.mu.Lock()
	c.shuttingDown = true
	c.goAwayLocked(http2.ErrCodeNo)
	if len(c.streams) == 0 {
		c.closeAfterFlush = true
	}
	c.mu.Unlock()
	c.kick()
}

// goAwayLocked sends GOAWAY naming the last stream the server handles.
// With an error code the connection ends after it.
func (c *conn) goAwayLocked(code http2.ErrCode) {
	if code != http2.ErrCodeNo {
		c.closeAfterFlush = true
	}
	if c.goAwaySent {
		return
	}
	c.goAwaySent = true
	_ = c.wfr.WriteGoAway(c.maxClientStreamID, code, nil)
}

// broadcastLocked wakes every Write waiting for window or buffer room.
// With none waiting (the usual case) it costs nothing.
func (c *conn) broadcastLocked() {
	if c.waiting == 0 {
		return
	}
	close(c.changed)
	c.changed = make(chan struct{})
}

// kick tells the writer there is something to send, or the connection to
// close. It never blocks, so it may be called with c.mu held.
func (c *conn) kick() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// writeLoop is the connection's one writer: it sends everything appended
// to out since its last write in one write, with a deadline (renewed at
// most once a second, see renewAfter: arming one costs a runtime timer),
// until the connection ends.
func (c *conn) writeLoop() {
	defer close(c.writerDone)
	var buf bytes.Buffer
	var deadlineSet time.Time
	for range c.wake {
		for {
			c.mu.Lock()
			if c.out.Len() == 0 {
				done := c.closeAfterFlush || c.err != nil
				c.mu.Unlock()
				if done {
					_ = c.nc.Close()
					return
				}
				break // wait for the next kick
			}
			c.out, buf = buf, c.out
			c.broadcastLocked()
			c.mu.Unlock()

			if now := time.Now(); now.Sub(deadlineSet) >= c.renewAfter() {
				_ = c.nc.SetWriteDeadline(now.Add(c.writeTimeout))
				deadlineSet = now
			}
			_, err := c.nc.Write(buf.Bytes())
			buf.Reset()
			if buf.Cap() > keepBuffer {
				buf = bytes.Buffer{}
			}
			if err != nil {
				c.fail(fmt.Errorf("h2: write: %w", err))
				return
			}
		}
	}
}

// renewAfter is how long a write deadline serves before it is set again:
// a second, or half the write timeout when that is shorter, so that the
// deadline never passes between two writes of a connection that writes.
func (c *conn) renewAfter() time.Duration {
	return min(time.Second, c.writeTimeout/2)
}

// fail ends the connection after a failed write: every Write fails, and
// closing the connection ends the read loop.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.out.Reset()
	c.broadcastLocked()
	c.mu.Unlock()
	_ = c.nc.Close()
}

// cleanup runs when the read loop ends: streams end (their handlers see
// their contexts done and their writes fail), the handlers are waited
// for, and the writer sends what is left (a GOAWAY) and closes.
func (c *conn) cleanup() {
	c.mu.Lock()
	if c.err == nil {
		c.err = errConnClosed
	}
	for _, st := range c.streams {
		st.endLocked(errConnClosed)
	}
	c.closeAfterFlush = true
	c.broadcastLocked()
	c.mu.Unlock()
	c.kick()
	c.handlers.Wait()
	c.kick()
	// What is left (a GOAWAY, the last frames) goes out if the client
	// takes it soon; a client that does not read is not waited for.
	t := time.NewTimer(closeFlushTimeout)
	defer t.Stop()
	select {
	case <-c.writerDone:
	case <-t.C:
		_ = c.nc.Close() // fails the writer's write
		<-c.writerDone
	}
	_ = c.nc.Close()
}

// checkTLS refuses what RFC 9113 (9.2) forbids under HTTP/2: TLS before
// 1.2, and TLS 1.2 without an ephemeral key exchange and an AEAD cipher.
func checkTLS(cs tls.ConnectionState) error {
	if cs.Version < tls.VersionTLS12 {
		return fmt.Errorf("TLS version %s", tls.VersionName(cs.Version))
	}
	if cs.Version == tls.VersionTLS12 {
		switch cs.CipherSuite {
		case tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		default:
			return fmt.Errorf("TLS 1.2 cipher suite %s", tls.CipherSuiteName(cs.CipherSuite))
		}
	}
	return nil
}
