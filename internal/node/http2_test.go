package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ontime-rt/ontime/internal/tlscert/tlscerttest"
)

// Hostile HTTP/2 clients against the node's HTTPS server: the http.Server
// Run builds, with its TLS and HTTP/2 settings. Each client speaks raw
// frames (x/net's Framer), doing what a browser never would.

// h2WaitLimit bounds every wait here: long for a loaded machine under
// -race, short enough that a hang fails the test.
const h2WaitLimit = 30 * time.Second

// tlsNode is a node served over HTTPS on a loopback port until the test
// ends.
type tlsNode struct {
	*Node
	addr string
	pair tlscerttest.Pair
}

// startTLSNode runs a node with a certificate made for the test; wrap, if
// not nil, changes the node's handler before it serves.
func startTLSNode(t *testing.T, wrap func(http.Handler) http.Handler) *tlsNode {
	t.Helper()
	pair := tlscerttest.Write(t, t.TempDir(), 1)
	n, err := New(Config{TLSCertFile: pair.CertFile, TLSKeyFile: pair.KeyFile}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		n.http = wrap(n.http)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(h2WaitLimit):
			t.Errorf("Run did not return within %v of its context ending", h2WaitLimit)
		}
	})
	return &tlsNode{Node: n, addr: ln.Addr().String(), pair: pair}
}

// client is an HTTPS client (HTTP/2 or HTTP/1.1) trusting the node.
func (tn *tlsNode) client(t *testing.T) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tlscerttest.Pool(tn.pair)}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: h2WaitLimit}
}

// sseClients is the node's count of connected SSE clients (/api/stats).
func (tn *tlsNode) sseClients(t *testing.T, c *http.Client) int {
	t.Helper()
	resp, err := c.Get("https://" + tn.addr + "/api/stats")
	if err != nil {
		t.Fatalf("GET /api/stats: %v", err)
	}
	defer resp.Body.Close()
	var stats struct {
		Clients map[string]int `json:"clients"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatalf("GET /api/stats: %v", err)
	}
	return stats.Clients["sse"]
}

// waitSSEClients waits until the node counts want SSE clients.
func (tn *tlsNode) waitSSEClients(t *testing.T, c *http.Client, want int) {
	t.Helper()
	deadline := time.Now().Add(h2WaitLimit)
	for {
		got := tn.sseClients(t, c)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d SSE clients after %v, want %d", got, h2WaitLimit, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// h2event is what the server sent: one frame (DATA reduced to its length),
// or the error that ended the connection's reading.
type h2event struct {
	typ       http2.FrameType
	stream    uint32
	status    string // HEADERS: the :status
	endStream bool
	n         int           // DATA: bytes
	code      http2.ErrCode // RST_STREAM, GOAWAY
	ack       bool          // SETTINGS, PING
	err       error         // the connection's reading ended
}

// rawH2 is an HTTP/2 client connection speaking frames. Its reader
// goroutine acknowledges the server's SETTINGS and reports every frame on
// events, ending with an event carrying the error that stopped it.
type rawH2 struct {
	t      *testing.T
	conn   *tls.Conn
	mu     sync.Mutex // the Framer's writing side and the HPACK encoder
	fr     *http2.Framer
	hbuf   bytes.Buffer
	enc    *hpack.Encoder
	events chan h2event
	done   chan struct{} // closed at cleanup: the reader stops reporting
	ended  chan struct{} // closed when the reader has returned
}

// dialH2 opens a TLS connection negotiating h2 and sends the preface with
// settings (and, when window > 0, a WINDOW_UPDATE that opens the
// connection's window by that much).
func (tn *tlsNode) dialH2(t *testing.T, window uint32, settings ...http2.Setting) *rawH2 {
	t.Helper()
	d := &tls.Dialer{Config: &tls.Config{RootCAs: tlscerttest.Pool(tn.pair), NextProtos: []string{"h2"}}}
	ctx, cancel := context.WithTimeout(context.Background(), h2WaitLimit)
	defer cancel()
	nc, err := d.DialContext(ctx, "tcp", tn.addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	conn := nc.(*tls.Conn)
	if p := conn.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("ALPN %q, want h2", p)
	}
	c := &rawH2{t: t, conn: conn, events: make(chan h2event, 256), done: make(chan struct{}), ended: make(chan struct{})}
	c.fr = http2.NewFramer(conn, conn)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.SetMaxReadFrameSize(1<<24 - 1)
	c.enc = hpack.NewEncoder(&c.hbuf)
	t.Cleanup(func() {
		close(c.done)
		_ = conn.Close()
		<-c.ended
	})
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatalf("preface: %v", err)
	}
	if err := c.write(func(fr *http2.Framer) error { return fr.WriteSettings(settings...) }); err != nil {
		t.Fatalf("SETTINGS: %v", err)
	}
	if window > 0 {
		if err := c.write(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(0, window) }); err != nil {
			t.Fatalf("WINDOW_UPDATE: %v", err)
		}
	}
	go c.read()
	return c
}

// write runs f on the Framer under the writing lock.
func (c *rawH2) write(f func(*http2.Framer) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return f(c.fr)
}

// get opens stream id with a GET of path.
func (c *rawH2) get(id uint32, path string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hbuf.Reset()
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", c.conn.RemoteAddr().String()}, {":path", path}} {
		_ = c.enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndStream: true, EndHeaders: true})
}

func (c *rawH2) read() {
	defer close(c.ended)
	report := func(e h2event) bool {
		select {
		case c.events <- e:
			return true
		case <-c.done:
			return false
		}
	}
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			report(h2event{err: err})
			return
		}
		e := h2event{typ: f.Header().Type, stream: f.Header().StreamID}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			e.status, e.endStream = f.PseudoValue("status"), f.StreamEnded()
		case *http2.DataFrame:
			e.n, e.endStream = len(f.Data()), f.StreamEnded()
		case *http2.SettingsFrame:
			e.ack = f.IsAck()
			if !e.ack {
				_ = c.write(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
			}
		case *http2.PingFrame:
			e.ack = f.IsAck()
		case *http2.RSTStreamFrame:
			e.code = f.ErrCode
		case *http2.GoAwayFrame:
			e.code = f.ErrCode
		}
		if !report(e) {
			return
		}
	}
}

// next returns the next event, failing the test after h2WaitLimit.
func (c *rawH2) next() h2event {
	c.t.Helper()
	select {
	case e := <-c.events:
		return e
	case <-time.After(h2WaitLimit):
		c.t.Fatalf("nothing from the server within %v", h2WaitLimit)
		return h2event{}
	}
}

// A client that sends SETTINGS frames full of INITIAL_WINDOW_SIZE entries
// (each one would change the window of every open stream) while 100 SSE
// streams are open has its connection ended, and the server keeps
// answering everyone else meanwhile; the streams' handlers end.
func TestHTTP2SettingsFloodEndsTheConnection(t *testing.T) {
	tn := startTLSNode(t, nil)
	other := tn.client(t)
	c := tn.dialH2(t, 1<<30, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30})
	const streams = 100
	for i := range uint32(streams) {
		if err := c.get(1+2*i, "/api/stream?events=0"); err != nil {
			t.Fatalf("stream %d: %v", 1+2*i, err)
		}
	}
	for opened := 0; opened < streams; {
		e := c.next()
		switch {
		case e.err != nil:
			t.Fatalf("the connection ended after %d of %d streams opened: %v", opened, streams, e.err)
		case e.typ == http2.FrameHeaders && e.status == "200":
			opened++
		case e.typ == http2.FrameHeaders, e.typ == http2.FrameRSTStream, e.typ == http2.FrameGoAway:
			t.Fatalf("stream %d: %+v, want 200", e.stream, e)
		}
	}
	if n := tn.sseClients(t, other); n != streams {
		t.Fatalf("%d SSE clients, want %d", n, streams)
	}

	// 200 frames of 2,730 entries each (a frame's default maximum of 16 KiB),
	// the window alternating so that every entry changes it.
	entries := make([]http2.Setting, 16384/6)
	for i := range entries {
		entries[i] = http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(1 + i%2*65534)}
	}
	const frames = 200
	sent := make(chan int, 1)
	go func() {
		n := 0
		for ; n < frames; n++ {
			if err := c.write(func(fr *http2.Framer) error { return fr.WriteSettings(entries...) }); err != nil {
				break // the server ended the connection
			}
		}
		sent <- n
	}()

	// Meanwhile the server answers another client.
	resp, err := other.Get("https://" + tn.addr + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz during the flood: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz during the flood: %s", resp.Status)
	}

	var goaway *h2event
	acks := 0
	for {
		e := c.next()
		if e.typ == http2.FrameSettings && e.ack {
			acks++
		}
		if e.typ == http2.FrameGoAway {
			goaway = &e
		}
		if e.err != nil {
			break
		}
	}
	n := <-sent
	t.Logf("sent %d flood frames; %d SETTINGS acknowledged; GOAWAY %+v", n, acks, goaway)
	if acks > frames {
		t.Fatalf("%d SETTINGS acknowledged: the server took every flood frame", acks)
	}
	if goaway != nil && goaway.code == http2.ErrCodeNo {
		t.Errorf("GOAWAY NO_ERROR, want an error code naming the client's fault")
	}
	tn.waitSSEClients(t, other, 0)
}

// A client that allows 16 MiB frames and sends a PING while downloading a
// 32 MiB response gets all of it and the PING's acknowledgement: a server
// must not take the DATA it has yet to send for frames the client asked
// for and did not read.
func TestHTTP2BigDownloadWithPing(t *testing.T) {
	// Written in two large pieces, as a handler sending big buffers does:
	// once the first is written the server has megabytes of DATA on hand,
	// and the client sends its PING then.
	const size = 32 << 20
	body := bytes.Repeat([]byte("ontime! "), size/8)
	halfway := make(chan struct{})
	tn := startTLSNode(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/test/big" {
				next.ServeHTTP(w, r)
				return
			}
			if _, err := w.Write(body[:size/2]); err != nil {
				return
			}
			close(halfway)
			_, _ = w.Write(body[size/2:])
		})
	})
	const maxWindow = 1<<31 - 1
	c := tn.dialH2(t, maxWindow-65535,
		http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1<<24 - 1},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: maxWindow})
	if err := c.get(1, "/test/big"); err != nil {
		t.Fatal(err)
	}
	got, acked, ended := 0, false, false
	for !ended || !acked {
		var e h2event
		select {
		case <-halfway:
			halfway = nil
			if err := c.write(func(fr *http2.Framer) error { return fr.WritePing(false, [8]byte{'o', 'n', 't', 'i', 'm', 'e'}) }); err != nil {
				t.Fatalf("PING: %v", err)
			}
			continue
		case e = <-c.events:
		case <-time.After(h2WaitLimit):
			t.Fatalf("nothing from the server within %v, after %d of %d bytes", h2WaitLimit, got, size)
		}
		switch {
		case e.err != nil:
			t.Fatalf("connection ended after %d of %d bytes (PING acknowledged: %v): %v", got, size, acked, e.err)
		case e.typ == http2.FrameRSTStream || e.typ == http2.FrameGoAway:
			t.Fatalf("after %d of %d bytes: %+v", got, size, e)
		case e.typ == http2.FrameHeaders && e.status != "200":
			t.Fatalf("status %s", e.status)
		case e.typ == http2.FramePing && e.ack:
			acked = true
		case e.typ == http2.FrameData:
			got += e.n
		}
		ended = ended || e.endStream
	}
	if got != size {
		t.Fatalf("got %d bytes, want %d", got, size)
	}
}

// A stream whose client grants it no window, on a connection the client
// keeps busy with a PING every 100 ms, holds its SSE handler no longer than
// about the stream's write timeout (5 s): then the stream or the
// connection ends, and the handler with it.
func TestHTTP2ZeroWindowStreamEnds(t *testing.T) {
	tn := startTLSNode(t, nil)
	other := tn.client(t)
	c := tn.dialH2(t, 0, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	if err := c.get(1, "/api/stream"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	stop := make(chan struct{})
	pings := make(chan struct{})
	go func() {
		defer close(pings)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if err := c.write(func(fr *http2.Framer) error { return fr.WritePing(false, [8]byte{}) }); err != nil {
					return
				}
			}
		}
	}()
	defer func() { close(stop); <-pings }()

	acks := 0
	var end h2event
	for end == (h2event{}) {
		e := c.next()
		switch {
		case e.err != nil, e.typ == http2.FrameGoAway, e.typ == http2.FrameRSTStream && e.stream == 1:
			end = e
		case e.typ == http2.FrameData && e.n > 0:
			t.Fatalf("DATA of %d bytes on a stream granted no window", e.n)
		case e.typ == http2.FramePing && e.ack:
			acks++
		case e.typ == http2.FrameHeaders && e.endStream:
			t.Fatalf("stream ended at once (status %s): want a stream that streams", e.status)
		}
	}
	took := time.Since(start)
	t.Logf("stream ended after %v (%d PINGs acknowledged): %+v", took, acks, end)
	if acks == 0 {
		t.Errorf("no PING acknowledged: the client did not keep the connection busy")
	}
	// About the write timeout; three times it bounds it generously.
	if limit := 3 * 5 * time.Second; took > limit {
		t.Errorf("the stream lasted %v, more than %v", took, limit)
	}
	tn.waitSSEClients(t, other, 0)
}
