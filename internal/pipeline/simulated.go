package pipeline

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/event"
)

// Dist is the distribution of simulated work around its mean: package
// config's.
type Dist = config.Dist

// Work distributions.
const (
	// Fixed work: every event takes exactly the mean.
	Fixed = config.DistFixed
	// Uniform work between 0 and twice the mean.
	Uniform = config.DistUniform
	// Exponential work with the given mean: mostly short, a long tail
	// (p99 is 4.6 times the mean).
	Exponential = config.DistExp
)

// Dists lists the work distributions, the default first.
var Dists = config.Dists()

// ParseDist checks a distribution name.
func ParseDist(s string) (Dist, error) { return parseName("work distribution", s, Dists) }

// Work is simulated work: a mean and a distribution around it.
type Work struct {
	// Mean is the work of an event that does not ask for its own; an
	// event's Work, when set, is its mean instead.
	Mean time.Duration
	// Dist is the distribution. Default Fixed.
	Dist Dist
	// Rand returns a uniform float in [0, 1). Default math/rand/v2.
	Rand func() float64
}

// mean is the event's mean work.
func (w Work) mean(ev event.Event) time.Duration {
	if ev.Work != 0 {
		return ev.Work
	}
	return w.Mean
}

// draw picks the work of one event.
func (w Work) draw(ev event.Event) time.Duration {
	m := w.mean(ev)
	if m <= 0 {
		return 0
	}
	r := w.Rand
	if r == nil {
		r = rand.Float64
	}
	switch w.Dist {
	case Uniform:
		return time.Duration(2 * r() * float64(m))
	case Exponential:
		u := r()
		for u == 0 {
			u = r()
		}
		return time.Duration(-math.Log(u) * float64(m))
	default:
		return m
	}
}

// Sleep is the built-in Processor for work that waits (on I/O, a remote
// call): it sleeps for the drawn work and honours cancellation at once.
type Sleep Work

// Expect is the event's mean work.
func (s Sleep) Expect(ev event.Event) time.Duration { return Work(s).mean(ev) }

// Process sleeps for the event's work or until ctx ends, whichever is
// first. It has no output.
func (s Sleep) Process(ctx context.Context, ev event.Event) ([]byte, error) {
	d := Work(s).draw(ev)
	if d <= 0 {
		return nil, ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Spin is the CPU-bound Processor: each event costs a fixed amount of
// arithmetic, calibrated once so that one unit of work takes its duration
// on an idle core. When more events run than there are cores, they share
// the cores and take longer, as real computation does.
type Spin struct {
	work     Work
	perMilli float64 // spin blocks per millisecond of work on an idle core
}

// spinBlock is the unit of arithmetic between cancellation checks: a few
// microseconds.
func spinBlock(x uint64) uint64 {
	for range 1000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// NewSpin calibrates the CPU cost of work on the calling goroutine for
// about 20 ms; call it while the machine is quiet.
func NewSpin(w Work) *Spin {
	const calibration = 20 * time.Millisecond
	x := uint64(1)
	blocks := 0
	start := time.Now()
	for time.Since(start) < calibration {
		x = spinBlock(x)
		blocks++
	}
	if x == 0 { // never; keeps the calibration loop from being optimised away
		blocks++
	}
	return &Spin{work: w, perMilli: float64(blocks) / float64(time.Since(start)) * float64(time.Millisecond)}
}

// blocks is the arithmetic that d of work costs.
func (s *Spin) blocks(d time.Duration) int {
	return int(float64(d) / float64(time.Millisecond) * s.perMilli)
}

// Expect is the event's mean work.
func (s *Spin) Expect(ev event.Event) time.Duration { return s.work.mean(ev) }

// MaxConcurrent bounds the events computing at once to the cores Go runs
// on (GOMAXPROCS): more would only share the cores, each taking longer.
func (s *Spin) MaxConcurrent() int { return runtime.GOMAXPROCS(0) }

// Process burns the CPU the event's work costs, or stops when ctx ends. It
// has no output.
func (s *Spin) Process(ctx context.Context, ev event.Event) ([]byte, error) {
	x := uint64(ev.ID[0]) | 1
	for range s.blocks(s.work.draw(ev)) {
		x = spinBlock(x)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if x == 0 { // never: xorshift keeps x non-zero; using x keeps the loop
		return nil, errors.New("spin: lost its state")
	}
	return nil, nil
}

// ProcessorFunc adapts a function to the Processor interface.
type ProcessorFunc func(ctx context.Context, ev event.Event) ([]byte, error)

// Process calls f.
func (f ProcessorFunc) Process(ctx context.Context, ev event.Event) ([]byte, error) {
	return f(ctx, ev)
}
