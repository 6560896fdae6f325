// Package event defines the unit of work that flows through ontime and the
// single final outcome every event ends with.
package event

import (
	"time"

	"github.com/google/uuid"
)

// Status is the final outcome of an event. Every event ends in exactly one.
type Status string

// The three outcomes. A result counts only if it was produced before its
// deadline: anything else is late, and work that was never started is dropped.
const (
	OnTime  Status = "on-time"
	Late    Status = "late"
	Dropped Status = "dropped"
)

// Reason says why an event was dropped, or why it was late when that is
// worth telling apart (cancelled at its deadline versus finished after it).
type Reason string

// Known reasons. Drops are explicit and always carry one of these.
const (
	// ReasonNone is the zero Reason, for events that need no explanation.
	ReasonNone Reason = ""
	// QueueFull: the bounded queue had no room when the event arrived.
	QueueFull Reason = "queue-full"
	// Expired: the deadline passed before the event could start.
	Expired Reason = "expired"
	// Shed: under contention (more events waiting than workers free), the
	// event's chance of finishing in time, for the worker time it would
	// take, was too low next to the events waiting with it; the Result's
	// Detail says so in numbers. An event is never shed while a worker
	// could start it at once.
	Shed Reason = "shed"
	// Shutdown: the pipeline stopped before the event could be processed.
	Shutdown Reason = "shutdown"
	// Failed: the processor returned an error that was not the deadline.
	Failed Reason = "failed"
	// Cancelled: a late event whose work was cancelled at its deadline.
	Cancelled Reason = "cancelled"
	// BusUnavailable (cluster mode): the event could not be published on
	// the event bus because the NATS connection is closed, draining, or
	// reconnecting with its reconnect buffer full, or because the node had
	// no peer and its own consumer was not subscribed (see
	// cluster.BusConfig.PublishOnly).
	BusUnavailable Reason = "bus-unavailable"
	// NodeLost (cluster mode): the event was in flight on a node that
	// stopped reporting and was written off, or was sent to it and never
	// taken; its outcome will never be known to the cluster.
	NodeLost Reason = "node-lost"
	// Bus (cluster mode): the event was published on the event bus but no
	// node admitted it: NATS lost it between two nodes (found missing on
	// its numbered route and counted by the node it was sent to), or it
	// was sent to a node that had stopped taking events because it was
	// leaving (counted by its sender). See cluster.EventBus.
	Bus Reason = "bus"
)

// Event is one unit of work. Time is part of the data: an event is created at
// CreatedAt (its intended time, for generated events) and is worth something
// only until CreatedAt+Deadline, however long it waited in queues.
type Event struct {
	ID        uuid.UUID
	Source    string
	CreatedAt time.Time
	Deadline  time.Duration
	// Work is the simulated work this event asks for; zero means the
	// processor's default.
	Work time.Duration
	// Payload is the producer's JSON, carried unchanged to the result
	// (at most 4 KiB, validated at ingest); nil for generated events.
	Payload []byte
	// Origin is, in cluster mode, the id of the node that published the
	// event on the event bus, where its outcome is routed back to; empty
	// for an event that never crossed the bus.
	Origin string
}

// DeadlineAt is the absolute instant after which a result no longer counts.
func (e Event) DeadlineAt() time.Time { return e.CreatedAt.Add(e.Deadline) }

// Result is an event with its final outcome.
type Result struct {
	Event
	ProcessedAt time.Time
	Status      Status
	Reason      Reason
	// Output is what the event's worker answered: JSON of at most
	// MaxOutput bytes, nil when it answered nothing (and always for
	// simulated work).
	Output []byte
	// Failure is the kind of failure of an event dropped as Failed
	// ("http-503", "connect", "reset", "bad-response", "result-too-large",
	// ...): short, stable, fit for a metric label. Empty otherwise.
	Failure string
	// Detail says in numbers why a shed event was shed ("needs ~34ms,
	// 12ms left: 8% chance in time; 14 waiting, 8 busy"). Empty otherwise.
	Detail string
}

// MaxOutput bounds a worker's answer kept as an event's Output: larger
// answers fail the event (result-too-large) rather than travel in batches.
const MaxOutput = 4 << 10

// Failure is the error a processor returns to say what kind of failure
// ended an event; the pipeline records Kind as the Result's Failure. Any
// other error (but the deadline's) is recorded with the kind "error".
type Failure struct {
	// Kind is the Result's Failure.
	Kind string
	// Err is the cause, for logs.
	Err error
}

func (f *Failure) Error() string {
	if f.Err == nil {
		return f.Kind
	}
	return f.Kind + ": " + f.Err.Error()
}

// Unwrap returns the cause.
func (f *Failure) Unwrap() error { return f.Err }

// Latency is the time from creation to the final outcome, queue wait included.
func (r Result) Latency() time.Duration { return r.ProcessedAt.Sub(r.CreatedAt) }

// Processed reports whether the event's work ran to an outcome (on time or
// late), as opposed to being dropped before or instead of processing.
func (r Result) Processed() bool { return r.Status == OnTime || r.Status == Late }

// Reasons returns every known Reason, ReasonNone first, in the order they
// are declared. Whatever keeps a closed set of reasons (metric labels, say)
// derives it from here, so a new reason is added in one place.
func Reasons() []Reason {
	return []Reason{ReasonNone, QueueFull, Expired, Shed, Shutdown, Failed, Cancelled, BusUnavailable, NodeLost, Bus}
}
