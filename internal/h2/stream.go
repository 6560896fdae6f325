package h2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// stream is one request and its response. Fields below c are guarded by
// c.mu.
type stream struct {
	c      *conn
	id     uint32
	cancel context.CancelFunc

	sendWindow    int64 // what the client lets the server send on it
	recvWindow    int64 // what the client may still send on it
	recvUnacked   int64
	declared      int64 // the request's Content-Length, or -1
	received      int64
	body          *body
	writeDeadline time.Time
	peerEnded     bool  // the client sent END_STREAM
	sentEnd       bool  // the server sent END_STREAM
	err           error // set when the stream ended early: writes fail with it
}

// endLocked ends st early: its handler's context is done, and its writes
// and body reads fail with err.
func (st *stream) endLocked(err error) {
	if st.err == nil {
		st.err = err
	}
	if st.cancel != nil {
		st.cancel()
	}
	if b := st.body; b != nil && (b.err == nil || b.err == io.EOF && b.buf.Len() > 0) {
		b.err = err
		b.signalLocked()
	}
	st.c.broadcastLocked()
}

// newRequest builds the http.Request of a HEADERS frame (RFC 9113, 8.3.1).
func (c *conn) newRequest(st *stream, f *http2.MetaHeadersFrame) (*http.Request, error) {
	method := f.PseudoValue("method")
	scheme := f.PseudoValue("scheme")
	authority := f.PseudoValue("authority")
	path := f.PseudoValue("path")
	if method == "" || !httpguts.ValidHostHeader(authority) {
		return nil, errors.New("missing or invalid :method or :authority")
	}
	if f.PseudoValue("protocol") != "" {
		return nil, errors.New(":protocol without extended CONNECT")
	}
	if method == http.MethodConnect {
		if scheme != "" || path != "" {
			return nil, errors.New("CONNECT with :scheme or :path")
		}
		path = "/"
	} else if scheme == "" || path == "" {
		return nil, errors.New("missing :scheme or :path")
	}

	header := make(http.Header, len(f.Fields))
	var cookies []string
	for _, hf := range f.RegularFields() {
		switch hf.Name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			return nil, fmt.Errorf("connection-specific header %q", hf.Name)
		case "te":
			if hf.Value != "trailers" {
				return nil, errors.New(`"te" other than "trailers"`)
			}
		case "cookie":
			cookies = append(cookies, hf.Value)
			continue
		}
		header.Add(http.CanonicalHeaderKey(hf.Name), hf.Value)
	}
	if len(cookies) > 0 {
		header.Set("Cookie", strings.Join(cookies, "; "))
	}
	if authority == "" {
		authority = header.Get("Host")
	}

	var u *url.URL
	var err error
	if method == http.MethodOptions && path == "*" {
		u = &url.URL{Path: "*"}
	} else if u, err = url.ParseRequestURI(path); err != nil {
		return nil, fmt.Errorf("invalid :path: %w", err)
	}

	var reqBody io.ReadCloser = http.NoBody
	contentLength := int64(0)
	if cls := header.Values("Content-Length"); len(cls) > 0 {
		for _, v := range cls[1:] {
			if v != cls[0] {
				return nil, errors.New("conflicting content-length")
			}
		}
		n, err := strconv.ParseInt(cls[0], 10, 64)
		if err != nil || n < 0 {
			return nil, errors.New("invalid content-length")
		}
		st.declared = n
		if f.StreamEnded() && n != 0 {
			return nil, errors.New("content-length without a body")
		}
	}
	if !f.StreamEnded() {
		st.body = &body{st: st, ready: make(chan struct{})}
		reqBody = st.body
		contentLength = st.declared // -1 when not declared
	}

	ctx, cancel := context.WithCancel(c.baseCtx)
	st.cancel = cancel
	tlsState := c.tlsState
	req := &http.Request{
		Method:        method,
		URL:           u,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		ProtoMinor:    0,
		Header:        header,
		Body:          reqBody,
		ContentLength: contentLength,
		Host:          authority,
		RemoteAddr:    c.remoteAddr,
		RequestURI:    path,
		TLS:           &tlsState,
	}
	return req.WithContext(ctx), nil
}

// runHandler serves one request and ends its stream.
func (c *conn) runHandler(st *stream, req *http.Request, h http.Handler) {
	rw := &responseWriter{st: st, req: req, header: make(http.Header), contentLength: -1, isHead: req.Method == http.MethodHead}
	defer func() {
		if e := recover(); e != nil {
			if e != http.ErrAbortHandler {
				c.log.Error("h2: panic serving a request", "remote", c.remoteAddr, "path", req.URL.Path, "panic", fmt.Sprint(e), "stack", string(debug.Stack()))
			}
			c.mu.Lock()
			c.resetStreamLocked(st, http2.ErrCodeInternal, errStreamClosed)
			c.mu.Unlock()
			c.kick()
		}
		rw.release()
		st.cancel()
		c.mu.Lock()
		c.running--
		c.mu.Unlock()
		c.handlers.Done()
	}()
	h.ServeHTTP(rw, req)
	rw.finish()
}

// bufSize is what a response buffers before it sends DATA frames.
const bufSize = 16 << 10

// bufPool holds response buffers: a response keeps one only between a
// Write and the next Flush, so an idle event stream holds none.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, bufSize); return &b }}

// responseWriter is a stream's http.ResponseWriter. It is used by the
// handler's goroutine only; what it sends goes through c.mu.
type responseWriter struct {
	st            *stream
	req           *http.Request
	header        http.Header
	snap          http.Header // the header as of WriteHeader
	status        int
	wroteHeader   bool
	sentHeader    bool
	done          bool
	isHead        bool
	buf           *[]byte // from bufPool while it holds bytes
	written       int64
	contentLength int64 // declared by the handler, or -1
}

// Header returns the response header, sent with the first Write or
// Flush, or at WriteHeader's caller's first Write.
func (rw *responseWriter) Header() http.Header { return rw.header }

// WriteHeader sets the status (1xx informational headers are sent at once).
func (rw *responseWriter) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if rw.wroteHeader || rw.done {
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		c := rw.st.c
		c.mu.Lock()
		if rw.st.err == nil && c.err == nil {
			c.writeHeadersLocked(rw.st, code, rw.header, nil, false, -1)
		}
		c.mu.Unlock()
		c.kick()
		return
	}
	rw.wroteHeader = true
	rw.status = code
	rw.snap = rw.header.Clone()
	if cl := rw.snap.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			rw.contentLength = n
		} else {
			rw.snap.Del("Content-Length")
		}
	}
}

// Write buffers p and sends DATA frames when the buffer fills.
func (rw *responseWriter) Write(p []byte) (int, error) {
	if rw.done {
		return 0, errors.New("h2: Write after the handler returned")
	}
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(rw.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if rw.contentLength >= 0 && rw.written+int64(len(p)) > rw.contentLength {
		return 0, http.ErrContentLength
	}
	rw.written += int64(len(p))
	if rw.isHead {
		return len(p), nil
	}
	if rw.buf == nil {
		rw.buf = bufPool.Get().(*[]byte)
	}
	if len(*rw.buf)+len(p) <= bufSize {
		*rw.buf = append(*rw.buf, p...)
		return len(p), nil
	}
	if err := rw.send(false, *rw.buf, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteString is Write without the conversion.
func (rw *responseWriter) WriteString(s string) (int, error) {
	return rw.Write([]byte(s))
}

// Flush sends the header (if not yet sent) and what is buffered.
func (rw *responseWriter) Flush() { _ = rw.FlushError() }

// FlushError is Flush that reports a stream or connection that ended.
func (rw *responseWriter) FlushError() error {
	if rw.done {
		return errors.New("h2: Flush after the handler returned")
	}
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	var pending []byte
	if rw.buf != nil {
		pending = *rw.buf
	}
	return rw.send(false, pending)
}

// SetWriteDeadline bounds the waits of later Writes and Flushes for the
// client to take data (flow control, a full connection buffer); one
// that passes resets the stream.
func (rw *responseWriter) SetWriteDeadline(t time.Time) error {
	c := rw.st.c
	c.mu.Lock()
	rw.st.writeDeadline = t
	c.broadcastLocked()
	c.mu.Unlock()
	return nil
}

// SetReadDeadline bounds the waits of later reads of the request body.
func (rw *responseWriter) SetReadDeadline(t time.Time) error {
	c := rw.st.c
	c.mu.Lock()
	if b := rw.st.body; b != nil {
		b.deadline = t
		b.signalLocked()
	}
	c.mu.Unlock()
	return nil
}

// EnableFullDuplex reports success: an HTTP/2 handler may read the
// request body while it writes the response.
func (rw *responseWriter) EnableFullDuplex() error { return nil }

// finish ends the response when the handler returns: what is buffered is
// sent with END_STREAM, and a request body the client is still sending
// is cut short with RST_STREAM NO_ERROR (RFC 9113, 8.1).
func (rw *responseWriter) finish() {
	if !rw.wroteHeader {
		rw.WriteHeader(http.StatusOK)
	}
	var pending []byte
	if rw.buf != nil {
		pending = *rw.buf
	}
	trailers := rw.trailers()
	_ = rw.send(trailers == nil, pending)
	rw.done = true
	c := rw.st.c
	c.mu.Lock()
	if st := rw.st; trailers != nil && st.writableLocked() == nil {
		c.writeTrailersLocked(st, trailers)
	}
	if st := rw.st; st.err == nil && !st.peerEnded {
		c.resetStreamLocked(st, http2.ErrCodeNo, errStreamClosed)
	}
	c.mu.Unlock()
	c.kick()
}

// trailers returns the response's trailers, or nil without any: the
// fields named by the Trailer header at WriteHeader, and those set with
// http.TrailerPrefix, as net/http has them.
func (rw *responseWriter) trailers() http.Header {
	if rw.isHead || !bodyAllowed(rw.status) {
		return nil
	}
	var t http.Header
	add := func(k string, vv []string) {
		if len(vv) == 0 {
			return
		}
		if t == nil {
			t = make(http.Header)
		}
		t[k] = vv
	}
	for _, v := range rw.snap["Trailer"] {
		for name := range strings.SplitSeq(v, ",") {
			k := http.CanonicalHeaderKey(strings.TrimSpace(name))
			if k != "" {
				add(k, rw.header[k])
			}
		}
	}
	for k, vv := range rw.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			add(http.CanonicalHeaderKey(name), vv)
		}
	}
	return t
}

// release gives the buffer back.
func (rw *responseWriter) release() {
	if rw.buf != nil {
		*rw.buf = (*rw.buf)[:0]
		bufPool.Put(rw.buf)
		rw.buf = nil
	}
}

// send sends the header if it has not gone yet, then parts as DATA
// frames (END_STREAM after the last when end), waiting for window and
// buffer room within the write deadline. The buffer is emptied.
func (rw *responseWriter) send(end bool, parts ...[]byte) error {
	c := rw.st.c
	c.mu.Lock()
	err := rw.sendLocked(end, parts)
	c.mu.Unlock()
	c.kick()
	rw.release()
	return err
}

func (rw *responseWriter) sendLocked(end bool, parts [][]byte) error {
	st, c := rw.st, rw.st.c
	if err := st.writableLocked(); err != nil {
		return err
	}
	size := 0
	for _, p := range parts {
		size += len(p)
	}
	if !rw.sentHeader {
		if err := st.waitRoomLocked(); err != nil {
			return err
		}
		var sniff []byte
		if len(parts) > 0 {
			sniff = parts[0]
		}
		cl := int64(-1)
		if end && rw.contentLength < 0 && bodyAllowed(rw.status) && !rw.isHead {
			cl = int64(size) // the whole body is here
		}
		headersEnd := end && (size == 0 || rw.isHead)
		c.writeHeadersLocked(st, rw.status, rw.snap, sniff, headersEnd, cl)
		rw.sentHeader = true
		if headersEnd {
			c.sentEndLocked(st)
			return nil
		}
	}
	if rw.isHead {
		parts = nil
	}
	for i, p := range parts {
		last := i == len(parts)-1
		for len(p) > 0 || end && last && !st.sentEnd {
			if err := st.writableLocked(); err != nil {
				return err
			}
			if err := st.waitRoomLocked(); err != nil {
				return err
			}
			n := min(int64(len(p)), int64(c.peerMaxFrame), st.sendWindow, c.sendWindow)
			if len(p) > 0 && n <= 0 {
				if err := st.waitLocked(); err != nil {
					return err
				}
				continue
			}
			n = max(n, 0)
			endStream := end && last && int(n) == len(p)
			_ = c.wfr.WriteData(st.id, endStream, p[:n])
			st.sendWindow -= n
			c.sendWindow -= n
			p = p[n:]
			if endStream {
				c.sentEndLocked(st)
			}
		}
	}
	if end && !st.sentEnd {
		_ = c.wfr.WriteData(st.id, true, nil)
		c.sentEndLocked(st)
	}
	return nil
}

// writableLocked reports why st can take no more frames, if it cannot.
func (st *stream) writableLocked() error {
	switch {
	case st.err != nil:
		return st.err
	case st.c.err != nil:
		return st.c.err
	case st.sentEnd:
		return errStreamClosed
	case !st.writeDeadline.IsZero() && !time.Now().Before(st.writeDeadline):
		return st.timeoutLocked()
	}
	return nil
}

// timeoutLocked resets a stream whose write deadline passed: what it
// sent is cut short, so the client must not take it as whole.
func (st *stream) timeoutLocked() error {
	st.c.resetStreamLocked(st, http2.ErrCodeCancel, os.ErrDeadlineExceeded)
	return os.ErrDeadlineExceeded
}

// waitRoomLocked waits while the connection's buffer is full.
func (st *stream) waitRoomLocked() error {
	for st.c.out.Len() >= outLimit {
		if err := st.waitLocked(); err != nil {
			return err
		}
	}
	return nil
}

// waitLocked waits, with c.mu released, until something may let a Write
// go on, or the stream's write deadline passes.
func (st *stream) waitLocked() error {
	c := st.c
	ch, dl := c.changed, st.writeDeadline
	// Without a deadline of the handler's own, the wait is bounded by the
	// write timeout: a client that grants no window for that long (or
	// reads nothing) does not keep the handler forever.
	own := !dl.IsZero()
	if !own {
		dl = time.Now().Add(c.writeTimeout)
	}
	c.waiting++
	c.mu.Unlock()
	c.kick()
	defer func() { c.waiting-- }() // runs with c.mu held again
	t := time.NewTimer(time.Until(dl))
	defer t.Stop()
	select {
	case <-ch:
		c.mu.Lock()
	case <-t.C:
		c.mu.Lock()
		if st.err != nil {
			return st.err
		}
		if own && !st.writeDeadline.Equal(dl) || !own && !st.writeDeadline.IsZero() {
			return nil // moved meanwhile: look again
		}
		return st.timeoutLocked()
	}
	return st.writableLocked()
}

// writeHeadersLocked appends the response header.
func (c *conn) writeHeadersLocked(st *stream, status int, h http.Header, sniff []byte, endStream bool, contentLength int64) {
	c.hbuf.Reset()
	enc := func(name, value string) {
		_ = c.henc.WriteField(hpack.HeaderField{Name: name, Value: value})
	}
	enc(":status", strconv.Itoa(status))
	c.encodeFieldsLocked(h)
	if _, ok := h["Content-Type"]; !ok && bodyAllowed(status) && len(sniff) > 0 {
		enc("content-type", http.DetectContentType(sniff))
	}
	if _, ok := h["Date"]; !ok && status >= 200 {
		enc("date", time.Now().UTC().Format(http.TimeFormat))
	}
	if _, ok := h["Content-Length"]; !ok && contentLength >= 0 {
		enc("content-length", strconv.FormatInt(contentLength, 10))
	}
	c.writeBlockLocked(st, endStream)
}

// writeTrailersLocked appends the trailers as a HEADERS frame that ends
// the stream.
func (c *conn) writeTrailersLocked(st *stream, t http.Header) {
	c.hbuf.Reset()
	c.encodeFieldsLocked(t)
	c.writeBlockLocked(st, true)
	c.sentEndLocked(st)
}

// encodeFieldsLocked encodes h's fields into hbuf, leaving out those
// HTTP/2 forbids and the invalid ones.
func (c *conn) encodeFieldsLocked(h http.Header) {
	for k, vv := range h {
		lk := strings.ToLower(k)
		switch lk {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			continue // meaningless in HTTP/2, and forbidden
		}
		if strings.HasPrefix(k, http.TrailerPrefix) || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range vv {
			if httpguts.ValidHeaderFieldValue(v) {
				_ = c.henc.WriteField(hpack.HeaderField{Name: lk, Value: v})
			}
		}
	}
}

// writeBlockLocked appends the header block in hbuf as a HEADERS frame,
// and CONTINUATION frames when it is larger than the client's frame size.
func (c *conn) writeBlockLocked(st *stream, endStream bool) {
	block := c.hbuf.Bytes()
	max := int(c.peerMaxFrame)
	first := block
	if len(first) > max {
		first = block[:max]
	}
	block = block[len(first):]
	_ = c.wfr.WriteHeaders(http2.HeadersFrameParam{
		StreamID:      st.id,
		BlockFragment: first,
		EndStream:     endStream,
		EndHeaders:    len(block) == 0,
	})
	for len(block) > 0 {
		n := min(len(block), max)
		_ = c.wfr.WriteContinuation(st.id, n == len(block), block[:n])
		block = block[n:]
	}
}

// bodyAllowed reports whether a response of status may have a body.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// body is a request's body: what DATA frames brought, read by the
// handler. It holds at most the stream's window (flow control bounds
// it); fields are guarded by the connection's mu.
type body struct {
	st       *stream
	buf      bytes.Buffer
	err      error         // io.EOF once the client ended the stream
	ready    chan struct{} // closed (and replaced) when buf, err or deadline change
	deadline time.Time
	closed   bool
}

func (b *body) signalLocked() {
	close(b.ready)
	b.ready = make(chan struct{})
}

// Read reads what the client sent, waiting for more until the read
// deadline.
func (b *body) Read(p []byte) (int, error) {
	c := b.st.c
	c.mu.Lock()
	for {
		if b.closed {
			c.mu.Unlock()
			return 0, http.ErrBodyReadAfterClose
		}
		if b.buf.Len() > 0 && (b.err == nil || b.err == io.EOF) {
			n, _ := b.buf.Read(p)
			c.consumedLocked(b.st, int64(n))
			c.mu.Unlock()
			c.kick()
			return n, nil
		}
		if b.err != nil {
			err := b.err
			c.mu.Unlock()
			return 0, err
		}
		ch, dl := b.ready, b.deadline
		c.mu.Unlock()
		if dl.IsZero() {
			<-ch
		} else {
			t := time.NewTimer(time.Until(dl))
			select {
			case <-ch:
			case <-t.C:
			}
			t.Stop()
		}
		c.mu.Lock()
		if !b.deadline.IsZero() && !time.Now().Before(b.deadline) && b.buf.Len() == 0 && b.err == nil {
			c.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
	}
}

// Close drops what is buffered and what is still to come.
func (b *body) Close() error {
	c := b.st.c
	c.mu.Lock()
	if !b.closed {
		b.closed = true
		if n := int64(b.buf.Len()); n > 0 {
			b.buf.Reset()
			c.consumedLocked(b.st, n)
		}
	}
	c.mu.Unlock()
	c.kick()
	return nil
}
