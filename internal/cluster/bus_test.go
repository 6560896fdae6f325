package cluster

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/event"
)

// tally is a Submitter that remembers which events it was given.
type tally struct {
	mu   sync.Mutex
	seen map[uuid.UUID]int
	n    atomic.Int64
}

func newTally() *tally { return &tally{seen: map[uuid.UUID]int{}} }

func (t *tally) Submit(ev event.Event) (bool, event.Reason) {
	t.mu.Lock()
	t.seen[ev.ID]++
	t.mu.Unlock()
	t.n.Add(1)
	return true, event.ReasonNone
}

// runConsumer runs b.Consume until the test's cleanup.
func runConsumer(t *testing.T, b *EventBus, sub Submitter) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Consume(ctx, sub) }()
	waitFor(t, 5*time.Second, "consumer to subscribe", func() bool { return b.Stats().Consumers == 1 })
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Consume: %v", err)
		}
	})
}

// Events published by three nodes are each consumed once, by one of the
// three nodes' consumers.
func TestBusQueueGroupDeliversOnce(t *testing.T) {
	url := startServer(t)
	const perNode = 600
	buses := make([]*EventBus, 3)
	tallies := make([]*tally, 3)
	for i := range buses {
		var err error
		buses[i], err = NewEventBus(connect(t, url), BusConfig{})
		if err != nil {
			t.Fatal(err)
		}
		tallies[i] = newTally()
		runConsumer(t, buses[i], tallies[i])
	}
	// Subscriptions travel on each connection: flush them to the server
	// before publishing, or early events find no consumer.
	for _, b := range buses {
		if err := b.nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	sent := map[uuid.UUID]bool{}
	for i := range perNode {
		for _, b := range buses {
			ev := event.Event{ID: uuid.New(), Source: "gen", CreatedAt: time.Now(), Deadline: time.Second, Work: time.Duration(i)}
			sent[ev.ID] = true
			if ok, r := b.Submit(ev); !ok {
				t.Fatalf("Submit: %s", r)
			}
		}
	}
	total := func() int64 {
		var n int64
		for _, tl := range tallies {
			n += tl.n.Load()
		}
		return n
	}
	waitFor(t, 10*time.Second, "every event to be consumed", func() bool { return total() >= int64(len(sent)) })
	// Let any duplicate arrive before counting.
	for _, b := range buses {
		_ = b.nc.Flush()
	}
	time.Sleep(50 * time.Millisecond)
	seen := map[uuid.UUID]int{}
	for i, tl := range tallies {
		tl.mu.Lock()
		for id, n := range tl.seen {
			seen[id] += n
		}
		t.Logf("consumer %d took %d events", i, len(tl.seen))
		if len(tl.seen) == 0 {
			t.Errorf("consumer %d took no event: no queue-group spread", i)
		}
		tl.mu.Unlock()
	}
	if len(seen) != len(sent) {
		t.Fatalf("%d distinct events consumed, %d sent", len(seen), len(sent))
	}
	for id, n := range seen {
		if !sent[id] {
			t.Fatalf("unknown event %v consumed", id)
		}
		if n != 1 {
			t.Fatalf("event %v consumed %d times", id, n)
		}
	}
	var pub, con uint64
	for _, b := range buses {
		s := b.Stats()
		pub += s.Published
		con += s.Consumed
	}
	if pub != uint64(len(sent)) || con != uint64(len(sent)) {
		t.Fatalf("stats: published %d, consumed %d, want %d", pub, con, len(sent))
	}
}

// recorder remembers the outcomes it is told.
type recorder struct {
	mu       sync.Mutex
	admitted int
	results  []event.Result
}

func (r *recorder) Admit(event.Event) { r.mu.Lock(); r.admitted++; r.mu.Unlock() }
func (r *recorder) Finish(res event.Result) {
	r.mu.Lock()
	r.results = append(r.results, res)
	r.mu.Unlock()
}

// A bus whose connection is closed refuses events at once, and records them
// as dropped.
func TestBusUnavailable(t *testing.T) {
	url := startServer(t)
	nc := connect(t, url)
	rec := &recorder{}
	b, err := NewEventBus(nc, BusConfig{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	ev := event.Event{ID: uuid.New(), CreatedAt: time.Now(), Deadline: time.Second}
	ok, reason := b.Submit(ev)
	if ok || reason != event.BusUnavailable {
		t.Fatalf("Submit on a closed connection = %v, %q", ok, reason)
	}
	if rec.admitted != 1 || len(rec.results) != 1 || rec.results[0].Status != event.Dropped || rec.results[0].Reason != event.BusUnavailable || rec.results[0].ID != ev.ID {
		t.Fatalf("recorded %d admitted, %+v", rec.admitted, rec.results)
	}
	if s := b.Stats(); s.Unpublished != 1 || s.Published != 0 || s.LastPublishError == "" {
		t.Fatalf("stats %+v", s)
	}
	// Consume cannot subscribe on a closed connection.
	if err := b.Consume(context.Background(), newTally()); err == nil {
		t.Fatal("Consume on a closed connection succeeded")
	}
}

// Malformed messages are counted and skipped; a closed connection ends
// Consume with an error; events delivered before the context ends are
// submitted; nothing is submitted after Consume returns.
func TestBusConsumeMalformedAndStop(t *testing.T) {
	url := startServer(t)
	pub := connect(t, url)
	subConn := connect(t, url)
	b, err := NewEventBus(subConn, BusConfig{})
	if err != nil {
		t.Fatal(err)
	}
	tl := newTally()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Consume(ctx, tl) }()
	waitFor(t, 5*time.Second, "consumer", func() bool { return b.Stats().Consumers == 1 })
	if err := subConn.Flush(); err != nil {
		t.Fatal(err)
	}
	_ = pub.Publish("ontime.events", []byte("not an event"))
	_ = pub.Publish("ontime.events", AppendEvent(nil, event.Event{ID: uuid.New()}))
	_ = pub.Flush()
	waitFor(t, 5*time.Second, "both messages", func() bool { s := b.Stats(); return s.Consumed == 1 && s.Malformed == 1 })

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Consume after cancel: %v", err)
	}
	if b.Stats().Consumers != 0 {
		t.Fatal("consumer still counted")
	}
	before := tl.n.Load()
	_ = pub.Publish("ontime.events", AppendEvent(nil, event.Event{ID: uuid.New()}))
	_ = pub.Flush()
	time.Sleep(20 * time.Millisecond)
	if tl.n.Load() != before {
		t.Fatal("an event was submitted after Consume returned")
	}

	// A closed connection ends Consume.
	go func() { done <- b.Consume(context.Background(), tl) }()
	waitFor(t, 5*time.Second, "consumer", func() bool { return b.Stats().Consumers == 1 })
	subConn.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Consume returned nil after the connection closed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Consume did not return after the connection closed")
	}
	if _, err := NewEventBus(nil, BusConfig{}); err == nil {
		t.Fatal("NewEventBus(nil) succeeded")
	}
	if err := b.Consume(context.Background(), nil); err == nil || errors.Is(err, context.Canceled) {
		t.Fatal("Consume(nil) succeeded")
	}
}
