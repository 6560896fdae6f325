package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: every node, HTTP
// server and browser connection must be stopped by the end of its test.
// No chromedp or cdproto goroutine needs an exception.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestHTMXPage opens the server-rendered page and checks that the SSE
// stream keeps it live under the strict CSP: totals rise, rows are there,
// and the console has no error, exception or CSP violation.
func TestHTMXPage(t *testing.T) {
	ctx := testContext(t)
	url, _ := startNode(t, baseConfig())
	bctx, console := startBrowser(t, ctx)

	navigate(t, bctx, url+"/")
	s := requireRisingTotals(t, bctx, "htmx page")
	s = waitState(t, bctx, "event rows on the htmx page", 15*time.Second, func(s pageState) bool { return s.Rows > 0 })
	if s.Health == "" {
		t.Errorf("htmx page: no health badge; state: %v", s)
	}
	if ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`typeof htmx === 'object' && htmx.version.startsWith('2.')`)); err != nil || !ok {
		t.Errorf("htmx 2 is not loaded on the page (ok=%v, err=%v)", ok, err)
	}
	t.Logf("htmx page: %v", s)
	requireNoErrors(t, "htmx page", console.all(), nil)

	// The console check above proves something only if a CSP violation does
	// reach it: make the page try an inline script, which script-src 'self'
	// refuses, and expect the refusal in the console.
	mark := console.len()
	if err := chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](`(() => {
		const s = document.createElement('script');
		s.textContent = 'window.__inlineRan = true';
		document.head.appendChild(s);
	})()`)); err != nil {
		t.Fatalf("inject inline script: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var seen bool
		for _, e := range console.since(mark) {
			if e.isError() && strings.Contains(e.Text, "Content Security Policy") {
				seen = true
			}
		}
		if seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("an inline script did not produce a CSP error in the console; the console check is blind. Console: %v", console.since(mark))
		}
		time.Sleep(pollEvery)
	}
	if ran, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`window.__inlineRan === true`)); err != nil || ran {
		t.Errorf("inline script ran despite the CSP (ran=%v, err=%v)", ran, err)
	}
}

// TestReactDashboard opens the React dashboard: it connects ("live"), its
// totals rise, rows are there, and the console stays clean under the CSP.
func TestReactDashboard(t *testing.T) {
	requireApp(t)
	ctx := testContext(t)
	url, _ := startNode(t, baseConfig())
	bctx, console := startBrowser(t, ctx)

	navigate(t, bctx, url+"/app/")
	waitState(t, bctx, `dashboard conn-state "live"`, 10*time.Second, func(s pageState) bool { return s.Conn == "live" })
	requireRisingTotals(t, bctx, "dashboard")
	s := waitState(t, bctx, "event rows on the dashboard", 15*time.Second, func(s pageState) bool { return s.Rows > 0 })
	t.Logf("dashboard: %v", s)
	requireNoErrors(t, "dashboard", console.all(), nil)
}

// TestDashboardReconnects stops the server under a live dashboard and starts
// a new one on the same address: the indicator leaves "live", comes back,
// and totals rise again, all without a reload.
func TestDashboardReconnects(t *testing.T) {
	requireApp(t)
	ctx := testContext(t)
	first, addr := serveNode(t, ctx, baseConfig(), "127.0.0.1:0")
	bctx, console := startBrowser(t, ctx)

	navigate(t, bctx, "http://"+addr+"/app/")
	waitState(t, bctx, `conn-state "live"`, 10*time.Second, func(s pageState) bool { return s.Conn == "live" })
	requireRisingTotals(t, bctx, "dashboard before the restart")
	requireNoErrors(t, "dashboard before the restart", console.all(), nil)
	// A reload would drop this marker.
	if err := chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](`window.__ontimeNoReload = true`)); err != nil {
		t.Fatalf("set marker: %v", err)
	}
	mark := console.len()

	if err := first.stop(); err != nil {
		t.Fatalf("stop the first node: %v", err)
	}
	down := waitState(t, bctx, `conn-state to leave "live" after the server stopped`, 10*time.Second,
		func(s pageState) bool { return s.Conn != "live" })
	if down.Conn != "reconnecting" && down.Conn != "offline" {
		// "connecting" is tolerated only on the way to one of these two.
		down = waitState(t, bctx, `conn-state "reconnecting" or "offline"`, 15*time.Second,
			func(s pageState) bool { return s.Conn == "reconnecting" || s.Conn == "offline" })
	}
	t.Logf("server down: %v", down)

	_, addr2 := serveNode(t, ctx, baseConfig(), addr)
	if addr2 != addr {
		t.Fatalf("second node listens on %s, want %s", addr2, addr)
	}
	waitState(t, bctx, `conn-state back to "live" after the restart`, 15*time.Second, func(s pageState) bool { return s.Conn == "live" })
	// The new node counts from zero: wait for its numbers to replace the
	// old node's last ones (still shown while the server was down), then for
	// them to rise.
	fresh := waitState(t, bctx, "totals from the new node", 10*time.Second,
		func(s pageState) bool { return s.Received > 0 && s.Received != down.Received })
	after := waitState(t, bctx, "totals to rise after the restart", 15*time.Second,
		func(s pageState) bool { return s.Received > fresh.Received })
	t.Logf("after the restart: %v", after)

	if kept, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`window.__ontimeNoReload === true`)); err != nil || !kept {
		t.Errorf("the page reloaded during the restart (marker kept=%v, err=%v)", kept, err)
	}
	// While the server is down, Chromium logs the refused connections of
	// the stream/socket; those are expected. Anything else is not.
	requireNoErrors(t, "dashboard across the restart", console.since(mark), refusedConnection)
}

// refusedConnection accepts the console errors that Chromium itself logs
// for a connection to a server that is down.
func refusedConnection(e consoleEntry) bool {
	if e.Kind == "exception" {
		return false
	}
	if e.Kind == "log" && e.Source == "network" {
		return true
	}
	for _, s := range []string{"ERR_CONNECTION_REFUSED", "ERR_CONNECTION_RESET", "ERR_EMPTY_RESPONSE",
		"ERR_INCOMPLETE_CHUNKED_ENCODING", "WebSocket connection to"} {
		if strings.Contains(e.Text, s) {
			return true
		}
	}
	return false
}

// TestScreenshots saves a full-page PNG of each UI under load into
// $ONTIME_SCREENSHOTS, as page.png and dashboard.png: events go to an http
// worker that takes 30 ms a call and answers every tenth with 503, at more
// events than it can take, so results, failures and drops show. Without
// the variable it writes nothing and skips.
func TestScreenshots(t *testing.T) {
	dir := screenshotDir()
	if dir == "" {
		t.Skip("set ONTIME_SCREENSHOTS=<dir> to save screenshots of the UIs under load")
	}
	ctx := testContext(t)
	worker := startWorker(t, 30*time.Millisecond, func(n int64) bool { return n%10 == 0 })
	cfg := workerConfig(worker)
	cfg.Settings.Rate, cfg.Settings.Workers, cfg.Settings.DeadlineMs, cfg.Settings.TickMs = 400, 8, 100, 100
	url, _ := startNode(t, cfg)
	bctx, console := startBrowser(t, ctx)

	t.Run("page", func(t *testing.T) {
		navigate(t, bctx, url+"/")
		waitState(t, bctx, "drops and rows on the htmx page", 10*time.Second,
			func(s pageState) bool { return s.Dropped > 0 && s.Rows > 0 })
		waitText(t, bctx, "failure-kinds", 10*time.Second, func(s string) bool { return strings.Contains(s, "http-503") })
		// A few seconds of ticks, so the charts show a trend.
		waitState(t, bctx, "3 s of events on the htmx page", 15*time.Second, func(s pageState) bool { return s.Received >= 1200 })
		saveScreenshot(t, bctx, dir, "page.png")
	})
	t.Run("dashboard", func(t *testing.T) {
		requireApp(t)
		navigate(t, bctx, url+"/app/")
		s := waitState(t, bctx, "a live dashboard with drops and rows", 10*time.Second,
			func(s pageState) bool { return s.Conn == "live" && s.Dropped > 0 && s.Rows > 0 })
		waitText(t, bctx, "failure-kinds", 10*time.Second, func(s string) bool { return strings.Contains(s, "http-503") })
		// The dashboard's charts start when it connects: give them a few
		// seconds of ticks.
		waitState(t, bctx, "3 s more of events on the dashboard", 15*time.Second,
			func(n pageState) bool { return n.Received >= s.Received+1200 })
		saveScreenshot(t, bctx, dir, "dashboard.png")
	})
	requireNoErrors(t, "screenshots", console.all(), nil)
}
