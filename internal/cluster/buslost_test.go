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

// drops counts what rec recorded as admitted, and as dropped for reason.
func (r *recorder) drops(reason event.Reason) (admitted, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, res := range r.results {
		if res.Status == event.Dropped && res.Reason == reason {
			n++
		}
	}
	return r.admitted, n
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

// markOf is b's mark for the route from bus from.
func markOf(b, from *EventBus) uint64 {
	for _, mk := range b.Marks(nil) {
		if mk.Origin == from.cfg.Origin && mk.Inc == from.inc {
			return mk.Seq
		}
	}
	return 0
}

// Every event sent is counted once. NATS drops what a slow consumer cannot
// hold: the receiver finds the numbers missing on the route (from the next
// event, or the sender's marker) and counts them (bus). What the receiver
// never takes because it stopped, and what is sent to it after, its sender
// counts when it retires the route (node-lost here). An event sent to an
// earlier incarnation of a node is left to its sender too. Sent = taken +
// missing + retired, exactly.
func TestBusCountsWhatItLoses(t *testing.T) {
	url := startServer(t)
	srec, rrec := &recorder{}, &recorder{}
	sender, err := NewEventBus(connect(t, url), BusConfig{Origin: "s", Recorder: srec, PublishOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	subConn := connect(t, url)
	b, err := NewEventBus(subConn, BusConfig{Origin: "r", Recorder: rrec, PendingMsgs: 20, DrainTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sub := newBlocking()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Consume(ctx, sub) }()
	waitFor(t, 5*time.Second, "consumer", func() bool { return b.Stats().Consumers == 1 })
	if err := subConn.Flush(); err != nil {
		t.Fatal(err)
	}
	sender.SetPeers([]Peer{b.self()})
	newEvent := func() event.Event {
		return event.Event{ID: uuid.New(), Source: "test", CreatedAt: time.Now(), Deadline: time.Minute}
	}
	// The first event holds the handler; 20 wait in the buffer, and NATS
	// drops the rest (a slow consumer).
	const published = 100
	for range published {
		if ok, r := sender.Submit(newEvent()); !ok {
			t.Fatal(r)
		}
	}
	if err := sender.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	<-sub.entered
	waitFor(t, 5*time.Second, "a slow consumer's drops", func() bool { return b.Stats().SlowConsumerDrops > 0 })
	close(sub.release)
	// The route's last events may be among those dropped: the marker
	// tells the receiver where the route ends. It is sent again while the
	// wait lasts, as the bus sends it every 100 ms: the consumer, still
	// catching up, may drop a marker too.
	waitFor(t, 5*time.Second, "the route to be accounted for to its end", func() bool {
		sender.mark()
		return markOf(b, sender) == published
	})
	_, missing := rrec.drops(event.Bus)
	if s := b.Stats(); sub.submitted()+missing != published || uint64(missing) != s.Missing || missing == 0 {
		t.Fatalf("taken %d + missing %d, want the %d sent with some missing (stats %+v)", sub.submitted(), missing, published, s)
	}

	// The receiver stops; what is sent to it after is never taken, and
	// its sender counts it when it retires the route.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := subConn.Flush(); err != nil {
		t.Fatal(err)
	}
	const after = 7
	for range after {
		if ok, r := sender.Submit(newEvent()); !ok {
			t.Fatal(r)
		}
	}
	if err := sender.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := sender.Retire(b.self(), markOf(b, sender), event.NodeLost); n != after {
		t.Fatalf("Retire counted %d, want the %d sent after the receiver stopped", n, after)
	}
	if n := sender.Retire(b.self(), 0, event.NodeLost); n != 0 {
		t.Fatalf("a second Retire counted %d", n)
	}
	if admitted, lost := srec.drops(event.NodeLost); admitted != after || lost != after {
		t.Fatalf("sender recorded %d admitted, %d node-lost; want %d each", admitted, lost, after)
	}
	// Retired, the destination is not sent events again: with no other
	// peer, the publish-only sender sends to itself.
	sender.SetPeers([]Peer{b.self()})
	if d, _ := sender.pick(); d != sender.self() {
		t.Fatalf("routed to %+v after its retirement", d)
	}

	// A new incarnation of the receiver leaves an event addressed to the
	// previous one to its sender.
	b2, err := NewEventBus(subConn, BusConfig{Origin: "r", Recorder: rrec})
	if err != nil {
		t.Fatal(err)
	}
	runConsumer(t, b2, newTally())
	if err := subConn.Flush(); err != nil {
		t.Fatal(err)
	}
	stale := appendRouted(nil, newEvent(), route{Origin: "s", OriginInc: sender.inc, DestInc: b.inc, Seq: published + after + 1})
	if err := sender.nc.Publish(b2.subject("r"), stale); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the stale event", func() bool { return b2.Stats().Stale == 1 })
	if s := b2.Stats(); s.Consumed != 0 || s.Missing != 0 {
		t.Fatalf("stale event taken or counted: %+v", s)
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
