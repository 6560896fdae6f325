// Package source produces events: the built-in fixed-rate generator.
package source

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/event"
)

// Submitter takes events without blocking; the pipeline implements it.
type Submitter interface {
	Submit(ev event.Event) (bool, event.Reason)
}

// GeneratorConfig configures a Generator.
type GeneratorConfig struct {
	// Rate is events per second. Default 20. Zero is not allowed here: a
	// stopped generator is one that is not run.
	Rate float64
	// Deadline is each event's time to live from its creation. Default 100ms.
	Deadline time.Duration
	// Work is each event's simulated work; zero leaves it to the processor.
	Work time.Duration
	// Source names the events' origin. Default "generator".
	Source string
	// Poisson spaces arrivals randomly (exponential gaps with the same
	// mean rate) instead of evenly, as independent producers would.
	Poisson bool
	// Rand returns uniform floats in [0, 1) for Poisson gaps. Default
	// math/rand/v2.
	Rand func() float64
	// MaxCatchUp bounds the events emitted at one wake-up after a stall
	// (the process was descheduled); older ones are still emitted, at the
	// next wake-ups. Default 10000.
	MaxCatchUp int
	// Now is the clock. Default time.Now; timers follow the runtime clock.
	Now func() time.Time
}

// Generator emits events at a fixed rate on an absolute schedule: event n is
// due at start + n*period, so timer error never accumulates into drift. Each
// event is stamped with its intended time, not the time it was emitted, so a
// late wake-up shows as latency instead of silently lowering the offered rate
// (coordinated omission).
type Generator struct {
	cfg GeneratorConfig
	out Submitter

	mu       sync.Mutex
	emitted  uint64
	started  time.Time
	lateness time.Duration // the largest wake-up lateness since TakeLateness
}

// NewGenerator returns a generator that submits to out.
func NewGenerator(cfg GeneratorConfig, out Submitter) (*Generator, error) {
	if cfg.Rate == 0 {
		cfg.Rate = 20
	}
	if cfg.Deadline == 0 {
		cfg.Deadline = 100 * time.Millisecond
	}
	if cfg.Source == "" {
		cfg.Source = "generator"
	}
	if cfg.MaxCatchUp == 0 {
		cfg.MaxCatchUp = 10000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rate < 0 || cfg.Rate > 1e7 {
		return nil, fmt.Errorf("generator: rate must be in (0, 1e7] events/s, got %g", cfg.Rate)
	}
	if cfg.Deadline < 0 || cfg.Work < 0 {
		return nil, fmt.Errorf("generator: deadline and work must not be negative")
	}
	return &Generator{cfg: cfg, out: out}, nil
}

// Run emits events until ctx ends. It never blocks on the pipeline: Submit
// drops (and counts) what does not fit.
func (g *Generator) Run(ctx context.Context) error {
	start := g.cfg.Now()
	g.mu.Lock()
	g.started = start
	g.mu.Unlock()
	next := start // intended time of the next event
	var n int64   // events emitted
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		now := g.cfg.Now()
		g.noteLateness(now.Sub(next))
		emitted := 0
		for ; emitted < g.cfg.MaxCatchUp && !next.After(now); emitted++ {
			g.out.Submit(event.Event{
				ID:        uuid.New(),
				Source:    g.cfg.Source,
				CreatedAt: next,
				Deadline:  g.cfg.Deadline,
				Work:      g.cfg.Work,
			})
			n++
			next = g.due(start, next, n)
		}
		g.mu.Lock()
		g.emitted += uint64(emitted)
		g.mu.Unlock()
		timer.Reset(max(next.Sub(g.cfg.Now()), 0))
	}
}

// due is the intended time of event n. Even spacing is computed from the
// start each time, so rounding of the period never accumulates; Poisson
// gaps are drawn one by one after the previous intended time.
func (g *Generator) due(start, prev time.Time, n int64) time.Time {
	if !g.cfg.Poisson {
		return start.Add(time.Duration(float64(n) * float64(time.Second) / g.cfg.Rate))
	}
	r := g.cfg.Rand
	if r == nil {
		r = rand.Float64
	}
	u := r()
	for u == 0 {
		u = r()
	}
	return prev.Add(time.Duration(-math.Log(u) * float64(time.Second) / g.cfg.Rate))
}

func (g *Generator) noteLateness(d time.Duration) {
	g.mu.Lock()
	g.lateness = max(g.lateness, d)
	g.mu.Unlock()
}

// TakeLateness returns the largest schedule error (how late the generator
// woke up after an event was due) since the previous call, and resets it.
func (g *Generator) TakeLateness() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	d := g.lateness
	g.lateness = 0
	return d
}

// Offered reports the events emitted so far and the rate actually achieved
// since Run started, which falls short of the configured rate only when
// the generator cannot keep up.
func (g *Generator) Offered(now time.Time) (emitted uint64, rate float64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if el := now.Sub(g.started).Seconds(); el > 0 && !g.started.IsZero() {
		rate = float64(g.emitted) / el
	}
	return g.emitted, rate
}
