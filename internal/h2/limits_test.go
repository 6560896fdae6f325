package h2_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/ontime-rt/ontime/internal/h2"
	"github.com/ontime-rt/ontime/internal/tlscert/tlscerttest"
)

// TestTLS12WithoutAEADRefused: RFC 9113 (9.2.2) forbids HTTP/2 over TLS 1.2
// without an ephemeral AEAD cipher suite; such a connection gets GOAWAY
// INADEQUATE_SECURITY and is closed.
func TestTLS12WithoutAEADRefused(t *testing.T) {
	var handlers int
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { handlers++ }))
	d := &tls.Dialer{Config: &tls.Config{
		RootCAs:    tlscerttest.Pool(ts.cert),
		NextProtos: []string{"h2"},
		MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
		},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	nc, err := d.DialContext(ctx, "tcp", ts.addr)
	if err != nil {
		t.Fatalf("dial with a CBC suite: %v", err)
	}
	rc := rawFrom(t, nc.(*tls.Conn))
	_, _ = rc.c.Write([]byte(http2.ClientPreface))
	_ = rc.fr.WriteSettings()
	got := rc.readClosed()
	if got.goaway == nil || got.goaway.ErrCode != http2.ErrCodeInadequateSecurity {
		t.Fatalf("TLS 1.2 with %s: frames %v, GOAWAY %v; want GOAWAY INADEQUATE_SECURITY", tls.CipherSuiteName(rc.c.ConnectionState().CipherSuite), got.frames, got.goaway)
	}
	if handlers != 0 {
		t.Errorf("%d handlers ran", handlers)
	}
}

// TestPingFloodWithoutReading: a client that sends PINGs and never reads
// the acknowledgements is disconnected once what the server owes it passes
// its bound, rather than having the server buffer them without limit.
func TestPingFloodWithoutReading(t *testing.T) {
	// A small send buffer on the server's side, so that its writes stop
	// soon after the client stops reading (loopback buffers grow to
	// megabytes). The client's receive buffer stays as the kernel sets
	// it: it grows only as the client reads, which it does not.
	ts := startServer(t, &h2.Server{WriteTimeout: time.Minute}, http.NotFoundHandler(), func(hs *http.Server) {
		hs.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*tls.Conn); ok {
				if tcp, ok := tc.NetConn().(*net.TCPConn); ok {
					_ = tcp.SetWriteBuffer(8 << 10)
				}
			}
			return ctx
		}
	})
	rc := dialRaw(t, ts)
	rc.handshake()
	sent := 0
	var err error
	for err == nil {
		err = rc.fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
		sent++
	}
	if isTimeout(err) {
		t.Fatalf("the server still read PINGs after %d, within %v: it kept buffering acknowledgements nobody reads", sent, waitLimit)
	}
	t.Logf("disconnected after %d PINGs: %v", sent, err)
}

// TestStalledStreamReset: a handler with no write deadline of its own whose
// client grants no window waits at most the write timeout; then its write
// fails as a timeout and the client sees the stream reset.
func TestStalledStreamReset(t *testing.T) {
	errs := make(chan error, 1)
	ts := startServer(t, &h2.Server{WriteTimeout: 200 * time.Millisecond}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(payload(1000))
		errs <- http.NewResponseController(w).Flush()
	}))
	rc := dialRaw(t, ts)
	rc.handshake(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	rc.request(1, http.MethodGet, "/")
	err := waitChan(t, errs, "the handler's flush to a stream the client grants no window")
	if !isTimeout(err) {
		t.Fatalf("flush to a stream with no window: %v, want a timeout", err)
	}
	r := rc.readResponse(1)
	if r.reset == nil || r.reset.ErrCode != http2.ErrCodeCancel || len(r.body) != 0 {
		t.Fatalf("client got %v; want the stream reset (CANCEL) with no data", r)
	}
}

// TestBodyReadDeadline: a request body that does not come in time fails
// the handler's read as a timeout (http.ResponseController's read
// deadline, as ontime's write routes set it), and the handler can still
// answer; the part that did come is read first.
func TestBodyReadDeadline(t *testing.T) {
	type result struct {
		got string
		err error
	}
	results := make(chan result, 1)
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		b, err := io.ReadAll(r.Body)
		results <- result{string(b), err}
		w.WriteHeader(http.StatusRequestTimeout)
	}))
	rc := dialRaw(t, ts)
	rc.handshake()
	if err := rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: rc.headerBlock(http.MethodPost, "/slow"), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if err := rc.fr.WriteData(1, false, []byte("a drip")); err != nil {
		t.Fatal(err)
	}
	res := waitChan(t, results, "the handler's read of a body that stops coming")
	if res.got != "a drip" || !isTimeout(res.err) {
		t.Fatalf("read %q, %v; want %q and a timeout", res.got, res.err, "a drip")
	}
	if r := rc.readResponse(1); r.status != "408" {
		t.Fatalf("response %v, want 408", r)
	}
}
