// Package limit adapts a bound on concurrent calls to a service whose
// capacity is unknown, from the latency of the calls alone.
//
// Gradient is a gradient controller in the manner of Envoy's adaptive
// concurrency filter: it keeps the service's best latency (its latency when
// nothing queues inside it) and, once per window of calls, compares the
// window's latency with it:
//
//	gradient = best·(1+Tolerance) / sample      clamped to [0.5, 2]
//	limit    = limit·gradient + √limit
//
// From the start the limit doubles each window until latency first rises
// (slow start, as TCP's). Then, while calls take about the best latency the limit grows; once calls queue
// inside the service, latency rises in proportion and the limit shrinks. The
// √limit headroom keeps a short queue at the service, so it never idles
// for want of calls: the limit settles a little above the service's true
// concurrency, where the gradient's cut and the headroom balance.
//
// The best latency is the lowest window quantile seen, so it follows a
// service that speeds up at once. A service that slows down shows up as a
// latency that does not fall when the limit is cut; the controller then
// probes: it halves the limit, window after window, until latency stops
// falling (no queue is left in the service) or is back within tolerance of
// the best, and takes that latency as the new best. A probe also runs every
// ProbeEvery, so a best kept by a standing queue cannot go stale for long.
// Unlike Envoy's periodic measurement at a minimal concurrency, a probe
// halves rather than collapses the limit and ends as soon as one window at
// half the limit is back within tolerance, so it costs little work.
//
// Gradient is deterministic (time is passed in) and not safe for concurrent
// use.
package limit

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Config tunes a Gradient. Zero fields take the defaults.
type Config struct {
	// Max is the highest limit. Required, at least 1.
	Max int
	// Min is the lowest limit. Default 1.
	Min int
	// Initial is the limit before any call completes. Default Min.
	Initial int
	// Interval is the least duration of a window: the limit changes at most
	// once per Interval. Default 100ms.
	Interval time.Duration
	// MinSamples is the least number of calls in a window. Default 8.
	MinSamples int
	// Quantile of a window's latencies compared with the best. Default 0.5,
	// as in Envoy: robust to the service's own spread of latencies.
	Quantile float64
	// Tolerance is how much slower than the best a window may be before the
	// limit stops growing. Default 0.1.
	Tolerance float64
	// Smoothing is the weight of a window's new limit against the last
	// one, in (0, 1]. Default 0.5.
	Smoothing float64
	// ProbeEvery is how often the best latency is measured again even
	// without evidence that it changed: the longest a slower service can
	// hide behind a stale best. Default 2s.
	ProbeEvery time.Duration
}

func (c Config) withDefaults() Config {
	if c.Min == 0 {
		c.Min = 1
	}
	if c.Initial == 0 {
		c.Initial = c.Min
	}
	if c.Interval == 0 {
		c.Interval = 100 * time.Millisecond
	}
	if c.MinSamples == 0 {
		c.MinSamples = 8
	}
	if c.Quantile == 0 {
		c.Quantile = 0.5
	}
	if c.Tolerance == 0 {
		c.Tolerance = 0.1
	}
	if c.Smoothing == 0 {
		c.Smoothing = 0.5
	}
	if c.ProbeEvery == 0 {
		c.ProbeEvery = 2 * time.Second
	}
	return c
}

// Outcome is how a call ended, as far as its latency tells.
type Outcome int

const (
	// OK: the call completed; its latency is the service's.
	OK Outcome = iota
	// Timeout: the call was cut short (at its deadline). Its latency is only
	// a lower bound, so it counts as slower than any call that completed.
	Timeout
	// Failed: the call failed (refused, reset, an error status). Its latency
	// says nothing of the service's queue (a refused connection fails in
	// microseconds), so it is not a sample.
	Failed
)

// Sample is one completed call.
type Sample struct {
	// RTT is the time from the call to its return.
	RTT time.Duration
	// Inflight is the number of calls in flight when it started, itself
	// included.
	Inflight int
	// Outcome is how it ended.
	Outcome Outcome
}

// maxWindow bounds the samples a window keeps: a window that fills closes
// early, so memory stays bounded at any call rate.
const maxWindow = 1024

// timedOut stands for the latency of a call cut short: above any other.
const timedOut = time.Duration(math.MaxInt64)

// Gradient is the controller. The zero value is not usable; call New.
type Gradient struct {
	cfg Config

	limit float64       // the limit, before rounding down
	best  time.Duration // 0 until the first window closes

	// The current window: calls that started at or after start.
	start       time.Time
	rtts        []time.Duration
	maxInflight int

	// The previous window, to tell whether a cut lowered latency.
	prevLimit int
	prevQ     time.Duration

	// A probe in progress when probeLimit > 0.
	probeLimit int
	resume     float64 // the limit to restore after the probe
	lastProbe  time.Time
	started    bool // a first call was seen: start and lastProbe are set
	congested  bool // latency rose above tolerance once: slow start is over
	// tol is Tolerance widened by the noise of the window that set the
	// best (see noise): the spread of the service's own latencies, taken
	// where nothing queued; noiseQ is the latest window's.
	tol, noiseQ float64
	// noiseBest is the noise of the window that set the best: the
	// headroom grows with it (see update).
	noiseBest float64
}

// New returns a controller at its initial limit.
func New(cfg Config) (*Gradient, error) {
	cfg = cfg.withDefaults()
	switch {
	case cfg.Max < 1:
		return nil, fmt.Errorf("limit: max must be at least 1, got %d", cfg.Max)
	case cfg.Min < 1 || cfg.Min > cfg.Max:
		return nil, fmt.Errorf("limit: min must be in [1, max %d], got %d", cfg.Max, cfg.Min)
	case cfg.Initial < cfg.Min || cfg.Initial > cfg.Max:
		return nil, fmt.Errorf("limit: initial must be in [min %d, max %d], got %d", cfg.Min, cfg.Max, cfg.Initial)
	case cfg.Interval < 0 || cfg.MinSamples < 1 || cfg.ProbeEvery < 0:
		return nil, fmt.Errorf("limit: interval, probe period must not be negative and min samples at least 1")
	case cfg.Quantile <= 0 || cfg.Quantile > 1:
		return nil, fmt.Errorf("limit: quantile must be in (0, 1], got %g", cfg.Quantile)
	case cfg.Smoothing <= 0 || cfg.Smoothing > 1:
		return nil, fmt.Errorf("limit: smoothing must be in (0, 1], got %g", cfg.Smoothing)
	case cfg.Tolerance < 0:
		return nil, fmt.Errorf("limit: tolerance must not be negative, got %g", cfg.Tolerance)
	}
	return &Gradient{cfg: cfg, limit: float64(cfg.Initial), rtts: make([]time.Duration, 0, 64)}, nil
}

// Limit is the bound on concurrent calls in force: during a probe, the
// probe's.
func (g *Gradient) Limit() int {
	if g.probeLimit > 0 {
		return g.probeLimit
	}
	return g.rounded()
}

// Steady is the limit outside probes: what Limit returns once a probe in
// progress ends.
func (g *Gradient) Steady() int {
	if g.probeLimit > 0 {
		return min(max(int(g.resume), g.cfg.Min), g.cfg.Max)
	}
	return g.rounded()
}

func (g *Gradient) rounded() int {
	return min(max(int(g.limit), g.cfg.Min), g.cfg.Max)
}

// Best is the service's best latency learned so far, 0 before the first
// window closes.
func (g *Gradient) Best() time.Duration { return g.best }

// Probing reports whether a probe of the best latency is in progress.
func (g *Gradient) Probing() bool { return g.probeLimit > 0 }

// SetMax changes the highest limit; the limit follows into [Min, max]. A
// max below Min lowers Min too.
func (g *Gradient) SetMax(n int) {
	n = max(n, 1)
	g.cfg.Max = n
	g.cfg.Min = min(g.cfg.Min, n)
	g.limit = min(g.limit, float64(n))
	g.resume = min(g.resume, float64(n))
	if g.probeLimit > n {
		g.probeLimit = n
	}
}

// Observe adds a call that returned at now and returns the limit in force.
func (g *Gradient) Observe(s Sample, now time.Time) int {
	if !g.started {
		g.started = true
		g.start, g.lastProbe = now.Add(-s.RTT), now
	}
	if s.Outcome == Failed || now.Add(-s.RTT).Before(g.start) {
		// A failure tells nothing of latency; a call that started before
		// the window ran under another limit.
		return g.Limit()
	}
	rtt := s.RTT
	if s.Outcome == Timeout {
		rtt = timedOut
	}
	g.rtts = append(g.rtts, rtt)
	g.maxInflight = max(g.maxInflight, s.Inflight)
	need, interval := g.cfg.MinSamples, g.cfg.Interval
	if g.probeLimit > 0 {
		// A probe at a low limit gathers samples slowly. It leaves part of
		// the service idle while it runs, so it lasts only as long as it
		// takes each probe slot to complete about two calls.
		need = max(1, min(need, 2*g.probeLimit))
		if g.best > 0 {
			interval = min(interval, 2*g.best)
		}
	}
	if len(g.rtts) < maxWindow && (len(g.rtts) < need || now.Sub(g.start) < interval) {
		return g.Limit()
	}
	q := g.quantile()
	g.noiseQ = g.noise(q)
	inflight := g.maxInflight
	g.rtts, g.maxInflight, g.start = g.rtts[:0], 0, now
	if g.probeLimit > 0 {
		g.probeStep(q, now)
	} else {
		g.update(q, inflight, now)
	}
	return g.Limit()
}

// quantile of the window's latencies; timedOut when too many timed out.
func (g *Gradient) quantile() time.Duration {
	slices.Sort(g.rtts)
	i := int(math.Ceil(g.cfg.Quantile*float64(len(g.rtts)))) - 1
	return g.rtts[min(max(i, 0), len(g.rtts)-1)]
}

// noise is the relative standard error of the window's median q, twice
// over: how much slower than the best a window of a service with this
// spread of latencies looks by chance alone, without any queue. It is
// taken from the window that sets the best, where nothing queued: a queue
// spreads latencies too (a fixed service time behind a FIFO takes one, two
// or three service times), and that spread is what the controller must
// see. The
// standard error of a median of n calls is about 1.25·σ/√n, with σ taken
// from the interquartile range (σ ≈ IQR/1.35). A service whose every call
// takes the same time has none; with exponential service times a window of
// 40 calls has about 0.45, so the controller does not read the spread of
// its latencies as a queue (the best is the least window median seen,
// which the same spread pulls below the true median) and shrink the limit
// under a busy worker. Sorted rtts.
func (g *Gradient) noise(q time.Duration) float64 {
	n := len(g.rtts)
	if n < 4 || q == timedOut || q <= 0 {
		return 0
	}
	p25, p75 := g.rtts[n/4], g.rtts[(3*n)/4]
	if p75 == timedOut {
		return 0 // cut calls: a queue, not noise
	}
	sigma := float64(p75-p25) / 1.35
	return 2 * 1.25 * sigma / math.Sqrt(float64(n)) / float64(q)
}

// setBest takes q, the latest window's median, as the best latency, and
// that window's noise into the tolerance.
func (g *Gradient) setBest(q time.Duration) {
	g.best = q
	g.tol = g.cfg.Tolerance + g.noiseQ
	g.noiseBest = g.noiseQ
}

// within reports whether q is within the tolerance of the best.
func (g *Gradient) within(q time.Duration) bool {
	return q != timedOut && float64(q) <= float64(g.best)*(1+g.tol)
}

// update closes a window of the normal regime with latency q.
func (g *Gradient) update(q time.Duration, inflight int, now time.Time) {
	cur := g.rounded()
	if g.best == 0 {
		if q == timedOut {
			// No latency yet, only calls cut short: cut until one completes.
			g.limit = max(g.limit/2, float64(g.cfg.Min))
			return
		}
		g.setBest(q)
	}
	// A cut that did not lower latency means the service's own latency
	// rose: the best is stale.
	cut := float64(cur) < 0.9*float64(g.prevLimit)
	stale := cut && q != timedOut && g.prevQ != timedOut && !g.within(q) &&
		float64(q)*(1+g.tol) >= float64(g.prevQ)
	g.prevLimit, g.prevQ = cur, q
	// Stale evidence probes at most every quarter ProbeEvery: a service
	// whose latency rises in steps (a whole extra service time once the
	// calls outnumber its slots) can show one cut without effect while the
	// best still holds.
	since := now.Sub(g.lastProbe)
	if (stale && 4*since >= g.cfg.ProbeEvery) || since >= g.cfg.ProbeEvery {
		g.startProbe(now)
		return
	}
	if q != timedOut && q < g.best {
		g.setBest(q)
	}
	gradient := 0.5
	if q != timedOut {
		gradient = min(max(float64(g.best)*(1+g.tol)/float64(q), 0.5), 2)
	}
	if gradient >= 1 && 2*inflight < cur {
		// The calls did not use the limit: their latency says nothing of
		// a higher one, so it stays (as Netflix's limiters do).
		return
	}
	if !g.congested {
		if g.within(q) {
			// Slow start, as TCP's: double until latency first rises,
			// so a fresh limit finds a large service in a few windows.
			g.limit = min(2*g.limit, float64(g.cfg.Max))
			return
		}
		g.congested = true
	}
	// The headroom shrinks with the gradient, so the cut a queue calls for
	// is not undone at small limits (at a limit of 2, √2 is most of it).
	// It grows with the spread of the service's own latencies: the more
	// they vary, the more often several slots free at once, and the more
	// calls must wait at the worker for none of them to idle.
	target := gradient * (g.limit + (1+g.noiseBest)*math.Sqrt(g.limit))
	// Smoothing damps the swing a fixed service time causes: calls in
	// lockstep make a window's median jump a whole service time.
	target = (1-g.cfg.Smoothing)*g.limit + g.cfg.Smoothing*target
	g.limit = min(max(target, float64(g.cfg.Min)), float64(g.cfg.Max))
}

// startProbe halves the limit to measure the best latency again.
func (g *Gradient) startProbe(now time.Time) {
	g.resume = g.limit
	g.lastProbe = now
	g.probeLimit = max(g.rounded()/2, g.cfg.Min)
	// prevQ holds the latency at the limit before the probe.
}

// probeStep closes a probe window with latency q at probeLimit.
func (g *Gradient) probeStep(q time.Duration, now time.Time) {
	fell := q == timedOut || float64(q)*(1+g.tol) < float64(g.prevQ)
	switch {
	case g.within(q):
		// The best still holds.
		if q < g.best {
			g.setBest(q)
		}
	case !fell || g.probeLimit == g.cfg.Min:
		// Halving no longer lowers latency: nothing queues in the
		// service, and q is its latency now. (At the least limit, q is
		// the best there is to measure.)
		if q != timedOut {
			g.setBest(q)
		}
	default:
		g.prevQ = q
		g.probeLimit = max(g.probeLimit/2, g.cfg.Min)
		return
	}
	g.limit = g.resume
	if q == timedOut {
		// Even at the probe's limit most calls were cut: the limit comes
		// back halved, as a window of cut calls halves it outside probes.
		g.limit = max(g.resume/2, float64(g.cfg.Min))
	}
	g.probeLimit = 0
	g.lastProbe = now
	g.prevLimit, g.prevQ = g.rounded(), 0
}
