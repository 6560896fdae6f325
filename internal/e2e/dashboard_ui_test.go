package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/ontime-rt/ontime/internal/config"
)

// TestDashboardOperator drives the React dashboard as an operator would:
// the stream makes it live, the latency chart draws on its canvas, a new
// rate typed into the settings form reaches the server (GET /api/config)
// and comes back in force through the stream, and an invalid rate shows
// the server's own message next to the field. The console stays clean
// under the CSP, except for the 400 that the invalid rate deliberately
// provokes.
func TestDashboardOperator(t *testing.T) {
	requireApp(t)
	ctx := testContext(t)
	_, addr := serveNode(t, ctx, baseConfig(), "127.0.0.1:0")
	base := "http://" + addr
	api := newAPIClient(t, base)
	bctx, console := startBrowser(t, ctx)

	navigate(t, bctx, base+"/app/")
	waitState(t, bctx, `dashboard conn-state "live"`, 10*time.Second, func(s pageState) bool { return s.Conn == "live" })
	requireRisingTotals(t, bctx, "operator dashboard")

	// Charts: both have a sized canvas; the latency chart has points and
	// its lines are on the canvas in the series' colours (10 pixels: more
	// than a stray point).
	lat := waitChart(t, bctx, "chart-latency", 15*time.Second, func(c chartState) bool {
		return c.Width > 0 && c.Height > 0 && c.Points >= 10 && c.SeriesPixels >= 10
	})
	t.Logf("latency chart: %+v", lat)
	thr := waitChart(t, bctx, "chart-throughput", 15*time.Second, func(c chartState) bool {
		return c.Width > 0 && c.Height > 0 && c.Painted > 0
	})
	t.Logf("throughput chart: %+v", thr)

	health := waitText(t, bctx, "health-status", 15*time.Second, func(s string) bool {
		return s == "ok" || s == "degraded" || s == "overloaded"
	})
	t.Logf("health badge: %q", health)
	if got := waitText(t, bctx, "config-rate", 15*time.Second, func(s string) bool { return s != "" && s != "—" }); got != "50" {
		t.Errorf("config-rate shows %q before any change, want the node's rate 50", got)
	}

	// A valid change: rate 5.
	typeInto(t, bctx, "control-rate", "5")
	click(t, bctx, "control-submit")
	api.waitRate(t, 5, 15*time.Second)
	waitText(t, bctx, "config-rate", 15*time.Second, func(s string) bool { return s == "5" })
	requireNoErrors(t, "operator dashboard after a valid change", console.all(), nil)

	// An invalid change: the server's message for "rate" shows next to the
	// field, which points at it with aria-describedby.
	want := api.rejectRate(t, -1)
	mark := console.len()
	typeInto(t, bctx, "control-rate", "-1")
	click(t, bctx, "control-submit")
	got := waitText(t, bctx, "control-error-rate", 15*time.Second, func(s string) bool { return s != "" })
	if got != want {
		t.Errorf("control-error-rate = %q, want the server's message %q", got, want)
	}
	a11y, err := chromedp.Run(bctx, chromedp.Evaluate[fieldA11y](fieldA11yJS("control-rate", "control-error-rate")))
	if err != nil {
		t.Fatalf("read the rate field's attributes: %v", err)
	}
	if !a11y.DescribedByError || a11y.Invalid != "true" || a11y.Label == "" {
		t.Errorf("rate field: want aria-describedby to name the error, aria-invalid=true and a label; got %+v", a11y)
	}
	if rate := api.get(t).Rate; rate != 5 {
		t.Errorf("after the rejected change GET /api/config rate = %v, want 5 still", rate)
	}
	requireNoErrors(t, "operator dashboard after an invalid change", console.since(mark), rejectedPatch)

	if dir := screenshotDir(); dir != "" {
		saveOperatorScreenshots(t, bctx, dir)
		requireNoErrors(t, "operator dashboard screenshots", console.since(mark), rejectedPatch)
	}
}

// saveOperatorScreenshots writes the dashboard with the form's error shown
// at 1280x800 in the light and the dark scheme, and at a phone's width.
func saveOperatorScreenshots(t *testing.T, ctx context.Context, dir string) {
	t.Helper()
	scheme := func(value string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: value}},
			})
			return err
		})
	}
	settle := chromedp.Sleep(500 * time.Millisecond) // a tick or more, and the charts' rebuild
	if err := chromedp.Do(ctx, scheme("light"), settle); err != nil {
		t.Fatalf("light scheme: %v", err)
	}
	saveScreenshot(t, ctx, dir, "operator-light.png")
	if err := chromedp.Do(ctx, scheme("dark"), settle); err != nil {
		t.Fatalf("dark scheme: %v", err)
	}
	saveScreenshot(t, ctx, dir, "operator-dark.png")
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile), settle); err != nil {
		t.Fatalf("phone viewport: %v", err)
	}
	savePhoneViews(t, ctx, dir, "dark")
	if err := chromedp.Do(ctx, scheme("light"), settle); err != nil {
		t.Fatalf("light scheme: %v", err)
	}
	savePhoneViews(t, ctx, dir, "light")
}

// savePhoneViews writes one screen of each part of the page (a full-page
// PNG at a phone's width is too tall to look at).
func savePhoneViews(t *testing.T, ctx context.Context, dir, scheme string) {
	t.Helper()
	for _, part := range []struct{ name, sel string }{
		{"top", ".app-header"}, {"charts", ".charts"}, {"events", ".card-events"}, {"settings", ".card-controls"},
	} {
		scroll := fmt.Sprintf(`document.querySelector(%q).scrollIntoView()`, part.sel)
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](scroll), chromedp.Sleep(200*time.Millisecond)); err != nil {
			t.Fatalf("scroll to %s: %v", part.sel, err)
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", part.name, err)
		}
		path := filepath.Join(dir, fmt.Sprintf("operator-phone-%s-%s.png", scheme, part.name))
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatalf("write screenshot: %v", err)
		}
		t.Logf("wrote %s (%d bytes)", path, len(png))
	}
}

// rejectedPatch accepts the one console error Chromium itself logs for the
// deliberately invalid PATCH: "Failed to load resource: ... 400".
func rejectedPatch(e consoleEntry) bool {
	return e.Kind == "log" && e.Source == "network" && strings.HasSuffix(e.URL, "/api/config") &&
		strings.Contains(e.Text, "400")
}

// --- the settings API from Go ---------------------------------------------------

type apiClient struct {
	base   string
	client *http.Client
}

// newAPIClient talks to the node without keep-alive connections, so no
// idle connection goroutine outlives the test (goleak checks).
func newAPIClient(t *testing.T, base string) *apiClient {
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &apiClient{base: base, client: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
}

func (a *apiClient) get(t *testing.T) config.Settings {
	t.Helper()
	resp, err := a.client.Get(a.base + "/api/config")
	if err != nil {
		t.Fatalf("GET /api/config: %v", err)
	}
	defer resp.Body.Close()
	var s config.Settings
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /api/config: %s: %s", resp.Status, body)
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatalf("GET /api/config: decode: %v", err)
	}
	return s
}

// waitRate polls GET /api/config until the rate in force is want.
func (a *apiClient) waitRate(t *testing.T, want float64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := a.get(t)
		if s.Rate == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /api/config: rate %v after %v, want %v (settings: %+v)", s.Rate, within, want, s)
		}
		time.Sleep(pollEvery)
	}
}

// rejectRate PATCHes an invalid rate and returns the server's message for
// the field (the server changes nothing).
func (a *apiClient) rejectRate(t *testing.T, rate float64) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPatch, a.base+"/api/config", bytes.NewReader(fmt.Appendf(nil, `{"rate":%g}`, rate)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		t.Fatalf("PATCH /api/config: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Error  string            `json:"error"`
		Fields map[string]string `json:"fields"`
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("PATCH /api/config rate %v: %s, want 400", rate, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("PATCH /api/config: decode the 400: %v", err)
	}
	msg := body.Fields["rate"]
	if msg == "" {
		t.Fatalf("PATCH /api/config rate %v: no message for the field in %+v", rate, body)
	}
	return msg
}

// --- reading and driving the page --------------------------------------------

func testIDSel(id string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + id + `"]`) }

// typeInto replaces the text of an input as a user would: select it all,
// then type (so React sees real input events).
func typeInto(t *testing.T, ctx context.Context, testID, text string) {
	t.Helper()
	js := fmt.Sprintf(`(() => {
		const el = document.querySelector('[data-testid=%q]');
		if (!el) return false;
		el.focus();
		el.select();
		return true;
	})()`, testID)
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
	if err != nil || !ok {
		t.Fatalf("select the text of %s: found=%v err=%v", testID, ok, err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(testIDSel(testID), text)); err != nil {
		t.Fatalf("type %q into %s: %v", text, testID, err)
	}
	value, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector('[data-testid=%q]').value`, testID)))
	if err != nil || value != text {
		t.Fatalf("%s holds %q after typing %q (err %v)", testID, value, text, err)
	}
}

func click(t *testing.T, ctx context.Context, testID string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Click(testIDSel(testID))); err != nil {
		t.Fatalf("click %s: %v", testID, err)
	}
}

// waitText polls an element's trimmed text until cond holds and returns it.
func waitText(t *testing.T, ctx context.Context, testID string, within time.Duration, cond func(string) bool) string {
	t.Helper()
	js := fmt.Sprintf(`(() => { const el = document.querySelector('[data-testid=%q]'); return el ? el.textContent.trim() : null; })()`, testID)
	deadline := time.Now().Add(within)
	var (
		last    *string
		lastErr error
	)
	for {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[*string](js))
		last, lastErr = s, err
		if err == nil && s != nil && cond(*s) {
			return *s
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			shown := "<missing>"
			if last != nil {
				shown = fmt.Sprintf("%q", *last)
			}
			t.Fatalf("timed out after %v waiting on %s: last text %s, last error %v", within, testID, shown, lastErr)
		}
		time.Sleep(pollEvery)
	}
}

// chartState is what chartJS reads from a chart container.
type chartState struct {
	Found  bool `json:"found"`
	Canvas bool `json:"canvas"`
	// Width and Height are the canvas's bitmap size.
	Width  int `json:"width"`
	Height int `json:"height"`
	// Points is the data-points attribute: points in the last setData.
	Points int `json:"points"`
	// Painted counts the pixels that are not transparent (axes,
	// grid and series); SeriesPixels those in a line's colour.
	Painted      int `json:"painted"`
	SeriesPixels int `json:"seriesPixels"`
	// SeriesColour lists the colours looked for.
	SeriesColour string `json:"seriesColour"`
}

// chartJS reads one chart's canvas. getImageData runs through DevTools
// (exempt from the page's CSP), not from the page. The series are stroked
// with CSS variables' colours: --info (p50) and --accent (p99) on the
// latency chart, --ok (on time) on the throughput chart. The canvas is
// transparent and getImageData is not premultiplied, so an anti-aliased
// line pixel keeps the stroke's RGB with a partial alpha.
func chartJS(testID string) string {
	return fmt.Sprintf(`(() => {
		const box = document.querySelector('[data-testid=%q]');
		if (!box) return { found: false };
		const c = box.querySelector('canvas');
		if (!c) return { found: true, canvas: false };
		const out = { found: true, canvas: true, width: c.width, height: c.height, points: Number(box.dataset.points || 0), painted: 0, seriesPixels: 0 };
		if (c.width === 0 || c.height === 0) return out;
		const vars = box.dataset.chart === 'throughput' ? ['--ok'] : ['--info', '--accent'];
		const cs = getComputedStyle(box);
		const colours = [];
		for (const v of vars) {
			const hex = cs.getPropertyValue(v).trim();
			const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
			if (m) colours.push([parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)]);
		}
		out.seriesColour = vars.map((v) => cs.getPropertyValue(v).trim()).join(' ');
		const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		for (let i = 0; i < px.length; i += 4) {
			if (px[i + 3] === 0) continue;
			out.painted++;
			if (px[i + 3] < 64) continue;
			for (const [r, g, b] of colours) {
				if (Math.abs(px[i] - r) < 24 && Math.abs(px[i + 1] - g) < 24 && Math.abs(px[i + 2] - b) < 24) { out.seriesPixels++; break; }
			}
		}
		return out;
	})()`, testID)
}

func waitChart(t *testing.T, ctx context.Context, testID string, within time.Duration, cond func(chartState) bool) chartState {
	t.Helper()
	deadline := time.Now().Add(within)
	var (
		last    chartState
		lastErr error
	)
	for {
		c, err := chromedp.Run(ctx, chromedp.Evaluate[chartState](chartJS(testID)))
		last, lastErr = c, err
		if err == nil && cond(c) {
			return c
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("timed out after %v waiting for chart %s to draw: last %+v, last error %v", within, testID, last, lastErr)
		}
		time.Sleep(pollEvery)
	}
}

// fieldA11y is how a form field is announced.
type fieldA11y struct {
	Label            string `json:"label"`
	Invalid          string `json:"invalid"`
	DescribedBy      string `json:"describedBy"`
	DescribedByError bool   `json:"describedByError"`
}

func fieldA11yJS(fieldID, errorID string) string {
	return fmt.Sprintf(`(() => {
		const el = document.querySelector('[data-testid=%q]');
		const err = document.querySelector('[data-testid=%q]');
		if (!el) return {};
		const ids = (el.getAttribute('aria-describedby') || '').split(/\s+/);
		return {
			label: el.labels && el.labels.length ? el.labels[0].textContent.trim() : '',
			invalid: el.getAttribute('aria-invalid') || '',
			describedBy: ids.join(' '),
			describedByError: !!(err && err.id && ids.includes(err.id)),
		};
	})()`, fieldID, errorID)
}
