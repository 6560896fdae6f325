package pipeline

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ontime-rt/ontime/internal/event"
)

// Expecter is implemented by processors that know how long an event's work
// should take (the simulated ones do). The pipeline learns the rest: how
// much longer than expected work actually takes.
type Expecter interface {
	Expect(ev event.Event) time.Duration
}

// estimator learns a high quantile of the service time beyond what the
// processor expects (timer overshoot, CPU contention, or, for processors
// that expect nothing, the whole service time) from a window of recent
// samples. Its limits: the last 512 samples, none older than maxAge.
//
// Samples age out because the estimate steers shedding: an estimate inflated
// by a passing stall (a burst of CPU contention at start-up, say) would shed
// every event, so no event would run, no sample would come to correct it,
// and the pipeline would shed forever. Once the samples behind it are older
// than maxAge, the estimate falls back to the processor's expectation, events
// run again, and fresh samples take over.
type estimator struct {
	mu       sync.Mutex
	window   [512]sample
	n        int // samples seen
	learnt   int // samples seen that count for the estimate
	scratch  []time.Duration
	computed time.Time
	quantile float64
	maxAge   time.Duration

	cached atomic.Int64 // the current estimate, in ns
	newest atomic.Int64 // when the newest sample in it was taken, unix ns
}

type sample struct {
	extra time.Duration // service time beyond expectation
	took  time.Duration // the whole service time, for the call gauges
	at    time.Time
	// learn: the sample counts for the estimate (work cut short before it
	// ran past its expectation only says it needed at least that long).
	learn bool
}

func newEstimator(q float64) *estimator {
	return &estimator{quantile: q, maxAge: 2 * time.Second, scratch: make([]time.Duration, 0, 512)}
}

// observe adds one sample. The quantile is recomputed at most every 5 ms
// (and on the first samples), so the cost per event stays small. A sample
// that would wait for another worker's is skipped: the window is a sample
// anyway, and workers must not queue behind each other here.
func (e *estimator) observe(s sample) {
	if !e.mu.TryLock() {
		return
	}
	defer e.mu.Unlock()
	e.window[e.n%len(e.window)] = s
	e.n++
	if !s.learn {
		return
	}
	now := s.at
	e.newest.Store(now.UnixNano())
	e.learnt++
	if e.learnt > 64 && now.Sub(e.computed) < 5*time.Millisecond {
		return
	}
	e.computed = now
	xs := e.scratch[:0]
	for _, x := range e.window[:min(e.n, len(e.window))] {
		if x.learn && now.Sub(x.at) <= e.maxAge {
			xs = append(xs, x.extra)
		}
	}
	slices.Sort(xs)
	e.cached.Store(int64(quantileOf(xs, e.quantile)))
}

// quantileOf is the q quantile of sorted, which is not empty.
func quantileOf(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// reset forgets every sample: the processor changed.
func (e *estimator) reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.window[:])
	e.n, e.learnt, e.computed = 0, 0, time.Time{}
	e.cached.Store(0)
	e.newest.Store(0)
}

// calls returns the median, 99th percentile and least of the service times
// of the samples at most maxAge old at now, zero when there are none.
func (e *estimator) calls(now time.Time) (p50, p99, least time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	xs := e.scratch[:0]
	for _, x := range e.window[:min(e.n, len(e.window))] {
		if now.Sub(x.at) <= e.maxAge {
			xs = append(xs, x.took)
		}
	}
	if len(xs) == 0 {
		return 0, 0, 0
	}
	slices.Sort(xs)
	return quantileOf(xs, 0.5), quantileOf(xs, 0.99), xs[0]
}

// extra is the learned service time beyond expectation at now: zero when
// the samples behind the estimate are all older than maxAge.
func (e *estimator) extra(now time.Time) time.Duration {
	if now.UnixNano()-e.newest.Load() > int64(e.maxAge) {
		return 0
	}
	return time.Duration(e.cached.Load())
}
