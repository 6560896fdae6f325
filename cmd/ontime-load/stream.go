package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Per-connection limits. A batch is a few hundred bytes without events and
// about 15 KiB with the maximum of 50; the limits leave room for the contract
// to grow while bounding what a broken server can make a client buffer.
const (
	// readBuffer is each SSE client's line buffer and each WebSocket
	// client's prefix buffer. seq, at and tickMs lead the batch, so a
	// longer message is scanned in its first chunk and the rest discarded.
	readBuffer = 4 << 10
	// maxMessage bounds a message that must be read whole (one whose head
	// members are not in its first chunk).
	maxMessage = 1 << 20
	// dialTimeout bounds TCP connection set-up, and handshakeTimeout the
	// HTTP response headers or WebSocket handshake after it.
	dialTimeout      = 10 * time.Second
	handshakeTimeout = 10 * time.Second
)

// msgKind is what a stream yielded.
type msgKind uint8

// The kinds of message.
const (
	msgBatch msgKind = iota
	msgReset         // batches were lost (or the position was not the server's); head.seq is the next one
	msgOther         // SSE: an event this client does not read
)

// stream is one open connection that yields batch heads.
type stream interface {
	// next blocks until the next batch or reset arrives.
	next() (msgKind, head, error)
	// close ends the connection.
	close()
}

// dialers are the connection factories every client shares.
type dialers struct {
	http      *http.Client
	transport *http.Transport
	// h2 are the HTTP/2 clients with --h2, one per connection: SSE client
	// i uses h2[i%len(h2)], so a ramp opens every connection early and
	// fills them evenly.
	h2    []*http.Client
	ws    *websocket.Dialer
	net   *net.Dialer
	tls   *tls.Config
	conns *connCounter
}

// connCounter counts the TCP connections open.
type connCounter struct{ open, dialed atomic.Int64 }

// countedConn decrements the count once when closed.
type countedConn struct {
	net.Conn
	c    *connCounter
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.c.open.Add(-1) })
	return c.Conn.Close()
}

// dial dials through nd and counts the connection.
func (cc *connCounter) dial(nd *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := nd.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cc.dialed.Add(1)
		cc.open.Add(1)
		return &countedConn{Conn: conn, c: cc}, nil
	}
}

// newDialers builds the shared HTTP transport and WebSocket dialer; with
// o.h2, also the HTTP/2 clients of the SSE streams.
func newDialers(o options) (*dialers, error) {
	nd := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	cc := &connCounter{}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.insecure}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s: no PEM certificate in it", o.caFile)
		}
		tlsConf.RootCAs = pool
	}
	tr := &http.Transport{
		// The load must reach the server named by --url, not a proxy from
		// the environment.
		Proxy:           nil,
		DialContext:     cc.dial(nd),
		TLSClientConfig: tlsConf.Clone(),
		// Every SSE client holds its own connection for the whole run.
		MaxConnsPerHost:     0,
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: 100,
		IdleConnTimeout:     30 * time.Second,
		// Headers must come promptly; the body is a stream that lasts the
		// whole run, so there is no overall response timeout (and the
		// client below sets none).
		ResponseHeaderTimeout: handshakeTimeout,
		TLSHandshakeTimeout:   handshakeTimeout,
		DisableCompression:    true,
		// A stream per HTTP/2 connection would multiplex every client onto
		// one TCP connection and measure something else (--h2 does that on
		// purpose, with transports of its own).
		ForceAttemptHTTP2: false,
		TLSNextProto:      map[string]func(string, *tls.Conn) http.RoundTripper{},
	}
	d := &dialers{
		http:      &http.Client{Transport: tr},
		transport: tr,
		net:       nd,
		tls:       tlsConf,
		conns:     cc,
		ws: &websocket.Dialer{
			NetDialContext:   cc.dial(nd),
			TLSClientConfig:  tlsConf.Clone(),
			HandshakeTimeout: handshakeTimeout,
			ReadBufferSize:   readBuffer,
			// Clients only ever write pongs and a close frame.
			WriteBufferSize: 256,
		},
	}
	if o.h2 {
		for range (o.sse + o.perConn - 1) / o.perConn {
			// One transport per connection: Go's HTTP/2 client puts every
			// request on one connection per transport while it has room for
			// them (more than --per-conn streams), so each transport is a
			// browser with --per-conn tabs.
			t := &http.Transport{
				Proxy:                 nil,
				DialContext:           cc.dial(nd),
				TLSClientConfig:       tlsConf.Clone(),
				ForceAttemptHTTP2:     true,
				ResponseHeaderTimeout: handshakeTimeout,
				TLSHandshakeTimeout:   handshakeTimeout,
				DisableCompression:    true,
			}
			d.h2 = append(d.h2, &http.Client{Transport: t})
		}
	}
	return d, nil
}

// sseClient is the HTTP client of SSE client id.
func (d *dialers) sseClient(id int) *http.Client {
	if len(d.h2) == 0 {
		return d.http
	}
	return d.h2[id%len(d.h2)]
}

// close releases idle connections.
func (d *dialers) close() {
	d.transport.CloseIdleConnections()
	for _, c := range d.h2 {
		c.CloseIdleConnections()
	}
}

// sseStream reads batches from GET /api/stream.
type sseStream struct {
	resp    *http.Response
	br      *bufio.Reader
	scratch []byte // a data line that had to be read whole; reused
}

// dialSSE opens an SSE stream; after, when not empty, is the position
// ("<epoch>-<seq>") to resume after. br and scratch are the client's
// buffers, reused across its connections.
func dialSSE(ctx context.Context, c *http.Client, rawURL string, after string, br *bufio.Reader, scratch []byte) (*sseStream, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if after != "" {
		req.Header.Set("Last-Event-ID", after)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: %s: %s", rawURL, resp.Status, bytes.TrimSpace(body))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: content type %q, want text/event-stream", rawURL, ct)
	}
	br.Reset(resp.Body)
	return &sseStream{resp: resp, br: br, scratch: scratch[:0]}, nil
}

// close ends the stream.
func (s *sseStream) close() { s.resp.Body.Close() }

// line reads the next line without its end of line. long reports that the
// line goes on past the returned chunk (it exceeds the buffer); the chunk is
// valid until the next read.
func (s *sseStream) line() (chunk []byte, long bool, err error) {
	chunk, err = s.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return chunk, true, nil
	}
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the server ends streams only at shutdown
		}
		return nil, false, err
	}
	chunk = chunk[:len(chunk)-1]
	return bytes.TrimSuffix(chunk, []byte{'\r'}), false, nil
}

// skipLine discards the rest of a long line.
func (s *sseStream) skipLine() error {
	for {
		_, long, err := s.line()
		if err != nil || !long {
			return err
		}
	}
}

// appendLine appends the rest of a long line to the scratch buffer.
func (s *sseStream) appendLine() error {
	for {
		chunk, long, err := s.line()
		if err != nil {
			return err
		}
		if len(s.scratch)+len(chunk) > maxMessage {
			return fmt.Errorf("SSE data line longer than %d bytes", maxMessage)
		}
		s.scratch = append(s.scratch, chunk...)
		if !long {
			return nil
		}
	}
}

// next parses events as the SSE format defines them (fields up to a blank
// line), keeping only batch and reset events. Comments (heartbeats), retry
// and id fields are skipped: the seq in the data is what is checked.
func (s *sseStream) next() (msgKind, head, error) {
	var (
		kind    = msgOther
		h       head
		ok      bool // h holds what the event needs
		pending bool // s.scratch holds a data prefix without it yet
		hasData bool
	)
	for {
		ln, long, err := s.line()
		if err != nil {
			return 0, h, err
		}
		if !long && len(ln) == 0 { // blank line: dispatch
			if hasData && kind != msgOther {
				if !ok {
					return 0, h, errors.New("SSE event data has no seq or at")
				}
				return kind, h, nil
			}
			kind, ok, pending, hasData = msgOther, false, false, false
			s.scratch = s.scratch[:0]
			continue
		}
		name, value, _ := bytes.Cut(ln, []byte{':'})
		value = bytes.TrimPrefix(value, []byte{' '})
		switch {
		case string(name) == "event" && !long:
			switch string(value) {
			case "batch":
				kind = msgBatch
			case "reset":
				kind = msgReset
			default:
				kind = msgOther
			}
		case string(name) == "data" && kind != msgOther && !ok:
			hasData = true
			need := hasSeq | hasAt
			if kind == msgReset {
				need = hasSeq | hasEpoch
			}
			if !pending {
				h, err = scanHead(value, need)
				if err == nil {
					ok = true
					break
				}
				if err != errTruncated {
					return 0, h, err
				}
				pending = true
				s.scratch = append(s.scratch[:0], value...)
			} else {
				// A further data line: the format joins them with '\n'.
				s.scratch = append(s.scratch, '\n')
				s.scratch = append(s.scratch, value...)
			}
			if long {
				if err := s.appendLine(); err != nil {
					return 0, h, err
				}
				long = false
			}
			h, err = scanHead(s.scratch, need)
			if err == nil {
				ok, pending = true, false
			} else if err != errTruncated {
				return 0, h, err
			}
		case string(name) == "data":
			hasData = true
		}
		if long {
			if err := s.skipLine(); err != nil {
				return 0, h, err
			}
		}
	}
}

// wsStream reads batches from GET /ws, one per text message.
type wsStream struct {
	conn    *websocket.Conn
	stop    func() bool // unregisters the close-on-cancel hook
	buf     []byte      // the prefix of each message; reused
	scratch []byte      // a message that had to be read whole; reused
}

// dialWS opens a WebSocket; after, when not empty, is the position
// ("<epoch>-<seq>") to resume after. buf (of readBuffer bytes) and scratch
// are the client's buffers, reused across its connections.
func dialWS(ctx context.Context, d *dialers, rawURL string, after string, buf, scratch []byte) (*wsStream, error) {
	if after != "" {
		sep := "?"
		if strings.Contains(rawURL, "?") {
			sep = "&"
		}
		rawURL += sep + "since=" + url.QueryEscape(after)
	}
	conn, resp, err := d.ws.DialContext(ctx, rawURL, nil)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			return nil, fmt.Errorf("websocket %s: %w (%s: %s)", rawURL, err, resp.Status, bytes.TrimSpace(body))
		}
		return nil, fmt.Errorf("websocket %s: %w", rawURL, err)
	}
	conn.SetReadLimit(maxMessage)
	// gorilla reads block without regard to contexts: closing the
	// connection is what unblocks a reader when the run ends.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	return &wsStream{conn: conn, stop: stop, buf: buf, scratch: scratch[:0]}, nil
}

// close ends the connection. It does not send a close frame: the server
// treats a vanished client like one that said goodbye, and a load test
// tearing down thousands of clients should not wait on handshakes.
func (s *wsStream) close() {
	s.stop()
	s.conn.Close()
}

// wsReset starts the server's reset message, {"type":"reset","seq":N,
// "epoch":E,"reason":R}; batches start with "seq".
var wsReset = []byte(`{"type":"reset"`)

// next reads the next message's head, discarding the rest of it.
func (s *wsStream) next() (msgKind, head, error) {
	typ, r, err := s.conn.NextReader()
	if err != nil {
		return 0, head{}, err
	}
	if typ != websocket.TextMessage {
		return 0, head{}, fmt.Errorf("websocket message of type %d, want text", typ)
	}
	n, err := io.ReadFull(r, s.buf)
	whole := err == io.ErrUnexpectedEOF || err == io.EOF
	if err != nil && !whole {
		return 0, head{}, err
	}
	if bytes.HasPrefix(s.buf[:n], wsReset) {
		if !whole {
			return 0, head{}, errors.New("websocket reset message longer than expected")
		}
		h, err := scanHead(s.buf[:n], hasSeq|hasEpoch)
		if err != nil {
			return 0, head{}, fmt.Errorf("websocket reset: %w", err)
		}
		return msgReset, h, nil
	}
	h, err := scanHead(s.buf[:n], hasSeq|hasAt)
	if err == errTruncated && !whole {
		// The head is not in the prefix: read the message whole.
		s.scratch = append(s.scratch[:0], s.buf[:n]...)
		rest, err := io.ReadAll(r) // bounded by the read limit
		if err != nil {
			return 0, head{}, err
		}
		s.scratch = append(s.scratch, rest...)
		if h, err = scanHead(s.scratch, hasSeq|hasAt); err != nil {
			return 0, head{}, fmt.Errorf("websocket batch: %w", err)
		}
		return msgBatch, h, nil
	}
	if err != nil {
		return 0, head{}, fmt.Errorf("websocket batch: %w", err)
	}
	if !whole {
		// io.Discard reads with a pooled buffer: no allocation.
		if _, err := io.Copy(io.Discard, r); err != nil {
			return 0, head{}, err
		}
	}
	return msgBatch, h, nil
}

// neverRead opens a connection that sends its request and then never reads a
// byte: a client stuck behind a full buffer, or a malicious one. What the
// server must show is that such clients cost it bounded memory and never slow
// the others.
func neverRead(ctx context.Context, d *dialers, base *url.URL, path string) (net.Conn, error) {
	conn, err := d.net.DialContext(ctx, "tcp", hostPort(base))
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		// A small receive buffer makes the server's writes back up after
		// kilobytes instead of the megabytes the kernel would otherwise
		// accept on the client's behalf, so a short run reaches the state
		// under test: a server blocked on a write to a client.
		_ = tc.SetReadBuffer(4 << 10)
	}
	if base.Scheme == "https" {
		cfg := d.tls.Clone()
		cfg.ServerName = base.Hostname()
		tc := tls.Client(conn, cfg)
		hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			conn.Close()
			return nil, err
		}
		conn = tc
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + base.Host + "\r\n"
	if strings.Contains(path, "/ws") {
		// The handshake the server answers with 101, which is never read.
		// The key is the RFC 6455 example: nothing checks the answer.
		req += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	} else {
		req += "Accept: text/event-stream\r\n"
	}
	req += "\r\n"
	_ = conn.SetWriteDeadline(time.Now().Add(handshakeTimeout))
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// hostPort is the dial address of base, with the scheme's default port.
func hostPort(base *url.URL) string {
	if base.Port() != "" {
		return base.Host
	}
	return net.JoinHostPort(base.Hostname(), map[string]string{"http": "80", "https": "443"}[base.Scheme])
}
