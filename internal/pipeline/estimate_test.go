package pipeline

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"pgregory.net/rapid"

	"github.com/ontime-rt/ontime/internal/event"
)

const ms = time.Millisecond

// learned returns the distribution an estimator learns from the samples
// given as (took, censored) pairs, all taken at one instant.
func learned(t *testing.T, samples ...sample) *dist {
	t.Helper()
	e := newEstimator()
	now := time.Now()
	for _, s := range samples {
		s.at = now
		if s.extra == 0 {
			s.extra = s.took
		}
		e.observe(s)
	}
	refresh(e, now)
	d := e.dist(now)
	if d == nil {
		t.Fatal("nothing learned")
	}
	return d
}

// refresh recomputes e's distribution now, as the next sample after
// refreshEvery would.
func refresh(e *estimator, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cur.Store(e.computeLocked(now))
}

func repeat(n int, s sample) []sample {
	out := make([]sample, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// A call cut at its deadline only says the work needed at least that
// long. Half the calls finishing at 10 ms and half cut at 5 ms means the
// work takes 10 ms: counting the cut ones as 5 ms calls would promise an
// event with 6 ms left an even chance.
func TestEstimatorCensoredCallsAreLowerBounds(t *testing.T) {
	d := learned(t, append(repeat(100, sample{took: 10 * ms}), repeat(100, sample{took: 5 * ms, censored: true})...)...)
	if c, _ := d.odds(0, 6*ms); c != 0 {
		t.Errorf("chance within 6ms %g, want 0: no call finished that soon", c)
	}
	if c, _ := d.odds(0, 10*ms); !near(c, 1) {
		t.Errorf("chance within 10ms %g, want 1", c)
	}
	// Cut beyond every finished call: what happens there is unknown, and
	// the estimate does not guess that it finishes.
	d = learned(t, append(repeat(50, sample{took: 10 * ms}), repeat(50, sample{took: 100 * ms, censored: true})...)...)
	if c, _ := d.odds(0, time.Second); !near(c, 0.5) {
		t.Errorf("chance within 1s %g, want 0.5", c)
	}
	if p50, p90, _, _ := d.calls(); p50 != 10*ms || p90 != 100*ms {
		t.Errorf("p50 %s p90 %s, want 10ms and the longest time seen, 100ms (a lower bound)", p50, p90)
	}
}

// One slow call weighs one call: it moves the chance of finishing by its
// share of the window, and the p99 not at all.
func TestEstimatorOutlierWeighsOneCall(t *testing.T) {
	d := learned(t, append(repeat(windowSize-1, sample{took: 20 * ms}), sample{took: 300 * ms})...)
	if c, _ := d.odds(0, 100*ms); !near(c, float64(windowSize-1)/windowSize) {
		t.Errorf("chance within 100ms %g, want %d/%d", c, windowSize-1, windowSize)
	}
	if _, _, p99, least := d.calls(); p99 != 20*ms || least != 20*ms {
		t.Errorf("p99 %s least %s, want 20ms", p99, least)
	}
}

// The expected worker time of a start is the service time, or the time
// left when that is shorter (the call is cancelled then); the processor's
// own expectation shifts the learned extra time.
func TestEstimatorOdds(t *testing.T) {
	d := learned(t, append(repeat(50, sample{took: 10 * ms}), repeat(50, sample{took: 30 * ms})...)...)
	for _, c := range []struct {
		expected, left time.Duration
		chance         float64
		cost           time.Duration
	}{
		{0, 100 * ms, 1, 20 * ms},     // half 10, half 30
		{0, 20 * ms, 0.5, 15 * ms},    // half 10, half cut at 20
		{0, 5 * ms, 0, 5 * ms},        // cut at 5
		{0, 0, 0, 0},                  // no time left
		{5 * ms, 20 * ms, 0, 20 * ms}, // each call takes 5 ms more than learned: 15 or 35, both cut or ... 15 + cut at 20
	} {
		chance, cost := d.odds(c.expected, c.left)
		if c.expected == 5*ms {
			// extra 10 or 30 on top of 5: 15 ms calls finish, 35 ms ones are cut at 20.
			c.chance, c.cost = 0.5, 17500*time.Microsecond
		}
		if !near(chance, c.chance) || (c.left > 0 && (cost-c.cost).Abs() > time.Microsecond) {
			t.Errorf("odds(%s, %s) = %g, %s; want %g, %s", c.expected, c.left, chance, cost, c.chance, c.cost)
		}
	}
}

// The window follows a worker that changed, and what was learned before an
// idle spell longer than the window's age is forgotten.
func TestEstimatorFollowsAndForgets(t *testing.T) {
	e := newEstimator()
	now := time.Now()
	for range windowSize {
		now = now.Add(ms)
		e.observe(sample{extra: 20 * ms, took: 20 * ms, at: now})
	}
	for range windowSize / 2 {
		now = now.Add(ms)
		e.observe(sample{extra: 60 * ms, took: 60 * ms, at: now})
	}
	refresh(e, now)
	if c, _ := e.dist(now).odds(0, 30*ms); !near(c, 0.5) {
		t.Errorf("chance within 30ms %g after half the window slowed to 60ms, want 0.5", c)
	}
	if d := e.dist(now.Add(windowAge + ms)); d != nil {
		t.Error("the distribution outlived its samples' age")
	}
	e.reset()
	if d := e.dist(now); d != nil {
		t.Error("reset kept the distribution")
	}
}

// Property: while there is a worker free for every event waiting, no event
// is shed, whatever was learned: calls that overrun their deadline teach
// the estimator that work is hopeless, and still every event that arrives
// to a free worker is tried. Events are submitted only while the events in
// the pipeline (waiting or running) are fewer than the workers.
func TestNoShedWhileAWorkerIsFree(t *testing.T) {
	synctest.Test(t, func(st *testing.T) {
		rapid.Check(bubbleTB{st}, func(t *rapid.T) {
			rec := newRecorder(st)
			workers := rapid.IntRange(1, 8).Draw(t, "workers")
			cfg := Config{
				Workers:     workers,
				QueueCap:    64,
				Policy:      rapid.SampledFrom([]Policy{EDF, LIFO}).Draw(t, "policy"),
				Concurrency: ConcurrencyFixed,
			}
			works := rapid.SliceOfN(rapid.IntRange(1, 300), 1, 50).Draw(t, "workMs")
			var i atomic.Int64
			proc := ProcessorFunc(func(ctx context.Context, ev event.Event) ([]byte, error) {
				return Sleep{Mean: time.Duration(works[int(i.Add(1))%len(works)]) * ms}.Process(ctx, ev)
			})
			p, err := New(cfg, proc, rec)
			if err != nil {
				t.Fatal(err)
			}
			// Whatever was learned before: here, that nothing finishes.
			for range 100 {
				p.est.observe(sample{extra: time.Second, took: time.Second, at: time.Now(), censored: true})
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			n := rapid.IntRange(1, 200).Draw(t, "events")
			for range n {
				synctest.Wait()
				if g := p.Gauges(); g.QueueDepth+g.Busy < workers {
					deadline := time.Duration(rapid.IntRange(1, 200).Draw(t, "deadlineMs")) * ms
					p.Submit(newEvent(deadline, 0))
				}
				time.Sleep(time.Duration(rapid.IntRange(0, 50).Draw(t, "gapMs")) * ms)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if _, _, _, reasons := rec.counts(); reasons[event.Shed] != 0 || reasons[event.Expired] != 0 {
				t.Fatalf("with a free worker for every event: %v, want none shed or expired", reasons)
			}
		})
	})
}

// A single slow call changes nothing at low load: every other event is on
// time, with a worker free for each.
func TestOutlierChangesNothingAtLowLoad(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t)
		var calls atomic.Int64
		proc := ProcessorFunc(func(ctx context.Context, ev event.Event) ([]byte, error) {
			work := 10 * ms
			if calls.Add(1) == 20 {
				work = 300 * ms
			}
			return Sleep{Mean: work}.Process(ctx, ev)
		})
		p, err := New(Config{Workers: 4}, proc, rec)
		if err != nil {
			t.Fatal(err)
		}
		stop := start(t, p)
		overload(p, 50, 100*ms, 3*time.Second) // a quarter of the 4 workers' 400/s
		time.Sleep(200 * ms)
		stop()
		admitted, _, by, reasons := rec.counts()
		if by[event.OnTime] != admitted-1 || reasons[event.Cancelled] != 1 {
			t.Fatalf("%d events: %v %v; want all on time but the slow call, cancelled", admitted, by, reasons)
		}
	})
}
