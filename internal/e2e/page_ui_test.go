package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ontime-rt/ontime/internal/config"
)

// The helpers of this file are prefixed with "page" so that they do not
// collide with those of the dashboard's tests in the same package.

// pageSel selects an element of the server-rendered page by data-testid.
func pageSel(testID string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + testID + `"]`) }

// pageEval evaluates a JavaScript expression in the tab.
func pageEval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// pageWait evaluates js every pollEvery until it returns true, and fails
// with what describe returns (also JavaScript) after within.
func pageWait(t *testing.T, ctx context.Context, what string, within time.Duration, js, describe string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			state, _ := chromedp.Run(ctx, chromedp.Evaluate[string](describe))
			t.Fatalf("timed out after %v waiting for %s (last error %v); page: %s", within, what, err, state)
		}
		time.Sleep(pollEvery)
	}
}

// pageText is the trimmed text of an element by data-testid, "" when it is
// missing.
func pageText(t *testing.T, ctx context.Context, testID string) string {
	t.Helper()
	return pageEval[string](t, ctx, `(() => { const el = document.querySelector('[data-testid="`+testID+`"]'); return el ? el.textContent.trim() : ''; })()`)
}

// pageSettings reads GET /api/config.
func pageSettings(t *testing.T, base string) config.Settings {
	t.Helper()
	resp, err := http.Get(base + "/api/config")
	if err != nil {
		t.Fatalf("GET /api/config: %v", err)
	}
	defer resp.Body.Close()
	var s config.Settings
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/config: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("GET /api/config: %v", err)
	}
	return s
}

// pageSubmitRate types a rate into the form and submits it with a click.
func pageSubmitRate(t *testing.T, ctx context.Context, rate string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.querySelector('[data-testid="control-rate"]').value = ''`),
		chromedp.SendKeys(pageSel("control-rate"), rate),
		chromedp.Click(pageSel("control-submit")),
	); err != nil {
		t.Fatalf("submit rate %q: %v", rate, err)
	}
}

// chartPoints counts the points of the latency chart's p50 and p99 paths
// (relative path data: "M x y l dx dy dx dy ...") and tells whether the
// deadline line is drawn.
const chartPointsJS = `(() => {
	const svg = document.querySelector('svg[data-testid="chart-latency"]');
	if (!svg) return {p50: -1, p99: -1, deadline: false};
	const pts = (cls) => {
		const p = svg.querySelector('path.line.' + cls);
		if (!p) return 0;
		return ((p.getAttribute('d') || '').match(/-?\d+/g) || []).length / 2;
	};
	const dl = svg.querySelector('path.marker.deadline');
	return {p50: pts('p50'), p99: pts('p99'), deadline: !!dl && /^M\d+ \d+/.test(dl.getAttribute('d') || '')};
})()`

type chartPoints struct {
	P50      float64 `json:"p50"`
	P99      float64 `json:"p99"`
	Deadline bool    `json:"deadline"`
}

// TestPageOperator drives the operator features of the server-rendered
// page: charts, the settings form (success and a server error next to its
// field), the table's filter and pause, and the connection indicator
// across a server restart, without a reload and without console errors.
func TestPageOperator(t *testing.T) {
	ctx := testContext(t)
	first, addr := serveNode(t, ctx, baseConfig(), "127.0.0.1:0")
	base := "http://" + addr
	bctx, console := startBrowser(t, ctx)

	navigate(t, bctx, base+"/")
	waitState(t, bctx, `conn-state "live"`, 10*time.Second, func(s pageState) bool { return s.Conn == "live" })
	requireRisingTotals(t, bctx, "operator page")
	if err := chromedp.Do(bctx, chromedp.Evaluate[chromedp.Void](`window.__ontimeNoReload = true`)); err != nil {
		t.Fatalf("set marker: %v", err)
	}

	// The charts have drawn: several points per line, the deadline across.
	pageWait(t, bctx, "the latency chart to draw 5 points per line", 15*time.Second,
		`(() => { const c = `+chartPointsJS+`; return c.p50 >= 5 && c.p99 >= 5 && c.deadline; })()`,
		`JSON.stringify(`+chartPointsJS+`)`)
	for _, id := range []string{"chart-throughput", "chart-miss", "chart-queue", "chart-busy"} {
		if n := pageEval[int](t, bctx, `document.querySelectorAll('[data-testid="`+id+`"] path.line').length`); n == 0 {
			t.Errorf("%s has no line", id)
		}
	}
	if age := pageText(t, bctx, "conn-age"); !strings.HasPrefix(age, "last batch ") {
		t.Errorf("conn-age %q, want the time since the last batch", age)
	}

	// The form: what is typed survives the stream's swaps.
	if err := chromedp.Do(bctx, chromedp.SendKeys(pageSel("control-rate"), "3")); err != nil {
		t.Fatalf("type: %v", err)
	}
	seq := pageText(t, bctx, "seq")
	pageWait(t, bctx, "two more batches", 15*time.Second,
		`Number(document.querySelector('[data-testid="seq"]').textContent) >= `+seq+` + 2`, `document.querySelector('[data-testid="seq"]').textContent`)
	if v := pageEval[string](t, bctx, `document.querySelector('[data-testid="control-rate"]').value`); v != "3" {
		t.Errorf("the rate typed was replaced by %q while batches arrived", v)
	}

	// A valid rate applies: the API and the "in force" panel show it.
	pageSubmitRate(t, bctx, "35")
	pageWait(t, bctx, "the success message", 15*time.Second,
		`!!document.querySelector('[data-testid="control-applied"]')`, `document.getElementById('controls').outerHTML`)
	if s := pageSettings(t, base); s.Rate != 35 {
		t.Errorf("GET /api/config rate %g after the form, want 35", s.Rate)
	}
	pageWait(t, bctx, `config-rate "35"`, 15*time.Second,
		`document.querySelector('[data-testid="config-rate"]').textContent.trim() === '35'`,
		`document.querySelector('[data-testid="config-rate"]').textContent`)

	// An invalid rate: the server's error is next to the field, announced
	// through aria-describedby, and nothing changes.
	for _, tc := range []struct{ rate, want string }{
		{"fast", `"fast" is not a number`},
		{"2000000", "want 0 (off) to 1000000 events/s"},
	} {
		pageSubmitRate(t, bctx, tc.rate)
		pageWait(t, bctx, "the error next to the rate", 15*time.Second,
			`(() => {
				const err = document.querySelector('[data-testid="control-error-rate"]');
				const input = document.querySelector('[data-testid="control-rate"]');
				return !!err && err.textContent.includes(`+jsString(tc.want)+`) &&
					input.getAttribute('aria-invalid') === 'true' &&
					(input.getAttribute('aria-describedby') || '').split(' ').includes(err.id) &&
					input.closest('.field') === err.closest('.field') &&
					input.value === `+jsString(tc.rate)+`;
			})()`,
			`document.getElementById('controls').outerHTML`)
		if s := pageSettings(t, base); s.Rate != 35 {
			t.Errorf("rate %g after the invalid %q, want 35 unchanged", s.Rate, tc.rate)
		}
	}
	if focused := pageEval[string](t, bctx, `document.activeElement ? document.activeElement.id : ''`); focused != "control-rate" {
		t.Errorf("focus on %q after the failed submit, want the invalid field control-rate", focused)
	}

	// The table's filter hides on-time rows; pause holds the table while
	// the totals keep counting.
	if err := chromedp.Do(bctx, chromedp.Click(pageSel("filter-problems"))); err != nil {
		t.Fatalf("click filter: %v", err)
	}
	visibleOnTime := `[...document.querySelectorAll('tr[data-status="on-time"]')].filter(r => r.getClientRects().length > 0).length`
	if n := pageEval[int](t, bctx, visibleOnTime); n != 0 {
		t.Errorf("%d on-time rows visible with the filter on", n)
	}
	if err := chromedp.Do(bctx, chromedp.Click(pageSel("filter-problems"))); err != nil {
		t.Fatalf("click filter: %v", err)
	}
	pageWait(t, bctx, "on-time rows back", 10*time.Second, visibleOnTime+` > 0`, `'none'`)

	if err := chromedp.Do(bctx, chromedp.Click(pageSel("pause-table"))); err != nil {
		t.Fatalf("click pause: %v", err)
	}
	firstRow := `(() => { const r = document.querySelector('[data-testid="event-row"] td'); return r ? r.title : ''; })()`
	held := pageEval[string](t, bctx, firstRow)
	before := waitState(t, bctx, "totals while paused", time.Second, func(pageState) bool { return true })
	waitState(t, bctx, "totals to keep rising while the table is paused", 15*time.Second,
		func(s pageState) bool { return s.Received > before.Received+20 })
	if now := pageEval[string](t, bctx, firstRow); now != held {
		t.Errorf("the paused table changed: first row %q, then %q", held, now)
	}
	if note := pageText(t, bctx, "table-note"); !strings.Contains(note, "Paused") {
		t.Errorf("table note %q while paused", note)
	}
	if err := chromedp.Do(bctx, chromedp.Click(pageSel("pause-table"))); err != nil {
		t.Fatalf("click resume: %v", err)
	}
	pageWait(t, bctx, "the table to move again after resume", 3*time.Second, firstRow+` !== `+jsString(held), firstRow)
	requireNoErrors(t, "operator page", console.all(), nil)

	// Restart: the indicator leaves "live", then comes back with a new node
	// on the same address, without a reload.
	mark := console.len()
	if err := first.stop(); err != nil {
		t.Fatalf("stop the first node: %v", err)
	}
	down := waitState(t, bctx, `conn-state to leave "live"`, 10*time.Second, func(s pageState) bool { return s.Conn != "live" })
	if down.Conn != "reconnecting" && down.Conn != "offline" {
		t.Errorf("conn-state %q with the server down, want reconnecting or offline", down.Conn)
	}
	if st := pageEval[string](t, bctx, `document.querySelector('[data-testid="conn-state"]').dataset.state`); st != down.Conn && st != "offline" {
		t.Errorf("conn-state data-state %q, text %q", st, down.Conn)
	}
	_, addr2 := serveNode(t, ctx, baseConfig(), addr)
	if addr2 != addr {
		t.Fatalf("second node listens on %s, want %s", addr2, addr)
	}
	waitState(t, bctx, `conn-state back to "live"`, 15*time.Second, func(s pageState) bool { return s.Conn == "live" })
	fresh := waitState(t, bctx, "totals from the new node", 10*time.Second,
		func(s pageState) bool { return s.Received > 0 && s.Received < down.Received })
	waitState(t, bctx, "totals to rise after the restart", 15*time.Second, func(s pageState) bool { return s.Received > fresh.Received })
	// The new node runs at the default rate again: the panel follows.
	pageWait(t, bctx, `config-rate back to the new node's 50`, 15*time.Second,
		`document.querySelector('[data-testid="config-rate"]').textContent.trim() === '50'`,
		`document.querySelector('[data-testid="config-rate"]').textContent`)
	if kept := pageEval[bool](t, bctx, `window.__ontimeNoReload === true`); !kept {
		t.Errorf("the page reloaded during the restart")
	}
	requireNoErrors(t, "operator page across the restart", console.since(mark), pageDownErrors)
}

// pageDownErrors accepts what the console shows while the server is
// deliberately down: Chromium's refused connections of the SSE stream, and
// htmx's own console.error for each error of the stream. htmx logs every
// error event it triggers; for htmx:sseError the SSE extension passes the
// EventSource's error Event as the detail, so the message is
// "[object Event]", logged from htmx's file.
func pageDownErrors(e consoleEntry) bool {
	switch e.Kind {
	case "log":
		return strings.Contains(e.Text, "net::ERR_CONNECTION_REFUSED")
	case "console":
		return strings.Contains(e.URL, "/static/vendor/htmx-2.0.11") && (e.Text == "[object Event]" || e.Text == "htmx:sseError")
	}
	return false
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprint("quote ", s, ": ", err))
	}
	return string(b)
}
