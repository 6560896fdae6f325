package h2_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ontime-rt/ontime/internal/h2"
	"github.com/ontime-rt/ontime/internal/tlscert/tlscerttest"
)

// reference runs the tests against Go's own HTTP/2 server, configured as
// closely as it can be to the h2.Server a test asks for: a test that fails
// there too is suspect, or shows where ontime's server means to differ.
var reference = flag.Bool("h2.reference", false, "test Go's HTTP/2 server instead of h2.Server")

// useGoServer makes hs serve HTTP/2 itself with the settings of s.
func useGoServer(hs *http.Server, s *h2.Server) {
	hs.HTTP2 = &http.HTTP2Config{
		MaxConcurrentStreams:      int(s.MaxConcurrentStreams),
		MaxReceiveBufferPerStream: int(s.StreamWindow),
		WriteByteTimeout:          s.WriteTimeout,
	}
	if s.MaxHeaderListSize > 0 {
		hs.MaxHeaderBytes = int(s.MaxHeaderListSize)
	}
	if s.IdleTimeout > 0 {
		hs.IdleTimeout = s.IdleTimeout
	}
}

// waitLimit bounds every wait in these tests: long enough for a loaded
// machine under -race, short enough that a hang fails the test.
const waitLimit = 20 * time.Second

// testServer is an http.Server serving TLS on a loopback port, its HTTP/2
// connections served by an h2.Server.
type testServer struct {
	hs      *http.Server
	addr    string
	cert    tlscerttest.Pair
	accepts *atomic.Int32 // TCP connections accepted
	served  chan error    // ServeTLS's result
}

// startServer serves h with s (configured by Configure) until the end of
// the test. edit, if given, changes the http.Server before Configure.
func startServer(t *testing.T, s *h2.Server, h http.Handler, edit ...func(*http.Server)) *testServer {
	t.Helper()
	pair := tlscerttest.Write(t, t.TempDir(), 1)
	cert, err := tls.LoadX509KeyPair(pair.CertFile, pair.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	if s.Logger == nil {
		s.Logger = testLogger(t)
	}
	hs := &http.Server{
		Handler:   h,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		ErrorLog:  log.New(&testWriter{t: t}, "", 0),
	}
	for _, e := range edit {
		e(hs)
	}
	if *reference {
		useGoServer(hs, s)
	} else if err := s.Configure(hs); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{hs: hs, addr: ln.Addr().String(), cert: pair, accepts: new(atomic.Int32), served: make(chan error, 1)}
	cl := &countingListener{Listener: ln, n: ts.accepts}
	go func() { ts.served <- hs.ServeTLS(cl, "", "") }()
	t.Cleanup(func() {
		hs.Close()
		select {
		case <-ts.served:
		case <-time.After(waitLimit):
			t.Errorf("ServeTLS did not return after Close")
		}
	})
	return ts
}

// url is the address of path on ts.
func (ts *testServer) url(path string) string { return "https://" + ts.addr + path }

// client is Go's HTTP/2 client (HTTP/2 only) trusting ts's certificate;
// its connections are closed at the end of the test. conf, if not nil,
// sets its HTTP/2 settings.
func (ts *testServer) client(t *testing.T, conf *http.HTTP2Config) *http.Client {
	t.Helper()
	var p http.Protocols
	p.SetHTTP2(true)
	tr := &http.Transport{
		Protocols:       &p,
		HTTP2:           conf,
		TLSClientConfig: &tls.Config{RootCAs: tlscerttest.Pool(ts.cert)},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// testWriter writes to the test's log until the test ends, and drops what
// comes after (connections may log while they close).
type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
	once sync.Once
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.once.Do(func() {
		w.t.Cleanup(func() {
			w.mu.Lock()
			w.done = true
			w.mu.Unlock()
		})
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	}
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	w.once.Do(func() {
		t.Cleanup(func() {
			w.mu.Lock()
			w.done = true
			w.mu.Unlock()
		})
	})
	return slog.New(slog.NewTextHandler(w, nil))
}

// payload is n bytes that differ from one offset to the next, so a lost,
// repeated or reordered chunk shows.
func payload(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// rawConn is an HTTP/2 client connection driven frame by frame, for what
// Go's client cannot be made to do. Every read and write on it fails after
// waitLimit.
type rawConn struct {
	t      *testing.T
	c      *tls.Conn
	fr     *http2.Framer
	encBuf bytes.Buffer
	enc    *hpack.Encoder
	// streams are the responses read so far, by stream.
	streams map[uint32]*response
	// settings are those the server sent in its first SETTINGS frame.
	settings map[http2.SettingID]uint32
}

// dialRaw opens a TLS connection to ts choosing "h2"; it is closed at the
// end of the test.
func dialRaw(t *testing.T, ts *testServer) *rawConn {
	t.Helper()
	d := &tls.Dialer{Config: &tls.Config{RootCAs: tlscerttest.Pool(ts.cert), NextProtos: []string{"h2"}}}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	nc, err := d.DialContext(ctx, "tcp", ts.addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return rawFrom(t, nc.(*tls.Conn))
}

// rawFrom is dialRaw's rawConn on a connection dialled by the caller.
func rawFrom(t *testing.T, c *tls.Conn) *rawConn {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN chose %q, want h2", p)
	}
	c.SetDeadline(time.Now().Add(waitLimit))
	rc := &rawConn{t: t, c: c, fr: http2.NewFramer(c, c), settings: map[http2.SettingID]uint32{}}
	rc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	// The client never raises SETTINGS_MAX_FRAME_SIZE: a larger frame is a
	// server error, which ReadFrame reports.
	rc.fr.SetMaxReadFrameSize(16 << 10)
	rc.fr.MaxHeaderListSize = 1 << 20
	rc.enc = hpack.NewEncoder(&rc.encBuf)
	return rc
}

// handshake sends the client preface and settings, and reads frames up to
// the server's SETTINGS, which it acknowledges.
func (rc *rawConn) handshake(settings ...http2.Setting) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, http2.ClientPreface); err != nil {
		rc.t.Fatalf("write preface: %v", err)
	}
	if err := rc.fr.WriteSettings(settings...); err != nil {
		rc.t.Fatalf("write settings: %v", err)
	}
	f := rc.readUntil("server SETTINGS", func(f http2.Frame) bool {
		sf, ok := f.(*http2.SettingsFrame)
		return ok && !sf.IsAck()
	}).(*http2.SettingsFrame)
	f.ForeachSetting(func(s http2.Setting) error {
		rc.settings[s.ID] = s.Val
		return nil
	})
	if err := rc.fr.WriteSettingsAck(); err != nil {
		rc.t.Fatalf("write settings ack: %v", err)
	}
}

// header is one header field of a request.
type header struct{ name, value string }

// headerBlock encodes a request's header block.
func (rc *rawConn) headerBlock(method, path string, extra ...header) []byte {
	rc.encBuf.Reset()
	for _, h := range append([]header{{":method", method}, {":scheme", "https"}, {":authority", "localhost"}, {":path", path}}, extra...) {
		rc.enc.WriteField(hpack.HeaderField{Name: h.name, Value: h.value})
	}
	return bytes.Clone(rc.encBuf.Bytes())
}

// request opens stream id with a request without body.
func (rc *rawConn) request(id uint32, method, path string, extra ...header) {
	rc.t.Helper()
	err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: rc.headerBlock(method, path, extra...), EndStream: true, EndHeaders: true})
	if err != nil {
		rc.t.Fatalf("write HEADERS: %v", err)
	}
}

// requireOK sends a GET of path on stream id and fails the test unless it
// is answered 200.
func (rc *rawConn) requireOK(id uint32, path string) *response {
	rc.t.Helper()
	rc.request(id, http.MethodGet, path)
	r := rc.readResponse(id)
	if r.status != "200" {
		rc.t.Fatalf("GET %s on stream %d: %v", path, id, r)
	}
	return r
}

// readFrame reads the next frame, acknowledging SETTINGS and PING on the
// way as a client must.
func (rc *rawConn) readFrame() (http2.Frame, error) {
	f, err := rc.fr.ReadFrame()
	if err != nil {
		return nil, err
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if !f.IsAck() && len(rc.settings) > 0 {
			rc.fr.WriteSettingsAck()
		}
	case *http2.PingFrame:
		if !f.IsAck() {
			rc.fr.WritePing(true, f.Data)
		}
	}
	return f, nil
}

// readUntil reads frames until match holds for one, which it returns.
func (rc *rawConn) readUntil(what string, match func(http2.Frame) bool) http2.Frame {
	rc.t.Helper()
	for {
		f, err := rc.readFrame()
		if err != nil {
			rc.t.Fatalf("reading until %s: %v", what, err)
		}
		if match(f) {
			return f
		}
	}
}

// response is what a stream received, read by readResponse.
type response struct {
	status string
	header []hpack.HeaderField
	body   []byte
	reset  *http2.RSTStreamFrame
	goaway *http2.GoAwayFrame // a GOAWAY with an error that ended the connection
	frames []string           // summary of every frame of the stream, in order
	done   bool               // END_STREAM or RST_STREAM received
}

// readResponse reads frames until stream id ends (END_STREAM or
// RST_STREAM), or the connection gets GOAWAY with an error, and returns
// what the stream got. Frames of other streams are kept for their own
// readResponse.
func (rc *rawConn) readResponse(id uint32) *response {
	rc.t.Helper()
	r, err := rc.tryResponse(id)
	if err != nil {
		rc.t.Fatalf("reading the response of stream %d (so far %v): %v", id, r, err)
	}
	return r
}

// tryResponse is readResponse returning the error that ends the
// connection rather than failing the test.
func (rc *rawConn) tryResponse(id uint32) (*response, error) {
	if rc.streams == nil {
		rc.streams = map[uint32]*response{}
	}
	stream := func(id uint32) *response {
		r := rc.streams[id]
		if r == nil {
			r = &response{}
			rc.streams[id] = r
		}
		return r
	}
	for r := stream(id); !r.done; {
		f, err := rc.readFrame()
		if err != nil {
			return r, err
		}
		if g, ok := f.(*http2.GoAwayFrame); ok && g.ErrCode != http2.ErrCodeNo {
			g2 := *g
			r.goaway = &g2
			return r, nil
		}
		if f.Header().StreamID == 0 {
			continue
		}
		fr := stream(f.Header().StreamID)
		fr.frames = append(fr.frames, f.Header().String())
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if fr.status == "" {
				fr.status = f.PseudoValue("status")
				fr.header = f.RegularFields()
			}
			fr.done = f.StreamEnded()
		case *http2.DataFrame:
			fr.body = append(fr.body, f.Data()...)
			if len(f.Data()) > 0 {
				// Give the flow-control credit back, as a reading client does.
				rc.fr.WriteWindowUpdate(0, uint32(len(f.Data())))
				if !f.StreamEnded() {
					rc.fr.WriteWindowUpdate(f.StreamID, uint32(len(f.Data())))
				}
			}
			fr.done = f.StreamEnded()
		case *http2.RSTStreamFrame:
			r2 := *f
			fr.reset = &r2
			fr.done = true
		}
	}
	return rc.streams[id], nil
}

// String sums r up for a failure message.
func (r *response) String() string {
	s := fmt.Sprintf("status %q, %d body bytes", r.status, len(r.body))
	if r.reset != nil {
		s += fmt.Sprintf(", RST_STREAM %v", r.reset.ErrCode)
	}
	if r.goaway != nil {
		s += fmt.Sprintf(", GOAWAY %v %q", r.goaway.ErrCode, r.goaway.DebugData())
	}
	return s + fmt.Sprintf(", frames %v", r.frames)
}

// headerValue is the value of the response header name ("" if absent).
func (r *response) headerValue(name string) string {
	for _, h := range r.header {
		if h.Name == name {
			return h.Value
		}
	}
	return ""
}

// isTimeout reports whether err is a net.Error that timed out.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// closed is what readClosed saw before the connection ended.
type closed struct {
	frames []string           // summary of every frame read, in order
	goaway *http2.GoAwayFrame // the last GOAWAY, if any
	err    error              // the error that ended the reading
}

// readClosed reads frames until the connection ends. A read deadline
// passing is a test failure: the server did not close the connection.
func (rc *rawConn) readClosed() closed {
	rc.t.Helper()
	var c closed
	for {
		f, err := rc.readFrame()
		if err != nil {
			if isTimeout(err) {
				rc.t.Fatalf("connection still open after %v (frames read: %v)", waitLimit, c.frames)
			}
			c.err = err
			return c
		}
		c.frames = append(c.frames, f.Header().String())
		if g, ok := f.(*http2.GoAwayFrame); ok {
			// The frame is only valid until the next read.
			g2 := *g
			c.goaway = &g2
		}
	}
}
