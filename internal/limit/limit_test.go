package limit

import (
	"container/heap"
	"fmt"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// service models a worker: the latency of a call started with inflight
// calls out (itself included), at a given time.
type service func(inflight int, at time.Time) time.Duration

// stepped is the brief's model of a worker with c slots and a FIFO inside:
// a call waits a whole service time for each full round of calls ahead.
func stepped(c int, svc time.Duration) service {
	return func(inflight int, _ time.Time) time.Duration {
		return svc * time.Duration((inflight+c-1)/c)
	}
}

// call is a call in flight in the simulation.
type call struct {
	end      time.Time
	rtt      time.Duration
	inflight int
}

type calls []call

func (c calls) Len() int           { return len(c) }
func (c calls) Less(i, j int) bool { return c[i].end.Before(c[j].end) }
func (c calls) Swap(i, j int)      { c[i], c[j] = c[j], c[i] }
func (c *calls) Push(x any)        { *c = append(*c, x.(call)) }
func (c *calls) Pop() any {
	old := *c
	x := old[len(old)-1]
	*c = old[:len(old)-1]
	return x
}

// sim drives a controller with an unbounded backlog of calls (overload):
// whenever fewer calls are out than the limit, another starts.
type sim struct {
	g   *Gradient
	now time.Time
	out calls
	// fifo, when set, replaces the latency model with a true FIFO of
	// len(fifo) slots: each entry is when that slot frees.
	fifo []time.Time
	svc  func(at time.Time) time.Duration
	done int // calls completed
}

func newSim(t *testing.T, cfg Config) *sim {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &sim{g: g, now: t0}
}

// run advances the simulation by d, starting calls with model m, and
// calls each after every completion.
func (s *sim) run(d time.Duration, m service, each func()) {
	until := s.now.Add(d)
	for s.now.Before(until) {
		for len(s.out) < s.g.Limit() {
			n := len(s.out) + 1
			var rtt time.Duration
			if s.fifo != nil {
				// The earliest free slot serves the call.
				i := 0
				for j := range s.fifo {
					if s.fifo[j].Before(s.fifo[i]) {
						i = j
					}
				}
				begin := s.now
				if s.fifo[i].After(begin) {
					begin = s.fifo[i]
				}
				s.fifo[i] = begin.Add(s.svc(begin))
				rtt = s.fifo[i].Sub(s.now)
			} else {
				rtt = m(n, s.now)
			}
			heap.Push(&s.out, call{end: s.now.Add(rtt), rtt: rtt, inflight: n})
		}
		c := heap.Pop(&s.out).(call)
		s.now = c.end
		s.g.Observe(Sample{RTT: c.rtt, Inflight: c.inflight}, s.now)
		s.done++
		if each != nil {
			each()
		}
	}
}

// settled runs for d and returns, for its second half, the limits seen
// outside probes at each completion (sorted), and the calls completed per
// second.
func (s *sim) settled(d time.Duration, m service) (limits []int, rate float64) {
	s.run(d/2, m, nil)
	from, done := s.now, s.done
	s.run(d/2, m, func() {
		if !s.g.Probing() {
			limits = append(limits, s.g.Limit())
		}
	})
	slices.Sort(limits)
	return limits, float64(s.done-done) / s.now.Sub(from).Seconds()
}

// Under flat latency the limit grows to the most allowed, and stays there.
func TestGrowsUnderFlatLatency(t *testing.T) {
	s := newSim(t, Config{Max: 50})
	flat := func(int, time.Time) time.Duration { return 10 * time.Millisecond }
	var prev int
	grew := 0
	s.run(3*time.Second, flat, func() {
		if l := s.g.Limit(); l > prev && !s.g.Probing() {
			grew++
			prev = l
		}
	})
	if s.g.Limit() != 50 || s.g.Best() != 10*time.Millisecond {
		t.Fatalf("limit %d best %s after 3s of flat 10ms latency, want 50 and 10ms", s.g.Limit(), s.g.Best())
	}
	if grew < 5 {
		t.Fatalf("the limit rose %d times on its way to 50, want a gradual climb", grew)
	}
}

// When latency doubles whatever the load, the limit shrinks at once; the
// controller then learns the new best and grows again; when latency is back
// to what it was, so are best and limit.
func TestShrinksWhenLatencyDoublesAndRecovers(t *testing.T) {
	s := newSim(t, Config{Max: 40})
	lat := 10 * time.Millisecond
	flat := func(int, time.Time) time.Duration { return lat }
	s.run(2*time.Second, flat, nil)
	if s.g.Limit() != 40 {
		t.Fatalf("limit %d, want 40 before the slowdown", s.g.Limit())
	}
	lat = 20 * time.Millisecond
	lowest := 40
	s.run(200*time.Millisecond, flat, func() { lowest = min(lowest, s.g.Limit()) })
	if lowest > 30 {
		t.Fatalf("latency doubled: the limit fell to %d, want it cut below 30", lowest)
	}
	s.run(3*time.Second, flat, nil)
	if s.g.Best() != 20*time.Millisecond || s.g.Limit() != 40 {
		t.Fatalf("3s after a lasting slowdown: best %s limit %d, want the new best 20ms and the limit back at 40", s.g.Best(), s.g.Limit())
	}
	lat = 10 * time.Millisecond
	s.run(time.Second, flat, nil)
	if s.g.Best() != 10*time.Millisecond || s.g.Limit() != 40 {
		t.Fatalf("after the speed-up: best %s limit %d, want 10ms and 40", s.g.Best(), s.g.Limit())
	}
}

// Whatever the latency does, the limit stays within [Min, Max], also when
// Max changes.
func TestStaysWithinBounds(t *testing.T) {
	s := newSim(t, Config{Max: 16, Min: 2, Initial: 4})
	// Latency that swings wildly with load and time, and timeouts.
	wild := func(n int, at time.Time) time.Duration {
		ms := at.Sub(t0).Milliseconds()
		return time.Duration(1+(ms*7919+int64(n)*104729)%97) * time.Millisecond
	}
	check := func() {
		if l := s.g.Limit(); l < 2 || l > s.g.cfg.Max {
			t.Fatalf("limit %d outside [2, %d]", l, s.g.cfg.Max)
		}
	}
	s.run(5*time.Second, wild, check)
	s.g.SetMax(3)
	check()
	s.run(2*time.Second, wild, check)
	for range 100 {
		s.now = s.now.Add(time.Second)
		s.g.Observe(Sample{RTT: time.Second, Inflight: 3, Outcome: Timeout}, s.now)
		check()
	}
	if s.g.Limit() != 2 {
		t.Fatalf("limit %d after only timeouts, want the least, 2", s.g.Limit())
	}
	s.g.SetMax(1)
	if s.g.Limit() != 1 {
		t.Fatalf("limit %d after SetMax(1), want 1", s.g.Limit())
	}
}

// Failures carry no latency: a burst of fast failures neither lowers the
// best nor moves the limit.
func TestFailuresAreNotSamples(t *testing.T) {
	s := newSim(t, Config{Max: 20})
	s.run(2*time.Second, stepped(4, 10*time.Millisecond), nil)
	best, lim := s.g.Best(), s.g.Limit()
	for range 1000 {
		s.now = s.now.Add(time.Millisecond)
		s.g.Observe(Sample{RTT: 50 * time.Microsecond, Inflight: lim, Outcome: Failed}, s.now)
	}
	if s.g.Best() != best || s.g.Limit() != lim {
		t.Fatalf("after fast failures: best %s limit %d, want %s and %d unchanged", s.g.Best(), s.g.Limit(), best, lim)
	}
}

// A worker with a true concurrency of c and a FIFO inside: the limit
// settles near c (above it by the headroom that keeps the worker busy), and
// the worker does nearly all the work it can.
func TestSettlesNearTrueConcurrency(t *testing.T) {
	const svc = 20 * time.Millisecond
	for _, c := range []int{1, 2, 4, 8, 16, 32} {
		for _, model := range []string{"stepped", "fifo"} {
			t.Run(fmt.Sprintf("%s/C=%d", model, c), func(t *testing.T) {
				s := newSim(t, Config{Max: 256})
				if model == "fifo" {
					s.fifo = make([]time.Time, c)
					s.svc = func(time.Time) time.Duration { return svc }
				}
				limits, rate := s.settled(20*time.Second, stepped(c, svc))
				lo, median, hi := limits[0], limits[len(limits)/2], limits[len(limits)-1]
				capacity := float64(c) / svc.Seconds()
				t.Logf("limit in [%d, %d], median %d; %.0f calls/s of %.0f", lo, hi, median, rate, capacity)
				// The limit stays within [0.75c, 2c], give or take the one
				// call a small limit rounds to.
				if float64(lo) < 0.75*float64(c) || hi > 2*c+1 {
					t.Errorf("limit ranged over [%d, %d], want within [%.2f, %d]", lo, hi, 0.75*float64(c), 2*c+1)
				}
				// With a true FIFO the median sits at or above c, so the
				// worker is kept busy. (In the stepped model a limit just above
				// c costs a whole service time, so it settles just below.)
				if model == "fifo" && (median < c || median > 2*c) {
					t.Errorf("median limit %d, want within [%d, %d]", median, c, 2*c)
				}
				// The stepped model only runs at full speed at a multiple of c:
				// its throughput says little.
				if model == "fifo" && rate < 0.95*capacity {
					t.Errorf("%.0f calls/s, want at least 95%% of the capacity %.0f", rate, capacity)
				}
			})
		}
	}
}

// A FIFO worker whose capacity halves (its service time doubles) and then
// recovers: the limit follows within a few seconds each way.
func TestFollowsCapacityChanges(t *testing.T) {
	const c = 8
	s := newSim(t, Config{Max: 64})
	svc := 20 * time.Millisecond
	s.fifo = make([]time.Time, c)
	s.svc = func(time.Time) time.Duration { return svc }
	rate := func(d time.Duration) float64 {
		done, from := s.done, s.now
		s.run(d, nil, nil)
		return float64(s.done-done) / s.now.Sub(from).Seconds()
	}
	s.run(5*time.Second, nil, nil)
	svc = 40 * time.Millisecond // capacity 400/s -> 200/s
	rate(2 * time.Second)
	if r := rate(2 * time.Second); r < 0.9*200 {
		t.Errorf("after the capacity halved: %.0f calls/s, want 90%% of 200", r)
	}
	if s.g.Best() != 40*time.Millisecond {
		t.Errorf("best %s after the slowdown, want 40ms", s.g.Best())
	}
	svc = 20 * time.Millisecond
	rate(2 * time.Second)
	if r := rate(2 * time.Second); r < 0.9*400 {
		t.Errorf("after the capacity recovered: %.0f calls/s, want 90%% of 400", r)
	}
	if s.g.Best() != 20*time.Millisecond {
		t.Errorf("best %s after the recovery, want 20ms", s.g.Best())
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{{}, {Max: 4, Min: 5}, {Max: 4, Initial: 9}, {Max: 4, Quantile: 2}, {Max: 4, Tolerance: -1}, {Max: 4, Interval: -1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted a bad config", cfg)
		}
	}
}
