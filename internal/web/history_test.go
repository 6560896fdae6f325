package web

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/history"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/stats"
	"github.com/ontime-rt/ontime/views"
)

// fakeHistory serves fixed series and incidents, as the server's history
// would through the History interface.
type fakeHistory struct {
	series    map[string]history.Series
	incidents []history.Incident
}

func (f *fakeHistory) Series(r history.Range) history.Series { return f.series[r.Name] }

func (f *fakeHistory) Incidents() []history.Incident { return f.incidents }

// hourOf is an hour of 1 s steps ending at now: 20 on time a second, but
// overloaded (with drops) from minute 30 to 35 and a gap (steps missing)
// from minute 40 to 41.
func hourOf(now int64) history.Series {
	s := history.Series{Range: "1h", StepMs: 1000, Now: now, StartedAt: now - 7_200_000}
	for i := int64(0); i < 3600; i++ {
		if i >= 2400 && i < 2460 {
			continue
		}
		p := history.Point{T: now - 3_600_000 + i*1000, Counts: stats.Counts{Received: 20, OnTime: 20}, P50: 30, P99: 45,
			QueueCap: 64, Workers: 4, Busy: 2, Limit: 4, Status: batch.OK, DeadlineMs: 100}
		if i >= 1800 && i < 2100 {
			p.OnTime, p.Dropped, p.Status, p.Busy = 8, 12, batch.Overloaded, 4
			p.DroppedBy = map[event.Reason]uint64{event.Shed: 12}
		}
		s.Points = append(s.Points, p)
	}
	return s
}

func pageServer(t *testing.T, src History) (*hub.Hub, func(query string) (int, string)) {
	t.Helper()
	r := NewRenderer(nil)
	if src != nil {
		r.SetHistory(src)
	}
	h, err := hub.New(hub.Config{Encoders: map[string]hub.Encoder{Format: r.Encode}})
	if err != nil {
		t.Fatal(err)
	}
	return h, func(query string) (int, string) {
		rec := httptest.NewRecorder()
		PageHandler(h, r)(rec, httptest.NewRequest(http.MethodGet, "/"+query, nil))
		return rec.Code, rec.Body.String()
	}
}

func attr(t *testing.T, html, testID, name string) string {
	t.Helper()
	m := regexp.MustCompile(`data-testid="` + testID + `"[^>]*\s` + name + `="([^"]*)"`).FindStringSubmatch(html)
	if m == nil {
		m = regexp.MustCompile(name + `="([^"]*)"[^>]*data-testid="` + testID + `"`).FindStringSubmatch(html)
	}
	if m == nil {
		t.Fatalf("no %s on %s in:\n%.2000s", name, testID, html)
	}
	return m[1]
}

func TestPageHistoryCharts(t *testing.T) {
	now := int64(startAt + 10_000_000)
	src := &fakeHistory{series: map[string]history.Series{"1h": hourOf(now)}}
	h, get := pageServer(t, src)
	for seq := uint64(1); seq <= 5; seq++ {
		h.Publish(makeBatch(seq, 100, defaults()))
	}

	code, page := get("?range=1h")
	if code != http.StatusOK {
		t.Fatalf("GET /?range=1h = %d: %s", code, page)
	}
	noInlineStyleOrScript(t, "1h page", page)
	if got := attr(t, page, "charts-note", "data-points"); got != "3540" {
		t.Errorf("1h charts hold %s steps, want 3540 (3600 less the 60 missing)", got)
	}
	// The charts poll their fragment rather than take the live one.
	if !strings.Contains(page, `hx-get="/?range=1h&amp;part=charts"`) || strings.Contains(page, `sse-swap="charts"`) {
		t.Errorf("a history range must poll /?range=1h&part=charts and not swap the live charts")
	}
	if attr(t, page, "range-1h", "aria-current") != "page" {
		t.Errorf("the 1 h link is not marked current")
	}
	// The overload is one band per chart, at minutes 30 to 35 of 60: x 300
	// to 350 of 600 (the plot's columns are 6 s).
	bands := regexp.MustCompile(`<rect class="band overloaded" x="(\d+)" width="(\d+)"`).FindAllStringSubmatch(page, -1)
	if len(bands) != 5 {
		t.Fatalf("%d overloaded bands, want one on each of the 5 charts", len(bands))
	}
	x, _ := strconv.Atoi(bands[0][1])
	w, _ := strconv.Atoi(bands[0][2])
	if x < 298 || x > 302 || w < 48 || w > 52 {
		t.Errorf("band at x=%d width %d, want about 300 and 50", x, w)
	}
	// The rate is per second over the steps: 20/s outside the overload.
	if !strings.Contains(page, "on time <b>20 /s</b>") {
		t.Errorf("throughput legend does not show 20 /s now")
	}
	// The deadline the steps kept is drawn over the history.
	if m := regexp.MustCompile(`class="[^"]*deadline[^"]*" d="M[^"]+"`).FindString(page); m == "" || !strings.Contains(page, "deadline 100") {
		t.Errorf("the 1 h latency chart draws no deadline line (or its legend lacks 100 ms)")
	}
	// The missing minute breaks the lines: the on-time path has 2 stretches.
	d := regexp.MustCompile(`class="line on-time" d="([^"]*)"`).FindStringSubmatch(page)
	if d == nil || strings.Count(d[1], "M") != 2 {
		t.Errorf("on-time path should have 2 stretches (a gap for the missing steps): %.200v", d)
	}
	// Downsampled to the plot's width: no more than ~600 points a line.
	if len(d[1]) > 600*8 {
		t.Errorf("on-time path is %d bytes: not downsampled", len(d[1]))
	}

	code, frag := get("?range=1h&part=charts")
	if code != http.StatusOK || !strings.Contains(frag, `data-testid="chart-throughput"`) || strings.Contains(frag, "<html") {
		t.Errorf("part=charts: %d, want the charts fragment alone:\n%.300s", code, frag)
	}

	// The live range is the default and swaps the stream's charts.
	_, page = get("")
	if !strings.Contains(page, `sse-swap="charts"`) || attr(t, page, "range-1m", "aria-current") != "page" {
		t.Errorf("the default range is not the live minute")
	}
}

func TestPageBadQuery(t *testing.T) {
	_, get := pageServer(t, nil)
	for _, q := range []string{"?range=2h", "?part=nope", "?range=1h&part=stats"} {
		code, body := get(q)
		if code != http.StatusBadRequest || body == "" {
			t.Errorf("GET /%s = %d %q, want 400 with a message", q, code, body)
		}
	}
}

func TestPageWithoutHistory(t *testing.T) {
	h, get := pageServer(t, nil)
	h.Publish(makeBatch(1, 100, defaults()))
	_, page := get("")
	for _, k := range []string{"15m", "1h", "24h"} {
		if attr(t, page, "range-"+k, "aria-disabled") != "true" {
			t.Errorf("range %s is offered without a history", k)
		}
	}
	if !strings.Contains(page, `data-testid="incidents-unavailable"`) {
		t.Errorf("the page does not say the server keeps no incidents")
	}
	code, page := get("?range=24h")
	if code != http.StatusOK || !strings.Contains(page, "keeps no history") {
		t.Errorf("GET /?range=24h without a history = %d, want 200 saying so", code)
	}
}

func TestPageIncidents(t *testing.T) {
	end := int64(startAt + 100_000)
	src := &fakeHistory{incidents: []history.Incident{
		{ID: 3, Kind: "health", Status: "overloaded", Start: startAt + 400, WorstMissRate: 0.8213,
			TopReasons: []history.ReasonCount{{Reason: "shed", Count: 120}, {Reason: "expired", Count: 4}}},
		{ID: 2, Kind: "node-lost", Status: "degraded", Start: startAt - 200_000, End: &end, WorstMissRate: 0.1, Node: "n2:8082"},
	}}
	h, get := pageServer(t, src)
	h.Publish(makeBatch(50, 100, defaults())) // at startAt + 5000
	_, page := get("")
	rows := regexp.MustCompile(`(?s)<tr data-testid="incident-row".*?</tr>`).FindAllString(page, -1)
	if len(rows) != 2 {
		t.Fatalf("%d incident rows, want 2", len(rows))
	}
	for _, want := range []string{"health", "overloaded", "ongoing (5 s)", "82.1 %", "<b>shed</b> 120", "<b>expired</b> 4",
		`title="` + views.Explain("shed") + `"`} {
		if !strings.Contains(rows[0], want) {
			t.Errorf("ongoing incident row lacks %q:\n%s", want, rows[0])
		}
	}
	for _, want := range []string{"node lost", "n2:8082", "degraded", "5 min", "10.0 %"} {
		if !strings.Contains(rows[1], want) {
			t.Errorf("ended incident row lacks %q:\n%s", want, rows[1])
		}
	}
	code, frag := get("?part=incidents")
	if code != http.StatusOK || strings.Count(frag, `data-testid="incident-row"`) != 2 || strings.Contains(frag, "<html") {
		t.Errorf("part=incidents = %d, want the list alone", code)
	}
}

func TestPageLegendAndDroppedRows(t *testing.T) {
	h, get := pageServer(t, nil)
	b := makeBatch(1, 100, defaults())
	b.Events = append(b.Events,
		batch.Event{ID: "exp", Status: event.Dropped, Reason: event.Expired, CreatedAt: b.At - 120, ProcessedAt: b.At, LatencyMs: 120, DeadlineMs: 100},
		batch.Event{ID: "full", Status: event.Dropped, Reason: event.QueueFull, CreatedAt: b.At, ProcessedAt: b.At, DeadlineMs: 100})
	h.Publish(b)
	_, page := get("")
	for _, e := range append(append(append([]views.Explanation{}, views.Statuses...), views.Reasons...), views.Verdicts...) {
		if !strings.Contains(page, e.Text) {
			t.Errorf("the legend does not explain %s", e.Key)
		}
	}
	for _, key := range []string{"queue-full", "expired", "shed", "shutdown", "failed", "cancelled", "bus-unavailable", "node-lost"} {
		if !strings.Contains(page, `data-testid="legend-`+key+`"`) {
			t.Errorf("the legend lacks %s", key)
		}
	}
	rows := regexp.MustCompile(`(?s)<tr data-status="dropped".*?</tr>`).FindAllString(page, -1)
	if len(rows) != 2 {
		t.Fatalf("%d dropped rows, want 2", len(rows))
	}
	for _, r := range rows {
		if !strings.Contains(r, "not processed") || strings.Contains(r, "<svg") || strings.Contains(r, "/ 100.0 ms") {
			t.Errorf("a dropped row looks processed (a time, a latency or a bar):\n%s", r)
		}
	}
	if !strings.Contains(rows[0], ">on arrival<") || !strings.Contains(rows[1], `title="dropped after 120.0 ms in the queue, never processed">waited 120.0 ms<`) {
		t.Errorf("dropped rows do not say how long they waited:\n%s", strings.Join(rows, "\n"))
	}
	if !strings.Contains(rows[1], `title="expired: `+views.Explain("expired")+`"`) {
		t.Errorf("the expired row's reason has no explanation:\n%s", rows[1])
	}
}

func TestPageCluster(t *testing.T) {
	h, get := pageServer(t, nil)
	b := makeBatch(17958420039, 100, defaults())
	b.Nodes = []batch.NodeStatus{
		{ID: "n1:8081", Status: "degraded", LastSeen: b.At - 100, SkewMs: 0, Health: batch.Health{Busy: 2, Workers: 4, Limit: 4, QueueCap: 64, Status: batch.Degraded, Cause: "late events"}},
		{ID: "n2:8082", Status: "lost", LastSeen: b.At - 5000, SkewMs: -3.25, Health: batch.Health{Busy: 4, Workers: 4, Limit: 4, QueueCap: 64}},
	}
	h.Publish(b)
	_, page := get("")
	nodes := regexp.MustCompile(`(?s)<tr data-testid="node-row".*?</tr>`).FindAllString(page, -1)
	if len(nodes) != 2 {
		t.Fatalf("%d node rows, want 2", len(nodes))
	}
	if want := "Cause: late events."; !strings.Contains(nodes[0], want) {
		t.Errorf("the degraded node's badge does not give its cause %q:\n%s", want, nodes[0])
	}
	for _, want := range []string{"n2:8082", ">lost<", "-3.2 ms", "4 / 4", "5.0 s ago", views.Explain("lost")} {
		if !strings.Contains(nodes[1], want) {
			t.Errorf("node row lacks %q:\n%s", want, nodes[1])
		}
	}
	if strings.Contains(page, `data-testid="seq"`) || strings.Contains(page, "#17958420039") {
		t.Errorf("the page shows the cluster's tick index as a batch number")
	}
	if !regexp.MustCompile(`data-testid="batch-id">batch at \d\d:\d\d:\d\d\.\d{3}<`).MatchString(page) {
		t.Errorf("the page does not show the batch's time")
	}
	if strings.Contains(page, `data-testid="control-tickMs"`) {
		t.Errorf("the tick is offered in a cluster, which refuses it")
	}
	for _, f := range []string{"workers", "queueCap"} {
		if !strings.Contains(page, `data-testid="per-node-`+f+`"`) {
			t.Errorf("%s is not labelled per node", f)
		}
	}
	// The form comes back from PATCH /ui/config the same.
	form := submit(newStore(), map[string][]string{"cluster": {"1"}, "rate": {"5"}})
	if !form.Cluster {
		t.Errorf("the submitted cluster form comes back as a single node's")
	}

	// A single node: none of it.
	h2, get2 := pageServer(t, nil)
	h2.Publish(makeBatch(17, 100, defaults()))
	_, page = get2("")
	if strings.Contains(page, `data-testid="node-list"`) || !strings.Contains(page, `data-testid="control-tickMs"`) ||
		!strings.Contains(page, `batch #<span data-testid="seq">17<`) {
		t.Errorf("a single node's page shows cluster parts, or lacks the tick or the batch number")
	}
}
