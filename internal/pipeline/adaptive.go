package pipeline

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/limit"
)

// Concurrency says how many events are processed at once: package
// config's (see config.Concurrency for each mode).
type Concurrency = config.Concurrency

// The concurrency modes.
const (
	// ConcurrencyFixed processes up to Workers events at once (or the
	// processor's bound, if it is Bounded): the baseline.
	ConcurrencyFixed = config.ConcurrencyFixed
	// ConcurrencyAdaptive bounds the events processed at once by a limit
	// between 1 and Workers learned from the latency of the processor's
	// calls (package limit): it grows while calls take about the best
	// latency seen and shrinks when they take longer, as they do once the
	// work queues inside the worker.
	ConcurrencyAdaptive = config.ConcurrencyAdaptive
)

// Concurrencies lists the concurrency modes, the default first.
var Concurrencies = config.Concurrencies()

// ParseConcurrency checks a concurrency mode's name.
func ParseConcurrency(s string) (Concurrency, error) {
	return parseName("concurrency", s, Concurrencies)
}

// limiter shares a limit.Gradient between the workers. The limit and best
// latency are also kept in atomics, so gauges read them without the lock.
type limiter struct {
	mu sync.Mutex
	g  *limit.Gradient

	cur atomic.Int64 // the limit
	// steady is the limit outside probes: a probe halves the limit for a
	// window or two, which is no reason to judge the backlog by it.
	steady atomic.Int64
	best   atomic.Int64 // the best latency, ns
}

func newLimiter(workers int) *limiter {
	l := &limiter{}
	l.reset(workers)
	return l
}

// probeEvery is how often the limit probes the worker's best latency
// without evidence that it changed. Each probe halves the limit for a
// window or two; every 2 s (the package's default) that cost 2-10 % of
// goodput against workers whose service times vary (lognormal, 5x
// overload: 376/s on time at 2 s, 412/s at 6 s, in one run of
// ontime-bench -goodput). A worker that slows down is still found at once:
// a cut of the limit that does not lower latency starts a probe within a
// quarter of this.
const probeEvery = 6 * time.Second

// reset starts learning afresh, at the least limit, for a new worker.
func (l *limiter) reset(workers int) {
	g, err := limit.New(limit.Config{Max: max(workers, 1), ProbeEvery: probeEvery})
	if err != nil {
		panic(err) // unreachable: Max is at least 1 and the rest default
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.g = g
	l.publish()
}

// setMax follows a change of the worker pool's size.
func (l *limiter) setMax(workers int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.g.SetMax(workers)
	l.publish()
}

// observe feeds one call and reports whether the limit changed.
func (l *limiter) observe(s limit.Sample, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	before := l.cur.Load()
	l.g.Observe(s, now)
	l.publish()
	return l.cur.Load() != before
}

func (l *limiter) publish() {
	l.cur.Store(int64(l.g.Limit()))
	l.steady.Store(int64(l.g.Steady()))
	l.best.Store(int64(l.g.Best()))
}

func (l *limiter) limit() int { return int(l.cur.Load()) }

func (l *limiter) bestLatency() time.Duration { return time.Duration(l.best.Load()) }
