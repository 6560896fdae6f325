package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ontime-rt/ontime/internal/event"
)

// Submitter takes events without blocking and reports whether each was
// queued; *pipeline.Pipeline implements it.
type Submitter interface {
	Submit(ev event.Event) (bool, event.Reason)
}

// Recorder is told about the events Submit could not publish, so they are
// counted like any other drop; pipeline.Recorder has the same methods.
type Recorder interface {
	Admit(ev event.Event)
	Finish(r event.Result)
}

// BusConfig configures an EventBus. Zero values take the defaults.
type BusConfig struct {
	// Subject carries the events. Default "ontime.events".
	Subject string
	// Queue is the queue group of the consumers: each event goes to one
	// consumer of the group. Default "ontime.workers".
	Queue string
	// PendingMsgs and PendingBytes bound the events a consumer holds
	// before its handler takes them; beyond them NATS drops events (a slow
	// consumer) and Stats counts them. Negative means no limit. Default
	// 65536 events and 64 MiB, the client's defaults: the handler only
	// decodes and submits, which never blocks, so the buffer stays short.
	PendingMsgs, PendingBytes int
	// DrainTimeout bounds how long Consume, once its context ends, keeps
	// handing over the events already delivered to it. Default 2s.
	DrainTimeout time.Duration
	// Recorder, when set, records every event Submit could not publish as
	// admitted and dropped (event.BusUnavailable), as the pipeline does
	// with its own drops, so such events still count in the node's totals.
	Recorder Recorder
	// Now stamps those drops. Default time.Now.
	Now func() time.Time
	// Origin is this node's id, carried by every event Submit publishes
	// (unless it has one already) so that its outcome can be routed back
	// here (see OutcomeRouter). Default none: outcomes are not routed.
	Origin string
}

func (c BusConfig) withDefaults() BusConfig {
	if c.Subject == "" {
		c.Subject = "ontime.events"
	}
	if c.Queue == "" {
		c.Queue = "ontime.workers"
	}
	if c.PendingMsgs == 0 {
		c.PendingMsgs = nats.DefaultSubPendingMsgsLimit
	}
	if c.PendingBytes == 0 {
		c.PendingBytes = nats.DefaultSubPendingBytesLimit
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 2 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// EventBus publishes events to every node's workers over core NATS and
// consumes its share of them. It is safe for concurrent use.
type EventBus struct {
	nc  *nats.Conn
	cfg BusConfig
	buf sync.Pool // *[]byte encoding buffers

	published  atomic.Uint64
	unpub      atomic.Uint64
	consumed   atomic.Uint64
	refused    atomic.Uint64
	malformed  atomic.Uint64
	slowDrops  atomic.Uint64
	consumers  atomic.Int64
	lastPubErr atomic.Pointer[string]
}

// NewEventBus returns a bus on nc. The connection stays the caller's: the
// bus neither drains nor closes it.
func NewEventBus(nc *nats.Conn, cfg BusConfig) (*EventBus, error) {
	if nc == nil {
		return nil, errors.New("cluster: nil NATS connection")
	}
	b := &EventBus{nc: nc, cfg: cfg.withDefaults()}
	b.buf.New = func() any { s := make([]byte, 0, 256); return &s }
	return b, nil
}

// Submit publishes ev. It never waits for a consumer: the client appends the
// message to its outgoing buffer and a background flusher writes it (it can
// only block if the socket itself stays full, which the connection's
// FlusherTimeout bounds). It reports false with event.BusUnavailable when
// the connection cannot take the event; the event is then recorded as
// dropped if a Recorder was configured.
func (b *EventBus) Submit(ev event.Event) (bool, event.Reason) {
	if ev.Origin == "" {
		ev.Origin = b.cfg.Origin
	}
	p := b.buf.Get().(*[]byte)
	data := AppendEvent((*p)[:0], ev)
	// Publish copies data into the connection's buffer before returning.
	err := b.nc.Publish(b.cfg.Subject, data)
	*p = data
	b.buf.Put(p)
	if err != nil {
		b.unpub.Add(1)
		msg := err.Error()
		b.lastPubErr.Store(&msg)
		if r := b.cfg.Recorder; r != nil {
			r.Admit(ev)
			r.Finish(event.Result{Event: ev, ProcessedAt: b.cfg.Now(), Status: event.Dropped, Reason: event.BusUnavailable})
		}
		return false, event.BusUnavailable
	}
	b.published.Add(1)
	return true, event.ReasonNone
}

// Consume joins the queue group and submits each event it is given to sub,
// until ctx ends or the connection closes. Messages that do not decode are
// counted and skipped. When ctx ends it drains: the events NATS already
// delivered to this consumer are still submitted (for at most DrainTimeout),
// so stop Consume before the pipeline. sub is never called after Consume
// returns. Consume may run several times at once, on one bus or several, to
// spread decoding over more goroutines.
func (b *EventBus) Consume(ctx context.Context, sub Submitter) error {
	if sub == nil {
		return errors.New("cluster: nil Submitter")
	}
	// gate lets Consume wait out a handler that is running when it stops.
	var gate sync.RWMutex
	stopped := false
	s, err := b.nc.QueueSubscribe(b.cfg.Subject, b.cfg.Queue, func(m *nats.Msg) {
		gate.RLock()
		defer gate.RUnlock()
		if stopped {
			return
		}
		ev, err := DecodeEvent(m.Data)
		if err != nil {
			b.malformed.Add(1)
			return
		}
		b.consumed.Add(1)
		if ok, _ := sub.Submit(ev); !ok {
			b.refused.Add(1)
		}
	})
	if err != nil {
		return fmt.Errorf("cluster: subscribe %s: %w", b.cfg.Subject, err)
	}
	if err := s.SetPendingLimits(b.cfg.PendingMsgs, b.cfg.PendingBytes); err != nil {
		_ = s.Unsubscribe()
		return fmt.Errorf("cluster: pending limits: %w", err)
	}
	b.consumers.Add(1)
	defer b.consumers.Add(-1)
	closed := s.StatusChanged(nats.SubscriptionClosed)
	// Closing the connection closes the subscription without telling it.
	connClosed := b.nc.StatusChanged(nats.CLOSED)
	defer b.nc.RemoveStatusListener(connClosed)
	var result error
	if b.nc.IsClosed() {
		// Closed before the listener was registered.
		connClosed <- nats.CLOSED
	}
	select {
	case <-connClosed:
		result = errors.New("cluster: event subscription closed (connection closed)")
	case <-ctx.Done():
		b.countDrops(s)
		if err := s.Drain(); err == nil {
			t := time.NewTimer(b.cfg.DrainTimeout)
			select {
			case <-closed:
			case <-t.C:
			}
			t.Stop()
		}
	case <-closed:
		result = errors.New("cluster: event subscription closed")
	}
	_ = s.Unsubscribe() // a no-op once drained
	gate.Lock()
	stopped = true
	gate.Unlock()
	return result
}

// countDrops adds the events NATS dropped for s to the stats. It must be
// called while s is still valid.
func (b *EventBus) countDrops(s *nats.Subscription) {
	if n, err := s.Dropped(); err == nil && n > 0 {
		b.slowDrops.Add(uint64(n))
	}
}

// BusStats counts what a bus did since it was made.
type BusStats struct {
	// Published events, and events Submit could not publish.
	Published, Unpublished uint64
	// Consumed events handed to the local Submitter; Refused of them it
	// did not queue (it recorded them as dropped).
	Consumed, Refused uint64
	// Malformed messages skipped.
	Malformed uint64
	// SlowConsumerDrops are events NATS dropped because a consumer's
	// pending buffer was full, counted when a Consume ends.
	SlowConsumerDrops uint64
	// Consumers running now.
	Consumers int
	// LastPublishError is the last error Publish returned, if any.
	LastPublishError string
}

// Stats returns the bus's counters.
func (b *EventBus) Stats() BusStats {
	s := BusStats{
		Published: b.published.Load(), Unpublished: b.unpub.Load(),
		Consumed: b.consumed.Load(), Refused: b.refused.Load(),
		Malformed: b.malformed.Load(), SlowConsumerDrops: b.slowDrops.Load(),
		Consumers: int(b.consumers.Load()),
	}
	if p := b.lastPubErr.Load(); p != nil {
		s.LastPublishError = *p
	}
	return s
}
