package cluster

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/stats"
)

func batchEvent() batch.Event {
	return batch.EventOf(event.Result{Event: benchEvent(), ProcessedAt: time.Now(), Status: event.OnTime})
}

func benchEvent() event.Event {
	return event.Event{ID: uuid.New(), Source: "gen", CreatedAt: time.Now(), Deadline: 100 * time.Millisecond, Work: 50 * time.Millisecond}
}

func BenchmarkEncodeEvent(b *testing.B) {
	ev := benchEvent()
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendEvent(buf[:0], ev)
	}
	b.ReportMetric(float64(len(buf)), "bytes/event")
}

func BenchmarkDecodeEvent(b *testing.B) {
	data := AppendEvent(nil, benchEvent())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEvent(data); err != nil {
			b.Fatal(err)
		}
	}
}

// counter is the cheapest Submitter: what is left is the call.
type counter struct {
	n      atomic.Int64
	target atomic.Int64
	done   chan struct{}
}

func (c *counter) Submit(event.Event) (bool, event.Reason) {
	if c.n.Add(1) == c.target.Load() {
		c.done <- struct{}{}
	}
	return true, event.ReasonNone
}

// BenchmarkInProcessSubmit is the cost the bus replaces: the generator or
// ingest calling the pipeline's Submit through an interface.
func BenchmarkInProcessSubmit(b *testing.B) {
	c := &counter{done: make(chan struct{}, 1)}
	c.target.Store(-1)
	var s Submitter = c
	ev := benchEvent()
	b.ReportAllocs()
	for b.Loop() {
		s.Submit(ev)
	}
}

// benchBus runs a publishing bus and a consuming bus on two connections to
// an embedded server.
func benchBus(b *testing.B) (*EventBus, *counter) {
	url := startServer(b)
	pub, err := NewEventBus(connect(b, url), BusConfig{Origin: "pub", PublishOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	// No pending limit: a benchmark publishing as fast as it can would
	// otherwise make the consumer a slow consumer, whose events NATS drops.
	sub, err := NewEventBus(connect(b, url), BusConfig{Origin: "sub", PendingMsgs: -1, PendingBytes: -1})
	if err != nil {
		b.Fatal(err)
	}
	pub.SetPeers([]Peer{{ID: "sub", Inc: sub.Incarnation()}})
	c := &counter{done: make(chan struct{}, 1)}
	c.target.Store(-1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = sub.Consume(ctx, c); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	waitFor(b, 5*time.Second, "consumer", func() bool { return sub.Stats().Consumers == 1 })
	if err := sub.nc.Flush(); err != nil {
		b.Fatal(err)
	}
	return pub, c
}

// BenchmarkBusThroughput publishes b.N events and waits until the consumer
// has submitted them all: the amortised cost per event of encode, publish,
// server routing, delivery, decode and submit.
func BenchmarkBusThroughput(b *testing.B) {
	pub, c := benchBus(b)
	ev := benchEvent()
	b.ReportAllocs()
	b.ResetTimer()
	c.target.Store(c.n.Load() + int64(b.N))
	start := time.Now()
	for range b.N {
		if ok, r := pub.Submit(ev); !ok {
			b.Fatal(r)
		}
	}
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		b.Fatalf("%d of %d events consumed", c.n.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkBusRoundTrip publishes one event at a time and waits for it to be
// submitted on the other side: the latency an event pays for the bus.
func BenchmarkBusRoundTrip(b *testing.B) {
	pub, c := benchBus(b)
	ev := benchEvent()
	b.ReportAllocs()
	for b.Loop() {
		c.target.Store(c.n.Load() + 1)
		if ok, r := pub.Submit(ev); !ok {
			b.Fatal(r)
		}
		<-c.done
	}
}

// BenchmarkPartialRoundTrip is the per-tick, per-node cost of the Merger's
// wire: a partial with 50 events and a histogram of 200 latencies encoded
// (on the sending node) and decoded (on each receiving node).
func BenchmarkPartialRoundTrip(b *testing.B) {
	h := stats.NewHistogram()
	p := mkPartial("node-1", 17_000_000_000, 16_999_999_000, 1, totalsOf(1000, 900, 50))
	for i := range 200 {
		h.Record(time.Duration(i) * 400 * time.Microsecond)
	}
	for range 50 {
		p.Events = append(p.Events, batchEvent())
	}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		var err error
		if p.Hist, err = h.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
		data, err := p.encode()
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
		if _, err := decodePartial(data, ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size), "bytes")
}
