package pipeline

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/event"
)

// order records the order in which events are processed.
type order struct {
	mu  sync.Mutex
	ids []uuid.UUID
}

func (o *order) processor(work time.Duration) Processor {
	return expecting{work: work, f: func(ctx context.Context, ev event.Event) ([]byte, error) {
		o.mu.Lock()
		o.ids = append(o.ids, ev.ID)
		o.mu.Unlock()
		return Sleep{Mean: work}.Process(ctx, ev)
	}}
}

type expecting struct {
	work time.Duration
	f    ProcessorFunc
}

func (e expecting) Process(ctx context.Context, ev event.Event) ([]byte, error) { return e.f(ctx, ev) }
func (e expecting) Expect(event.Event) time.Duration                            { return e.work }

func (o *order) got() []uuid.UUID {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]uuid.UUID(nil), o.ids...)
}

// An event whose time left is shorter than its work is shed at once, and
// never started.
func TestShedAtAdmission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t)
		o := &order{}
		p, err := New(Config{Workers: 1}, o.processor(50*time.Millisecond), rec)
		if err != nil {
			t.Fatal(err)
		}
		stop := start(t, p)
		ev := newEvent(30*time.Millisecond, 0)
		if ok, reason := p.Submit(ev); ok || reason != event.Shed {
			t.Fatalf("submit: %v %q, want shed", ok, reason)
		}
		stale := event.Event{ID: uuid.New(), CreatedAt: time.Now().Add(-time.Second), Deadline: 100 * time.Millisecond}
		if ok, reason := p.Submit(stale); ok || reason != event.Expired {
			t.Fatalf("stale submit: %v %q, want expired", ok, reason)
		}
		synctest.Wait()
		stop()
		if len(o.got()) != 0 {
			t.Fatal("a shed event was processed")
		}
	})
}

// EDF serves the earliest deadline first, and sheds at dequeue what can no
// longer finish in time instead of starting it to end late.
func TestEDFOrderAndShedding(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t)
		o := &order{}
		p, err := New(Config{Workers: 1, QueueCap: 8, Policy: EDF}, o.processor(10*time.Millisecond), rec)
		if err != nil {
			t.Fatal(err)
		}
		stop := start(t, p)
		busy := newEvent(time.Second, 0)
		p.Submit(busy)
		synctest.Wait() // the worker is busy for 10 ms
		late := newEvent(300*time.Millisecond, 0)
		soon := newEvent(100*time.Millisecond, 0)
		mid := newEvent(200*time.Millisecond, 0)
		doomed := newEvent(15*time.Millisecond, 0) // after 10 ms of waiting, 5 ms left for 10 ms of work
		for _, ev := range []event.Event{late, soon, mid, doomed} {
			if ok, _ := p.Submit(ev); !ok {
				t.Fatalf("submit %v refused", ev)
			}
		}
		time.Sleep(time.Second)
		stop()
		want := []uuid.UUID{busy.ID, soon.ID, mid.ID, late.ID}
		got := o.got()
		if len(got) != len(want) {
			t.Fatalf("processed %d events, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("processing order differs at %d", i)
			}
		}
		if res, _ := rec.result(doomed.ID); res.Status != event.Dropped || res.Reason != event.Shed {
			t.Fatalf("doomed event: %s/%s, want dropped/shed", res.Status, res.Reason)
		}
		_, _, by, _ := rec.counts()
		if by[event.Late] != 0 || by[event.OnTime] != 4 {
			t.Fatalf("statuses %v, want 4 on time and none late", by)
		}
	})
}

// A full EDF queue keeps the earliest deadlines: a newcomer with an earlier
// deadline evicts the latest, one with a later deadline is refused.
func TestEDFEvictsLatestDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t)
		p, err := New(Config{Workers: 1, QueueCap: 2, Policy: EDF}, Sleep{}, rec)
		if err != nil {
			t.Fatal(err)
		}
		a, b := newEvent(time.Second, 0), newEvent(3*time.Second, 0)
		p.Submit(a)
		p.Submit(b)
		if ok, reason := p.Submit(newEvent(5*time.Second, 0)); ok || reason != event.QueueFull {
			t.Fatalf("later newcomer: %v %q, want refused as queue-full", ok, reason)
		}
		if ok, _ := p.Submit(newEvent(2*time.Second, 0)); !ok {
			t.Fatal("earlier newcomer refused")
		}
		if res, ok := rec.result(b.ID); !ok || res.Reason != event.QueueFull {
			t.Fatalf("latest deadline not evicted: %+v", res)
		}
		stop := start(t, p)
		stop()
	})
}

// Adaptive LIFO: while the backlog is longer than the workers, the newest
// event is served first.
func TestLIFOServesNewestWhenBackedUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t)
		o := &order{}
		p, err := New(Config{Workers: 1, QueueCap: 8, Policy: LIFO}, o.processor(10*time.Millisecond), rec)
		if err != nil {
			t.Fatal(err)
		}
		evs := make([]event.Event, 4)
		for i := range evs {
			evs[i] = newEvent(time.Second, 0)
			p.Submit(evs[i])
		}
		stop := start(t, p)
		time.Sleep(time.Second)
		stop()
		got := o.got()
		// Backlog 4 > 1 worker: newest first; then 3, 2; the last one left
		// is served as FIFO would.
		want := []uuid.UUID{evs[3].ID, evs[2].ID, evs[1].ID, evs[0].ID}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("processing order differs at %d", i)
			}
		}
	})
}

// The service estimate learns overshoot beyond the processor's expectation.
func TestEstimatorLearnsOvershoot(t *testing.T) {
	e := newEstimator(0.99)
	now := time.Now()
	for i := range 1000 {
		extra := time.Millisecond
		if i%100 == 0 {
			extra = 9 * time.Millisecond // 1% of samples overshoot more
		}
		now = now.Add(10 * time.Millisecond)
		e.observe(sample{extra: extra, took: extra, at: now, learn: true})
	}
	if got := e.extra(now); got != time.Millisecond && got != 9*time.Millisecond {
		t.Fatalf("p99 estimate %s", got)
	}
	for range 600 {
		now = now.Add(10 * time.Millisecond)
		e.observe(sample{extra: 20 * time.Millisecond, took: 20 * time.Millisecond, at: now, learn: true})
	}
	if got := e.extra(now); got != 20*time.Millisecond {
		t.Fatalf("estimate %s after the work slowed down to +20ms, want 20ms", got)
	}
}

// A stall inflates the estimate; once no fresh sample supports it, it falls
// back to zero so events run again instead of being shed forever.
func TestEstimatorForgetsAStall(t *testing.T) {
	e := newEstimator(0.999)
	now := time.Now()
	for range 100 {
		now = now.Add(time.Millisecond)
		e.observe(sample{extra: 80 * time.Millisecond, took: 80 * time.Millisecond, at: now, learn: true}) // a start-up stall
	}
	if got := e.extra(now); got != 80*time.Millisecond {
		t.Fatalf("estimate %s during the stall", got)
	}
	now = now.Add(3 * time.Second) // everything shed since: no samples
	if got := e.extra(now); got != 0 {
		t.Fatalf("estimate %s with only stale samples, want 0", got)
	}
	e.observe(sample{extra: time.Millisecond, took: time.Millisecond, at: now, learn: true}) // the first event run again
	if got := e.extra(now); got != time.Millisecond {
		t.Fatalf("estimate %s after a fresh sample, want the stall forgotten", got)
	}
}

// End to end: after a stall that taught a large overshoot, the pipeline
// recovers and processes events on time again.
func TestPipelineRecoversFromInflatedEstimate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t)
		p, err := New(Config{Workers: 1, QueueCap: 8}, Sleep{Mean: 10 * time.Millisecond}, rec)
		if err != nil {
			t.Fatal(err)
		}
		for range 100 {
			p.est.observe(sample{extra: time.Second, took: time.Second, at: time.Now(), learn: true}) // as if work had overrun by 1 s
		}
		stop := start(t, p)
		if ok, reason := p.Submit(newEvent(100*time.Millisecond, 0)); ok || reason != event.Shed {
			t.Fatalf("with the inflated estimate: %v %q, want shed", ok, reason)
		}
		time.Sleep(3 * time.Second)
		ev := newEvent(100*time.Millisecond, 0)
		if ok, _ := p.Submit(ev); !ok {
			t.Fatal("still shedding after the estimate went stale")
		}
		time.Sleep(20 * time.Millisecond)
		synctest.Wait()
		stop()
		if res, _ := rec.result(ev.ID); res.Status != event.OnTime {
			t.Fatalf("event after recovery: %s/%s, want on-time", res.Status, res.Reason)
		}
	})
}

// Spin's cost is arithmetic in proportion to the work (calibrated once),
// not wall time, and it stops when cancelled. (No timing is asserted: on a
// loaded machine calibration and work both slow down.)
func TestSpinCostsCPU(t *testing.T) {
	s := NewSpin(Work{Mean: 5 * time.Millisecond})
	if s.perMilli <= 0 {
		t.Fatalf("calibrated %g blocks per ms", s.perMilli)
	}
	if a, b := s.blocks(5*time.Millisecond), s.blocks(10*time.Millisecond); a <= 0 || b < 2*a-1 || b > 2*a+1 {
		t.Fatalf("5ms costs %d blocks and 10ms %d: want proportional", a, b)
	}
	ev := newEvent(time.Minute, 0)
	if _, err := s.Process(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Process(ctx, ev); err == nil {
		t.Fatal("cancelled work reported success")
	}
}
