package coalescer

import (
	"context"
	"encoding/json"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/pipeline"
	"github.com/ontime-rt/ontime/internal/stats"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type sink struct {
	mu      sync.Mutex
	batches []*batch.Batch
}

func (s *sink) Publish(b *batch.Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, b)
}

func (s *sink) all() []*batch.Batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*batch.Batch(nil), s.batches...)
}

type gauges pipeline.Gauges

func (g gauges) Gauges() pipeline.Gauges { return pipeline.Gauges(g) }

func result(status event.Status, reason event.Reason, latency time.Duration) event.Result {
	now := time.Now()
	return event.Result{
		Event:       event.Event{ID: uuid.New(), Source: "test", CreatedAt: now.Add(-latency), Deadline: 100 * time.Millisecond},
		ProcessedAt: now, Status: status, Reason: reason,
	}
}

func run(t *testing.T, c *Coalescer) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	return func() { cancel(); <-done }
}

// One batch per tick, published even when idle, with contiguous seq; each
// batch holds exactly what finished during its tick.
func TestOneBatchPerTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &sink{}
		c, err := New(Config{Tick: 100 * time.Millisecond}, gauges{QueueCap: 10, Workers: 2}, out)
		if err != nil {
			t.Fatal(err)
		}
		started := time.Now()
		stop := run(t, c)

		time.Sleep(50 * time.Millisecond) // inside tick 1
		for range 3 {
			c.Admit(event.Event{})
		}
		c.Finish(result(event.OnTime, "", 10*time.Millisecond))
		c.Finish(result(event.Late, event.Cancelled, 100*time.Millisecond))
		c.Finish(result(event.Dropped, event.QueueFull, 0))
		time.Sleep(160 * time.Millisecond) // tick 2 (100-200 ms) stays idle
		c.Admit(event.Event{})             // at 210 ms, in tick 3
		time.Sleep(140 * time.Millisecond) // tick 3 ends at 300; stop at 350
		stop()

		bs := out.all()
		if len(bs) != 4 { // three ticks plus the final batch at shutdown
			t.Fatalf("got %d batches, want 4", len(bs))
		}
		for i, b := range bs {
			if b.Seq != uint64(i+1) {
				t.Fatalf("batch %d has seq %d", i, b.Seq)
			}
			if b.TickMs != 100 || b.StartedAt != started.UnixMilli() {
				t.Fatalf("batch %d: tickMs %d startedAt %d", i, b.TickMs, b.StartedAt)
			}
		}
		if at := bs[0].At - started.UnixMilli(); at != 100 {
			t.Fatalf("first batch at +%d ms, want +100", at)
		}
		b1 := bs[0]
		if b1.Counts.Received != 3 || b1.Counts.OnTime != 1 || b1.Counts.Late != 1 || b1.Counts.Dropped != 1 || b1.Counts.DroppedBy[event.QueueFull] != 1 {
			t.Fatalf("tick 1 counts %+v", b1.Counts)
		}
		// Percentiles carry the histogram's 1% error; the max is exact.
		if b1.Latency.Count != 2 || b1.Latency.Max != 100 || math.Abs(b1.Latency.P50-10) > 0.1 {
			t.Fatalf("tick 1 latency %+v, want 2 processed events, p50 10ms (±1%%), max 100ms", b1.Latency)
		}
		if len(b1.Events) != 3 || b1.Events[0].Status != event.OnTime || b1.Events[2].Reason != event.QueueFull {
			t.Fatalf("tick 1 events %+v", b1.Events)
		}
		if b1.Health.Status != batch.Overloaded {
			t.Fatalf("a tick with drops is %q, want overloaded", b1.Health.Status)
		}
		b2 := bs[1]
		if b2.Counts.Received != 0 || len(b2.Events) != 0 || b2.Latency.Count != 0 || b2.Health.Status != batch.OK {
			t.Fatalf("idle tick: %+v", b2)
		}
		b3 := bs[2]
		if b3.Counts.Received != 1 || b3.Totals.Received != 4 || b3.Totals.InFlight != 1 || b3.Totals.OnTime != 1 {
			t.Fatalf("tick 3 counts %+v totals %+v", b3.Counts, b3.Totals)
		}
	})
}

// A batch carries at most MaxEvents events: the newest ones, oldest first.
func TestBatchKeepsNewestEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &sink{}
		c, err := New(Config{Tick: time.Second}, gauges{}, out)
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, c)
		var ids []uuid.UUID
		for range 120 {
			r := result(event.OnTime, "", time.Millisecond)
			ids = append(ids, r.ID)
			c.Admit(r.Event)
			c.Finish(r)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		stop()
		b := out.all()[0]
		if len(b.Events) != batch.MaxEvents {
			t.Fatalf("%d events in batch, want %d", len(b.Events), batch.MaxEvents)
		}
		for i, e := range b.Events {
			if want := ids[120-batch.MaxEvents+i].String(); e.ID != want {
				t.Fatalf("event %d is %s, want %s", i, e.ID, want)
			}
		}
		if b.Counts.OnTime != 120 || b.Latency.Count != 120 {
			t.Fatalf("counts %+v latency %+v: every event must be counted", b.Counts, b.Latency)
		}
	})
}

// Ticks follow an absolute schedule: a slow publisher does not shift later
// ticks, and a tick missed entirely is folded into the next batch.
func TestTicksDoNotDrift(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := &slowSink{delay: 30 * time.Millisecond}
		c, err := New(Config{Tick: 100 * time.Millisecond}, gauges{}, slow)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		stop := run(t, c)
		time.Sleep(time.Second + 50*time.Millisecond)
		stop()
		for i, at := range slow.at[:10] {
			if want := start.Add(time.Duration(i+1) * 100 * time.Millisecond); !at.Equal(want) {
				t.Fatalf("tick %d fired at +%s, want +%s", i+1, at.Sub(start), want.Sub(start))
			}
		}
		if j := c.Snapshot().TickJitter; j.Count != 11 || j.Max != 0 {
			t.Fatalf("tick jitter %+v, want 11 punctual ticks", j)
		}
	})
}

// A publish that overruns the next tick folds it into the one after, and
// the overrun shows in the jitter.
func TestOverrunTickIsFoldedAndCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := &slowSink{delay: 250 * time.Millisecond}
		c, err := New(Config{Tick: 100 * time.Millisecond}, gauges{}, slow)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		stop := run(t, c)
		time.Sleep(time.Second)
		stop()
		// Ticks at 100 (publish until 350), 400 (until 650), 700 (until 950).
		want := []time.Duration{100, 400, 700}
		for i, w := range want {
			if got := slow.at[i].Sub(start); got != w*time.Millisecond {
				t.Fatalf("publish %d at +%s, want +%dms", i, got, w)
			}
		}
		if j := c.Snapshot().TickJitter; j.Max != 150 {
			t.Fatalf("tick jitter %+v, want the 150ms overrun of the 200ms tick", j)
		}
	})
}

type slowSink struct {
	delay time.Duration
	at    []time.Time
}

func (s *slowSink) Publish(*batch.Batch) {
	s.at = append(s.at, time.Now())
	time.Sleep(s.delay)
}

func TestSnapshotConservation(t *testing.T) {
	c, err := New(Config{}, gauges{QueueDepth: 9, QueueCap: 10}, &sink{})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		c.Admit(event.Event{})
	}
	c.Finish(result(event.OnTime, "", time.Millisecond))
	c.Finish(result(event.Dropped, event.Expired, time.Millisecond))
	s := c.Snapshot()
	tot := s.Totals
	if tot.Received != 5 || tot.InFlight != 3 || tot.Received != tot.OnTime+tot.Late+tot.Dropped+tot.InFlight {
		t.Fatalf("totals %+v break received = onTime + late + dropped + inFlight", tot)
	}
	if s.Health.Status != batch.Overloaded {
		t.Fatalf("queue 9/10 is %q, want overloaded", s.Health.Status)
	}
}

// A new tick takes effect from the next tick, re-anchored on it.
func TestSetTickLive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		slow := &slowSink{}
		c, err := New(Config{Tick: 100 * time.Millisecond}, gauges{}, slow)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		stop := run(t, c)
		time.Sleep(250 * time.Millisecond)
		if err := c.SetTick(50 * time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(160 * time.Millisecond) // until 410 ms
		stop()
		want := []time.Duration{100, 200, 300, 350, 400}
		for i, w := range want {
			if got := slow.at[i].Sub(start); got != w*time.Millisecond {
				t.Fatalf("tick %d at +%s, want +%dms", i, got, w)
			}
		}
		if c.SetTick(0) == nil {
			t.Fatal("accepted a zero tick")
		}
	})
}

// With Align, ticks fall on wall-clock multiples of the tick, whenever Run
// starts, so the ticks of several nodes coincide.
func TestAlignedTicks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		time.Sleep(30 * time.Millisecond) // start off a boundary
		slow := &slowSink{}
		c, err := New(Config{Tick: 100 * time.Millisecond, Align: true}, gauges{}, slow)
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, c)
		time.Sleep(300 * time.Millisecond)
		stop()
		for i, at := range slow.at[:3] {
			if ms := at.UnixMilli(); ms%100 != 0 {
				t.Fatalf("tick %d at unix ms %d: not on a 100 ms boundary", i, ms)
			}
		}
		if first := slow.at[0].Sub(time.Now().Add(-300 * time.Millisecond)); first != 70*time.Millisecond {
			t.Fatalf("first tick %s after start, want 70ms (the next boundary)", first)
		}
	})
}

// latencySink records what a LatencyPublisher is lent: the batches and a
// copy of each tick's histogram, taken during the call.
type latencySink struct {
	sink
	counts []int64
	p50s   []time.Duration
	plain  int // calls of Publish, which a LatencyPublisher should not get
}

func (s *latencySink) Publish(b *batch.Batch) { s.plain++; s.sink.Publish(b) }

func (s *latencySink) PublishWithLatencies(b *batch.Batch, lat *stats.Histogram) {
	s.sink.Publish(b)
	s.counts = append(s.counts, lat.Count())
	s.p50s = append(s.p50s, lat.Quantile(0.5))
}

// A LatencyPublisher is lent each tick's histogram: the latencies of that
// tick only, matching the batch's digest, and emptied for the next tick.
func TestLatenciesAreLentPerTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &latencySink{}
		c, err := New(Config{Tick: 100 * time.Millisecond}, gauges{}, out)
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, c)
		time.Sleep(50 * time.Millisecond)
		for range 3 {
			c.Finish(result(event.OnTime, "", 20*time.Millisecond))
		}
		time.Sleep(100 * time.Millisecond) // tick 2: one event
		c.Finish(result(event.Late, event.Cancelled, 120*time.Millisecond))
		c.Finish(result(event.Dropped, event.Shed, 0)) // not processed: no latency
		time.Sleep(100 * time.Millisecond)             // tick 3: idle
		synctest.Wait()
		stop()
		bs := out.all()
		if out.plain != 0 || len(out.counts) != len(bs) || len(bs) < 3 {
			t.Fatalf("%d plain publishes, %d lent histograms for %d batches", out.plain, len(out.counts), len(bs))
		}
		want := []int64{3, 1, 0}
		for i, w := range want {
			if out.counts[i] != w || bs[i].Latency.Count != w {
				t.Fatalf("tick %d: lent histogram holds %d, batch digest %d, want %d", i+1, out.counts[i], bs[i].Latency.Count, w)
			}
		}
		if out.p50s[0] < 19*time.Millisecond || out.p50s[0] > 21*time.Millisecond || out.p50s[1] < 118*time.Millisecond {
			t.Fatalf("lent p50s %v", out.p50s)
		}
	})
}

// /api/stats (Snapshot) and the batches give one verdict at the same moment:
// the latest batch's, though outcomes recorded since its cut would judge
// otherwise on their own.
func TestSnapshotVerdictIsTheLatestBatchs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &sink{}
		// Both workers busy: a shed is overload.
		g := &mutableGauges{g: pipeline.Gauges{QueueCap: 10, Workers: 2, Busy: 2, Limit: 2}}
		c, err := New(Config{Tick: 100 * time.Millisecond}, g, out)
		if err != nil {
			t.Fatal(err)
		}
		if s := c.Snapshot(); s.Health.Status != batch.OK || s.Seq != 0 {
			t.Fatalf("before the first batch: %+v", s)
		}
		stop := run(t, c)
		defer stop()
		check := func(when string, want batch.Status) {
			t.Helper()
			bs := out.all()
			last := bs[len(bs)-1]
			s := c.Snapshot()
			if s.Seq != last.Seq || s.Health != last.Health {
				t.Fatalf("%s: snapshot seq %d health %+v, latest batch seq %d health %+v", when, s.Seq, s.Health, last.Seq, last.Health)
			}
			if s.Health.Status != want {
				t.Fatalf("%s: verdict %q, want %q", when, s.Health.Status, want)
			}
		}
		time.Sleep(50 * time.Millisecond)
		c.Finish(result(event.Dropped, event.Shed, 0))
		time.Sleep(60 * time.Millisecond) // tick 1 cut at 100 ms with a drop
		synctest.Wait()
		check("after a tick with a drop", batch.Overloaded)
		// The next tick has no drop so far: judged alone it would be ok,
		// but the moment's verdict is still the batch's.
		time.Sleep(30 * time.Millisecond)
		check("between batches", batch.Overloaded)
		time.Sleep(70 * time.Millisecond) // tick 2 cut at 200 ms, clean
		synctest.Wait()
		check("after a clean tick", batch.OK)
		// A drop and a filling queue after the cut change nothing until
		// the next batch says so.
		c.Finish(result(event.Late, event.Cancelled, 120*time.Millisecond))
		g.set(pipeline.Gauges{QueueCap: 10, QueueDepth: 6, Workers: 2})
		time.Sleep(10 * time.Millisecond)
		check("a late event after the cut", batch.OK)
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		check("after the tick with the late event", batch.Degraded)
		if s := c.Snapshot(); s.Health.QueueDepth != 6 {
			t.Fatalf("snapshot health %+v, want the batch's queue depth 6", s.Health)
		}
	})
}

type mutableGauges struct {
	mu sync.Mutex
	g  pipeline.Gauges
}

func (m *mutableGauges) set(g pipeline.Gauges) { m.mu.Lock(); m.g = g; m.mu.Unlock() }

func (m *mutableGauges) Gauges() pipeline.Gauges { m.mu.Lock(); defer m.mu.Unlock(); return m.g }

// slowGauges takes delay to answer, as a pipeline would whose gauges waited
// on a lock.
type slowGauges struct{ delay time.Duration }

func (g slowGauges) Gauges() pipeline.Gauges {
	time.Sleep(g.delay)
	return pipeline.Gauges{}
}

// tickJitterMs is the delay of publication: a tick whose timer fires on
// time but whose batch takes 30ms to cut is published 30ms late, and says
// so, in the batch and in the digest since start.
func TestJitterMeasuresPublication(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &sink{}
		c, err := New(Config{Tick: 100 * time.Millisecond}, slowGauges{30 * time.Millisecond}, out)
		if err != nil {
			t.Fatal(err)
		}
		stop := run(t, c)
		time.Sleep(550 * time.Millisecond)
		stop()
		bs := out.all()
		if len(bs) != 6 { // five ticks, and the last batch at shutdown
			t.Fatalf("%d batches, want 6", len(bs))
		}
		for _, b := range bs[:5] {
			if b.Health.TickJitterMs != 30 {
				t.Errorf("batch %d: tickJitterMs %g, want the 30ms it took to cut", b.Seq, b.Health.TickJitterMs)
			}
		}
		c.gauges = gauges{}
		if j := c.Snapshot().TickJitter; j.Max != 30 {
			t.Errorf("tick jitter since start %+v, want a max of 30ms", j)
		}
	})
}

// failed is an event dropped because its worker call failed as kind.
func failed(kind string) event.Result {
	r := result(event.Dropped, event.Failed, 0)
	r.Failure = kind
	return r
}

// The verdict names its cause, and says overloaded only for contention: a
// failing worker with an empty queue, or sheds while a worker is free and
// nothing waits, are degraded with their cause; drops while every slot is
// busy, or a queue nearly full, are overloaded.
func TestVerdictNamesItsCause(t *testing.T) {
	idle := pipeline.Gauges{QueueCap: 100, Workers: 8, Limit: 4, Busy: 1}
	saturated := pipeline.Gauges{QueueCap: 100, Workers: 8, Limit: 4, Busy: 4}
	waiting := pipeline.Gauges{QueueCap: 100, QueueDepth: 3, Workers: 8, Limit: 4, Busy: 2}
	for _, tc := range []struct {
		name   string
		g      pipeline.Gauges
		tick   []event.Result
		status batch.Status
		cause  string
	}{
		{"idle and clean", idle, []event.Result{result(event.OnTime, "", time.Millisecond)}, batch.OK, ""},
		{"worker answering 500, queue empty", idle,
			[]event.Result{failed("http-500"), failed("http-500"), failed("connect")},
			batch.Degraded, "worker failing: http-500"},
		{"sheds with a worker free and nothing waiting", idle,
			[]event.Result{result(event.Dropped, event.Shed, 0), result(event.Dropped, event.Expired, 0), result(event.Dropped, event.Shed, 0)},
			batch.Degraded, "dropped with workers free: shed, expired"},
		{"sheds with every slot busy", saturated,
			[]event.Result{result(event.Dropped, event.Shed, 0)},
			batch.Overloaded, "dropping under load: shed"},
		{"sheds with events waiting", waiting,
			[]event.Result{result(event.Dropped, event.Shed, 0)},
			batch.Overloaded, "dropping under load: shed"},
		{"queue full is contention whatever the gauges say", idle,
			[]event.Result{result(event.Dropped, event.QueueFull, 0)},
			batch.Overloaded, "dropping under load: queue-full"},
		{"queue nearly full of bytes", pipeline.Gauges{QueueCap: 100, QueueDepth: 2, QueueBytes: 950, QueueBytesCap: 1000, Workers: 8, Limit: 4, Busy: 4},
			nil, batch.Overloaded, "queue nearly full"},
		{"overload and a failing worker, overload first", saturated,
			[]event.Result{result(event.Dropped, event.Shed, 0), failed("http-503"), result(event.Late, event.Cancelled, 150*time.Millisecond)},
			batch.Overloaded, "dropping under load: shed; worker failing: http-503; late events"},
		{"late events and a filling queue", pipeline.Gauges{QueueCap: 100, QueueDepth: 60, Workers: 8, Limit: 4, Busy: 4},
			[]event.Result{result(event.Late, event.Cancelled, 150*time.Millisecond)},
			batch.Degraded, "late events; queue filling"},
		{"shutdown drops", idle, []event.Result{result(event.Dropped, event.Shutdown, 0)}, batch.Degraded, "dropped: shutdown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				out := &sink{}
				c, err := New(Config{Tick: 100 * time.Millisecond}, gauges(tc.g), out)
				if err != nil {
					t.Fatal(err)
				}
				stop := run(t, c)
				defer stop()
				time.Sleep(50 * time.Millisecond)
				for _, r := range tc.tick {
					c.Admit(r.Event)
					c.Finish(r)
				}
				time.Sleep(60 * time.Millisecond) // the tick is cut at 100 ms
				synctest.Wait()
				bs := out.all()
				h := bs[len(bs)-1].Health
				if h.Status != tc.status || h.Cause != tc.cause {
					t.Errorf("verdict %q, cause %q; want %q, %q", h.Status, h.Cause, tc.status, tc.cause)
				}
				if s := c.Snapshot(); s.Health != h {
					t.Errorf("/api/stats' health %+v differs from the batch's %+v", s.Health, h)
				}
				// The JSON carries the cause beside the status.
				data, err := batch.JSON(bs[len(bs)-1])
				if err != nil {
					t.Fatal(err)
				}
				var wire struct {
					Health struct{ Status, Cause *string }
				}
				if err := json.Unmarshal(data, &wire); err != nil || wire.Health.Cause == nil || *wire.Health.Cause != tc.cause {
					t.Errorf("JSON %s: want health.cause %q (%v)", data, tc.cause, err)
				}
			})
		})
	}
}
