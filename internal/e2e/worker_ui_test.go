package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/node"
)

// startWorker serves a worker that answers every event with
// {"ok":true,"n":N}, N counting its calls. fail, when set, picks calls to
// answer 503 instead; delay is how long each call takes. The worker stops
// when the test ends, after the node (registered later) has stopped.
func startWorker(t *testing.T, delay time.Duration, fail func(n int64) bool) string {
	t.Helper()
	var calls atomic.Int64
	w := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n := calls.Add(1)
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if fail != nil && fail(n) {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"ok":true,"n":%d}`, n)
	}))
	t.Cleanup(w.Close)
	return w.URL + "/work"
}

// workerConfig is baseConfig with its events sent to the worker at url.
func workerConfig(url string) node.Config {
	cfg := baseConfig()
	cfg.Settings.Processor, cfg.Settings.WorkerURL = config.HTTP, url
	cfg.Settings.Concurrency = config.DefaultConcurrency(config.HTTP)
	return cfg
}

var resultRe = regexp.MustCompile(`^\{"ok":true,"n":[0-9]+\}$`)

// TestWorkerBothUIs runs a node whose processor is an http worker and
// checks that both UIs show what processes the events (processor http,
// the worker's host, the concurrency and the limit) and the worker's
// results in the event rows, that neither overflows a phone's width, and
// that the console stays clean.
func TestWorkerBothUIs(t *testing.T) {
	requireApp(t)
	ctx := testContext(t)
	workerURL := startWorker(t, 0, nil)
	u, err := url.Parse(workerURL)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := startNode(t, workerConfig(workerURL))
	bctx, console := startBrowser(t, ctx)
	limitRe := regexp.MustCompile(`^limit [1-8] / 8$`) // adaptive: between 1 and the 8 workers

	for _, ui := range []struct{ name, path string }{{"htmx page", "/"}, {"dashboard", "/app/"}} {
		t.Run(ui.name, func(t *testing.T) {
			if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 800)); err != nil {
				t.Fatalf("viewport: %v", err)
			}
			navigate(t, bctx, base+ui.path)
			requireRisingTotals(t, bctx, ui.name)
			within := 15 * time.Second
			waitText(t, bctx, "health-processor", within, func(s string) bool { return s == "http" })
			waitText(t, bctx, "health-worker-host", within, func(s string) bool { return s == u.Host })
			waitText(t, bctx, "health-concurrency", within, func(s string) bool { return s == "adaptive" })
			waitText(t, bctx, "health-limit", within, limitRe.MatchString)
			calls := waitText(t, bctx, "health-calls", within, func(s string) bool { return strings.HasPrefix(s, "calls p50 ") })
			result := waitText(t, bctx, "event-result", within, resultRe.MatchString)
			t.Logf("%s: %s; first result %s", ui.name, calls, result)
			requireNoPhoneOverflow(t, bctx, ui.name)
		})
	}
	requireNoErrors(t, "worker UIs", console.all(), nil)
}

// requireNoPhoneOverflow shows the page at a phone's width (390 px) and
// fails if anything makes it wider than the screen. With
// $ONTIME_SCREENSHOTS it saves the top of the page and the event rows.
func requireNoPhoneOverflow(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Sleep(300*time.Millisecond)); err != nil { // a tick, so streamed fragments are laid out too
		t.Fatalf("phone viewport: %v", err)
	}
	type widths struct {
		Scroll int      `json:"scroll"`
		Client int      `json:"client"`
		Wide   []string `json:"wide"`
	}
	w, err := chromedp.Run(ctx, chromedp.Evaluate[widths](`(() => {
		const d = document.documentElement;
		const wide = [...document.querySelectorAll('body *')]
			.filter((el) => el.getBoundingClientRect().right > d.clientWidth + 1 && !el.closest('.table-wrap'))
			.slice(0, 5)
			.map((el) => el.tagName + '.' + el.className + ' ' + (el.getAttribute('data-testid') || ''));
		return { scroll: d.scrollWidth, client: d.clientWidth, wide };
	})()`))
	if err != nil {
		t.Fatalf("read widths: %v", err)
	}
	if w.Scroll > w.Client {
		t.Errorf("%s at 390 px: the page is %d px wide, the screen %d; too wide: %v", name, w.Scroll, w.Client, w.Wide)
	}
	dir := screenshotDir()
	if dir == "" {
		return
	}
	file := strings.ReplaceAll(name, " ", "-")
	for _, part := range []struct{ suffix, js string }{
		{"top", `window.scrollTo(0, 0)`},
		{"events", `document.querySelector('[data-testid="event-row"]').closest('table').scrollIntoView()`},
	} {
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](part.js), chromedp.Sleep(200*time.Millisecond)); err != nil {
			t.Fatalf("scroll: %v", err)
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		writeScreenshot(t, dir, fmt.Sprintf("worker-phone-%s-%s.png", file, part.suffix), png)
	}
}
