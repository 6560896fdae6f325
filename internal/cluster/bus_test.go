package cluster

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/event"
)

// markerSource marks the events a test publishes to learn that a consumer
// has taken everything published before them: a tally keeps them apart.
const markerSource = "test-marker/"

// tally is a Submitter that remembers which events it was given, and apart
// from them how many markers from each publisher (by Source).
type tally struct {
	mu      sync.Mutex
	seen    map[uuid.UUID]int
	markers map[string]int
	n       atomic.Int64
}

func newTally() *tally { return &tally{seen: map[uuid.UUID]int{}, markers: map[string]int{}} }

func (t *tally) Submit(ev event.Event) (bool, event.Reason) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if strings.HasPrefix(ev.Source, markerSource) {
		t.markers[ev.Source]++
		return true, event.ReasonNone
	}
	t.seen[ev.ID]++
	t.n.Add(1)
	return true, event.ReasonNone
}

// marked reports how many markers of source t took.
func (t *tally) marked(source string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.markers[source]
}

// has reports whether t took event id.
func (t *tally) has(id uuid.UUID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seen[id] > 0
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
	// A duplicate could still be on its way. A consumer takes the messages
	// of one publisher in the order they were published, one at a time:
	// once it has taken a marker published after a publisher's events, it
	// has taken every one of them the server handed it, duplicates
	// included. Each publisher sends markers until every consumer has one
	// from every publisher (the queue group hands each marker to one).
	markers := 0
	everywhere := func() bool {
		for _, tl := range tallies {
			for i := range buses {
				if tl.marked(markerSource+strconv.Itoa(i)) == 0 {
					return false
				}
			}
		}
		return true
	}
	for deadline := time.Now().Add(10 * time.Second); !everywhere(); {
		if time.Now().After(deadline) {
			t.Fatalf("after %d markers, not every consumer has one from every publisher", markers)
		}
		for i, b := range buses {
			if ok, r := b.Submit(event.Event{ID: uuid.New(), Source: markerSource + strconv.Itoa(i), CreatedAt: time.Now(), Deadline: time.Second}); !ok {
				t.Fatalf("Submit marker: %s", r)
			}
			markers++
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The markers still on their way are counted in the stats below.
	waitFor(t, 10*time.Second, "every marker", func() bool {
		n := 0
		for _, tl := range tallies {
			tl.mu.Lock()
			for _, m := range tl.markers {
				n += m
			}
			tl.mu.Unlock()
		}
		return n == markers
	})
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
	if want := uint64(len(sent) + markers); pub != want || con != want {
		t.Fatalf("stats: published %d, consumed %d, want %d (%d events and %d markers)", pub, con, want, len(sent), markers)
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
// submitted; nothing is submitted after Consume returns: an event published
// then goes to the consumer that is still running.
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
	// The server has the stopped consumer's unsubscription: the next
	// event can only go to a consumer still running.
	if err := subConn.Flush(); err != nil {
		t.Fatal(err)
	}
	before := tl.n.Load()
	other, err := NewEventBus(pub, BusConfig{})
	if err != nil {
		t.Fatal(err)
	}
	otherTally := newTally()
	runConsumer(t, other, otherTally)
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	after := event.Event{ID: uuid.New()}
	_ = pub.Publish("ontime.events", AppendEvent(nil, after))
	_ = pub.Flush()
	waitFor(t, 5*time.Second, "the event published after Consume returned to be taken", func() bool {
		return otherTally.has(after.ID) || tl.has(after.ID)
	})
	if tl.n.Load() != before || !otherTally.has(after.ID) {
		t.Fatalf("an event was submitted after Consume returned (%d before, %d now)", before, tl.n.Load())
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
