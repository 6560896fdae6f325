package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/cluster"
)

// ClusterSource reports the counters of cluster mode: the node's event bus
// (events shared through NATS) and its Merger (per-tick partials merged into
// the cluster's batches). The node implements it when it runs with NATS.
type ClusterSource interface {
	ClusterStats() (cluster.BusStats, cluster.MergerStats)
}

// clusterDescs describes cluster mode's metrics; the scrape collector
// exports them when Config.Cluster is set.
type clusterDescs struct {
	published, unpublished, consumed, refused, slowDrops, consumers *prometheus.Desc
	malformed                                                       *prometheus.Desc
	partialsPublished, partialsFailed, partialsReceived             *prometheus.Desc
	partialsDiscarded, partialsLate, emitted, skipped               *prometheus.Desc
	nodes                                                           *prometheus.Desc
	// The accounting of routed events (cluster.BusStats).
	routeLost, noResponders, unconfirmed *prometheus.Desc
}

func newClusterDescs(add func(name, help string, labels ...string) *prometheus.Desc) *clusterDescs {
	c := &clusterDescs{}
	c.published = add("ontime_cluster_events_published_total", "Events this node's generator and ingest published to the cluster's event subject.")
	c.unpublished = add("ontime_cluster_events_publish_failures_total", "Events that could not be published (NATS refused them); they count as dropped.")
	c.consumed = add("ontime_cluster_events_consumed_total", "Events this node took from the cluster's queue group for its own pipeline.")
	c.refused = add("ontime_cluster_events_refused_total", "Consumed events the local pipeline did not queue (recorded as dropped, with their reason).")
	c.slowDrops = add("ontime_cluster_slow_consumer_drops_total", "Events NATS dropped because this node's pending buffer was full (counted when a consumer stops).")
	c.consumers = add("ontime_cluster_consumers", "Event consumers running on this node.")
	c.malformed = add("ontime_cluster_messages_malformed_total", "Messages from NATS that did not decode, by kind (event or partial).", "kind")
	c.partialsPublished = add("ontime_cluster_partials_published_total", "Per-tick partials this node published for the others to merge.")
	c.partialsFailed = add("ontime_cluster_partials_publish_failures_total", "Per-tick partials NATS refused.")
	c.partialsReceived = add("ontime_cluster_partials_received_total", "Per-tick partials received from other nodes.")
	c.partialsDiscarded = add("ontime_cluster_partials_discarded_total", "Partials not merged, by reason: stale (an older incarnation of a node, or beyond the queue bound), rejected (another tick length, or a clock far ahead), local (this node's own, not taken in time).", "reason")
	c.partialsLate = add("ontime_cluster_partials_late_total", "Partials that missed their tick's grace period and were merged into a later tick.")
	c.emitted = add("ontime_cluster_batches_emitted_total", "Cluster batches this node merged and published to its clients.")
	c.skipped = add("ontime_cluster_ticks_skipped_total", "Ticks never emitted because merging was held up for longer than 100 ticks.")
	c.nodes = add("ontime_cluster_nodes", "Nodes in the node list of this node's latest cluster batch, by status: joining, ok, degraded, overloaded (members, by health), lost, left. Absent until the first cluster batch is merged.", "status")
	c.routeLost = add("ontime_cluster_events_route_lost_total", "Routed events this node counted as dropped, by how: missing (sent to this node, lost by NATS, found from their route's numbers), orphan (sent by this node to a node that ended without taking them), abandoned and stale (delivered to a consumer that stopped, or to an earlier incarnation: their senders count them).", "how")
	c.noResponders = add("ontime_cluster_events_no_responders_total", "Events NATS said nobody was subscribed to: their destination had gone (they are counted when it is retired).")
	c.unconfirmed = add("ontime_cluster_syncs_unconfirmed_total", "Ingest requests answered without NATS confirming their events (the connection was down or the confirmation timed out).")
	return c
}

// collect reads src once and sends every cluster metric.
func (c *clusterDescs) collect(ch chan<- prometheus.Metric, src ClusterSource) {
	bus, m := src.ClusterStats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(c.published, bus.Published)
	counter(c.unpublished, bus.Unpublished)
	counter(c.consumed, bus.Consumed)
	counter(c.refused, bus.Refused)
	counter(c.slowDrops, bus.SlowConsumerDrops)
	ch <- prometheus.MustNewConstMetric(c.consumers, prometheus.GaugeValue, float64(bus.Consumers))
	counter(c.malformed, bus.Malformed, "event")
	counter(c.malformed, m.Malformed, "partial")
	counter(c.partialsPublished, m.Published)
	counter(c.partialsFailed, m.PublishErrors)
	counter(c.partialsReceived, m.Received)
	counter(c.partialsDiscarded, m.Stale, "stale")
	counter(c.partialsDiscarded, m.Rejected, "rejected")
	counter(c.partialsDiscarded, m.LocalDrops, "local")
	counter(c.partialsLate, m.Late)
	counter(c.routeLost, bus.Missing, "missing")
	counter(c.routeLost, bus.Orphans, "orphan")
	counter(c.routeLost, bus.Abandoned, "abandoned")
	counter(c.routeLost, bus.Stale, "stale")
	counter(c.noResponders, bus.NoResponders)
	counter(c.unconfirmed, bus.Unconfirmed)
	counter(c.emitted, m.Emitted)
	counter(c.skipped, m.Skipped)
	// Before the first merge there is no node list: zeros would say the
	// cluster has no node, and a lost count that then rises would read as
	// a node just lost.
	if n := m.Nodes; n != nil {
		for _, s := range [...]struct {
			status string
			n      int
		}{
			{batch.NodeJoining, n.Joining}, {string(batch.OK), n.OK}, {string(batch.Degraded), n.Degraded},
			{string(batch.Overloaded), n.Overloaded}, {batch.NodeLost, n.Lost}, {batch.NodeLeft, n.Left},
		} {
			ch <- prometheus.MustNewConstMetric(c.nodes, prometheus.GaugeValue, float64(s.n), s.status)
		}
	}
}
