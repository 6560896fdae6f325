package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/google/uuid"
)

// hostilePayload is an ingested event's payload whose text is markup: the
// details must show it as text, and nothing in it may run.
const hostilePayload = `{"html": "<img src=x onerror=\"window.__pwned=1\">", "n": [1, 2]}`

// TestEventDetailBothUIs opens an event's details in each UI, with a
// click and from the keyboard, while the stream goes on: the details show
// the event's source, status, payload and the worker's result (as text),
// stay as they were while the totals rise and the table moves on, and
// close on Escape and with their button. The console stays clean.
func TestEventDetailBothUIs(t *testing.T) {
	requireApp(t)
	ctx := testContext(t)
	cfg := workerConfig(startWorker(t, 0, nil))
	cfg.Settings.Rate = 10 // rows stay in the 50-row table for ~5 s: time to find the posted one
	base, _ := startNode(t, cfg)
	bctx, console := startBrowser(t, ctx)
	var compact strings.Builder
	compact.WriteString(`{"html":"<img src=x onerror=\"window.__pwned=1\">","n":[1,2]}`)
	payloadBytes := strconv.Itoa(len(compact.String())) + " bytes"
	prettyResult := regexp.MustCompile(`^\{\n  "ok": true,\n  "n": [0-9]+\n\}$`)

	for _, ui := range []struct{ name, path string }{{"htmx page", "/"}, {"dashboard", "/app/"}} {
		t.Run(ui.name, func(t *testing.T) {
			if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 800)); err != nil {
				t.Fatalf("viewport: %v", err)
			}
			navigate(t, bctx, base+ui.path)
			requireRisingTotals(t, bctx, ui.name)

			// Click: an ingested event with a payload.
			id := uuid.NewString()
			postEvent(t, base, fmt.Sprintf(`{"id": %q, "deadlineMs": 2000, "workMs": 10, "payload": %s}`, id, hostilePayload))
			row := fmt.Sprintf(`[data-testid="event-row"] td[title=%q]`, id)
			waitJS(t, bctx, "the posted event's row", 10*time.Second, `!!document.querySelector('`+row+`')`)
			evalJS(t, bctx, `document.querySelector('`+row+`').closest('tr').click()`)
			within := 10 * time.Second
			waitText(t, bctx, "detail-id", within, func(s string) bool { return s == id })
			waitText(t, bctx, "detail-source", within, func(s string) bool { return s == "ingest" })
			waitText(t, bctx, "detail-status", within, func(s string) bool { return s == "on-time" })
			waitText(t, bctx, "detail-payload-size", within, func(s string) bool { return s == payloadBytes })
			payload := waitText(t, bctx, "detail-payload", within, func(s string) bool { return strings.Contains(s, `"html": "<img src=x onerror=\"window.__pwned=1\">"`) })
			result := waitText(t, bctx, "detail-result", within, prettyResult.MatchString)
			t.Logf("%s: payload %q, result %q", ui.name, payload, result)
			if dir := screenshotDir(); dir != "" {
				saveScreenshot(t, bctx, dir, "detail-"+strings.ReplaceAll(ui.name, " ", "-")+".png")
			}

			// The stream goes on underneath; the details stay as they were.
			firstRow := `document.querySelector('[data-testid="event-row"] td').getAttribute('title')`
			before := evalJS(t, bctx, firstRow)
			requireRisingTotals(t, bctx, ui.name+" with the details open")
			waitJS(t, bctx, "the table to move on", within, firstRow+` !== `+strconv.Quote(before))
			if got := waitText(t, bctx, "detail-id", time.Second, func(string) bool { return true }); got != id {
				t.Errorf("the details show %q after the table moved on, want %q", got, id)
			}
			if got := waitText(t, bctx, "detail-result", time.Second, func(string) bool { return true }); got != result {
				t.Errorf("the result changed under the open details: %q, was %q", got, result)
			}
			if err := chromedp.Do(bctx, chromedp.KeyEvent(kb.Escape)); err != nil {
				t.Fatal(err)
			}
			waitJS(t, bctx, "the details to close on Escape", within, `!`+detailOpenJS)

			// Keyboard: Enter on a focused row (whichever row is there when the key lands).
			evalJS(t, bctx, `document.querySelector('[data-testid="event-row"]').focus()`)
			if err := chromedp.Do(bctx, chromedp.KeyEvent(kb.Enter)); err != nil {
				t.Fatal(err)
			}
			waitJS(t, bctx, "the details to open on Enter", within, detailOpenJS)
			waitText(t, bctx, "detail-id", within, func(s string) bool { return uuid.Validate(s) == nil })
			waitText(t, bctx, "detail-result", within, prettyResult.MatchString)
			if err := chromedp.Do(bctx, chromedp.Click(testIDSel("detail-close"))); err != nil {
				t.Fatal(err)
			}
			waitJS(t, bctx, "the details to close with their button", within, `!`+detailOpenJS)
			if got := evalJS(t, bctx, `String(window.__pwned)`); got != "undefined" {
				t.Errorf("the payload's markup ran: window.__pwned = %s", got)
			}
		})
	}

	// The page fetches the details: an event the server no longer keeps
	// keeps the row's snapshot and says so.
	t.Run("htmx page 404", func(t *testing.T) {
		navigate(t, bctx, base+"/")
		requireRisingTotals(t, bctx, "htmx page")
		waitText(t, bctx, "event-result", 10*time.Second, resultRe.MatchString)
		if err := chromedp.Do(bctx, chromedp.Click(testIDSel("pause-table"))); err != nil {
			t.Fatal(err)
		}
		gone := uuid.NewString()
		evalJS(t, bctx, `(() => { const r = [...document.querySelectorAll('[data-testid="event-row"]')].find((r) => r.querySelector('[data-testid="event-result"]'));
			r.cells[0].title = `+strconv.Quote(gone)+`; r.click(); return 'ok'; })()`)
		waitText(t, bctx, "detail-note", 10*time.Second, func(s string) bool { return strings.HasPrefix(s, "The server no longer keeps this event") })
		waitText(t, bctx, "detail-id", time.Second, func(s string) bool { return s == gone })
		waitText(t, bctx, "detail-result", time.Second, prettyResult.MatchString) // from the row
		if err := chromedp.Do(bctx, chromedp.KeyEvent(kb.Escape)); err != nil {
			t.Fatal(err)
		}
		waitJS(t, bctx, "the details to close", 5*time.Second, `!`+detailOpenJS)
	})
	// The 404 is the page's own request, expected; nothing else may appear.
	requireNoErrors(t, "event details", console.all(), func(e consoleEntry) bool {
		return strings.Contains(e.String(), "/ui/events/") && strings.Contains(e.String(), "404")
	})
}

// detailOpenJS is true while an event's details are open: the dashboard's
// panel exists, the page's dialog is open.
const detailOpenJS = `(() => { const d = document.querySelector('[data-testid="event-detail"]'); return !!d && (d.tagName !== 'DIALOG' || d.open); })()`

func postEvent(t *testing.T, base, body string) {
	t.Helper()
	res, err := http.Post(base+"/api/events", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var ack struct {
		Accepted int `json:"accepted"`
	}
	if err := json.NewDecoder(res.Body).Decode(&ack); err != nil || res.StatusCode != http.StatusAccepted || ack.Accepted != 1 {
		t.Fatalf("POST /api/events: %d %+v %v", res.StatusCode, ack, err)
	}
}

// evalJS evaluates js and returns its value as text.
func evalJS(t *testing.T, ctx context.Context, js string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[any](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// waitJS polls the boolean expression js until it is true.
func waitJS(t *testing.T, ctx context.Context, what string, within time.Duration, js string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("timed out after %v waiting for %s (last error %v)", within, what, err)
		}
		time.Sleep(pollEvery)
	}
}
