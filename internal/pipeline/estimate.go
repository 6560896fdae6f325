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
// samples. Its limit is the window: the last 512 samples.
type estimator struct {
	mu       sync.Mutex
	window   [512]time.Duration
	n        int // samples seen
	scratch  [512]time.Duration
	computed time.Time
	quantile float64

	cached atomic.Int64 // the current estimate, in ns
}

func newEstimator(q float64) *estimator { return &estimator{quantile: q} }

// observe adds one sample. The quantile is recomputed at most every 5 ms
// (and on the first samples), so the cost per event stays small. A sample
// that would wait for another worker's is skipped: the window is a sample
// anyway, and workers must not queue behind each other here.
func (e *estimator) observe(extra time.Duration, now time.Time) {
	if !e.mu.TryLock() {
		return
	}
	defer e.mu.Unlock()
	e.window[e.n%len(e.window)] = extra
	e.n++
	if e.n > 64 && now.Sub(e.computed) < 5*time.Millisecond {
		return
	}
	e.computed = now
	k := min(e.n, len(e.window))
	s := e.scratch[:k]
	copy(s, e.window[:k])
	slices.Sort(s)
	i := int(e.quantile*float64(k)+0.5) - 1
	e.cached.Store(int64(s[max(0, min(i, k-1))]))
}

// extra is the learned service time beyond expectation.
func (e *estimator) extra() time.Duration { return time.Duration(e.cached.Load()) }
