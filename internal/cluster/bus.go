package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
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
	// handing over the events already delivered to it; those still
	// pending then are dropped (event.Bus). Default 2s.
	DrainTimeout time.Duration
	// Recorder, when set, records every event Submit could not publish as
	// admitted and dropped (event.BusUnavailable), as the pipeline does
	// with its own drops, so such events still count in the node's totals;
	// and every event published that this node's consumer lost (a slow
	// consumer's drops, undecodable messages, events left when Consume
	// stopped) as admitted and dropped (event.Bus), so the cluster's totals
	// count them.
	Recorder Recorder
	// Now stamps those drops. Default time.Now.
	Now func() time.Time
	// Origin is this node's id, carried by every event Submit publishes
	// (unless it has one already) so that its outcome can be routed back
	// here (see OutcomeRouter). Default none: outcomes are not routed.
	Origin string
	// PublishOnly lets Submit publish while none of this bus's own
	// consumers is subscribed, for a bus whose events are consumed
	// elsewhere. By default Submit then refuses events
	// (event.BusUnavailable): core NATS drops, without a trace, an event
	// published while no consumer at all is subscribed, and this bus's own
	// consumer is the one it can vouch for (before Consume has subscribed,
	// once it has begun to stop, or after it ended).
	PublishOnly bool
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

	published atomic.Uint64
	unpub     atomic.Uint64
	consumed  atomic.Uint64
	refused   atomic.Uint64
	malformed atomic.Uint64
	slowDrops atomic.Uint64
	abandoned atomic.Uint64

	// drainTimedOut, when set (by tests), is called when a Consume's drain
	// times out and what is still pending is lost.
	drainTimedOut func()
	consumers     atomic.Int64
	lastPubErr    atomic.Pointer[string]

	// subscribed counts the consumers whose subscription takes events
	// (subscribed, not yet draining). Submit holds subMu's read lock from
	// reading it to its publish, and Consume its write lock to change it:
	// an event is published only after a consumer's subscription and
	// before its unsubscription, in the connection's order, which the
	// server keeps.
	subMu      sync.RWMutex
	subscribed int
	consuming  chan struct{} // closed when a consumer first subscribes
	startOnce  sync.Once
}

// NewEventBus returns a bus on nc. The connection stays the caller's: the
// bus neither drains nor closes it.
func NewEventBus(nc *nats.Conn, cfg BusConfig) (*EventBus, error) {
	if nc == nil {
		return nil, errors.New("cluster: nil NATS connection")
	}
	b := &EventBus{nc: nc, cfg: cfg.withDefaults(), consuming: make(chan struct{})}
	b.buf.New = func() any { s := make([]byte, 0, 256); return &s }
	return b, nil
}

// errNoConsumer is Submit's error while none of the bus's own consumers is
// subscribed (see BusConfig.PublishOnly).
var errNoConsumer = errors.New("cluster: no consumer of this node is subscribed to the event subject")

// Submit publishes ev. It never waits for a consumer: the client appends the
// message to its outgoing buffer and a background flusher writes it (it can
// only block if the socket itself stays full, which the connection's
// FlusherTimeout bounds). It reports false with event.BusUnavailable when
// the connection cannot take the event, or when none of the bus's own
// consumers is subscribed (unless PublishOnly); the event is then recorded
// as dropped if a Recorder was configured.
func (b *EventBus) Submit(ev event.Event) (bool, event.Reason) {
	if ev.Origin == "" {
		ev.Origin = b.cfg.Origin
	}
	p := b.buf.Get().(*[]byte)
	data := AppendEvent((*p)[:0], ev)
	var err error
	if b.cfg.PublishOnly {
		// Publish copies data into the connection's buffer before
		// returning.
		err = b.nc.Publish(b.cfg.Subject, data)
	} else {
		b.subMu.RLock()
		if b.subscribed > 0 {
			err = b.nc.Publish(b.cfg.Subject, data)
		} else {
			err = errNoConsumer
		}
		b.subMu.RUnlock()
	}
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
	// Once stopped, the handler records what it is still given as lost
	// instead of submitting it; once gone, it leaves it to Consume, which
	// counts what is pending.
	var gate sync.RWMutex
	var stopped atomic.Bool // not under gate: a handler may be held in Submit
	gone := false
	s, err := b.nc.QueueSubscribe(b.cfg.Subject, b.cfg.Queue, func(m *nats.Msg) {
		gate.RLock()
		defer gate.RUnlock()
		if gone {
			return
		}
		ev, err := DecodeEvent(m.Data)
		if err != nil {
			b.malformed.Add(1)
			b.lose(nil, 1)
			return
		}
		if stopped.Load() {
			b.abandoned.Add(1)
			b.lose(&ev, 1)
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
	// The subscription is in the connection's buffer: what Submit
	// publishes from now on reaches the server after it.
	taking := b.taking(true)
	closed := s.StatusChanged(nats.SubscriptionClosed)
	// Closing the connection closes the subscription without telling it.
	connClosed := b.nc.StatusChanged(nats.CLOSED)
	defer b.nc.RemoveStatusListener(connClosed)
	var result error
	if b.nc.IsClosed() {
		// Closed before the listener was registered.
		connClosed <- nats.CLOSED
	}
	// NATS counts a slow consumer's drops; they are recorded as they
	// happen, not only at the end.
	poll := time.NewTicker(slowDropPoll)
	defer poll.Stop()
	var seenDrops int
wait:
	for {
		select {
		case <-poll.C:
			seenDrops = b.countDrops(s, seenDrops)
			continue
		case <-connClosed:
			result = errors.New("cluster: event subscription closed (connection closed)")
		case <-ctx.Done():
			seenDrops = b.countDrops(s, seenDrops)
			// Before the unsubscription goes out: an event Submit
			// published after it could find no consumer at all.
			taking = b.taking(false)
			if err := s.Drain(); err == nil {
				t := time.NewTimer(b.cfg.DrainTimeout)
				select {
				case <-closed:
				case <-t.C:
					// What is still pending is lost: record it, by its
					// event while the handler takes it, then by count.
					stopped.Store(true)
					if b.drainTimedOut != nil {
						b.drainTimedOut()
					}
					t.Reset(b.cfg.DrainTimeout)
					select {
					case <-closed:
					case <-t.C:
					}
				}
				t.Stop()
			}
		case <-closed:
			result = errors.New("cluster: event subscription closed")
		}
		break wait
	}
	if taking {
		b.taking(false) // the subscription closed
	}
	gate.Lock()
	gone = true
	if n, _, err := s.Pending(); err == nil && n > 0 {
		b.abandoned.Add(uint64(n))
		b.lose(nil, n)
	}
	gate.Unlock()
	_ = s.Unsubscribe() // a no-op once drained
	return result
}

// taking counts a consumer in (on) or out of the subscribed ones, and
// returns on.
func (b *EventBus) taking(on bool) bool {
	b.subMu.Lock()
	defer b.subMu.Unlock()
	if on {
		b.subscribed++
		b.startOnce.Do(func() { close(b.consuming) })
	} else {
		b.subscribed--
	}
	return on
}

// Consuming is closed once a consumer of the bus has subscribed (the first
// time): from then on, Submit publishes while one is subscribed.
func (b *EventBus) Consuming() <-chan struct{} { return b.consuming }

// slowDropPoll is how often Consume reads a slow consumer's drop count.
const slowDropPoll = 100 * time.Millisecond

// countDrops records the events NATS dropped for s since it had counted
// seen, and returns the count now. It must be called while s is valid.
func (b *EventBus) countDrops(s *nats.Subscription, seen int) int {
	n, err := s.Dropped()
	if err != nil || n <= seen {
		return seen
	}
	b.slowDrops.Add(uint64(n - seen))
	b.lose(nil, n-seen)
	return n
}

// lose records n events published that this node's consumer lost as
// admitted and dropped (event.Bus): ev when it is known, otherwise events
// standing for the ones NATS or the decoder lost, with ids of their own.
func (b *EventBus) lose(ev *event.Event, n int) {
	r := b.cfg.Recorder
	if r == nil {
		return
	}
	now := b.cfg.Now()
	for range n {
		e := event.Event{ID: uuid.New(), Source: lostSource, CreatedAt: now}
		if ev != nil {
			e = *ev
		}
		r.Admit(e)
		r.Finish(event.Result{Event: e, ProcessedAt: now, Status: event.Dropped, Reason: event.Bus})
	}
}

// lostSource is the Source of the events recorded for messages the bus lost
// without knowing their event.
const lostSource = "bus"

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
	// pending buffer was full.
	SlowConsumerDrops uint64
	// Abandoned are events delivered to a consumer that stopped before
	// taking them (its drain timed out).
	Abandoned uint64
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
		Malformed: b.malformed.Load(), SlowConsumerDrops: b.slowDrops.Load(), Abandoned: b.abandoned.Load(),
		Consumers: int(b.consumers.Load()),
	}
	if p := b.lastPubErr.Load(); p != nil {
		s.LastPublishError = *p
	}
	return s
}
