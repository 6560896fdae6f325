package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/stats"
)

const startAt = 1_800_000_000_000 // Unix ms

// makeBatch is tick seq of a node with the given tick: some events on
// time, a few late, a drop every fifth tick.
func makeBatch(seq uint64, tickMs int64, cfg *config.Settings) *batch.Batch {
	b := &batch.Batch{
		Seq: seq, At: startAt + int64(seq)*tickMs, StartedAt: startAt, TickMs: tickMs,
		Counts:  stats.Counts{Received: 5, OnTime: 3, Late: 1},
		Latency: stats.Summary{Count: 4, P50: 20 + float64(seq%7), P90: 60, P99: 80 + float64(seq%5), Max: 95},
		Health:  batch.Health{QueueDepth: int(seq % 9), QueueCap: 64, Workers: 4, Busy: int(seq % 5), Status: batch.OK, TickJitterMs: 0.4},
		Config:  cfg,
	}
	if seq%5 == 0 {
		b.Counts.Dropped = 1
		b.Counts.DroppedBy = map[event.Reason]uint64{event.QueueFull: 1}
	}
	b.Totals = stats.Totals{Counts: stats.Counts{Received: seq * 5, OnTime: seq * 3, Late: seq, Dropped: seq / 5,
		DroppedBy: map[event.Reason]uint64{event.QueueFull: seq / 5}}}
	for i := range 4 {
		st := event.OnTime
		if i == 3 {
			st = event.Late
		}
		b.Events = append(b.Events, batch.Event{
			ID: fmt.Sprintf("%08d-%d", seq, i), Source: "gen", CreatedAt: b.At - 50, DeadlineMs: 100,
			ProcessedAt: b.At, LatencyMs: 40 + 30*float64(i), Status: st,
		})
	}
	return b
}

func defaults() *config.Settings { s := config.Defaults(); return &s }

// sseEvents splits an SSE byte stream into events: name -> data lines
// joined by newlines, in order.
type sseEvent struct{ id, name, data string }

func parseSSE(t *testing.T, out []byte) []sseEvent {
	t.Helper()
	var evs []sseEvent
	for _, block := range strings.Split(strings.TrimSuffix(string(out), "\n\n"), "\n\n") {
		var e sseEvent
		var data []string
		for _, line := range strings.Split(block, "\n") {
			k, v, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("malformed SSE line %q", line)
			}
			switch k {
			case "id":
				e.id = v
			case "event":
				e.name = v
			case "data":
				data = append(data, v)
			default:
				t.Fatalf("unexpected SSE field %q", k)
			}
		}
		e.data = strings.Join(data, "\n")
		evs = append(evs, e)
	}
	return evs
}

func encode(t *testing.T, r *Renderer, b *batch.Batch) map[string]string {
	t.Helper()
	out, err := r.Encode(b)
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	got := map[string]string{}
	var names []string
	for _, e := range parseSSE(t, out) {
		if e.id != "" {
			t.Errorf("event %s has id %q: a page that reconnects would be sent every frame it missed", e.name, e.id)
		}
		names = append(names, e.name)
		got[e.name] = e.data
	}
	if strings.Join(names, ",") != "stats,charts,config,events" {
		t.Fatalf("events %v, want stats,charts,config,events", names)
	}
	return got
}

// noInlineStyleOrScript checks what the CSP would block.
func noInlineStyleOrScript(t *testing.T, what, html string) {
	t.Helper()
	if strings.Contains(html, "style=") {
		t.Errorf("%s has a style attribute, which style-src 'self' blocks", what)
	}
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(html, -1) {
		if !strings.Contains(m, " src=") {
			t.Errorf("%s has an inline script %s, which script-src 'self' blocks", what, m)
		}
	}
	if regexp.MustCompile(`\son[a-z]+=`).MatchString(html) {
		t.Errorf("%s has an inline event handler attribute", what)
	}
}

func TestHistoryBounded(t *testing.T) {
	for _, tc := range []struct {
		tickMs     int64
		wantPoints int
		wantWindow string
	}{
		{100, 600, "60 s"}, // 60 s of ticks: the cap
		{1000, 61, "60 s"}, // 60 s plus the tick that starts the window
		{250, 241, "60 s"},
		{10, 600, "6 s"}, // capped: a shorter window, said so
	} {
		t.Run(fmt.Sprint(tc.tickMs, "ms"), func(t *testing.T) {
			r := NewRenderer(nil)
			for seq := uint64(1); seq <= 800; seq++ {
				if _, err := r.Encode(makeBatch(seq, tc.tickMs, defaults())); err != nil {
					t.Fatal(err)
				}
				if r.hist.n > MaxChartPoints {
					t.Fatalf("history holds %d points, cap %d", r.hist.n, MaxChartPoints)
				}
			}
			oldest, newest := r.hist.get(0), r.hist.newest()
			if span := newest.at - oldest.at; span > ChartWindowMs {
				t.Errorf("history spans %d ms, more than %d", span, ChartWindowMs)
			}
			c := r.Charts()
			if r.hist.n != tc.wantPoints || c.Points != tc.wantPoints || c.Window != tc.wantWindow {
				t.Errorf("history %d points, charts %d points over %q; want %d over %q",
					r.hist.n, c.Points, c.Window, tc.wantPoints, tc.wantWindow)
			}
			if len(r.Recent()) != TableRows {
				t.Errorf("table keeps %d rows, want %d", len(r.Recent()), TableRows)
			}
		})
	}
}

// TestHistoryTickChange: after the tick is lowered, points older than the
// new, shorter window are left out of the charts and soon dropped.
func TestHistoryTickChange(t *testing.T) {
	r := NewRenderer(nil)
	seq := uint64(0)
	for range 650 {
		seq++
		if _, err := r.Encode(makeBatch(seq, 100, defaults())); err != nil {
			t.Fatal(err)
		}
	}
	last := r.hist.newest().at
	for i := range 700 {
		seq++
		b := makeBatch(seq, 10, defaults())
		b.At = last + int64(i+1)*10
		if _, err := r.Encode(b); err != nil {
			t.Fatal(err)
		}
	}
	if c := r.Charts(); c.Window != "6 s" || c.Points != 600 {
		t.Errorf("after the tick change: %d points over %q, want 600 over 6 s", c.Points, c.Window)
	}
}

var pathRE = regexp.MustCompile(`<path class="line (p50|p99)" d="([^"]*)"`)

func TestChartsSVG(t *testing.T) {
	r := NewRenderer(nil)
	var ev map[string]string
	for seq := uint64(1); seq <= 30; seq++ {
		ev = encode(t, r, makeBatch(seq, 100, defaults()))
	}
	charts := ev["charts"]
	noInlineStyleOrScript(t, "charts fragment", charts)
	for _, want := range []string{
		`data-testid="chart-latency"`, `viewBox="0 -3 600 106"`, `preserveAspectRatio="none"`, `role="img"`,
		`data-testid="chart-throughput"`, `data-testid="chart-miss"`, `data-testid="chart-queue"`, `data-testid="chart-busy"`,
		"Last 60 s, one point per tick (30 ticks)",
	} {
		if !strings.Contains(charts, want) {
			t.Errorf("charts fragment lacks %s", want)
		}
	}
	// p99 peaks at 84 ms and the deadline is 100 ms: the scale tops at
	// niceCeil(110) = 200 ms, which puts the deadline half way up (y 50), as
	// a line from the first point to now.
	dl := regexp.MustCompile(`<path class="marker deadline" d="([^"]*)" data-testid="chart-latency-deadline"`).FindStringSubmatch(charts)
	if dl == nil {
		t.Fatalf("no deadline line in the latency chart:\n%s", charts)
	}
	if want := "M" + strconv.Itoa(int((60_000-2900)*600/60_000)) + " 50H600"; dl[1] != want {
		t.Errorf("deadline path %q, want %q", dl[1], want)
	}
	if !strings.Contains(charts, "200 ms") {
		t.Errorf("latency scale label 200 ms missing")
	}
	lines := pathRE.FindAllStringSubmatch(charts, -1)
	if len(lines) != 2 {
		t.Fatalf("want p50 and p99 paths, got %d", len(lines))
	}
	for _, l := range lines {
		// One M, then 29 relative points.
		if !strings.HasPrefix(l[2], "M") || strings.Count(l[2], "M") != 1 || !strings.Contains(l[2], "l") {
			t.Errorf("%s path %q is not one stretch of relative points", l[1], l[2])
		}
		if n := len(regexp.MustCompile(`-?\d+`).FindAllString(l[2], -1)); n != 60 {
			t.Errorf("%s path has %d numbers, want 60 (30 points)", l[1], n)
		}
		// The newest point ends at x 600.
		x, y := endOf(t, l[2])
		if x != 600 || y < 0 || y > 100 {
			t.Errorf("%s path ends at (%d,%d), want x 600 and y within 0..100", l[1], x, y)
		}
	}
	if !strings.Contains(charts, `aria-label="Latency over the last 60 s: p50 now`) {
		t.Errorf("latency chart has no text alternative")
	}
}

// endOf replays a path of M and l commands and returns its last point.
func endOf(t *testing.T, d string) (int, int) {
	t.Helper()
	var x, y int
	toks := regexp.MustCompile(`[Ml]|-?\d+`).FindAllString(d, -1)
	rel := false
	var nums []int
	flush := func() {
		for i := 0; i+1 < len(nums); i += 2 {
			if rel {
				x, y = x+nums[i], y+nums[i+1]
			} else {
				x, y = nums[i], nums[i+1]
				rel = true // implicit lineto after M is absolute, but M has one pair here
			}
		}
		nums = nums[:0]
	}
	for _, tok := range toks {
		switch tok {
		case "M":
			flush()
			rel = false
		case "l":
			flush()
			rel = true
		default:
			n, _ := strconv.Atoi(tok)
			nums = append(nums, n)
		}
	}
	flush()
	return x, y
}

func TestPathGaps(t *testing.T) {
	var p pathBuf
	p.to(0, 50)
	p.to(10, 40)
	p.to(20, 45)
	p.lift()
	p.to(30, 10) // alone between two gaps: a dot
	p.lift()
	p.lift()
	p.to(50, 100)
	p.to(60, 0)
	if got, want := p.String(), "M0 50l10-10 10 5M30 10l0 0M50 100l10-100"; got != want {
		t.Errorf("path %q, want %q", got, want)
	}
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.3: 0.5, 1: 1, 1.1: 2, 2.2: 2.5, 3: 5, 7: 10, 110: 200, 240: 250, 1e6: 1e6} {
		if got := niceCeil(in); got != want {
			t.Errorf("niceCeil(%g) = %g, want %g", in, got, want)
		}
	}
}

// TestChartsGapWithoutLatency: ticks that processed nothing leave a gap in
// the latency lines rather than a drop to zero.
func TestChartsGapWithoutLatency(t *testing.T) {
	r := NewRenderer(nil)
	var ev map[string]string
	for seq := uint64(1); seq <= 20; seq++ {
		b := makeBatch(seq, 100, defaults())
		if seq >= 8 && seq <= 10 {
			b.Latency = stats.Summary{}
		}
		ev = encode(t, r, b)
	}
	for _, l := range pathRE.FindAllStringSubmatch(ev["charts"], -1) {
		if strings.Count(l[2], "M") != 2 {
			t.Errorf("%s path %q: want two stretches around the gap", l[1], l[2])
		}
	}
}

// The stats bar shows the verdict's cause beside the badge, and nothing
// when the verdict is ok.
func TestStatsShowCause(t *testing.T) {
	r := NewRenderer(nil)
	b := makeBatch(10, 100, defaults())
	b.Health.Status, b.Health.Cause = batch.Degraded, "worker failing: http-500"
	ev := encode(t, r, b)
	for _, want := range []string{`data-testid="health" title="`, `>degraded</span>`, `data-testid="health-cause">worker failing: http-500<`} {
		if !strings.Contains(ev["stats"], want) {
			t.Errorf("stats fragment lacks %s:\n%s", want, ev["stats"])
		}
	}
	b = makeBatch(11, 100, defaults())
	b.Health.Status, b.Health.Cause = batch.OK, ""
	if ev := encode(t, r, b); strings.Contains(ev["stats"], "health-cause") {
		t.Errorf("an ok verdict shows a cause:\n%s", ev["stats"])
	}
}

func TestStatsAndConfigFragments(t *testing.T) {
	r := NewRenderer(nil)
	cfg := defaults()
	cfg.Rate = 12.5
	b := makeBatch(10, 100, cfg)
	b.Health.TickJitterMs = 3.25
	ev := encode(t, r, b)
	for _, want := range []string{`data-testid="health"`, `data-testid="seq">10<`, `data-testid="tick-jitter">3.2 ms<`,
		`<b>queue-full</b> 2`, `data-testid="total-received">50<`} {
		if !strings.Contains(ev["stats"], want) {
			t.Errorf("stats fragment lacks %s:\n%s", want, ev["stats"])
		}
	}
	if !strings.Contains(ev["config"], `data-testid="config-rate">12.5<`) {
		t.Errorf("config fragment lacks the rate in force:\n%s", ev["config"])
	}
	if n := strings.Count(ev["events"], `data-testid="event-row"`); n != 4 {
		t.Errorf("%d rows, want 4", n)
	}
	if !strings.Contains(ev["events"], `<rect height="4" width="100.0">`) {
		t.Errorf("the late row (100 ms of 100) has no full-deadline meter:\n%s", ev["events"])
	}
	for name, html := range ev {
		noInlineStyleOrScript(t, name+" fragment", html)
	}
	// Without a config in the batch (older batches), the fragment waits.
	b = makeBatch(11, 100, nil)
	if ev = encode(t, r, b); !strings.Contains(ev["config"], "Waiting") {
		t.Errorf("config fragment without settings: %s", ev["config"])
	}
}

func TestPageHandler(t *testing.T) {
	r := NewRenderer(nil)
	h, err := hub.New(hub.Config{Encoders: map[string]hub.Encoder{Format: r.Encode}})
	if err != nil {
		t.Fatal(err)
	}
	get := func() string {
		rec := httptest.NewRecorder()
		PageHandler(h, r)(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET / = %d", rec.Code)
		}
		return rec.Body.String()
	}
	page := get()
	for _, want := range []string{"Waiting for the first batch", `data-testid="conn-state" data-state="connecting"`,
		`<script src="/static/app.js" defer>`, `data-testid="control-rate"`, `data-testid="control-submit"`,
		`hx-patch="/ui/config"`, `data-testid="filter-problems"`, `data-testid="pause-table"`} {
		if !strings.Contains(page, want) {
			t.Errorf("empty page lacks %s", want)
		}
	}
	for seq := uint64(1); seq <= 5; seq++ {
		h.Publish(makeBatch(seq, 100, defaults()))
	}
	page = get()
	noInlineStyleOrScript(t, "page", page)
	for _, want := range []string{`data-testid="chart-latency"`, `data-testid="config-rate">20<`, `placeholder="20"`,
		`sse-swap="charts"`, `sse-swap="config"`, `sse-swap="stats"`, `sse-swap="events"`, `data-testid="event-row"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
}

// While no page is watching, Encode renders nothing but keeps the table and
// the charts' history current, so the first page to connect sees them.
func TestRendersOnlyWhileWatched(t *testing.T) {
	watching := false
	r := NewRenderer(func() bool { return watching })
	for seq := uint64(1); seq <= 5; seq++ {
		out, err := r.Encode(makeBatch(seq, 100, defaults()))
		if err != nil || out != nil {
			t.Fatalf("unwatched batch %d: %d bytes, %v; want none", seq, len(out), err)
		}
	}
	if r.hist.n != 5 || len(r.Recent()) == 0 || r.Charts().Points != 5 {
		t.Fatalf("unwatched: %d history points, %d rows, %d chart points; want the state kept", r.hist.n, len(r.Recent()), r.Charts().Points)
	}
	watching = true
	ev := encode(t, r, makeBatch(6, 100, defaults()))
	if !strings.Contains(ev["charts"], "(6 ticks)") || ev["events"] == "" {
		t.Fatalf("watched: charts %q..., events %d bytes", ev["charts"][:min(80, len(ev["charts"]))], len(ev["events"]))
	}
}
