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

// teach feeds the estimator n calls that each took d, as if they had run.
func teach(p *Pipeline, n int, d time.Duration) {
	for range n {
		p.est.observe(sample{extra: d, took: d, at: time.Now()})
	}
}

// A free worker starts any event with time left, whatever the estimate
// says of its chance: trying costs only capacity that would sit idle.
// Under contention a newcomer that no learned call could finish in time is
// shed at once, with the numbers behind the decision, and never started.
func TestShedAtAdmissionOnlyUnderContention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t)
		o := &order{}
		p, err := New(Config{Workers: 1}, o.processor(50*time.Millisecond), rec)
		if err != nil {
			t.Fatal(err)
		}
		teach(p, 100, 50*time.Millisecond)
		stop := start(t, p)
		tight := newEvent(30*time.Millisecond, 0)
		if ok, reason := p.Submit(tight); !ok {
			t.Fatalf("with a free worker: %v %q, want started", ok, reason)
		}
		time.Sleep(40 * time.Millisecond)
		synctest.Wait()
		if res, _ := rec.result(tight.ID); res.Status != event.Late || res.Reason != event.Cancelled {
			t.Fatalf("tight event with a free worker: %s/%s, want tried and cancelled at its deadline", res.Status, res.Reason)
		}

		running, waiting := newEvent(time.Second, 0), newEvent(time.Second, 0)
		p.Submit(running)
		synctest.Wait() // the worker is busy for 50 ms
		if ok, _ := p.Submit(waiting); !ok {
			t.Fatal("an event with a second ahead was not queued")
		}
		hopeless := newEvent(30*time.Millisecond, 0)
		if ok, reason := p.Submit(hopeless); ok || reason != event.Shed {
			t.Fatalf("under contention: %v %q, want shed", ok, reason)
		}
		res, _ := rec.result(hopeless.ID)
		if want := "needs ~50ms, 30ms left: 0% chance in time; 1 waiting, 1 busy"; res.Detail != want {
			t.Fatalf("detail %q, want %q", res.Detail, want)
		}
		stale := event.Event{ID: uuid.New(), CreatedAt: time.Now().Add(-time.Second), Deadline: 100 * time.Millisecond}
		if ok, reason := p.Submit(stale); ok || reason != event.Expired {
			t.Fatalf("stale submit: %v %q, want expired", ok, reason)
		}
		time.Sleep(time.Second)
		stop()
		for _, id := range o.got() {
			if id == hopeless.ID || id == stale.ID {
				t.Fatal("a shed or expired event was processed")
			}
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
