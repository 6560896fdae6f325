// Package batch defines the batch: everything that happened during one tick,
// as published to every client. Its JSON is the wire contract shared by the
// SSE stream, the WebSocket and the React dashboard; fields are added over
// time, never renamed.
package batch

import (
	"bytes"

	json "github.com/go-json-experiment/json/v1"

	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/stats"
)

// Batch is one tick's worth of results. Times are Unix milliseconds.
type Batch struct {
	// Seq numbers batches from 1, one per tick, without gaps.
	Seq uint64 `json:"seq"`
	// At is when the batch was made.
	At int64 `json:"at"`
	// StartedAt is when this server started; a change tells a client that
	// seq restarted.
	StartedAt int64 `json:"startedAt"`
	// Epoch names the numbering Seq counts in: the stream position of this
	// batch is "<epoch>-<seq>" (the SSE id, the WebSocket ?since=). On a
	// single node it is StartedAt; in cluster mode, where Seq is the
	// wall-clock tick index, the tick in milliseconds. Set by the hub when
	// the batch is published.
	Epoch int64 `json:"epoch"`
	// TickMs is the coalescer's tick.
	TickMs int64 `json:"tickMs"`
	// Counts are the events received and finished during this tick.
	Counts stats.Counts `json:"counts"`
	// Totals are the counts since start, with the events in flight.
	Totals stats.Totals `json:"totals"`
	// Latency digests the events processed (on time or late) this tick.
	Latency stats.Summary `json:"latency"`
	// Health is the pipeline's load when the batch was made.
	Health Health `json:"health"`
	// Events are at most the newest MaxEvents results of this tick, oldest
	// first (in the order they finished).
	Events []Event `json:"events"`
	// Config is the configuration in force when the batch was made.
	Config *config.Settings `json:"config,omitempty"`
	// Nodes lists the cluster's nodes (cluster mode only): the batch is
	// then the merge of every node's tick, the same on every node.
	Nodes []NodeStatus `json:"nodes,omitempty"`
}

// NodeStatus is one node as the cluster sees it, listed in every cluster
// batch.
type NodeStatus struct {
	ID string `json:"id"`
	// Status is NodeJoining, NodeLost, NodeLeft, or the node's health verdict (ok,
	// degraded, overloaded).
	Status string `json:"status"`
	// StartedAt identifies the node's current incarnation (unix ms).
	StartedAt int64 `json:"startedAt"`
	// LastSeen is when its latest partial arrived, on this node's clock
	// (unix ms).
	LastSeen int64 `json:"lastSeen"`
	// SkewMs estimates how far the node's clock is ahead of this node's
	// (negative: behind). Each partial gives the node's clock at publish
	// minus ours at receipt, which is the skew less the transit time; the
	// estimate is the largest of the recent ones, the one with the least
	// transit in it.
	SkewMs float64 `json:"skewMs"`
	// Health is the node's load in its latest merged partial.
	Health Health `json:"health"`
}

// Node statuses besides the health verdicts.
const (
	// NodeJoining: the node's first partial arrived; it counts from the
	// next tick on.
	NodeJoining = "joining"
	// NodeLost: the node has not reported for a few ticks.
	NodeLost = "lost"
	// NodeLeft: the node stopped on purpose and said so; nothing of it is
	// lost.
	NodeLeft = "left"
)

// MaxEvents bounds Batch.Events.
const MaxEvents = 50

// Health is the pipeline's load and a verdict on it.
type Health struct {
	QueueDepth int `json:"queueDepth"`
	QueueCap   int `json:"queueCap"`
	// QueueBytes is the bytes of the events waiting (payloads plus a fixed
	// overhead per event); QueueBytesCap is the queue's byte budget, which
	// bounds it as QueueCap bounds QueueDepth.
	QueueBytes    int64  `json:"queueBytes"`
	QueueBytesCap int64  `json:"queueBytesCap"`
	Workers       int    `json:"workers"`
	Busy          int    `json:"busy"`
	Status        Status `json:"status"`
	// Cause says why Status is not ok, in words: one or more causes
	// (the Cause constants, some followed by drop reasons or a failure
	// kind), overload first, joined by "; ". Empty when ok.
	Cause string `json:"cause"`
	// TickJitterMs is how late this batch was published: from the instant
	// its tick was due to the batch being handed to the publisher (the
	// timer's delay and the time taken to cut the batch).
	TickJitterMs float64 `json:"tickJitterMs"`
	// ScheduleErrorMs is the generator's largest schedule error during the
	// tick: how late it woke after an event was due.
	ScheduleErrorMs float64 `json:"scheduleErrorMs"`
	// Limit is the bound on events processed at once: the adaptive
	// concurrency limit, or Workers when concurrency is fixed (less for
	// CPU-bound work, bounded by the cores).
	Limit int `json:"limit"`
	// CallP50Ms, CallP90Ms and CallP99Ms digest how long the processor's
	// calls took, as the pipeline learned them for admission (the last 512
	// calls of the last 10 s; a call cut at its deadline counts as lasting
	// at least that long; for the http processor: the worker's latency as
	// ontime sees it); 0 when none completed.
	CallP50Ms float64 `json:"callP50Ms"`
	CallP90Ms float64 `json:"callP90Ms"`
	CallP99Ms float64 `json:"callP99Ms"`
	// CallBestMs is the best call latency learned: the adaptive limit's
	// reference, or the least latency of the last 2 s when fixed.
	CallBestMs float64 `json:"callBestMs"`
}

// Status is a one-word verdict on the pipeline's health.
type Status string

// Health verdicts.
const (
	// OK: everything finished this tick was on time and the queue is short.
	OK Status = "ok"
	// Degraded: some events were late or failed, events were dropped
	// without contention, or the queue is filling.
	Degraded Status = "degraded"
	// Overloaded: contention: events were dropped for want of capacity
	// while the processor was busy, or the queue is nearly full.
	Overloaded Status = "overloaded"
)

// Causes of a verdict (Health.Cause). Those ending in ": " are followed by
// the drop reasons, most frequent first ("shed, queue-full"), or by the
// most frequent failure kind ("http-500").
const (
	// CauseQueueFull (overloaded): the queue holds 90 % of its events or
	// bytes.
	CauseQueueFull = "queue nearly full"
	// CauseDropping (overloaded): events dropped as queue-full, shed or
	// expired while every slot under the limit was busy or events waited.
	CauseDropping = "dropping under load: "
	// CauseDroppingIdle (degraded): shed or expired with a slot free and
	// nothing waiting: the events could not have made their deadline, but
	// the processor was not the bottleneck.
	CauseDroppingIdle = "dropped with workers free: "
	// CauseFailing (degraded): the worker's calls failed.
	CauseFailing = "worker failing: "
	// CauseDropped (degraded): events dropped for another reason
	// (shutdown; in a cluster bus-unavailable, bus). A lost node is
	// CauseNodeLost, not a drop reason here.
	CauseDropped = "dropped: "
	// CauseLate (degraded): events finished after their deadline.
	CauseLate = "late events"
	// CauseQueueFilling (degraded): the queue holds half of its events or
	// bytes.
	CauseQueueFilling = "queue filling"
	// CauseNodeLost (degraded, cluster batches): a node stopped reporting.
	CauseNodeLost = "node lost: "
)

// Event is a result as it appears on the wire.
type Event struct {
	ID          string       `json:"id"`
	Source      string       `json:"source"`
	CreatedAt   int64        `json:"createdAt"`
	DeadlineMs  float64      `json:"deadlineMs"`
	ProcessedAt int64        `json:"processedAt"`
	LatencyMs   float64      `json:"latencyMs"`
	Status      event.Status `json:"status"`
	Reason      event.Reason `json:"reason,omitempty"`
	// Payload is the producer's JSON for ingested events.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Result is what the event's worker answered (JSON, at most 4 KiB),
	// when it answered something.
	Result json.RawMessage `json:"result,omitempty"`
	// Failure is the kind of failure of an event dropped as failed
	// ("http-503", "connect", "reset", "bad-response", ...).
	Failure string `json:"failure,omitempty"`
	// Detail says in numbers why a shed event was shed: "needs ~34ms,
	// 12ms left: 8% chance in time; 14 waiting, 8 busy".
	Detail string `json:"detail,omitempty"`
}

// EventOf converts a result to its wire form.
func EventOf(r event.Result) Event {
	return Event{
		ID:          r.ID.String(),
		Source:      r.Source,
		CreatedAt:   r.CreatedAt.UnixMilli(),
		DeadlineMs:  stats.Millis(r.Deadline),
		ProcessedAt: r.ProcessedAt.UnixMilli(),
		LatencyMs:   stats.Millis(r.Latency()),
		Status:      r.Status,
		Reason:      r.Reason,
		Payload:     r.Payload,
		Result:      r.Output,
		Failure:     r.Failure,
		Detail:      r.Detail,
	}
}

// JSON encodes b on one line, as every transport sends it.
func JSON(b *Batch) ([]byte, error) { return encode(b) }

// encode is json.Marshal without HTML escaping: the JSON is never put in an
// HTML document, and escaping made a payload of 4 KiB of '<' 24 KiB on the
// wire (\u003c). The bytes are copied to a slice of their exact size,
// since the hub keeps them for its history and counts them by capacity.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	data := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	out := make([]byte, len(data))
	copy(out, data)
	return out, nil
}

// summary is a batch without its events: the outer Events field, nil and
// omitted, shadows the embedded one.
type summary struct {
	*Batch
	Events []Event `json:"events,omitempty"`
}

// SummaryJSON encodes b without its events, for light clients.
func SummaryJSON(b *Batch) ([]byte, error) { return encode(summary{Batch: b}) }
