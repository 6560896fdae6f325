package cluster

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/event"
)

// blocking is a Submitter that holds the first event until released, so
// that what is published after it piles up in the consumer's buffer.
type blocking struct {
	entered, release chan struct{}
	once             sync.Once
	mu               sync.Mutex
	n                int
}

// heldConsumer is b.Consume running with a blocking submitter, and a hook
// that tells when its drain timed out.
type heldConsumer struct {
	sub      *blocking
	cancel   context.CancelFunc
	timedOut chan struct{}
	done     chan error
}

// consumeHeld starts b consuming into a blocking submitter; the consumer
// is stopped at the end of the test at the latest.
func consumeHeld(t *testing.T, b *EventBus) *heldConsumer {
	t.Helper()
	h := &heldConsumer{sub: newBlocking(), timedOut: make(chan struct{}), done: make(chan error, 1)}
	b.drainTimedOut = func() { close(h.timedOut) }
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	t.Cleanup(cancel)
	go func() { h.done <- b.Consume(ctx, h.sub) }()
	return h
}

// stop stops consuming while the held event is still in its handler, and
// waits for the drain to time out.
func (h *heldConsumer) stop() {
	h.cancel()
	<-h.timedOut
}

// release lets the held event go and checks that Consume returned cleanly.
func (h *heldConsumer) release(t *testing.T) {
	t.Helper()
	close(h.sub.release)
	if err := <-h.done; err != nil {
		t.Fatal(err)
	}
}

func newBlocking() *blocking {
	return &blocking{entered: make(chan struct{}), release: make(chan struct{})}
}

func (b *blocking) Submit(event.Event) (bool, event.Reason) {
	b.once.Do(func() {
		close(b.entered)
		<-b.release
	})
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
	return true, event.ReasonNone
}

func (b *blocking) submitted() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

// busDrops counts what rec recorded as admitted and dropped for the bus.
func (r *recorder) busDrops() (admitted, bus int, ids map[uuid.UUID]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids = map[uuid.UUID]bool{}
	for _, res := range r.results {
		if res.Status == event.Dropped && res.Reason == event.Bus {
			bus++
			ids[res.ID] = true
		}
	}
	return r.admitted, bus, ids
}

// Every event published that the consumer does not hand to its node is
// recorded as admitted and dropped (bus): undecodable messages, a slow
// consumer's drops, and the events still pending when it stops. Published
// = submitted + bus, exactly.
func TestBusCountsWhatItLoses(t *testing.T) {
	url := startServer(t)
	pub, subConn := connect(t, url), connect(t, url)
	rec := &recorder{}
	b, err := NewEventBus(subConn, BusConfig{Recorder: rec, PendingMsgs: 20, DrainTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	held := consumeHeld(t, b)
	sub := held.sub
	waitFor(t, 5*time.Second, "consumer", func() bool { return b.Stats().Consumers == 1 })
	if err := subConn.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish("ontime.events", []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the undecodable message", func() bool { _, bus, _ := rec.busDrops(); return bus == 1 })

	// The first event holds the handler; 20 wait in the buffer, and NATS
	// drops the rest (a slow consumer).
	const published = 100
	sent := map[uuid.UUID]bool{}
	for range published {
		ev := event.Event{ID: uuid.New(), Source: "test", CreatedAt: time.Now(), Deadline: time.Minute}
		sent[ev.ID] = true
		if err := pub.Publish("ontime.events", AppendEvent(nil, ev)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	<-sub.entered
	waitFor(t, 5*time.Second, "the slow consumer's drops to be recorded", func() bool {
		_, bus, _ := rec.busDrops()
		return b.Stats().SlowConsumerDrops > 0 && bus == 1+int(b.Stats().SlowConsumerDrops)
	})
	// The node stops consuming while the handler is still held: the drain
	// times out, and what is pending is lost.
	held.stop()
	held.release(t)
	s := b.Stats()
	admitted, bus, ids := rec.busDrops()
	if got := sub.submitted() + bus - 1; got != published {
		t.Fatalf("submitted %d + lost %d (besides the undecodable one) = %d, want the %d published (stats %+v)",
			sub.submitted(), bus-1, got, published, s)
	}
	if admitted != bus || s.Malformed != 1 || s.SlowConsumerDrops == 0 || s.Abandoned == 0 {
		t.Fatalf("admitted %d, bus drops %d, stats %+v: want every loss admitted and dropped, of each kind", admitted, bus, s)
	}
	known := 0
	for id := range ids {
		if sent[id] {
			known++
		}
	}
	if known == 0 {
		t.Fatal("no pending event was recorded by its own id")
	}
}

// resultOf is what rec recorded for event id, and whether it was admitted
// before.
func (r *recorder) resultOf(id uuid.UUID) (event.Result, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, res := range r.results {
		if res.ID == id {
			return res, true
		}
	}
	return event.Result{}, false
}

// An event is published only while one of the bus's own consumers is
// subscribed: before Consume subscribes, once it begins to stop and after it
// ended, Submit refuses it (bus-unavailable) and records it as dropped. A
// publish-only bus shows why: with no consumer anywhere, its event is
// "published" and counted nowhere.
func TestBusPublishesOnlyWhileConsuming(t *testing.T) {
	url := startServer(t)
	newEvent := func() event.Event {
		return event.Event{ID: uuid.New(), Source: "test", CreatedAt: time.Now(), Deadline: time.Minute}
	}
	lone := &recorder{}
	po, err := NewEventBus(connect(t, url), BusConfig{Recorder: lone, PublishOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := po.Submit(newEvent()); !ok || len(lone.results) != 0 {
		t.Fatalf("publish-only bus without consumers: Submit %v, %d recorded; want the silent loss this guards against", ok, len(lone.results))
	}

	rec := &recorder{}
	b, err := NewEventBus(connect(t, url), BusConfig{Recorder: rec, DrainTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	refused := func(when string) {
		t.Helper()
		ev := newEvent()
		if ok, reason := b.Submit(ev); ok || reason != event.BusUnavailable {
			t.Fatalf("Submit %s: %v, %q; want refused as bus-unavailable", when, ok, reason)
		}
		if res, ok := rec.resultOf(ev.ID); !ok || res.Status != event.Dropped || res.Reason != event.BusUnavailable {
			t.Fatalf("Submit %s: recorded %+v (%v), want dropped as bus-unavailable", when, res, ok)
		}
	}
	refused("before Consume")
	select {
	case <-b.Consuming():
		t.Fatal("Consuming closed before any consumer subscribed")
	default:
	}

	held := consumeHeld(t, b)
	sub := held.sub
	<-b.Consuming()
	// Published after the subscription on the same connection: the
	// consumer gets it (and holds it).
	if ok, reason := b.Submit(newEvent()); !ok {
		t.Fatalf("Submit while consuming: %q", reason)
	}
	<-sub.entered

	// Stopping: the drain times out (its handler is held), long after
	// the consumer stopped taking events.
	held.stop()
	refused("while the consumer drains")
	held.release(t)
	refused("after Consume returned")

	s := b.Stats()
	admitted, _, _ := rec.busDrops()
	if s.Published != 1 || s.Unpublished != 3 || sub.submitted() != 1 || admitted != 3 || len(rec.results) != 3 {
		t.Fatalf("stats %+v, %d submitted, %d admitted, %d recorded: want 1 published and consumed, 3 refused and recorded",
			s, sub.submitted(), admitted, len(rec.results))
	}
}
