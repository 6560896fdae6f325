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

// Events submitted on three nodes, each with the other two as peers, are
// each consumed once, by a peer (never by the node that took them, which
// has peers), in turn; the marks of every route then cover exactly what was
// sent on it, and nothing is missing.
func TestBusRoutesEachEventOnce(t *testing.T) {
	url := startServer(t)
	const perNode = 600
	buses := make([]*EventBus, 3)
	tallies := make([]*tally, 3)
	for i := range buses {
		var err error
		buses[i], err = NewEventBus(connect(t, url), BusConfig{Origin: "n" + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		tallies[i] = newTally()
		runConsumer(t, buses[i], tallies[i])
	}
	// Subscriptions travel on each connection: flush them to the server
	// before publishing to them.
	var peers []Peer
	for _, b := range buses {
		if err := b.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		peers = append(peers, b.self())
	}
	for _, b := range buses {
		b.SetPeers(peers)
	}
	sentBy := map[uuid.UUID]int{}
	for i := range perNode {
		for n, b := range buses {
			ev := event.Event{ID: uuid.New(), Source: "gen", CreatedAt: time.Now(), Deadline: time.Second, Work: time.Duration(i)}
			sentBy[ev.ID] = n
			if ok, r := b.Submit(ev); !ok {
				t.Fatalf("Submit: %s", r)
			}
		}
	}
	// Each route carried half of its origin's events; its marks say when
	// all of them were taken.
	waitFor(t, 10*time.Second, "every route's mark to cover what was sent on it", func() bool {
		for _, b := range buses {
			marks := b.Marks(nil)
			if len(marks) != 2 {
				return false
			}
			for _, mk := range marks {
				if mk.Seq != perNode/2 {
					return false
				}
			}
		}
		return true
	})
	seen := map[uuid.UUID]int{}
	for i, tl := range tallies {
		tl.mu.Lock()
		for id, n := range tl.seen {
			seen[id] += n
			if sentBy[id] == i {
				t.Errorf("consumer %d took an event it submitted itself", i)
			}
		}
		if len(tl.seen) != perNode {
			t.Errorf("consumer %d took %d events, want %d (half of each peer's)", i, len(tl.seen), perNode)
		}
		tl.mu.Unlock()
	}
	if len(seen) != len(sentBy) {
		t.Fatalf("%d distinct events consumed, %d sent", len(seen), len(sentBy))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event %v consumed %d times", id, n)
		}
	}
	var pub, con, missing uint64
	for _, b := range buses {
		s := b.Stats()
		pub += s.Published
		con += s.Consumed
		missing += s.Missing
	}
	if want := uint64(len(sentBy)); pub != want || con != want || missing != 0 {
		t.Fatalf("stats: published %d, consumed %d, missing %d; want %d, %d, 0", pub, con, missing, want, want)
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

// Malformed messages are counted and skipped; an event without a route
// (wire version 2) is taken as it comes; a closed connection ends Consume
// with an error; nothing is submitted after Consume returns.
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
	subject := b.subject("")
	_ = pub.Publish(subject, []byte("not an event"))
	_ = pub.Publish(subject, AppendEvent(nil, event.Event{ID: uuid.New()}))
	_ = pub.Flush()
	waitFor(t, 5*time.Second, "both messages", func() bool { s := b.Stats(); return s.Consumed == 1 && s.Malformed == 1 })

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Consume after cancel: %v", err)
	}
	if b.Stats().Consumers != 0 {
		t.Fatal("consumer still counted")
	}
	// The server has the stopped consumer's unsubscription: an event
	// published now reaches a witness subscribed to the same subject, and
	// not the stopped consumer.
	if err := subConn.Flush(); err != nil {
		t.Fatal(err)
	}
	before := tl.n.Load()
	witness, err := pub.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	_ = pub.Publish(subject, AppendEvent(nil, event.Event{ID: uuid.New()}))
	if _, err := witness.NextMsg(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := subConn.Flush(); err != nil {
		t.Fatal(err)
	}
	if tl.n.Load() != before || b.Stats().Consumed != 1 {
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

// NATS answers an event sent to a subject nobody takes (a peer killed, its
// subscription gone) on the event's reply subject: the sender skips that
// peer from then on, and counts what it sent there when it retires it.
func TestBusSkipsAPeerNobodyTakes(t *testing.T) {
	url := startServer(t)
	rec := &recorder{}
	s, err := NewEventBus(connect(t, url), BusConfig{Origin: "s", Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewEventBus(connect(t, url), BusConfig{Origin: "r"})
	if err != nil {
		t.Fatal(err)
	}
	got := newTally()
	runConsumer(t, s, newTally())
	runConsumer(t, r, got)
	for _, b := range []*EventBus{s, r} {
		if err := b.nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	ghost := Peer{ID: "ghost", Inc: 1}
	s.SetPeers([]Peer{r.self(), ghost})
	submit := func(n int) {
		for range n {
			if ok, reason := s.Submit(event.Event{ID: uuid.New(), CreatedAt: time.Now(), Deadline: time.Second}); !ok {
				t.Fatal(reason)
			}
		}
	}
	submit(2) // one to each peer, in turn
	waitFor(t, 5*time.Second, "NATS's answer for the peer nobody takes", func() bool { return s.Stats().NoResponders == 1 })
	submit(10)
	waitFor(t, 5*time.Second, "the events to reach r", func() bool { return got.n.Load() == 11 })
	if n := s.Retire(ghost, 0, event.NodeLost); n != 1 || s.Stats().NoResponders != 1 {
		t.Fatalf("retired %d sent to the ghost (stats %+v), want 1", n, s.Stats())
	}
	if _, lost := rec.drops(event.NodeLost); lost != 1 {
		t.Fatalf("%d counted node-lost, want 1", lost)
	}
}

// Confirmed's Sync returns once the server has what was published, and
// does not wait on a connection that is closed.
func TestBusConfirmedSync(t *testing.T) {
	url := startServer(t)
	nc := connect(t, url)
	b, err := NewEventBus(nc, BusConfig{Origin: "n", PublishOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	in := b.Confirmed()
	for range 3 {
		if ok, r := in.Submit(event.Event{ID: uuid.New()}); !ok {
			t.Fatal(r)
		}
	}
	in.Sync()
	if s := b.Stats(); s.Unconfirmed != 0 || s.Published != 3 {
		t.Fatalf("after Sync on a live connection: %+v", s)
	}
	nc.Close()
	done := make(chan struct{})
	go func() { in.Sync(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Sync waits on a closed connection")
	}
	if ok, _ := in.Submit(event.Event{ID: uuid.New()}); ok {
		t.Fatal("published on a closed connection")
	}
	in.Sync() // nothing new published: returns at once
}
