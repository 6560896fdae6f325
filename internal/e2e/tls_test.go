package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/ontime-rt/ontime/internal/node"
	"github.com/ontime-rt/ontime/internal/tlscert/tlscerttest"
)

// tlsNode serves a node over HTTPS with a certificate made for the test.
func tlsNode(t *testing.T, ctx context.Context, cfg node.Config) (base, dir string, first tlscerttest.Pair) {
	t.Helper()
	dir = t.TempDir()
	first = tlscerttest.Write(t, dir, 1)
	cfg.TLSCertFile, cfg.TLSKeyFile = first.CertFile, first.KeyFile
	cfg.TLSPoll = 20 * time.Millisecond
	_, addr := serveNode(t, ctx, cfg, "127.0.0.1:0")
	return "https://" + addr, dir, first
}

// countingTransport is an HTTP/2-capable client transport that counts the
// connections it dials.
func countingTransport(roots tlscerttest.Pair, dials *atomic.Int32) *http.Transport {
	d := &net.Dialer{}
	return &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: tlscerttest.Pool(roots)},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
	}
}

// sseClient is one open SSE stream.
type sseClient struct {
	resp *http.Response
	r    *bufio.Reader
}

func openStream(t *testing.T, ctx context.Context, c *http.Client, url string) *sseClient {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sseClient{resp: resp, r: bufio.NewReader(resp.Body)}
}

// nextID reads up to the next batch's id line.
func (s *sseClient) nextID() (string, error) {
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if id, ok := strings.CutPrefix(line, "id: "); ok {
			return strings.TrimSpace(id), nil
		}
	}
}

// Over HTTPS, eight SSE streams share one HTTP/2 connection, all live; a
// new certificate is served to new connections without ending them.
func TestHTTP2EightStreamsOneConnection(t *testing.T) {
	ctx := testContext(t)
	base, dir, first := tlsNode(t, ctx, baseConfig())
	var dials atomic.Int32
	tr := countingTransport(first, &dials)
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}

	// The first stream makes the connection; the others join it.
	streams := []*sseClient{openStream(t, ctx, c, base+"/api/stream?events=0")}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 7 {
		wg.Go(func() {
			s := openStream(t, ctx, c, base+"/api/stream?events=0")
			mu.Lock()
			streams = append(streams, s)
			mu.Unlock()
		})
	}
	wg.Wait()
	last := make([]string, len(streams))
	for i, s := range streams {
		if s.resp.ProtoMajor != 2 {
			t.Fatalf("stream %d: %s, want HTTP/2", i, s.resp.Proto)
		}
		id, err := s.nextID()
		if err != nil {
			t.Fatalf("stream %d: no batch: %v", i, err)
		}
		last[i] = id
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d connections for 8 streams, want 1", n)
	}

	// A new pair on disk: new connections get it...
	tlscerttest.Write(t, dir, 2)
	// Only the serial is looked at: the probe trusts whatever it gets.
	probe := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := probe.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		probe.CloseIdleConnections()
		if resp.TLS.PeerCertificates[0].SerialNumber.Int64() == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new certificate was not served within 20s")
		}
		time.Sleep(pollEvery)
	}
	// ...and the streams on the old connection go on.
	for i, s := range streams {
		id, err := s.nextID()
		if err != nil {
			t.Fatalf("stream %d ended by the certificate reload: %v", i, err)
		}
		if id == last[i] {
			t.Fatalf("stream %d: batch %s again", i, id)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d connections after the reload, want still 1", n)
	}
}

// Eight tabs of the page over HTTPS are all live: HTTP/2 carries their
// eight streams over one connection, where HTTP/1.1 would stop at six.
func TestBrowserEightTabsHTTPS(t *testing.T) {
	// Eight pages render every batch: a slower tick keeps that light on a
	// loaded machine, and the test gets more time than the others.
	ctx, cancel := context.WithTimeout(context.Background(), 3*testTimeout)
	defer cancel()
	cfg := baseConfig()
	cfg.Settings.TickMs = 500
	base, _, _ := tlsNode(t, ctx, cfg)
	bctx := startBrowserFlags(t, ctx, chromedp.Flag("ignore-certificate-errors", true))

	tabs := []context.Context{bctx}
	for range 7 {
		tctx, cancel := chromedp.NewContext(bctx)
		t.Cleanup(cancel)
		tabs = append(tabs, tctx)
	}
	for i, tab := range tabs {
		navigate(t, tab, base+"/")
		proto, err := chromedp.Run(tab, chromedp.Evaluate[string](`performance.getEntriesByType('navigation')[0].nextHopProtocol`))
		if err != nil {
			t.Fatal(err)
		}
		if proto != "h2" {
			t.Fatalf("tab %d: protocol %q, want h2", i, proto)
		}
	}
	// The server holds eight page streams at once...
	probe := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer probe.CloseIdleConnections()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := pageClients(probe, base)
		if err != nil {
			t.Fatal(err)
		}
		if n == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d page streams connected after 20s, want 8", n)
		}
		time.Sleep(pollEvery)
	}
	// ...and every tab, the last one included, keeps getting batches. A
	// background tab's scripts may be throttled: each is brought to the
	// front before it is read.
	for i, tab := range tabs {
		what := fmt.Sprintf("tab %d of 8", i+1)
		front := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, page.BringToFront, cdp.Empty{})
			return err
		})
		if err := chromedp.Do(tab, front); err != nil {
			t.Fatal(err)
		}
		first := waitState(t, tab, what+": total-received > 0", 30*time.Second, func(s pageState) bool { return s.Received > 0 })
		waitState(t, tab, what+": total-received rising", 30*time.Second, func(s pageState) bool { return s.Received > first.Received })
	}
}

// pageClients reads the number of page streams from /api/stats.
func pageClients(c *http.Client, base string) (int, error) {
	resp, err := c.Get(base + "/api/stats")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Clients map[string]int `json:"clients"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("stats: %w", err)
	}
	return body.Clients["page"], nil
}

// startBrowserFlags is startBrowser with extra command-line flags.
func startBrowserFlags(t *testing.T, parent context.Context, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	stop := func() {
		cancel()
		cancelAlloc()
	}
	if err := chromedp.Do(ctx); err != nil {
		stop()
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	t.Cleanup(stop)
	return ctx
}

// At shutdown, the streams of an HTTP/2 connection all get the node's
// final batch and then end cleanly (no reset), and Run returns.
func TestHTTP2StreamsEndCleanlyAtShutdown(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	pair := tlscerttest.Write(t, dir, 1)
	cfg := baseConfig()
	cfg.TLSCertFile, cfg.TLSKeyFile = pair.CertFile, pair.KeyFile
	served, addr := serveNode(t, ctx, cfg, "127.0.0.1:0")
	var dials atomic.Int32
	tr := countingTransport(pair, &dials)
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	base := "https://" + addr

	streams := make([]*sseClient, 4)
	for i := range streams {
		streams[i] = openStream(t, ctx, c, base+"/api/stream?events=0")
		if _, err := streams[i].nextID(); err != nil {
			t.Fatalf("stream %d: no batch: %v", i, err)
		}
	}
	// A plain request shares the connection with the streams.
	resp, err := c.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("healthz beside the streams: %v %v", resp, err)
	}
	resp.Body.Close()
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- served.stop() }()
	last := make([]string, len(streams))
	for i, s := range streams {
		for {
			id, err := s.nextID()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("stream %d ended with %v, want a clean end", i, err)
				}
				break
			}
			last[i] = id
		}
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	for i := range last {
		if last[i] != last[0] {
			t.Fatalf("last batches %v: every stream should end with the same final batch", last)
		}
	}
}
