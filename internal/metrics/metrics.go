// Package metrics exposes ontime's Prometheus metrics: what happened to every
// event (counters and a latency histogram fed by a Recorder tap), the load
// and fan-out state read at scrape time, and the duration of HTTP requests.
//
// Everything lives in a private registry, never the global default one, so a
// process may build several nodes (tests do) without their metrics colliding,
// and nothing a dependency registers globally leaks into ontime's endpoint.
//
// The package reads its sources through small interfaces of its own, so it
// depends only on the types it reports (events, pipeline gauges, coalescer
// snapshots), never on the transports or the node that wire it in.
package metrics

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ontime-rt/ontime/internal/coalescer"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/pipeline"
)

// DefaultDeadline is the Config.Deadline used when none is given: the node's
// default event deadline.
const DefaultDeadline = 100 * time.Millisecond

// PipelineSource reports the pipeline's load; *pipeline.Pipeline implements
// it.
type PipelineSource interface {
	Gauges() pipeline.Gauges
}

// FanoutSource reports what slow clients cost the fan-out; *hub.Hub
// implements it.
type FanoutSource interface {
	// Skipped is the number of batches skipped by lagging clients.
	Skipped() uint64
	// SlowDisconnects is the number of clients given up on as too slow.
	SlowDisconnects() uint64
}

// Snapshotter gives the coalescer's state between batches, read for the
// tick jitter; *coalescer.Coalescer implements it.
type Snapshotter interface {
	Snapshot() coalescer.Snapshot
}

// Config configures Metrics. Every source is optional: a nil source's
// metrics are simply not exported.
type Config struct {
	// Deadline places the classic buckets of the event latency histogram
	// around it, where the on-time/late boundary needs resolution. It should
	// be the events' deadline; the buckets are fixed when New runs, so a
	// deadline changed later is only resolved by the native histogram.
	// Zero or negative means DefaultDeadline (100ms).
	Deadline time.Duration
	// Pipeline is read at scrape time for queue depth, capacity, workers and
	// busy workers.
	Pipeline PipelineSource
	// Fanout is read at scrape time for skipped batches and slow-client
	// disconnects.
	Fanout FanoutSource
	// Clients returns the connected clients per transport name ("sse",
	// "page", "ws"), read at scrape time. Transport names become label
	// values, so the set must stay small and fixed.
	Clients func() map[string]int
	// Punctuality is read at scrape time for the tick jitter quantiles.
	Punctuality Snapshotter
	// Cluster, in cluster mode, is read at scrape time for the event bus's
	// and the Merger's counters (ontime_cluster_*).
	Cluster ClusterSource
	// SkipRoutes are request paths the HTTP middleware does not measure:
	// long-lived streams ("/api/stream", "/ui/stream", "/ws") would put
	// minutes-long "requests" into the duration histogram and drown the API's
	// real latencies. A request is skipped when its URL path, or the route
	// pattern it matched, equals one of them.
	SkipRoutes []string
}

// Metrics holds ontime's Prometheus metrics and their registry.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	// Event outcomes, fed by the Recorder tap.
	received prometheus.Counter
	outcomes *prometheus.CounterVec
	// failures counts the events dropped as failed by kind of failure.
	failures *prometheus.CounterVec
	// outcome caches the children of outcomes for the combinations that
	// occur, so counting an event is a short lookup and an atomic add: no
	// label hashing, no allocation. A nil entry is a combination the pipeline
	// never produces; it falls back to the vector.
	outcome [numStatuses][]prometheus.Counter
	// reasons are the known reasons (event.Reasons), and reasonLabels their
	// label values, with "other" last for any reason unknown to this build.
	reasons      []event.Reason
	reasonLabels []string

	latency  prometheus.Histogram
	inFlight atomic.Int64 // admitted minus finished

	// HTTP requests, fed by Middleware.
	requests *prometheus.HistogramVec
	skip     map[string]struct{}
}

// New builds the metrics and registers them, with the Go runtime and process
// collectors, in a registry of their own.
func New(cfg Config) *Metrics {
	if cfg.Deadline <= 0 {
		cfg.Deadline = DefaultDeadline
	}
	m := &Metrics{reg: prometheus.NewRegistry(), skip: make(map[string]struct{}, len(cfg.SkipRoutes))}
	for _, p := range cfg.SkipRoutes {
		m.skip[p] = struct{}{}
	}

	m.received = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "ontime_events_received_total",
		Help: "Events given to the pipeline, whatever became of them.",
	})
	m.outcomes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ontime_events_total",
		Help: "Events by final outcome: status is on-time, late or dropped; reason says why an event was dropped, or that a late event was cancelled at its deadline (none otherwise).",
	}, []string{"status", "reason"})
	m.initReasons()
	m.initOutcomes()
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ontime_worker_failures_total",
		Help: "Events dropped as failed, by kind of failure: http-NNN (the worker's status), connect, reset, tls, bad-response, result-too-large, timeout; over NATS status-NNN, no-worker, worker-error; error (a failure that names no kind), other. The fixed words exist from the start at zero; each status from its first failure.",
	}, []string{"kind"})
	m.initFailures()
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "ontime_event_latency_seconds",
		Help:    "Time from an event's creation to its outcome, queue wait included, for processed (on-time or late) events.",
		Buckets: deadlineBuckets(cfg.Deadline),
		// A native histogram too: Prometheus servers that scrape it get
		// about 10% resolution everywhere, whatever the deadline.
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: time.Hour,
	})
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:                            "ontime_http_request_duration_seconds",
		Help:                            "Duration of HTTP requests (streams excluded) by route pattern, method and status code.",
		Buckets:                         []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: time.Hour,
	}, []string{"route", "method", "code"})

	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.received, m.outcomes, m.failures, m.latency, m.requests,
		newScrapeCollector(cfg, &m.inFlight),
	)
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		Registry: m.reg,
		// One failing collector (say, process stats on an odd platform)
		// must not blind the whole scrape: serve the rest and count the
		// error in promhttp_metric_handler_errors_total.
		ErrorHandling: promhttp.ContinueOnError,
	})
	return m
}

// Handler serves the metrics in the Prometheus exposition formats (text, or
// protobuf with native histograms for servers that ask for it).
func (m *Metrics) Handler() http.Handler { return m.handler }

// Registry is the private registry, for registering further metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// deadlineFactors place the latency buckets, in thousandths of the deadline:
// dense just below and around it, where on-time turns late, sparse beyond.
var deadlineFactors = []int64{100, 250, 500, 600, 700, 800, 900, 950, 1000, 1050, 1250, 1500, 2000, 5000}

// deadlineBuckets returns the bucket bounds for deadline d in seconds. They
// are computed in integer nanoseconds so that, for round deadlines, bounds
// print as 0.07 rather than 0.06999999999999999.
func deadlineBuckets(d time.Duration) []float64 {
	b := make([]float64, 0, len(deadlineFactors))
	for _, f := range deadlineFactors {
		v := time.Duration(int64(d) * f / 1000).Seconds()
		// Prometheus requires strictly increasing bounds; a deadline of a
		// few nanoseconds would round some together.
		if v > 0 && (len(b) == 0 || v > b[len(b)-1]) {
			b = append(b, v)
		}
	}
	return b
}
