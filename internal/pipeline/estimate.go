package pipeline

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ontime-rt/ontime/internal/event"
)

// Expecter is implemented by processors that know how long an event's work
// should take (the simulated ones do). The pipeline learns the rest: the
// distribution of how much longer (or shorter) than expected work takes.
type Expecter interface {
	Expect(ev event.Event) time.Duration
}

// Limits of the estimator's window.
const (
	// windowSize is the most recent calls the distribution is learned
	// from: enough for a 1-in-200 slow call to show at its weight, few
	// enough that a change of the worker is learned within a second or
	// two at hundreds of calls per second.
	windowSize = 512
	// windowAge is the oldest a call may be to count: at a few calls per
	// second the window still follows the worker within this time.
	windowAge = 10 * time.Second
	// refreshEvery bounds how often the distribution is recomputed (it
	// sorts the window), so the cost per call stays small.
	refreshEvery = 5 * time.Millisecond
)

// estimator learns the distribution of service times of the processor from
// a window of recent calls: how long each call took beyond what the
// processor expected (the whole call for processors that expect nothing).
//
// A call cut short at its deadline is a censored sample: its true duration
// is at least what was seen, not what was seen. The distribution is the
// Kaplan-Meier estimate, which counts such a call as still running at every
// time up to its cut and drops it from the risk set after, so deadlines
// never teach the estimator that work is shorter than it is, and a slow
// outlier weighs exactly one call in the window: a single 300 ms call among
// 511 of 20 ms moves the chance of finishing in 100 ms by 0.2 %.
//
// The estimate is immutable once made (a *dist), published through an
// atomic pointer: the admission decisions read it without a lock.
type estimator struct {
	mu       sync.Mutex
	window   [windowSize]sample
	n        int // samples seen since the last reset
	computed time.Time
	scratch  []sample

	cur    atomic.Pointer[dist] // nil until a call has ended
	newest atomic.Int64         // when the newest sample was taken, unix ns
}

type sample struct {
	extra time.Duration // service time beyond expectation (may be negative)
	took  time.Duration // the whole service time, for the gauges
	at    time.Time
	// censored: the call was cut at the event's deadline, so its true
	// duration is at least took.
	censored bool
}

func newEstimator() *estimator {
	return &estimator{scratch: make([]sample, 0, windowSize)}
}

// observe adds one sample. The distribution is recomputed at most every
// refreshEvery (and on every one of the first samples), so the cost per
// event stays small. A sample that would wait for another worker's is
// skipped: the window is a sample anyway, and workers must not queue behind
// each other here.
func (e *estimator) observe(s sample) {
	if !e.mu.TryLock() {
		return
	}
	defer e.mu.Unlock()
	e.window[e.n%windowSize] = s
	e.n++
	e.newest.Store(s.at.UnixNano())
	if e.n > 64 && s.at.Sub(e.computed) < refreshEvery {
		return
	}
	e.computed = s.at
	e.cur.Store(e.computeLocked(s.at))
}

// computeLocked makes the distribution of the window's samples at most
// windowAge old at now, nil when there are none. Called with e.mu held.
func (e *estimator) computeLocked(now time.Time) *dist {
	xs := e.scratch[:0]
	for _, s := range e.window[:min(e.n, windowSize)] {
		if now.Sub(s.at) <= windowAge {
			xs = append(xs, s)
		}
	}
	if len(xs) == 0 {
		return nil
	}
	d := &dist{n: len(xs)}
	slices.SortFunc(xs, func(a, b sample) int { return compareSample(a.extra, a.censored, b.extra, b.censored) })
	d.extra = kaplanMeier(xs, func(s sample) time.Duration { return s.extra })
	slices.SortFunc(xs, func(a, b sample) int { return compareSample(a.took, a.censored, b.took, b.censored) })
	d.took = kaplanMeier(xs, func(s sample) time.Duration { return s.took })
	d.least = xs[0].took
	var sum time.Duration
	for _, x := range xs {
		sum += x.took
	}
	d.mean = sum / time.Duration(len(xs))
	return d
}

// compareSample orders samples by time, and at equal times the finished
// before the censored: a call cut at t was still running at t (the usual
// convention of the Kaplan-Meier estimate).
func compareSample(a time.Duration, ac bool, b time.Duration, bc bool) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	case ac == bc:
		return 0
	case bc:
		return -1
	}
	return 1
}

// reset forgets every sample: the processor changed.
func (e *estimator) reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.window[:])
	e.n, e.computed = 0, time.Time{}
	e.cur.Store(nil)
	e.newest.Store(0)
}

// dist returns the distribution in force at now: nil when nothing was
// learned, or when every sample behind it is older than windowAge (the
// worker has been idle: what it did then may no longer hold).
func (e *estimator) dist(now time.Time) *dist {
	d := e.cur.Load()
	if d == nil || now.UnixNano()-e.newest.Load() > int64(windowAge) {
		return nil
	}
	return d
}

// dist is a learned service-time distribution: survival curves of the
// time beyond expectation (for decisions) and of the whole call (for the
// gauges).
type dist struct {
	extra, took survival
	least       time.Duration // the fastest call in the window
	// mean is the mean service time, a lower bound when calls were cut
	// (it counts them as ending when cut).
	mean time.Duration
	n    int // samples behind it
}

// survival is a Kaplan-Meier survival curve: S(t), the chance that a call
// is still running at t, as a step function that drops at each time a
// call finished. Below the first step S is 1; past the last it stays at its
// last value (censored calls beyond it: what happens there is unknown, and
// the estimate does not guess it finishes).
type survival struct {
	at   []time.Duration // times at which some call finished, ascending
	s    []float64       // S just after at[i]
	area []float64       // ∫ S from at[0] to at[i], in ns
	max  time.Duration   // the longest time seen, finished or censored
}

// kaplanMeier builds the curve of the sorted samples' times.
func kaplanMeier(xs []sample, t func(sample) time.Duration) survival {
	var c survival
	c.max = t(xs[len(xs)-1])
	atRisk := len(xs)
	s := 1.0
	for i := 0; i < len(xs); {
		ti := t(xs[i])
		died, gone := 0, 0
		for ; i < len(xs) && t(xs[i]) == ti; i++ {
			if !xs[i].censored {
				died++
			}
			gone++
		}
		if died > 0 {
			s *= 1 - float64(died)/float64(atRisk)
			area := 0.0
			if k := len(c.at); k > 0 {
				area = c.area[k-1] + c.s[k-1]*float64(ti-c.at[k-1])
			}
			c.at, c.s, c.area = append(c.at, ti), append(c.s, s), append(c.area, area)
		}
		atRisk -= gone
	}
	return c
}

// survive is S(x): the chance that a call is still running at x.
func (c *survival) survive(x time.Duration) float64 {
	i, found := slices.BinarySearch(c.at, x)
	if found {
		return c.s[i]
	}
	if i == 0 {
		return 1
	}
	return c.s[i-1]
}

// integral is ∫ S from at[0] (or from x when x is below it) to x, in ns:
// negative below at[0], where S is 1.
func (c *survival) integral(x time.Duration) float64 {
	if len(c.at) == 0 || x <= c.at[0] {
		if len(c.at) == 0 {
			return float64(x)
		}
		return float64(x - c.at[0])
	}
	i, found := slices.BinarySearch(c.at, x)
	if !found {
		i--
	}
	return c.area[i] + c.s[i]*float64(x-c.at[i])
}

// quantile is the least time by which a share q of calls finished; when
// censoring leaves fewer than q finished by the longest time seen, that
// time (a lower bound).
func (c *survival) quantile(q float64) time.Duration {
	for i, s := range c.s {
		if 1-s >= q-1e-9 {
			return c.at[i]
		}
	}
	return c.max
}

// odds judges starting an event now: chance is the probability that it
// finishes before its deadline, left from now, given the processor expects
// expected; cost is the worker time it is expected to take, its service
// time or, if longer, the time left (at which it is cancelled).
func (d *dist) odds(expected, left time.Duration) (chance float64, cost time.Duration) {
	if left <= 0 {
		return 0, 0
	}
	// Work ends by left when its extra time ends by left-expected; the
	// worker is busy until min(expected+extra, left), whose mean is the
	// integral of S from -expected to left-expected.
	chance = 1 - d.extra.survive(left-expected)
	cost = time.Duration(d.extra.integral(left-expected) - d.extra.integral(-expected))
	return chance, max(cost, time.Microsecond)
}

// yield is the events expected on time per second of worker time, for an
// event judged by odds: what a worker's time buys when it starts it.
func yield(chance float64, cost time.Duration) float64 {
	if cost <= 0 {
		return math.Inf(1)
	}
	return chance / cost.Seconds()
}

// calls returns the median, 90th and 99th percentiles and the least of the
// service times learned, zero when nothing is.
func (d *dist) calls() (p50, p90, p99, least time.Duration) {
	if d == nil {
		return 0, 0, 0, 0
	}
	return d.took.quantile(0.5), d.took.quantile(0.9), d.took.quantile(0.99), d.least
}
