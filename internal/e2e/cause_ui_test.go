package e2e

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestFailingWorkerCauseBothUIs runs a node whose worker answers every call
// 503 at once: the queue stays empty and the workers idle, so neither UI
// may say overloaded; both show the verdict degraded and its cause, the
// failure's kind, beside the badge.
func TestFailingWorkerCauseBothUIs(t *testing.T) {
	requireApp(t)
	ctx := testContext(t)
	workerURL := startWorker(t, 0, func(int64) bool { return true })
	base, _ := startNode(t, workerConfig(workerURL))
	bctx, console := startBrowser(t, ctx)
	for _, ui := range []struct{ name, path, badge string }{{"htmx page", "/", "health"}, {"dashboard", "/app/", "health-status"}} {
		t.Run(ui.name, func(t *testing.T) {
			if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 800)); err != nil {
				t.Fatalf("viewport: %v", err)
			}
			navigate(t, bctx, base+ui.path)
			within := 15 * time.Second
			waitText(t, bctx, "health-cause", within, func(s string) bool { return s == "worker failing: http-503" })
			if got := waitText(t, bctx, ui.badge, within, func(s string) bool { return s != "" }); got != "degraded" {
				t.Errorf("%s: the badge says %q beside a failing worker's cause, want degraded", ui.name, got)
			}
		})
	}
	requireNoErrors(t, "failing worker UIs", console.all(), nil)
}
