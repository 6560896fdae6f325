package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	frontend "github.com/ontime-rt/ontime/frontend-react"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/node"
)

// testTimeout bounds each test: browser start, node start, every wait and
// the orderly shutdown all fit in it.
const testTimeout = 60 * time.Second

// pollEvery is how often the tests read the page while they wait.
const pollEvery = 100 * time.Millisecond

// testContext is the per-test context, bounded by testTimeout.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// chromiumPath finds the browser: $CHROMIUM_PATH, else /usr/bin/chromium.
// Without one the test fails, unless ONTIME_E2E_SKIP=1 makes it skip.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("CHROMIUM_PATH")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	full, err := exec.LookPath(path)
	if err == nil {
		return full
	}
	msg := fmt.Sprintf("no Chromium at %q (%v): install it with `apt-get update && apt-get install -y chromium`, "+
		"or point CHROMIUM_PATH at a Chrome/Chromium binary", path, err)
	if os.Getenv("ONTIME_E2E_SKIP") == "1" {
		t.Skip(msg + " (skipped: ONTIME_E2E_SKIP=1)")
	}
	t.Fatal(msg + "; set ONTIME_E2E_SKIP=1 to skip the browser tests")
	return ""
}

// requireApp checks that the React dashboard is embedded. Without it the
// test fails, unless ONTIME_E2E_SKIP_APP=1 makes it skip.
func requireApp(t *testing.T) {
	t.Helper()
	if _, built := frontend.App(); built {
		return
	}
	msg := "the React dashboard is not built (frontend-react/dist/app/index.html is missing): " +
		"run `make frontend` (or `cd frontend-react && npm ci && npm run build`) before `go test`"
	if os.Getenv("ONTIME_E2E_SKIP_APP") == "1" {
		t.Skip(msg + " (skipped: ONTIME_E2E_SKIP_APP=1)")
	}
	t.Fatal(msg + "; set ONTIME_E2E_SKIP_APP=1 to skip the dashboard tests")
}

// consoleEntry is one message of the page's console: a console API call, an
// uncaught exception, or an entry of the browser log (where Chromium reports
// CSP violations and failed requests).
type consoleEntry struct {
	Kind   string // "console", "exception" or "log"
	Level  string // console API type or log level; "exception" for exceptions
	Source string // log entry source, such as "network" or "security"
	Text   string
	URL    string
}

func (e consoleEntry) String() string {
	s := e.Kind + "/" + e.Level
	if e.Source != "" {
		s += "/" + e.Source
	}
	s += ": " + e.Text
	if e.URL != "" {
		s += " (" + e.URL + ")"
	}
	return s
}

// isError reports whether the message is error level: console.error or
// console.assert, an uncaught exception, or a browser log entry at level
// error.
func (e consoleEntry) isError() bool {
	switch e.Kind {
	case "exception":
		return true
	case "console":
		return e.Level == string(runtime.ConsoleAPICalledTypeError) || e.Level == string(runtime.ConsoleAPICalledTypeAssert)
	case "log":
		return e.Level == string(log.EntryLevelError)
	}
	return false
}

// consoleLog collects the console of one tab. record is a chromedp listener:
// it runs in the tab's read loop, so it only appends under a lock.
type consoleLog struct {
	mu      sync.Mutex
	entries []consoleEntry
}

func (c *consoleLog) record(ev any) {
	var e consoleEntry
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		e = consoleEntry{Kind: "console", Level: string(ev.Type), Text: argsText(ev.Args)}
		if ev.StackTrace != nil && len(ev.StackTrace.CallFrames) > 0 {
			e.URL = ev.StackTrace.CallFrames[0].URL
		}
	case *runtime.EventExceptionThrown:
		e = consoleEntry{Kind: "exception", Level: "exception"}
		if d := ev.ExceptionDetails; d != nil {
			e.Text, e.URL = d.Text, d.URL
			if d.Exception != nil && d.Exception.Description != "" {
				e.Text += " " + d.Exception.Description
			}
		}
	case *log.EventEntryAdded:
		if ev.Entry == nil {
			return
		}
		e = consoleEntry{Kind: "log", Level: string(ev.Entry.Level), Source: string(ev.Entry.Source), Text: ev.Entry.Text, URL: ev.Entry.URL}
	default:
		return
	}
	c.mu.Lock()
	c.entries = append(c.entries, e)
	c.mu.Unlock()
}

func argsText(args []*runtime.RemoteObject) string {
	parts := make([]string, 0, len(args))
	for _, a := range args {
		switch {
		case a == nil:
		case len(a.Value) > 0:
			var s string
			if json.Unmarshal(a.Value, &s) == nil {
				parts = append(parts, s)
			} else {
				parts = append(parts, string(a.Value))
			}
		case a.Description != "":
			parts = append(parts, a.Description)
		case a.UnserializableValue != "":
			parts = append(parts, string(a.UnserializableValue))
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

// all returns a copy of the messages so far.
func (c *consoleLog) all() []consoleEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]consoleEntry(nil), c.entries...)
}

// since returns the messages recorded after the first n.
func (c *consoleLog) since(n int) []consoleEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > len(c.entries) {
		n = len(c.entries)
	}
	return append([]consoleEntry(nil), c.entries[n:]...)
}

func (c *consoleLog) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// requireNoErrors fails the test on any error-level message in entries,
// except those that allowed accepts (nil allows none). Every message is
// logged so a failure shows the whole console.
func requireNoErrors(t *testing.T, where string, entries []consoleEntry, allowed func(consoleEntry) bool) {
	t.Helper()
	var bad []string
	for _, e := range entries {
		if !e.isError() {
			continue
		}
		if allowed != nil && allowed(e) {
			t.Logf("%s: tolerated console error: %s", where, e)
			continue
		}
		bad = append(bad, e.String())
	}
	if len(bad) > 0 {
		for _, e := range entries {
			t.Logf("console: %s", e)
		}
		t.Fatalf("%s: %d error(s) in the browser console (CSP violations show up here):\n  %s",
			where, len(bad), strings.Join(bad, "\n  "))
	}
}

// startBrowser starts a headless Chromium with a fresh profile and opens
// one tab, whose console it records from the tab's first message. The
// browser is stopped when the test ends.
func startBrowser(t *testing.T, parent context.Context) (context.Context, *consoleLog) {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in containers
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	console := &consoleLog{}
	ctx, cancel := chromedp.NewContext(allocCtx, chromedp.WithListener(console.record))
	stop := func() {
		cancel()
		cancelAlloc() // waits until the browser process has exited
	}
	if err := chromedp.Do(ctx); err != nil {
		stop()
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	t.Cleanup(stop)
	return ctx, console
}

// testLogger sends the node's warnings and errors to the test output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// baseConfig is a light node that ticks fast, so totals move within a
// fraction of a second. Its deadlines are generous so that events are
// processed (and charts have latencies to draw) even on a machine so loaded
// that a tight deadline would shed them all.
func baseConfig() node.Config {
	s := config.Defaults()
	s.Rate, s.DeadlineMs, s.WorkMs, s.Workers, s.TickMs = 50, 2000, 20, 8, 100
	return node.Config{Settings: s, ShutdownTimeout: 3 * time.Second}
}

// startNode runs a node's pipeline and serves its handler with httptest. It
// returns the base URL; the node and the server stop when the test ends (or
// earlier, through the returned stop func).
func startNode(t *testing.T, cfg node.Config) (url string, stop func()) {
	t.Helper()
	return startNodeWrapped(t, cfg, nil)
}

// startNodeBehind runs a node behind the shim wrap makes of its handler.
func startNodeBehind(t *testing.T, cfg node.Config, wrap func(*testing.T, http.Handler) http.Handler) string {
	t.Helper()
	url, _ := startNodeWrapped(t, cfg, wrap)
	return url
}

// startNodeWrapped is startNode with the handler served through wrap (nil:
// as it is).
func startNodeWrapped(t *testing.T, cfg node.Config, wrap func(*testing.T, http.Handler) http.Handler) (url string, stop func()) {
	t.Helper()
	n, err := node.New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("node.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, nil) }()
	h := n.Handler()
	if wrap != nil {
		h = wrap(t, h)
	}
	srv := httptest.NewServer(h)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("node.Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("node.Run did not return within 10s of its context ending")
			}
			srv.Close()
		})
	}
	t.Cleanup(stop)
	return srv.URL, stop
}

// servedNode is a node that serves on its own listener, so that it can be
// stopped and a new one started on the same address.
type servedNode struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// serveNode starts a node serving on addr ("127.0.0.1:0" for any port),
// retrying the listen for a few seconds while the old socket is released.
func serveNode(t *testing.T, ctx context.Context, cfg node.Config, addr string) (*servedNode, string) {
	t.Helper()
	n, err := node.New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("node.New: %v", err)
	}
	ln, err := listenRetry(ctx, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	rctx, cancel := context.WithCancel(context.Background())
	s := &servedNode{cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- n.Run(rctx, ln) }()
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stop node: %v", err)
		}
	})
	return s, ln.Addr().String()
}

// stop cancels the node and waits for Run to return: the pipeline drained,
// every stream closed and the listener closed.
func (s *servedNode) stop() error {
	s.once.Do(func() {
		s.cancel()
		select {
		case err := <-s.done:
			s.err = err
		case <-time.After(10 * time.Second):
			s.err = errors.New("node.Run did not return within 10s of its context ending")
		}
	})
	return s.err
}

func listenRetry(ctx context.Context, addr string, within time.Duration) (net.Listener, error) {
	deadline := time.Now().Add(within)
	var lc net.ListenConfig
	for {
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return ln, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pageState is what the tests read from either UI: the totals (-1 when the
// element is missing or not a plain integer), the number of event rows, the
// connection indicator and the health badge, plus the raw texts for
// messages.
type pageState struct {
	Received int64             `json:"received"`
	OnTime   int64             `json:"ontime"`
	Late     int64             `json:"late"`
	Dropped  int64             `json:"dropped"`
	InFlight int64             `json:"inflight"`
	Rows     int               `json:"rows"`
	Conn     string            `json:"conn"`
	Health   string            `json:"health"`
	Raw      map[string]string `json:"raw"`
}

func (s pageState) String() string {
	return fmt.Sprintf("received=%q ontime=%q late=%q dropped=%q inflight=%q rows=%d conn=%q health=%q",
		s.Raw["received"], s.Raw["ontime"], s.Raw["late"], s.Raw["dropped"], s.Raw["inflight"], s.Rows, s.Conn, s.Health)
}

// stateJS reads pageState in one Runtime.evaluate. DevTools evaluation is
// exempt from the page's CSP, so reading the page adds nothing to the
// console. The tests poll it from Go (waitState) rather than with
// chromedp.Poll so that a timeout reports the last state seen.
const stateJS = `(() => {
	const txt = (id) => {
		const el = document.querySelector('[data-testid="' + id + '"]');
		return el ? el.textContent.trim() : null;
	};
	const num = (id) => {
		const s = txt(id);
		return s !== null && /^[0-9]+$/.test(s) ? Number(s) : -1;
	};
	return {
		received: num('total-received'),
		ontime: num('total-ontime'),
		late: num('total-late'),
		dropped: num('total-dropped'),
		inflight: num('total-inflight'),
		rows: document.querySelectorAll('[data-testid="event-row"]').length,
		conn: txt('conn-state') ?? '',
		health: txt('health') ?? '',
		raw: {
			received: txt('total-received') ?? '<missing>',
			ontime: txt('total-ontime') ?? '<missing>',
			late: txt('total-late') ?? '<missing>',
			dropped: txt('total-dropped') ?? '<missing>',
			inflight: txt('total-inflight') ?? '<missing>',
		},
	};
})()`

func readState(ctx context.Context) (pageState, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[pageState](stateJS))
}

// waitState reads the page every pollEvery until cond holds, and fails the
// test after within (or when ctx ends) with the last state seen.
func waitState(t *testing.T, ctx context.Context, what string, within time.Duration, cond func(pageState) bool) pageState {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	var (
		last    pageState
		lastErr error
		reads   int
	)
	for {
		s, err := readState(wctx)
		if err == nil {
			reads++
			last, lastErr = s, nil
			if cond(s) {
				return s
			}
		} else if wctx.Err() == nil {
			lastErr = err
		}
		select {
		case <-wctx.Done():
			if lastErr != nil {
				t.Fatalf("timed out after %v waiting for %s: last read error: %v; last state: %v", within, what, lastErr, last)
			}
			t.Fatalf("timed out after %v waiting for %s (%d reads); last state: %v", within, what, reads, last)
		case <-tick.C:
		}
	}
}

// requireRisingTotals waits for received > 0, then for it to rise further:
// the live stream, not just the server-rendered first paint, drives the UI.
func requireRisingTotals(t *testing.T, ctx context.Context, what string) pageState {
	t.Helper()
	first := waitState(t, ctx, what+": total-received > 0", 10*time.Second, func(s pageState) bool { return s.Received > 0 })
	return waitState(t, ctx, fmt.Sprintf("%s: total-received to rise above %d", what, first.Received), 5*time.Second,
		func(s pageState) bool { return s.Received > first.Received })
}

// navigate loads url in the tab.
func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("navigate to %s: %v", url, err)
	}
}

// screenshotDir is $ONTIME_SCREENSHOTS, or "" when screenshots are off.
func screenshotDir() string { return os.Getenv("ONTIME_SCREENSHOTS") }

// saveScreenshot writes a full-page PNG of the tab to dir/name.
func saveScreenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	// Rows with content-visibility: auto are drawn when scrolled into view;
	// a full-page capture beyond the viewport scrolls nothing, so they are
	// made visible for it.
	// (A constructed style sheet: the CSP refuses inline ones.)
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		const s = new CSSStyleSheet();
		s.replaceSync('* { content-visibility: visible !important; }');
		document.adoptedStyleSheets = [...document.adoptedStyleSheets, s];
	})()`)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100 means PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	writeScreenshot(t, dir, name, png)
}

// writeScreenshot writes png to dir/name.
func writeScreenshot(t *testing.T, dir, name string, png []byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("screenshot dir: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("write screenshot: %v", err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(png))
}
