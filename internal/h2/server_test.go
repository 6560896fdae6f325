package h2_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/ontime-rt/ontime/internal/h2"
)

// doGet sends a GET bounded by waitLimit (reading its body included); the
// body is closed at the end of the test.
func doGet(t *testing.T, c *http.Client, url string) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err == nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

// get makes a GET request bounded by waitLimit and returns the status and
// body.
func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := doGet(t, c, url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// waitChan waits for ch up to waitLimit.
func waitChan[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out after %v waiting for %s", waitLimit, what)
		panic("unreachable")
	}
}

func TestConfigure(t *testing.T) {
	if *reference {
		t.Skip("tests h2.Server's own API")
	}
	if err := (&h2.Server{}).Configure(&http.Server{}); err == nil {
		t.Error("Configure accepted an http.Server without TLSConfig")
	}
	hs := &http.Server{TLSConfig: &tls.Config{NextProtos: []string{"http/1.1"}}}
	if err := (&h2.Server{}).Configure(hs); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(hs.TLSConfig.NextProtos, "h2") || !slices.Contains(hs.TLSConfig.NextProtos, "http/1.1") {
		t.Errorf("NextProtos = %q, want h2 added to http/1.1", hs.TLSConfig.NextProtos)
	}
	if hs.TLSNextProto["h2"] == nil {
		t.Error(`TLSNextProto["h2"] not set`)
	}
}

// TestRoundTrip sends a GET and a POST with Go's HTTP/2 client: headers
// and bodies both ways, and what the handler sees of the request.
func TestRoundTrip(t *testing.T) {
	type seen struct {
		proto  int
		tls    bool
		method string
		header string
		length int64
		body   string
	}
	seenc := make(chan seen, 2)
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		seenc <- seen{r.ProtoMajor, r.TLS != nil, r.Method, r.Header.Get("X-Test"), r.ContentLength, string(b)}
		w.Header().Set("X-Echo", r.Header.Get("X-Test"))
		w.Header().Add("X-Multi", "one")
		w.Header().Add("X-Multi", "two")
		w.Header().Set("Content-Type", "text/plain")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		fmt.Fprintf(w, "%s %s?%s %s", r.Method, r.URL.Path, r.URL.RawQuery, b)
	}))
	c := ts.client(t, nil)

	for _, tc := range []struct {
		method, body, wantBody string
		wantStatus             int
	}{
		{http.MethodGet, "", "GET /path?q=1 ", http.StatusOK},
		{http.MethodPost, "a=1&b=2", "POST /path?q=1 a=1&b=2", http.StatusCreated},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		var body io.Reader
		if tc.body != "" {
			body = strings.NewReader(tc.body)
		}
		req, _ := http.NewRequestWithContext(ctx, tc.method, ts.url("/path?q=1"), body)
		req.Header.Set("X-Test", "value "+tc.method)
		resp, err := c.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", tc.method, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if err != nil {
			t.Fatalf("%s: reading the body: %v", tc.method, err)
		}
		if resp.ProtoMajor != 2 || resp.StatusCode != tc.wantStatus || string(b) != tc.wantBody {
			t.Errorf("%s: got %s %d %q, want HTTP/2.0 %d %q", tc.method, resp.Proto, resp.StatusCode, b, tc.wantStatus, tc.wantBody)
		}
		if got := resp.Header.Get("X-Echo"); got != "value "+tc.method {
			t.Errorf("%s: X-Echo = %q", tc.method, got)
		}
		if got := resp.Header.Values("X-Multi"); !slices.Equal(got, []string{"one", "two"}) {
			t.Errorf("%s: X-Multi = %q, want [one two]", tc.method, got)
		}
		if got := resp.Header.Get("Content-Type"); got != "text/plain" {
			t.Errorf("%s: Content-Type = %q", tc.method, got)
		}
		s := <-seenc
		want := seen{2, true, tc.method, "value " + tc.method, int64(len(tc.body)), tc.body}
		if s != want {
			t.Errorf("%s: handler saw %+v, want %+v", tc.method, s, want)
		}
	}
	if n := ts.accepts.Load(); n != 1 {
		t.Errorf("%d connections for two requests, want 1", n)
	}
}

// TestRequestBodyBeyondStreamWindow sends a body 64 times the stream's
// flow-control window: it arrives only if the server gives credit back
// (WINDOW_UPDATE) as the handler reads.
func TestRequestBodyBeyondStreamWindow(t *testing.T) {
	const window = 16 << 10
	ts := startServer(t, &h2.Server{StreamWindow: window}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			return
		}
		h := sha256.New()
		n, err := io.Copy(h, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d %x", n, h.Sum(nil))
	}))
	c := ts.client(t, nil)
	// A first request has the client learn the server's SETTINGS (the
	// body sent before that is TestStreamWindowBeforeSettingsAck's).
	get(t, c, ts.url("/"))
	body := payload(64 * window)
	sum := sha256.Sum256(body)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.url("/upload"), bytes.NewReader(body))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST of %d bytes: %v", len(body), err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%d %s", len(body), hex.EncodeToString(sum[:])); string(got) != want {
		t.Errorf("handler read %q, want %q", got, want)
	}
}

// TestStreamWindowBeforeSettingsAck: a client may send a stream's first
// 65535 bytes (the initial window) before it has read the server's
// SETTINGS with a smaller window, as Go's client does with the body of the
// first request on a connection. RFC 9113 section 6.9.3: the server "MUST
// be prepared to receive data that exceeds this window size", and may
// either take it or reset those streams with FLOW_CONTROL_ERROR; the
// connection must go on either way.
func TestStreamWindowBeforeSettingsAck(t *testing.T) {
	release := make(chan struct{})
	ts := startServer(t, &h2.Server{StreamWindow: 16 << 10}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading only once every DATA frame has been taken, so that no
		// window is given back meanwhile.
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, n)
	}))
	rc := dialRaw(t, ts)
	// The whole request before reading anything: the server's SETTINGS are
	// not yet acknowledged.
	if _, err := io.WriteString(rc.c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := rc.fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	if err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: rc.headerBlock(http.MethodPost, "/"), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	body := payload(65535)
	for off := 0; off < len(body); off += 16 << 10 {
		chunk := body[off:min(off+16<<10, len(body))]
		if err := rc.fr.WriteData(1, off+len(chunk) == len(body), chunk); err != nil {
			t.Fatal(err)
		}
	}
	// The server handles frames in order: its PING ack says it has taken
	// the DATA before.
	ping := [8]byte{'a', 'f', 't', 'e', 'r', 'd', 'a', 't'}
	if err := rc.fr.WritePing(false, ping); err != nil {
		t.Fatal(err)
	}
	rc.settings[0] = 0 // acknowledge the server's SETTINGS from now on
	f := rc.readUntil("the PING ack", func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.PingFrame:
			return f.IsAck() && f.Data == ping
		case *http2.RSTStreamFrame, *http2.GoAwayFrame:
			return true
		}
		return false
	})
	close(release)
	switch f := f.(type) {
	case *http2.RSTStreamFrame:
		if f.StreamID != 1 || f.ErrCode != http2.ErrCodeFlowControl {
			t.Fatalf("65535 bytes sent before the SETTINGS ack: RST_STREAM %d %v", f.StreamID, f.ErrCode)
		}
		t.Logf("the stream that went beyond the new window was reset (FLOW_CONTROL_ERROR), as RFC 9113 allows")
	case *http2.GoAwayFrame:
		t.Fatalf("65535 bytes sent before the SETTINGS ack: GOAWAY %v", f.ErrCode)
	default:
		r := rc.readResponse(1)
		if r.status != "200" || string(r.body) != "65535" {
			t.Errorf("65535 bytes sent before the SETTINGS ack: %v, body %q; want 200 \"65535\"", r, r.body)
		}
	}
	rc.request(3, http.MethodGet, "/")
	if r := rc.readResponse(3); r.status == "" {
		t.Errorf("the next stream: %v", r)
	}
}

// TestLargeResponse sends 5 MiB to a client whose windows are 64 KiB: the
// server must wait for the client's WINDOW_UPDATEs and lose nothing.
func TestLargeResponse(t *testing.T) {
	body := payload(5 << 20)
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	c := ts.client(t, &http.HTTP2Config{MaxReceiveBufferPerStream: 64 << 10, MaxReceiveBufferPerConnection: 64 << 10})
	status, got := get(t, c, ts.url("/big"))
	if status != http.StatusOK || len(got) != len(body) {
		t.Fatalf("got %d with %d bytes, want 200 with %d", status, len(got), len(body))
	}
	if got != string(body) {
		i := 0
		for i < len(got) && got[i] == body[i] {
			i++
		}
		t.Fatalf("body differs from byte %d on", i)
	}
}

// TestConcurrentStreams runs 100 requests at once on one connection: every
// handler waits until all 100 run, so they must run concurrently.
func TestConcurrentStreams(t *testing.T) {
	const n = 100
	var arrived atomic.Int32
	all := make(chan struct{})
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/warm" {
			return
		}
		if arrived.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
			io.WriteString(w, r.URL.Query().Get("i"))
		case <-time.After(waitLimit):
			http.Error(w, fmt.Sprintf("only %d requests arrived", arrived.Load()), http.StatusServiceUnavailable)
		case <-r.Context().Done():
		}
	}))
	c := ts.client(t, nil)
	// One request first, so that the 100 find the connection open instead
	// of racing to dial.
	get(t, c, ts.url("/warm"))

	type result struct {
		i    int
		body string
		err  error
	}
	results := make(chan result, n)
	for i := range n {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.url(fmt.Sprintf("/c?i=%d", i)), nil)
			resp, err := c.Do(req)
			if err != nil {
				results <- result{i, "", err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
			}
			results <- result{i, string(b), err}
		}()
	}
	for range n {
		r := <-results
		if r.err != nil {
			t.Errorf("request %d: %v", r.i, r.err)
		} else if r.body != strconv.Itoa(r.i) {
			t.Errorf("request %d answered %q", r.i, r.body)
		}
	}
	if got := ts.accepts.Load(); got != 1 {
		t.Errorf("%d connections, want 1", got)
	}
}

// TestFlushStreaming checks that each Flush, through http.Flusher or
// http.ResponseController, sends what was written: the handler writes the
// next chunk only once the client has read the previous one.
func TestFlushStreaming(t *testing.T) {
	const chunks = 6
	var next [chunks]chan struct{}
	for i := range next {
		next[i] = make(chan struct{})
	}
	flushErr := make(chan error, chunks)
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		for i := range chunks {
			fmt.Fprintf(w, "chunk %d\n", i)
			if i%2 == 0 {
				w.(http.Flusher).Flush()
			} else if err := rc.Flush(); err != nil {
				flushErr <- err
				return
			}
			select {
			case <-next[i]:
			case <-r.Context().Done():
				return
			}
		}
	}))
	resp, err := doGet(t, ts.client(t, nil), ts.url("/stream"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range chunks {
		want := fmt.Sprintf("chunk %d\n", i)
		got := make([]byte, len(want))
		if _, err := io.ReadFull(resp.Body, got); err != nil {
			select {
			case ferr := <-flushErr:
				t.Fatalf("chunk %d: Flush: %v", i, ferr)
			default:
			}
			t.Fatalf("chunk %d did not arrive before the handler went on: %v", i, err)
		}
		if string(got) != want {
			t.Fatalf("read %q, want %q", got, want)
		}
		close(next[i])
	}
	if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
		t.Errorf("after the chunks: %q, %v; want the end of the body", rest, err)
	}
}

// TestClientGoneCancelsContext: a request's context is done when the
// client resets the stream, and when the connection ends.
func TestClientGoneCancelsContext(t *testing.T) {
	started := make(chan struct{}, 1)
	ctxErr := make(chan error, 1)
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		started <- struct{}{}
		select {
		case <-r.Context().Done():
			ctxErr <- r.Context().Err()
		case <-time.After(waitLimit):
			ctxErr <- errors.New("context not done")
		}
	}))

	t.Run("stream reset", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.url("/wait"), nil)
		resp, err := ts.client(t, nil).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		waitChan(t, started, "the handler")
		cancel() // Go's client resets the stream (RST_STREAM CANCEL)
		if err := waitChan(t, ctxErr, "the handler's context"); !errors.Is(err, context.Canceled) {
			t.Errorf("handler's context: %v, want context.Canceled", err)
		}
	})

	t.Run("connection closed", func(t *testing.T) {
		rc := dialRaw(t, ts)
		rc.handshake()
		rc.request(1, http.MethodGet, "/wait")
		waitChan(t, started, "the handler")
		rc.c.Close()
		if err := waitChan(t, ctxErr, "the handler's context"); !errors.Is(err, context.Canceled) {
			t.Errorf("handler's context: %v, want context.Canceled", err)
		}
	})
}

// TestHandlerPanic: a handler's panic resets its stream only; the same
// connection serves the next request.
func TestHandlerPanic(t *testing.T) {
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/panic":
			panic("handler panics on purpose")
		case "/panic-late":
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic("handler panics on purpose after a flush")
		}
		io.WriteString(w, "ok")
	}))
	c := ts.client(t, nil)
	get(t, c, ts.url("/ok"))

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.url("/panic"), nil)
	if resp, err := c.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Errorf("/panic answered %d %q, want the stream reset", resp.StatusCode, b)
	} else {
		t.Logf("/panic: %v", err)
	}

	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, ts.url("/panic-late"), nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("/panic-late: %v (the headers were flushed before the panic)", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Errorf("/panic-late: body %q read to its end, want the stream reset", b)
	}

	if status, body := get(t, c, ts.url("/ok")); status != http.StatusOK || body != "ok" {
		t.Errorf("after the panics: %d %q", status, body)
	}
	if n := ts.accepts.Load(); n != 1 {
		t.Errorf("%d connections, want the panics to leave the first one open", n)
	}
}

// TestPanicResetsStreamRaw checks on the wire that a panic resets its
// stream and leaves the connection alone.
func TestPanicResetsStreamRaw(t *testing.T) {
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("handler panics on purpose")
		}
		io.WriteString(w, "ok")
	}))
	rc := dialRaw(t, ts)
	rc.handshake()
	rc.request(1, http.MethodGet, "/panic")
	r := rc.readResponse(1)
	if r.reset == nil {
		t.Fatalf("stream 1 of a panicking handler: %v; want RST_STREAM", r)
	}
	t.Logf("RST_STREAM %v", r.reset.ErrCode)
	rc.request(3, http.MethodGet, "/ok")
	if r := rc.readResponse(3); r.status != "200" || string(r.body) != "ok" {
		t.Errorf("stream 3 after the panic: %v, body %q", r, r.body)
	}
}

// TestRefusedStream: a stream beyond MaxConcurrentStreams is refused
// (RST_STREAM REFUSED_STREAM) without running its handler, and the others
// are served.
func TestRefusedStream(t *testing.T) {
	var handlers atomic.Int32
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	ts := startServer(t, &h2.Server{MaxConcurrentStreams: 2}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		started <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, r.URL.Path)
	}))
	rc := dialRaw(t, ts)
	rc.handshake()
	if got, ok := rc.settings[http2.SettingMaxConcurrentStreams]; !ok || got != 2 {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (sent: %v), want 2", got, ok)
	}
	rc.request(1, http.MethodGet, "/1")
	rc.request(3, http.MethodGet, "/3")
	waitChan(t, started, "handler 1")
	waitChan(t, started, "handler 3")
	rc.request(5, http.MethodGet, "/5")
	r := rc.readResponse(5)
	if r.reset == nil || r.reset.ErrCode != http2.ErrCodeRefusedStream {
		// RFC 9113 section 5.1.2 allows PROTOCOL_ERROR too (Go's server
		// sends it); h2.Server documents REFUSED_STREAM, which tells the
		// client it may retry.
		t.Fatalf("third stream with a limit of 2: %v; want RST_STREAM REFUSED_STREAM", r)
	}
	close(release)
	for _, id := range []uint32{1, 3} {
		if r := rc.readResponse(id); r.status != "200" || string(r.body) != fmt.Sprintf("/%d", id) {
			t.Errorf("stream %d: %v, body %q", id, r, r.body)
		}
	}
	rc.request(7, http.MethodGet, "/7")
	if r := rc.readResponse(7); r.status != "200" || string(r.body) != "/7" {
		t.Errorf("stream 7, once the others ended: %v, body %q", r, r.body)
	}
	if n := handlers.Load(); n != 3 {
		t.Errorf("%d handlers ran, want 3 (the refused stream's not)", n)
	}
}

// TestHeaderListTooLarge: a header list over MaxHeaderListSize, sent in a
// HEADERS frame and a CONTINUATION, is answered 431 without running the
// handler; the connection's HPACK state stays in step, so the next request
// on it is served. The list is too large either by its many fields or by
// one field alone, and only by a little: a server may close the connection
// of a client that sends far more (Go's does, against CONTINUATION floods).
func TestHeaderListTooLarge(t *testing.T) {
	many := make([]header, 10)
	for i := range many {
		// Each small enough for HPACK's dynamic table, so the decoder must
		// index them all to keep in step with the encoder.
		many[i] = header{fmt.Sprintf("x-big-%d", i), strings.Repeat("a", 1<<10)}
	}
	for _, tc := range []struct {
		name   string
		fields []header
		// connErr: a single field over the limit cannot be decoded at
		// all (HPACK's string limit), so the connection ends, as in Go's
		// server.
		connErr bool
	}{
		{"many fields", many, false},
		{"one field", []header{{"x-big", strings.Repeat("b", 10<<10)}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var handlers atomic.Int32
			ts := startServer(t, &h2.Server{MaxHeaderListSize: 8 << 10}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				handlers.Add(1)
				io.WriteString(w, r.Header.Get("X-Small"))
			}))
			rc := dialRaw(t, ts)
			rc.handshake()
			t.Logf("SETTINGS_MAX_HEADER_LIST_SIZE sent: %d", rc.settings[http2.SettingMaxHeaderListSize])

			// x-small is indexed in HPACK's dynamic table by the first
			// request and referred to by the second.
			block := rc.headerBlock(http.MethodGet, "/big", append([]header{{"x-small", "kept"}}, tc.fields...)...)
			half := len(block) / 2
			if err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:half], EndStream: true}); err != nil {
				t.Fatal(err)
			}
			if err := rc.fr.WriteContinuation(1, true, block[half:]); err != nil {
				t.Fatal(err)
			}
			r := rc.readResponse(1)
			if tc.connErr {
				if r.goaway == nil || r.goaway.ErrCode != http2.ErrCodeCompression || handlers.Load() != 0 {
					t.Fatalf("one field of 10 KiB with a limit of 8 KiB: %v, %d handlers; want GOAWAY COMPRESSION_ERROR and no handler", r, handlers.Load())
				}
				return
			}
			if r.status != "431" {
				t.Fatalf("header list of about 10.5 KiB with a limit of 8 KiB: %v; want status 431", r)
			}
			rc.request(3, http.MethodGet, "/small", header{"x-small", "kept"})
			if r := rc.readResponse(3); r.status != "200" || string(r.body) != "kept" {
				t.Errorf("next request: %v, body %q", r, r.body)
			}
			if n := handlers.Load(); n != 1 {
				t.Errorf("%d handlers ran, want 1 (not the one with too large a header list)", n)
			}
		})
	}
}

// TestHead: a HEAD response has the handler's headers and no body, even
// though the handler writes one.
func TestHead(t *testing.T) {
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Handler", "yes")
		io.WriteString(w, "a body HEAD must not send")
	}))
	rc := dialRaw(t, ts)
	rc.handshake()
	rc.request(1, http.MethodHead, "/")
	r := rc.readResponse(1)
	if r.status != "200" || r.headerValue("x-handler") != "yes" || len(r.body) != 0 || r.reset != nil {
		t.Errorf("HEAD: %v, x-handler %q, body %q", r, r.headerValue("x-handler"), r.body)
	}

	resp, err := ts.client(t, nil).Head(ts.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Handler") != "yes" {
		t.Errorf("HEAD with Go's client: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestWriteDeadline: with a client that never reads, a handler's write
// past its ResponseController write deadline fails with a timeout.
func TestWriteDeadline(t *testing.T) {
	writeErr := make(chan error, 1)
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetWriteDeadline(time.Now().Add(200 * time.Millisecond)); err != nil {
			writeErr <- fmt.Errorf("SetWriteDeadline: %w", err)
			return
		}
		chunk := payload(64 << 10)
		// 64 MiB: far beyond the client's window and the socket buffers.
		for range 1024 {
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
			if err := rc.Flush(); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}))
	rc := dialRaw(t, ts)
	rc.handshake()
	rc.request(1, http.MethodGet, "/")
	// The client reads nothing more, so gives no flow-control credit.
	err := waitChan(t, writeErr, "the handler's write to fail")
	if !isTimeout(err) {
		t.Errorf("write past the deadline: %v (%T), want a net.Error with Timeout()", err, err)
	}
}

// TestShutdown: hs.Shutdown sends GOAWAY, keeps serving the open stream,
// refuses new connections, and returns once the handler has.
func TestShutdown(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			started <- struct{}{}
			<-release
		}
		io.WriteString(w, "done "+r.URL.Path)
	}))
	rc := dialRaw(t, ts)
	rc.handshake()
	rc.request(1, http.MethodGet, "/slow")
	waitChan(t, started, "the handler")

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*waitLimit)
		defer cancel()
		shutdown <- ts.hs.Shutdown(ctx)
	}()
	g := rc.readUntil("GOAWAY", func(f http2.Frame) bool {
		_, ok := f.(*http2.GoAwayFrame)
		return ok
	}).(*http2.GoAwayFrame)
	if g.ErrCode != http2.ErrCodeNo {
		t.Errorf("GOAWAY %v, want NO_ERROR", g.ErrCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.url("/new"), nil)
	if resp, err := ts.client(t, nil).Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("a new request during Shutdown was answered %d", resp.StatusCode)
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned (%v) while a handler runs", err)
	default:
	}

	close(release)
	if r := rc.readResponse(1); r.status != "200" || string(r.body) != "done /slow" {
		t.Errorf("the open stream: %v, body %q", r, r.body)
	}
	if err := waitChan(t, shutdown, "Shutdown"); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if c := rc.readClosed(); !isClosed(c.err) {
		t.Errorf("after Shutdown the connection ended with %v, frames %v", c.err, c.frames)
	}
}

// isClosed reports whether err is how a read ends on a connection the
// peer closed.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "connection reset")
}

// TestBadPreface: a connection that does not begin with the HTTP/2 client
// preface is closed unanswered.
func TestBadPreface(t *testing.T) {
	var handlers atomic.Int32
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
	}))
	rc := dialRaw(t, ts)
	if _, err := io.WriteString(rc.c, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c := rc.readClosed()
	if !isClosed(c.err) {
		t.Errorf("connection ended with %v", c.err)
	}
	for _, f := range c.frames {
		if strings.HasPrefix(f, "[FrameHeader HEADERS") || strings.HasPrefix(f, "[FrameHeader DATA") {
			t.Errorf("the server answered a bad preface: %v", c.frames)
		}
	}
	if n := handlers.Load(); n != 0 {
		t.Errorf("%d handlers ran", n)
	}
}

// TestIdleTimeout: a connection with no open stream for IdleTimeout is
// closed.
func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, &h2.Server{IdleTimeout: 200 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	rc := dialRaw(t, ts)
	rc.handshake()
	rc.requireOK(1, "/")
	c := rc.readClosed()
	if !isClosed(c.err) {
		t.Errorf("idle connection ended with %v", c.err)
	}
	if c.goaway == nil {
		t.Logf("closed without GOAWAY (frames %v)", c.frames)
	}
}

// TestUnreadBodiesDoNotStallConnection: bodies that handlers return
// without reading still count against the connection's window, so the
// server must give that window back or the connection stalls. Twenty
// bodies of four stream windows each make five times the connection's
// window.
func TestUnreadBodiesDoNotStallConnection(t *testing.T) {
	const window = 16 << 10
	ts := startServer(t, &h2.Server{StreamWindow: window}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			return
		case "/read":
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, n)
			return
		}
		io.WriteString(w, "ignored")
	}))
	c := ts.client(t, nil)
	// A first request has the client learn the server's SETTINGS (the
	// body sent before that is TestStreamWindowBeforeSettingsAck's).
	get(t, c, ts.url("/"))
	post := func(path string, n int) (int, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.url(path), bytes.NewReader(payload(n)))
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	for i := range 20 {
		if status, body, err := post("/ignore", 4*window); err != nil || status != http.StatusOK || body != "ignored" {
			t.Fatalf("POST %d to a handler that does not read: %d %q %v", i, status, body, err)
		}
	}
	if status, body, err := post("/read", 16*window); err != nil || status != http.StatusOK || body != strconv.Itoa(16*window) {
		t.Fatalf("POST of %d bytes after them: %d %q %v", 16*window, status, body, err)
	}
	if n := ts.accepts.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// TestRapidReset: a client that opens streams and resets them at once
// (CVE-2023-44487) never has more than MaxConcurrentStreams handlers
// running; the server then serves it, or closes its connection.
func TestRapidReset(t *testing.T) {
	const limit = 10
	var running, most atomic.Int32
	ts := startServer(t, &h2.Server{MaxConcurrentStreams: limit}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := running.Add(1)
		defer running.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if r.URL.Path == "/last" {
			io.WriteString(w, "served")
			return
		}
		select {
		case <-r.Context().Done():
		case <-time.After(waitLimit):
		}
	}))
	rc := dialRaw(t, ts)
	rc.handshake()
	var id uint32 = 1
	for range 1000 {
		rc.request(id, http.MethodGet, "/reset")
		if err := rc.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
			// The server closed the connection: an allowed answer to a flood.
			t.Logf("writing RST_STREAM %d: %v", id, err)
			break
		}
		id += 2
	}
	// The handlers of the reset streams end in their own time: until they
	// have, a new stream may be refused, and is tried again.
	for deadline := time.Now().Add(waitLimit); ; id += 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no stream served within %v after the resets", waitLimit)
		}
		if err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: rc.headerBlock(http.MethodGet, "/last"), EndStream: true, EndHeaders: true}); err != nil {
			t.Logf("the server closed the connection: %v", err)
			break
		}
		r, closedErr := rc.tryResponse(id)
		if closedErr != nil {
			t.Logf("the server closed the connection: %v", closedErr)
			break
		}
		if r.goaway != nil {
			t.Logf("the server closed the connection: %v", r)
			break
		}
		if r.status == "200" {
			break
		}
		if r.reset == nil || r.reset.ErrCode != http2.ErrCodeRefusedStream {
			t.Fatalf("a stream after the resets: %v; want 200 or REFUSED_STREAM", r)
		}
	}
	if m := most.Load(); m > limit {
		t.Errorf("%d handlers ran at once, with MaxConcurrentStreams %d", m, limit)
	}
}

// TestWriteTimeoutClosesStuckConnection: a client that opens its windows
// wide and then reads nothing has its connection closed after
// WriteTimeout, so the handler's writes fail instead of blocking forever.
func TestWriteTimeoutClosesStuckConnection(t *testing.T) {
	writeErr := make(chan error, 1)
	ts := startServer(t, &h2.Server{WriteTimeout: 300 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := payload(64 << 10)
		// 256 MiB: far beyond the socket buffers.
		for range 4096 {
			if _, err := w.Write(chunk); err != nil {
				writeErr <- err
				return
			}
			w.(http.Flusher).Flush()
			if err := r.Context().Err(); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}))
	rc := dialRaw(t, ts)
	rc.handshake(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	if err := rc.fr.WriteWindowUpdate(0, 1<<31-1-65535); err != nil {
		t.Fatal(err)
	}
	rc.request(1, http.MethodGet, "/")
	if err := waitChan(t, writeErr, "the handler's writes to fail"); err == nil {
		t.Error("the handler wrote 256 MiB to a client that reads nothing")
	} else {
		t.Logf("handler's write: %v", err)
	}
}

// TestResponseTrailers: trailers a handler declares, or sets with
// http.TrailerPrefix, reach Go's client.
func TestResponseTrailers(t *testing.T) {
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Declared")
		io.WriteString(w, "body")
		w.Header().Set("X-Declared", "one")
		w.Header().Set(http.TrailerPrefix+"X-Late", "two")
	}))
	resp, err := doGet(t, ts.client(t, nil), ts.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "body" {
		t.Fatalf("body %q, %v", b, err)
	}
	if got := resp.Trailer.Get("X-Declared"); got != "one" {
		t.Errorf("trailer X-Declared = %q, want one (trailers %v)", got, resp.Trailer)
	}
	if got := resp.Trailer.Get("X-Late"); got != "two" {
		t.Errorf("trailer X-Late = %q, want two (trailers %v)", got, resp.Trailer)
	}
}

// TestConnect: CONNECT is not supported and answered 405.
func TestConnect(t *testing.T) {
	if *reference {
		t.Skip("Go's server supports CONNECT")
	}
	var handlers atomic.Int32
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
	}))
	rc := dialRaw(t, ts)
	rc.handshake()
	rc.encBuf.Reset()
	rc.enc.WriteField(hpack.HeaderField{Name: ":method", Value: http.MethodConnect})
	rc.enc.WriteField(hpack.HeaderField{Name: ":authority", Value: "example.com:443"})
	if err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: rc.encBuf.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if r := rc.readResponse(1); r.status != "405" {
		t.Errorf("CONNECT: %v; want 405", r)
	}
	if n := handlers.Load(); n != 0 {
		t.Errorf("%d handlers ran", n)
	}
}

// TestShutdownIdle: hs.Shutdown closes an idle HTTP/2 connection, after a
// GOAWAY, and returns.
func TestShutdownIdle(t *testing.T) {
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	rc := dialRaw(t, ts)
	rc.handshake()
	rc.requireOK(1, "/")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := ts.hs.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown with an idle connection: %v", err)
	}
	c := rc.readClosed()
	if !isClosed(c.err) {
		t.Errorf("connection ended with %v", c.err)
	}
	if c.goaway == nil || c.goaway.ErrCode != http2.ErrCodeNo {
		t.Errorf("no GOAWAY NO_ERROR before the close: frames %v", c.frames)
	}
}

// TestCloseEndsStreams: hs.Close closes HTTP/2 connections at once, and
// the contexts of their running handlers are done.
func TestCloseEndsStreams(t *testing.T) {
	started := make(chan struct{}, 1)
	ctxErr := make(chan error, 1)
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
			ctxErr <- r.Context().Err()
		case <-time.After(waitLimit):
			ctxErr <- errors.New("context not done")
		}
	}))
	rc := dialRaw(t, ts)
	rc.handshake()
	rc.request(1, http.MethodGet, "/")
	waitChan(t, started, "the handler")
	if err := ts.hs.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := waitChan(t, ctxErr, "the handler's context"); !errors.Is(err, context.Canceled) {
		t.Errorf("handler's context after Close: %v, want context.Canceled", err)
	}
	if c := rc.readClosed(); !isClosed(c.err) {
		t.Errorf("connection ended with %v, frames %v", c.err, c.frames)
	}
}
