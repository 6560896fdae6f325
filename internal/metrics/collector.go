package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// scrapeCollector reads the live state when Prometheus scrapes, instead of
// copying it into gauges on every change: the sources already keep it, so
// nothing is paid between scrapes.
type scrapeCollector struct {
	cfg      Config
	inFlight *atomic.Int64

	descs []*prometheus.Desc // the ones this configuration exports

	inFlightDesc, queueDepth, queueCap, workers, busy *prometheus.Desc
	queueBytes, queueBytesCap                         *prometheus.Desc
	limit, callP50, callP90, callP99, callBest        *prometheus.Desc
	clients                                           *prometheus.Desc
	skipped, slow                                     *prometheus.Desc
	jitter                                            [3]*prometheus.Desc // p50, p90, p99
	jitterMax, jitterSamples                          *prometheus.Desc
	cluster                                           *clusterDescs
}

func newScrapeCollector(cfg Config, inFlight *atomic.Int64) *scrapeCollector {
	c := &scrapeCollector{cfg: cfg, inFlight: inFlight}
	add := func(name, help string, labels ...string) *prometheus.Desc {
		d := prometheus.NewDesc(name, help, labels, nil)
		c.descs = append(c.descs, d)
		return d
	}
	// In flight comes from the Recorder tap, so it always exists.
	c.inFlightDesc = add("ontime_events_in_flight", "Events admitted that have no final outcome yet (queued or being processed).")
	if cfg.Pipeline != nil {
		c.queueDepth = add("ontime_queue_depth", "Events waiting in the queue for a worker.")
		c.queueCap = add("ontime_queue_capacity", "Capacity of the queue; an event arriving when it is full is dropped (queue-full).")
		c.queueBytes = add("ontime_queue_bytes", "Bytes of the events waiting in the queue: their payloads plus a fixed overhead each.")
		c.queueBytesCap = add("ontime_queue_bytes_capacity", "The queue's byte budget (--queue-bytes); an event that would exceed it is dropped (queue-full).")
		c.workers = add("ontime_workers", "Workers in the pool.")
		c.busy = add("ontime_workers_busy", "Workers processing an event right now.")
		c.limit = add("ontime_concurrency_limit", "Events processed at once at most: the adaptive concurrency limit, or the workers when fixed.")
		c.callP50 = add("ontime_worker_call_p50_seconds", "How long the processor's calls took (the worker's latency as ontime sees it): the median of the last 512 calls of 10 s, as learned for admission.")
		c.callP90 = add("ontime_worker_call_p90_seconds", "How long the processor's calls took (the worker's latency as ontime sees it): the p90 of the last 512 calls of 10 s, as learned for admission.")
		c.callP99 = add("ontime_worker_call_p99_seconds", "How long the processor's calls took (the worker's latency as ontime sees it): the p99 of the last 512 calls of 10 s, as learned for admission.")
		c.callBest = add("ontime_worker_call_best_seconds", "The best call latency learned: the adaptive limit's reference.")
	}
	if cfg.Clients != nil {
		c.clients = add("ontime_clients", "Connected clients by transport.", "transport")
	}
	if cfg.Fanout != nil {
		c.skipped = add("ontime_fanout_skipped_batches_total", "Batches skipped by clients that fell too far behind.")
		c.slow = add("ontime_fanout_slow_disconnects_total", "Clients disconnected for being too slow to keep up.")
	}
	if cfg.Punctuality != nil {
		// Quantiles as gauges of their own: a quantile label belongs to
		// summaries, which need a sum this digest does not keep.
		for i, q := range [...]string{"p50", "p90", "p99"} {
			c.jitter[i] = add("ontime_tick_jitter_"+q+"_seconds", "How late batch ticks fired: the "+q+" over every tick since start.")
		}
		c.jitterMax = add("ontime_tick_jitter_max_seconds", "The latest any batch tick fired since start.")
		c.jitterSamples = add("ontime_tick_jitter_samples_total", "Tick lateness measurements behind the jitter quantiles (one per tick, plus one per overrun).")
	}
	if cfg.Cluster != nil {
		c.cluster = newClusterDescs(add)
	}
	return c
}

// Describe sends the descriptors of the metrics this configuration exports.
func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect reads every source once.
func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	// Never negative, even if a Finish was ever recorded without its Admit.
	gauge(c.inFlightDesc, float64(max(c.inFlight.Load(), 0)))
	if c.cfg.Pipeline != nil {
		g := c.cfg.Pipeline.Gauges()
		gauge(c.queueDepth, float64(g.QueueDepth))
		gauge(c.queueCap, float64(g.QueueCap))
		gauge(c.queueBytes, float64(g.QueueBytes))
		gauge(c.queueBytesCap, float64(g.QueueBytesCap))
		gauge(c.workers, float64(g.Workers))
		gauge(c.busy, float64(g.Busy))
		gauge(c.limit, float64(g.Limit))
		gauge(c.callP50, g.CallP50.Seconds())
		gauge(c.callP90, g.CallP90.Seconds())
		gauge(c.callP99, g.CallP99.Seconds())
		gauge(c.callBest, g.CallBest.Seconds())
	}
	if c.cfg.Clients != nil {
		for transport, n := range c.cfg.Clients() {
			gauge(c.clients, float64(n), transport)
		}
	}
	if c.cfg.Fanout != nil {
		counter(c.skipped, float64(c.cfg.Fanout.Skipped()))
		counter(c.slow, float64(c.cfg.Fanout.SlowDisconnects()))
	}
	if c.cfg.Punctuality != nil {
		j := c.cfg.Punctuality.Snapshot().TickJitter
		counter(c.jitterSamples, float64(j.Count))
		// Before the first tick there is nothing to digest; a zero would
		// claim perfect punctuality, so the quantiles are left out.
		if j.Count > 0 {
			// The snapshot is in milliseconds; Prometheus wants seconds.
			for i, v := range [...]float64{j.P50, j.P90, j.P99} {
				gauge(c.jitter[i], v/1000)
			}
			gauge(c.jitterMax, j.Max/1000)
		}
	}
	if c.cfg.Cluster != nil {
		c.cluster.collect(ch, c.cfg.Cluster)
	}
}
