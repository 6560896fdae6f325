package pipeline

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ontime-rt/ontime/internal/event"
)

// fifoWorker is a worker with a few slots and a FIFO in front of them: a
// call is served by the slot that frees first, so its latency grows with
// the calls ahead of it, as a real service's does. Its service time can
// change while it runs.
type fifoWorker struct {
	mu    sync.Mutex
	free  []time.Time // when each slot frees
	svc   time.Duration
	calls int
}

func newFIFOWorker(slots int, svc time.Duration) *fifoWorker {
	return &fifoWorker{free: make([]time.Time, slots), svc: svc}
}

func (w *fifoWorker) setService(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.svc = d
}

func (w *fifoWorker) Process(ctx context.Context, ev event.Event) ([]byte, error) {
	w.mu.Lock()
	now := time.Now()
	i := 0
	for j := range w.free {
		if w.free[j].Before(w.free[i]) {
			i = j
		}
	}
	begin := now
	if w.free[i].After(now) {
		begin = w.free[i]
	}
	w.free[i] = begin.Add(w.svc)
	done := w.free[i]
	w.calls++
	w.mu.Unlock()
	// A cancelled call keeps its slot until served, as a worker that does
	// not notice the cancellation would.
	t := time.NewTimer(done.Sub(now))
	defer t.Stop()
	select {
	case <-t.C:
		return []byte(`{}`), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// overload submits events at rate per second for d, each with deadline.
func overload(p *Pipeline, rate int, deadline, d time.Duration) {
	gap := time.Second / time.Duration(rate)
	for end := time.Now().Add(d); time.Now().Before(end); {
		p.Submit(newEvent(deadline, 0))
		time.Sleep(gap)
	}
}

// With adaptive concurrency and far more workers than the worker has
// slots, the limit settles near its slots, the worker does nearly all it
// can, and few events end late; with fixed concurrency every worker calls
// at once, the worker's queue eats the deadlines and goodput collapses.
func TestAdaptiveConcurrencySettlesNearWorkerCapacity(t *testing.T) {
	const slots, svc = 4, 20 * time.Millisecond // capacity 200/s
	for _, c := range Concurrencies {
		t.Run(string(c), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := newRecorder(t)
				w := newFIFOWorker(slots, svc)
				p, err := New(Config{Workers: 64, QueueCap: 256, Concurrency: c}, w, rec)
				if err != nil {
					t.Fatal(err)
				}
				stop := start(t, p)
				overload(p, 1000, 100*time.Millisecond, 3*time.Second) // 5x capacity
				_, _, before, _ := rec.counts()
				lo, hi := 1<<30, 0
				for range 40 {
					overload(p, 1000, 100*time.Millisecond, 50*time.Millisecond)
					if g := p.Gauges(); c == ConcurrencyAdaptive {
						lo, hi = min(lo, g.Limit), max(hi, g.Limit)
					}
				}
				g := p.Gauges()
				_, _, after, _ := rec.counts()
				stop()
				onTime, late := after[event.OnTime]-before[event.OnTime], after[event.Late]-before[event.Late]
				goodput := float64(onTime) / 2 // per second, over the last 2 s
				_, _, _, reasons := rec.counts()
				t.Logf("limit in [%d, %d]; %.0f on time/s of 200, %d late; calls p50 %s p99 %s best %s; %v", lo, hi, goodput, late, g.CallP50, g.CallP99, g.CallBest, reasons)
				switch c {
				case ConcurrencyFixed:
					if g.Limit != 64 {
						t.Errorf("fixed: limit %d, want the 64 workers", g.Limit)
					}
				case ConcurrencyAdaptive:
					if lo < 2 || hi > 2*slots+1 {
						t.Errorf("limit ranged over [%d, %d], want near the worker's %d slots", lo, hi, slots)
					}
					if goodput < 0.9*200 {
						t.Errorf("%.0f events/s on time, want at least 90%% of the worker's 200/s", goodput)
					}
					if late > onTime/100 {
						t.Errorf("%d late for %d on time, want at most 1%%", late, onTime)
					}
					if g.CallBest != svc {
						t.Errorf("best call latency %s, want the worker's service time %s", g.CallBest, svc)
					}
				}
			})
		})
	}
}

// The learned service time follows a worker that slows down and speeds up
// again, within the 3 s of each phase; the adaptive limit follows too.
func TestLearnedServiceTimeFollowsWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t)
		w := newFIFOWorker(8, 20*time.Millisecond)
		p, err := New(Config{Workers: 8, QueueCap: 64, Concurrency: ConcurrencyAdaptive}, w, rec)
		if err != nil {
			t.Fatal(err)
		}
		stop := start(t, p)
		defer stop()
		steady := func(phase string, want time.Duration) {
			t.Helper()
			overload(p, 100, time.Second, 3*time.Second) // half the slowest capacity
			if got := learnedMedian(p); got != want {
				t.Errorf("%s: learned service time %s, want %s", phase, got, want)
			}
			if g := p.Gauges(); g.CallBest != want || g.CallP50 != want {
				t.Errorf("%s: call p50 %s best %s, want %s", phase, g.CallP50, g.CallBest, want)
			}
		}
		steady("at first", 20*time.Millisecond)
		w.setService(60 * time.Millisecond)
		steady("slowed down", 60*time.Millisecond)
		w.setService(20 * time.Millisecond)
		steady("sped up", 20*time.Millisecond)
	})
}

// A new processor is learned afresh: its service time and adaptive limit
// do not carry over from the old one.
func TestSetProcessorForgetsWhatWasLearned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t)
		p, err := New(Config{Workers: 16, QueueCap: 64, Concurrency: ConcurrencyAdaptive}, newFIFOWorker(16, 50*time.Millisecond), rec)
		if err != nil {
			t.Fatal(err)
		}
		stop := start(t, p)
		defer stop()
		overload(p, 400, time.Second, 2*time.Second)
		if g := p.Gauges(); g.Limit < 4 || learnedMedian(p) != 50*time.Millisecond {
			t.Fatalf("limit %d, learned %s: want a grown limit and 50ms before the change", g.Limit, learnedMedian(p))
		}
		synctest.Wait()
		p.SetProcessor(newFIFOWorker(1, 5*time.Millisecond))
		if g := p.Gauges(); g.Limit != 1 || g.CallBest != 0 || g.CallP50 != 0 || learnedMedian(p) != 0 {
			t.Fatalf("after SetProcessor: %+v, learned %s; want limit 1 and nothing learned", g, learnedMedian(p))
		}
	})
}

// The limit stays within [1, Workers] as the pool shrinks and grows, and
// switching to fixed puts Workers in force.
func TestAdaptiveLimitFollowsWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t)
		p, err := New(Config{Workers: 32, QueueCap: 64, Concurrency: ConcurrencyAdaptive}, Sleep{Mean: 10 * time.Millisecond}, rec)
		if err != nil {
			t.Fatal(err)
		}
		stop := start(t, p)
		defer stop()
		overload(p, 5000, time.Second, time.Second)
		if g := p.Gauges(); g.Limit != 32 {
			t.Fatalf("limit %d under flat latency, want all 32 workers", g.Limit)
		}
		if err := p.SetWorkers(5); err != nil {
			t.Fatal(err)
		}
		if g := p.Gauges(); g.Limit != 5 {
			t.Fatalf("limit %d after shrinking the pool to 5", g.Limit)
		}
		if err := p.SetConcurrency(ConcurrencyFixed); err != nil {
			t.Fatal(err)
		}
		if err := p.SetWorkers(9); err != nil {
			t.Fatal(err)
		}
		if g := p.Gauges(); g.Limit != 9 {
			t.Fatalf("fixed: limit %d, want the 9 workers", g.Limit)
		}
		if err := p.SetConcurrency("sometimes"); err == nil {
			t.Fatal("SetConcurrency accepted an unknown mode")
		}
		if err := p.SetConcurrency(ConcurrencyAdaptive); err != nil {
			t.Fatal(err)
		}
		if g := p.Gauges(); g.Limit != 1 {
			t.Fatalf("back to adaptive: limit %d, want a fresh start at 1", g.Limit)
		}
		synctest.Wait()
	})
}

// learnedMedian is the median of the service times p learned, zero when
// it learned nothing.
func learnedMedian(p *Pipeline) time.Duration {
	p50, _, _, _ := p.est.dist(time.Now()).calls()
	return p50
}
