package metrics

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/cluster"
	"github.com/ontime-rt/ontime/internal/coalescer"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/pipeline"
	"github.com/ontime-rt/ontime/internal/stats"
	"github.com/ontime-rt/ontime/internal/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The parts the node has satisfy the sources as they are.
var (
	_ PipelineSource = (*pipeline.Pipeline)(nil)
	_ FanoutSource   = (*hub.Hub)(nil)
	_ Snapshotter    = (*coalescer.Coalescer)(nil)
)

// scrape fetches and parses the text exposition served by h, through a real
// HTTP server, as Prometheus would.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %s: %s", resp.Status, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// series returns the metric of family name whose labels are exactly want,
// or nil.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	mf := fams[name]
	if mf == nil {
		return nil
	}
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(want) {
			continue
		}
		ok := true
		for _, l := range m.GetLabel() {
			if v, found := want[l.GetName()]; !found || v != l.GetValue() {
				ok = false
				break
			}
		}
		if ok {
			return m
		}
	}
	return nil
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m := series(fams, name, labels)
	if m == nil {
		t.Fatalf("no series %s%v", name, labels)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	t.Fatalf("%s%v is neither counter nor gauge", name, labels)
	return 0
}

func outcome(status, reason string) map[string]string {
	return map[string]string{"status": status, "reason": reason}
}

// countingRecorder checks the tap forwards every call exactly once.
type countingRecorder struct {
	admits, finishes atomic.Int64
	mu               sync.Mutex
	results          []event.Result
}

func (c *countingRecorder) Admit(event.Event) { c.admits.Add(1) }

func (c *countingRecorder) Finish(r event.Result) {
	c.finishes.Add(1)
	c.mu.Lock()
	c.results = append(c.results, r)
	c.mu.Unlock()
}

type fakePipeline struct{}

func (fakePipeline) Gauges() pipeline.Gauges {
	return pipeline.Gauges{QueueDepth: 7, QueueCap: 64, QueueBytes: 7 * 384, QueueBytesCap: 64 << 20, Workers: 4, Busy: 3}
}

type fakeFanout struct{}

func (fakeFanout) Skipped() uint64         { return 11 }
func (fakeFanout) SlowDisconnects() uint64 { return 2 }

type fakeCoalescer struct{ jitter stats.Summary }

func (f fakeCoalescer) Snapshot() coalescer.Snapshot { return coalescer.Snapshot{TickJitter: f.jitter} }

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func result(status event.Status, reason event.Reason, latency time.Duration) event.Result {
	return event.Result{
		Event:       event.Event{Source: "test", CreatedAt: t0, Deadline: 100 * time.Millisecond},
		ProcessedAt: t0.Add(latency),
		Status:      status,
		Reason:      reason,
	}
}

func TestScrapeEventsAndSources(t *testing.T) {
	m := New(Config{
		Deadline:    100 * time.Millisecond,
		Pipeline:    fakePipeline{},
		Fanout:      fakeFanout{},
		Clients:     func() map[string]int { return map[string]int{"sse": 2, "page": 0, "ws": 1} },
		Punctuality: fakeCoalescer{stats.Summary{Count: 10, P50: 0.5, P90: 1.5, P99: 3, Max: 4.25}},
	})
	next := &countingRecorder{}
	rec := m.Recorder(next)

	ms := time.Millisecond
	results := []event.Result{
		result(event.OnTime, event.ReasonNone, 30*ms),
		result(event.OnTime, event.ReasonNone, 30*ms),
		result(event.OnTime, event.ReasonNone, 50*ms),
		result(event.Late, event.ReasonNone, 120*ms),
		result(event.Late, event.Cancelled, 100*ms), // exactly at the deadline: le="0.1"
		result(event.Dropped, event.QueueFull, 0),
		result(event.Dropped, event.QueueFull, 0),
		result(event.Dropped, event.QueueFull, 0),
		result(event.Dropped, event.Expired, 200*ms), // dropped: not in the histogram
		result(event.Dropped, event.Expired, 200*ms),
		result(event.Dropped, event.Shed, 0),
		result(event.Dropped, event.Shutdown, 0),
		result(event.Dropped, event.Failed, 0),
		result(event.Dropped, "bogus", 0),
	}
	const admitted = 16 // two still in flight
	for range admitted {
		rec.Admit(event.Event{})
	}
	for _, r := range results {
		rec.Finish(r)
	}
	if got := next.admits.Load(); got != admitted {
		t.Errorf("forwarded %d admits, want %d", got, admitted)
	}
	if got := next.finishes.Load(); got != int64(len(results)) {
		t.Errorf("forwarded %d finishes, want %d", got, len(results))
	}

	fams := scrape(t, m.Handler())
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ontime_events_received_total", nil, admitted},
		{"ontime_events_total", outcome("on-time", "none"), 3},
		{"ontime_events_total", outcome("late", "none"), 1},
		{"ontime_events_total", outcome("late", "cancelled"), 1},
		{"ontime_events_total", outcome("dropped", "queue-full"), 3},
		{"ontime_events_total", outcome("dropped", "expired"), 2},
		{"ontime_events_total", outcome("dropped", "shed"), 1},
		{"ontime_events_total", outcome("dropped", "shutdown"), 1},
		{"ontime_events_total", outcome("dropped", "failed"), 1},
		{"ontime_events_total", outcome("dropped", "other"), 1},
		{"ontime_events_in_flight", nil, 2},
		{"ontime_queue_depth", nil, 7},
		{"ontime_queue_capacity", nil, 64},
		{"ontime_queue_bytes", nil, 7 * 384},
		{"ontime_queue_bytes_capacity", nil, 64 << 20},
		{"ontime_workers", nil, 4},
		{"ontime_workers_busy", nil, 3},
		{"ontime_clients", map[string]string{"transport": "sse"}, 2},
		{"ontime_clients", map[string]string{"transport": "page"}, 0},
		{"ontime_clients", map[string]string{"transport": "ws"}, 1},
		{"ontime_fanout_skipped_batches_total", nil, 11},
		{"ontime_fanout_slow_disconnects_total", nil, 2},
		{"ontime_tick_jitter_p50_seconds", nil, 0.0005},
		{"ontime_tick_jitter_p90_seconds", nil, 0.0015},
		{"ontime_tick_jitter_p99_seconds", nil, 0.003},
		{"ontime_tick_jitter_max_seconds", nil, 0.00425},
		{"ontime_tick_jitter_samples_total", nil, 10},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %g, want %g", c.name, c.labels, got, c.want)
		}
	}
	if n := len(fams["ontime_events_total"].GetMetric()); n != 9 {
		t.Errorf("ontime_events_total has %d series, want 9 (8 pre-created + other)", n)
	}

	// The latency histogram holds the five processed events only.
	h := series(fams, "ontime_event_latency_seconds", nil).GetHistogram()
	if h.GetSampleCount() != 5 {
		t.Errorf("latency count = %d, want 5", h.GetSampleCount())
	}
	if want := 0.03 + 0.03 + 0.05 + 0.12 + 0.1; math.Abs(h.GetSampleSum()-want) > 1e-9 {
		t.Errorf("latency sum = %g, want %g", h.GetSampleSum(), want)
	}
	wantCum := map[float64]uint64{0.01: 0, 0.025: 0, 0.05: 3, 0.06: 3, 0.095: 3, 0.1: 4, 0.105: 4, 0.125: 5, 0.5: 5}
	var bounds []float64
	for _, b := range h.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
		if want, ok := wantCum[b.GetUpperBound()]; ok && b.GetCumulativeCount() != want {
			t.Errorf("latency le=%g: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if want := []float64{0.01, 0.025, 0.05, 0.06, 0.07, 0.08, 0.09, 0.095, 0.1, 0.105, 0.125, 0.15, 0.2, 0.5, math.Inf(1)}; !slices.Equal(bounds, want) {
		t.Errorf("latency buckets = %v, want %v", bounds, want)
	}

	// The runtime and process collectors are registered too.
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("missing %s", name)
		}
	}
}

func TestCountersExistAtZero(t *testing.T) {
	fams := scrape(t, New(Config{}).Handler())
	for _, o := range []map[string]string{
		outcome("on-time", "none"), outcome("late", "none"), outcome("late", "cancelled"),
		outcome("dropped", "queue-full"), outcome("dropped", "expired"), outcome("dropped", "shed"),
		outcome("dropped", "shutdown"), outcome("dropped", "failed"),
	} {
		if got := value(t, fams, "ontime_events_total", o); got != 0 {
			t.Errorf("ontime_events_total%v = %g before any event", o, got)
		}
	}
	if n := len(fams["ontime_events_total"].GetMetric()); n != 8 {
		t.Errorf("ontime_events_total has %d series, want only the 8 the pipeline produces", n)
	}
	if got := value(t, fams, "ontime_events_received_total", nil); got != 0 {
		t.Errorf("received = %g", got)
	}
	if got := value(t, fams, "ontime_events_in_flight", nil); got != 0 {
		t.Errorf("in flight = %g", got)
	}
	// Nil sources are skipped, not exported as zeros.
	for _, name := range []string{"ontime_queue_depth", "ontime_clients", "ontime_fanout_skipped_batches_total", "ontime_tick_jitter_samples_total"} {
		if fams[name] != nil {
			t.Errorf("%s exported without a source", name)
		}
	}
}

func TestTickJitterBeforeFirstTick(t *testing.T) {
	fams := scrape(t, New(Config{Punctuality: fakeCoalescer{}}).Handler())
	if got := value(t, fams, "ontime_tick_jitter_samples_total", nil); got != 0 {
		t.Errorf("samples = %g", got)
	}
	if fams["ontime_tick_jitter_p50_seconds"] != nil || fams["ontime_tick_jitter_max_seconds"] != nil {
		t.Error("jitter quantiles exported before any tick")
	}
}

func TestRecorderForwardsConcurrently(t *testing.T) {
	m := New(Config{})
	next := &countingRecorder{}
	rec := m.Recorder(next)
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				ev := event.Event{Source: fmt.Sprint(g, "/", i), CreatedAt: t0}
				rec.Admit(ev)
				rec.Finish(event.Result{Event: ev, ProcessedAt: t0.Add(time.Millisecond), Status: event.OnTime})
			}
		})
	}
	wg.Wait()
	if a, f := next.admits.Load(), next.finishes.Load(); a != goroutines*each || f != goroutines*each {
		t.Fatalf("forwarded %d admits and %d finishes, want %d each", a, f, goroutines*each)
	}
	// Each result reached next once, unchanged.
	seen := make(map[string]bool, len(next.results))
	for _, r := range next.results {
		if seen[r.Source] {
			t.Fatalf("result %s forwarded twice", r.Source)
		}
		seen[r.Source] = true
	}
	fams := scrape(t, m.Handler())
	if got := value(t, fams, "ontime_events_total", outcome("on-time", "none")); got != goroutines*each {
		t.Errorf("on-time = %g", got)
	}
	if got := value(t, fams, "ontime_events_in_flight", nil); got != 0 {
		t.Errorf("in flight = %g", got)
	}

	// A nil next only counts.
	m.Recorder(nil).Admit(event.Event{})
	if got := value(t, scrape(t, m.Handler()), "ontime_events_in_flight", nil); got != 1 {
		t.Errorf("in flight = %g after a bare admit", got)
	}
}

func TestRecorderDoesNotAllocate(t *testing.T) {
	rec := New(Config{}).Recorder(&nopRecorder{})
	ev := event.Event{CreatedAt: t0}
	rs := []event.Result{
		{Event: ev, ProcessedAt: t0.Add(40 * time.Millisecond), Status: event.OnTime},
		{Event: ev, ProcessedAt: t0.Add(140 * time.Millisecond), Status: event.Late, Reason: event.Cancelled},
		{Event: ev, ProcessedAt: t0, Status: event.Dropped, Reason: event.QueueFull},
	}
	allocs := testing.AllocsPerRun(1000, func() {
		rec.Admit(ev)
		for _, r := range rs {
			rec.Finish(r)
		}
	})
	if allocs != 0 {
		t.Errorf("Admit+Finish allocate %g times per event", allocs)
	}
}

// flushCheck answers whether the writer it was given can still flush.
func flushCheck(w http.ResponseWriter, _ *http.Request) {
	_, ok := w.(http.Flusher)
	fmt.Fprint(w, ok)
}

// panicRecoverer stands in for the server's recoverer.
func panicRecoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if recover() != nil {
				w.WriteHeader(http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func TestMiddleware(t *testing.T) {
	for _, order := range []string{"metrics-first", "recoverer-first"} {
		t.Run(order, func(t *testing.T) {
			m := New(Config{SkipRoutes: []string{"/api/stream", "/ws"}})
			r := chi.NewRouter()
			if order == "metrics-first" {
				r.Use(m.Middleware, panicRecoverer)
			} else {
				r.Use(panicRecoverer, m.Middleware)
			}
			r.Get("/api/x/{id}", func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusCreated)
				fmt.Fprint(w, chi.URLParam(r, "id"))
			})
			r.Get("/api/flush", flushCheck)
			r.Get("/api/stream", flushCheck)
			r.Get("/api/boom", func(http.ResponseWriter, *http.Request) { panic("boom") })
			r.Get("/api/quiet", func(http.ResponseWriter, *http.Request) {}) // writes nothing: implicit 200
			srv := httptest.NewServer(r)
			defer srv.Close()

			get := func(method, path string) string {
				t.Helper()
				req, err := http.NewRequest(method, srv.URL+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				return string(body)
			}
			if got := get("GET", "/api/x/1"); got != "1" {
				t.Errorf("/api/x/1 body %q", got)
			}
			get("GET", "/api/x/2")
			get("GET", "/nowhere/at/all")
			get("GET", "/api/boom")
			get("GET", "/api/quiet")
			get("BREW", "/api/x/3")
			if got := get("GET", "/api/flush"); got != "true" {
				t.Errorf("wrapped writer lost http.Flusher: %s", got)
			}
			if got := get("GET", "/api/stream"); got != "true" {
				t.Errorf("skipped route lost http.Flusher: %s", got)
			}

			fams := scrape(t, m.Handler())
			count := func(route, method, code string) uint64 {
				t.Helper()
				s := series(fams, "ontime_http_request_duration_seconds", map[string]string{"route": route, "method": method, "code": code})
				if s == nil {
					t.Errorf("no request series for %s %s %s", route, method, code)
					return 0
				}
				return s.GetHistogram().GetSampleCount()
			}
			for _, c := range []struct {
				route, method, code string
				want                uint64
			}{
				{"/api/x/{id}", "GET", "201", 2},
				{"unmatched", "GET", "404", 1},
				{"/api/boom", "GET", "500", 1},
				{"/api/quiet", "GET", "200", 1},
				{"/api/flush", "GET", "200", 1},
			} {
				if got := count(c.route, c.method, c.code); got != c.want {
					t.Errorf("%s %s %s counted %d, want %d", c.method, c.route, c.code, got, c.want)
				}
			}
			var total uint64
			for _, s := range fams["ontime_http_request_duration_seconds"].GetMetric() {
				for _, l := range s.GetLabel() {
					if l.GetName() == "route" && l.GetValue() == "/api/stream" {
						t.Error("the streaming route was measured")
					}
					if l.GetName() == "method" && l.GetValue() == "BREW" {
						t.Error("an unknown method became a label value")
					}
				}
				total += s.GetHistogram().GetSampleCount()
			}
			if total != 7 {
				t.Errorf("%d requests measured, want 7 (all but the stream)", total)
			}
		})
	}
}

func TestMiddlewareSkipsByRoutePattern(t *testing.T) {
	// A path variant that reaches the streaming route is still left out,
	// by its pattern.
	m := New(Config{SkipRoutes: []string{"/ws/{room}"}})
	r := chi.NewRouter()
	r.Use(m.Middleware)
	r.Get("/ws/{room}", func(http.ResponseWriter, *http.Request) {})
	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/ws/lobby")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if fams := scrape(t, m.Handler()); fams["ontime_http_request_duration_seconds"] != nil {
		t.Error("request on a skipped route pattern was measured")
	}
}

func TestLabels(t *testing.T) {
	for in, want := range map[string]string{"GET": "GET", "HEAD": "HEAD", "DELETE": "DELETE", "BREW": "other", "get": "other"} {
		if got := methodLabel(in); got != want {
			t.Errorf("methodLabel(%q) = %q, want %q", in, got, want)
		}
	}
	for _, c := range []struct {
		status   int
		returned bool
		want     string
	}{{0, true, "200"}, {0, false, "500"}, {404, true, "404"}, {200, false, "200"}} {
		if got := codeLabel(c.status, c.returned); got != c.want {
			t.Errorf("codeLabel(%d, %v) = %q, want %q", c.status, c.returned, got, c.want)
		}
	}
}

func TestDeadlineBuckets(t *testing.T) {
	if got, want := deadlineBuckets(2*time.Second), []float64{0.2, 0.5, 1, 1.2, 1.4, 1.6, 1.8, 1.9, 2, 2.1, 2.5, 3, 4, 10}; !slices.Equal(got, want) {
		t.Errorf("buckets for 2s = %v, want %v", got, want)
	}
	// Absurdly small deadlines still give valid (strictly increasing,
	// positive) buckets, so New never panics.
	for _, d := range []time.Duration{1, 3, 10, time.Microsecond} {
		b := deadlineBuckets(d)
		if len(b) == 0 || b[0] <= 0 || !slices.IsSorted(b) || len(slices.Compact(slices.Clone(b))) != len(b) {
			t.Errorf("buckets for %v = %v", d, b)
		}
		New(Config{Deadline: d})
	}
}

type nopRecorder struct{}

func (nopRecorder) Admit(event.Event)   {}
func (nopRecorder) Finish(event.Result) {}

// BenchmarkRecorderFinish measures what the tap adds to every outcome: a
// status/reason lookup, a counter add, a histogram observation for
// processed events.
func BenchmarkRecorderFinish(b *testing.B) {
	rec := New(Config{}).Recorder(nopRecorder{})
	ev := event.Event{CreatedAt: t0}
	rs := [...]event.Result{
		{Event: ev, ProcessedAt: t0.Add(40 * time.Millisecond), Status: event.OnTime},
		{Event: ev, ProcessedAt: t0.Add(95 * time.Millisecond), Status: event.OnTime},
		{Event: ev, ProcessedAt: t0.Add(140 * time.Millisecond), Status: event.Late, Reason: event.Cancelled},
		{Event: ev, ProcessedAt: t0, Status: event.Dropped, Reason: event.QueueFull},
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		rec.Finish(rs[i%len(rs)])
		i++
	}
}

// BenchmarkRecorderFinishParallel is the same with every core finishing
// events at once, as the pipeline's workers do.
func BenchmarkRecorderFinishParallel(b *testing.B) {
	rec := New(Config{}).Recorder(nopRecorder{})
	ev := event.Event{CreatedAt: t0}
	r := event.Result{Event: ev, ProcessedAt: t0.Add(40 * time.Millisecond), Status: event.OnTime}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec.Finish(r)
		}
	})
}

func TestNativeHistograms(t *testing.T) {
	// Servers that negotiate protobuf get the latency as a native
	// histogram too: schema 3 is the finest with a bucket factor <= 1.1.
	m := New(Config{})
	m.Recorder(nil).Finish(result(event.OnTime, event.ReasonNone, 42*time.Millisecond))
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "ontime_event_latency_seconds" {
			continue
		}
		h := f.GetMetric()[0].GetHistogram()
		if h.Schema == nil || h.GetSchema() != 3 || len(h.GetPositiveSpan()) == 0 {
			t.Errorf("latency is not a native histogram of schema 3: schema %v, spans %v", h.Schema, h.GetPositiveSpan())
		}
		return
	}
	t.Error("no ontime_event_latency_seconds")
}

// clusterStats is a fixed ClusterSource: every counter a different value,
// so a metric read from the wrong field shows. Without nodes it is a Merger
// that has merged nothing yet.
type clusterStats struct{ nodes *cluster.NodeCounts }

func (c clusterStats) ClusterStats() (cluster.BusStats, cluster.MergerStats) {
	return cluster.BusStats{Published: 1, Unpublished: 2, Consumed: 3, Refused: 4, Malformed: 5, SlowConsumerDrops: 6, Consumers: 7,
			Missing: 31, Orphans: 32, Abandoned: 33, Stale: 34, NoResponders: 35, Unconfirmed: 36},
		cluster.MergerStats{Published: 11, PublishErrors: 12, Received: 13, Malformed: 14, Stale: 15, Rejected: 16, LocalDrops: 17, Emitted: 18, Late: 19, Skipped: 20, Nodes: c.nodes}
}

// Cluster metrics exist only in cluster mode, and each reads its counter.
func TestClusterMetrics(t *testing.T) {
	if fams := scrape(t, New(Config{}).Handler()); fams["ontime_cluster_events_published_total"] != nil || fams["ontime_cluster_nodes"] != nil {
		t.Fatal("cluster metrics without a cluster")
	}
	if fams := scrape(t, New(Config{Cluster: clusterStats{}}).Handler()); fams["ontime_cluster_nodes"] != nil {
		t.Fatal("ontime_cluster_nodes before the first cluster batch")
	}
	fams := scrape(t, New(Config{Cluster: clusterStats{&cluster.NodeCounts{Joining: 21, OK: 22, Degraded: 23, Overloaded: 24, Lost: 25, Left: 26}}}).Handler())
	if n := len(fams["ontime_cluster_nodes"].GetMetric()); n != 6 {
		t.Errorf("%d ontime_cluster_nodes series, want one per status (6)", n)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ontime_cluster_events_published_total", nil, 1},
		{"ontime_cluster_events_publish_failures_total", nil, 2},
		{"ontime_cluster_events_consumed_total", nil, 3},
		{"ontime_cluster_events_refused_total", nil, 4},
		{"ontime_cluster_messages_malformed_total", map[string]string{"kind": "event"}, 5},
		{"ontime_cluster_slow_consumer_drops_total", nil, 6},
		{"ontime_cluster_consumers", nil, 7},
		{"ontime_cluster_partials_published_total", nil, 11},
		{"ontime_cluster_partials_publish_failures_total", nil, 12},
		{"ontime_cluster_partials_received_total", nil, 13},
		{"ontime_cluster_messages_malformed_total", map[string]string{"kind": "partial"}, 14},
		{"ontime_cluster_partials_discarded_total", map[string]string{"reason": "stale"}, 15},
		{"ontime_cluster_partials_discarded_total", map[string]string{"reason": "rejected"}, 16},
		{"ontime_cluster_partials_discarded_total", map[string]string{"reason": "local"}, 17},
		{"ontime_cluster_batches_emitted_total", nil, 18},
		{"ontime_cluster_partials_late_total", nil, 19},
		{"ontime_cluster_ticks_skipped_total", nil, 20},
		{"ontime_cluster_nodes", map[string]string{"status": "joining"}, 21},
		{"ontime_cluster_nodes", map[string]string{"status": "ok"}, 22},
		{"ontime_cluster_nodes", map[string]string{"status": "degraded"}, 23},
		{"ontime_cluster_nodes", map[string]string{"status": "overloaded"}, 24},
		{"ontime_cluster_nodes", map[string]string{"status": "lost"}, 25},
		{"ontime_cluster_nodes", map[string]string{"status": "left"}, 26},
		{"ontime_cluster_events_route_lost_total", map[string]string{"how": "missing"}, 31},
		{"ontime_cluster_events_route_lost_total", map[string]string{"how": "orphan"}, 32},
		{"ontime_cluster_events_route_lost_total", map[string]string{"how": "abandoned"}, 33},
		{"ontime_cluster_events_route_lost_total", map[string]string{"how": "stale"}, 34},
		{"ontime_cluster_events_no_responders_total", nil, 35},
		{"ontime_cluster_syncs_unconfirmed_total", nil, 36},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

type workerPipeline struct{}

func (workerPipeline) Gauges() pipeline.Gauges {
	return pipeline.Gauges{Workers: 64, Limit: 9, CallP50: 21 * time.Millisecond, CallP99: 48 * time.Millisecond, CallBest: 20 * time.Millisecond}
}

// The counters of the known failure kinds exist, at zero, before any
// failure, and the known kinds are the worker package's fixed ones.
func TestWorkerFailuresFromTheStart(t *testing.T) {
	fams := scrape(t, New(Config{}).Handler())
	for _, kind := range KnownFailureKinds {
		if got := value(t, fams, "ontime_worker_failures_total", map[string]string{"kind": kind}); got != 0 {
			t.Errorf("failures of kind %s before any: %g, want 0", kind, got)
		}
	}
	if n := len(fams["ontime_worker_failures_total"].GetMetric()); n != len(KnownFailureKinds) {
		t.Errorf("%d failure series at start, want %d", n, len(KnownFailureKinds))
	}
	words := []string{worker.KindConnect, worker.KindReset, worker.KindTLS, worker.KindBadResponse, worker.KindTooLarge,
		worker.KindTimeout, worker.KindNoWorker, worker.KindWorkerError, "error", "other"}
	if !slices.Equal(KnownFailureKinds, words) {
		t.Errorf("KnownFailureKinds %v, want the worker package's kinds and error, other: %v", KnownFailureKinds, words)
	}
}

// Failures count by kind, with labels bounded whatever a processor
// reports; the concurrency limit and the worker's call latency are gauges.
func TestWorkerFailuresAndLimit(t *testing.T) {
	m := New(Config{Pipeline: workerPipeline{}})
	rec := m.Recorder(nil)
	failed := func(kind string) event.Result {
		r := result(event.Dropped, event.Failed, 0)
		r.Failure = kind
		return r
	}
	for _, kind := range []string{"http-503", "http-503", "connect", "reset", "error", "http-5x3", "Weird Kind!", "", "status-503", "status-5030", "http-50"} {
		rec.Admit(event.Event{})
		rec.Finish(failed(kind))
	}
	rec.Admit(event.Event{})
	rec.Finish(result(event.Dropped, event.Shed, 0)) // no failure: no kind
	fams := scrape(t, m.Handler())
	for kind, want := range map[string]float64{"http-503": 2, "status-503": 1, "connect": 1, "reset": 1, "error": 1, "other": 5, "tls": 0} {
		if got := value(t, fams, "ontime_worker_failures_total", map[string]string{"kind": kind}); got != want {
			t.Errorf("failures of kind %s: %g, want %g", kind, got, want)
		}
	}
	if n, want := len(fams["ontime_worker_failures_total"].GetMetric()), len(KnownFailureKinds)+2; n != want {
		t.Errorf("%d failure series, want %d (the known kinds, http-503 and status-503)", n, want)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ontime_concurrency_limit", nil, 9},
		{"ontime_worker_call_p50_seconds", nil, 0.021},
		{"ontime_worker_call_p99_seconds", nil, 0.048},
		{"ontime_worker_call_best_seconds", nil, 0.020},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %g, want %g", c.name, c.labels, got, c.want)
		}
	}
}
