// Package coalescer turns everything that happens during one tick into one
// batch, so clients receive a bounded message rate however many events flow.
//
// It is the pipeline's Recorder. Admissions are counted with atomics and
// outcomes under one mutex, O(1) per event. Every view reads the outcomes
// first and the admissions after: an event is admitted before it can
// finish, so received >= finished always, and in flight is the difference:
// received = on-time + late + dropped + in flight holds in every batch.
package coalescer

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/pipeline"
	"github.com/ontime-rt/ontime/internal/stats"
)

// Publisher receives every batch, in seq order, from one goroutine. It must
// not block: the tick waits for it.
type Publisher interface {
	Publish(b *batch.Batch)
}

// LatencyPublisher is a Publisher that also wants each tick's latency
// histogram, which a batch carries only as a digest (digests cannot be
// merged; histograms can). When the coalescer's Publisher implements it,
// the coalescer calls PublishWithLatencies instead of Publish. The histogram
// is lent for the call only: merge it or copy it, never keep it.
type LatencyPublisher interface {
	Publisher
	PublishWithLatencies(b *batch.Batch, lat *stats.Histogram)
}

// Gauger reports the pipeline's load; *pipeline.Pipeline implements it.
type Gauger interface {
	Gauges() pipeline.Gauges
}

// Config configures a Coalescer.
type Config struct {
	// Tick is the batch period. Default 100ms.
	Tick time.Duration
	// Now is the clock. Default time.Now; the tick timer follows the
	// runtime clock, so Now must agree with it.
	Now func() time.Time
	// Lateness, when set, returns the source's largest schedule error since
	// its previous call (the generator's TakeLateness); each batch reports
	// it beside the tick's own jitter.
	Lateness func() time.Duration
	// Settings, when set, returns the settings in force; every batch
	// carries them so clients show what is in force.
	Settings func() *config.Settings
	// Align schedules ticks on wall-clock multiples of the tick (the first
	// at the next unix-millisecond multiple), so that the ticks of several
	// nodes with synchronised clocks coincide (cluster mode). Default off:
	// ticks are counted from Run's start.
	Align bool
}

// Coalescer tallies outcomes and publishes one batch per tick.
type Coalescer struct {
	cfg     Config
	tickNs  atomic.Int64 // the tick in force; SetTick changes it
	gauges  Gauger
	out     Publisher
	started time.Time

	received     atomic.Uint64 // since start
	tickReceived atomic.Uint64 // since the last cut

	mu     sync.Mutex
	counts stats.Counts // this tick's
	totals stats.Counts
	hist   *stats.Histogram              // this tick's latencies
	recent [batch.MaxEvents]event.Result // ring of the tick's newest results
	nrec   int                           // results in the tick (may exceed the ring)
	seq    uint64
	jitter *stats.Histogram // how late each tick fired, since start
	// health is the verdict of the latest batch, which Snapshot reports:
	// one verdict per moment, whoever asks.
	health    batch.Health
	published bool // a batch was cut: health holds its verdict

	// spare is the histogram of the tick being published, swapped with
	// hist at each cut; owned by Run.
	spare *stats.Histogram
}

// New returns a coalescer that reads load from g and publishes to out.
func New(cfg Config, g Gauger, out Publisher) (*Coalescer, error) {
	if cfg.Tick == 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Tick < time.Millisecond {
		return nil, errors.New("coalescer: tick must be at least 1ms")
	}
	if g == nil || out == nil {
		return nil, errors.New("coalescer: gauges and publisher are required")
	}
	c := &Coalescer{cfg: cfg, gauges: g, out: out, started: cfg.Now(), hist: stats.NewHistogram(), spare: stats.NewHistogram(), jitter: stats.NewHistogram()}
	c.tickNs.Store(int64(cfg.Tick))
	return c, nil
}

// SetTick changes the batch period while running; it takes effect from the
// next tick.
func (c *Coalescer) SetTick(d time.Duration) error {
	if d < time.Millisecond {
		return errors.New("coalescer: tick must be at least 1ms")
	}
	c.tickNs.Store(int64(d))
	return nil
}

func (c *Coalescer) tick() time.Duration { return time.Duration(c.tickNs.Load()) }

// Admit counts a received event.
func (c *Coalescer) Admit(event.Event) {
	c.tickReceived.Add(1)
	c.received.Add(1)
}

// Finish counts an event's final outcome.
func (c *Coalescer) Finish(r event.Result) {
	c.mu.Lock()
	c.counts.Finish(r)
	c.totals.Finish(r)
	if r.Processed() {
		c.hist.Record(r.Latency())
	}
	c.recent[c.nrec%len(c.recent)] = r
	c.nrec++
	c.mu.Unlock()
}

// Run publishes a batch every tick until ctx ends, then publishes one last
// batch so that outcomes recorded during shutdown still reach clients. Ticks
// are scheduled on absolute times (start + n*tick), so they do not drift; a
// tick that is missed entirely (the process stalled) is folded into the next.
// How late each tick fires is measured and published: ontime reports its own
// punctuality.
func (c *Coalescer) Run(ctx context.Context) error {
	tick := c.tick()
	now := c.cfg.Now()
	start := now // the schedule's origin: ticks are due at start + n*tick
	if c.cfg.Align {
		// The tick before the next wall-clock multiple of the tick.
		t := tick.Milliseconds()
		start = time.UnixMilli((now.UnixMilli()/t + 1) * t).Add(-tick)
	}
	n := int64(1) // the tick being waited for
	due := start.Add(tick)
	timer := time.NewTimer(due.Sub(now))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			c.publish(time.Time{})
			return nil
		case <-timer.C:
		}
		c.publish(due)
		if t := c.tick(); t != tick {
			// A new period: re-anchor the schedule on the tick just made.
			tick, start, n = t, due, 0
		}
		now := c.cfg.Now()
		n++
		if missed := start.Add(time.Duration(n) * tick); !missed.After(now) {
			// Publishing overran the next tick: count how late it is in
			// the jitter, then fold it (and any later) into the next batch.
			c.mu.Lock()
			c.jitter.Record(now.Sub(missed))
			c.mu.Unlock()
			for !start.Add(time.Duration(n) * tick).After(now) {
				n++
			}
		}
		due = start.Add(time.Duration(n) * tick)
		timer.Reset(due.Sub(now))
	}
}

// publish cuts a batch and hands it (with its latencies, to a
// LatencyPublisher) to the Publisher, stamped with its jitter: how late
// after due it is handed over (0 for the last batch, which no tick is due
// for). The jitter is the delay of publication, not only of the timer: a
// tick that waits to cut its batch is as late as one that fires late.
func (c *Coalescer) publish(due time.Time) {
	b, lat := c.cut()
	var jitter time.Duration
	if !due.IsZero() {
		jitter = c.cfg.Now().Sub(due)
	}
	b.Health.TickJitterMs = stats.Millis(jitter)
	c.mu.Lock()
	c.jitter.Record(jitter)
	c.health.TickJitterMs = b.Health.TickJitterMs
	c.mu.Unlock()
	if lp, ok := c.out.(LatencyPublisher); ok {
		lp.PublishWithLatencies(b, lat)
	} else {
		c.out.Publish(b)
	}
	// The histogram was lent for the call: it becomes the next spare.
	lat.Reset()
	c.spare = lat
}

// cut closes the current tick into a batch and starts the next, and returns
// the batch with the tick's latencies (the histogram swapped out, owned by
// Run until the next cut). publish stamps its jitter.
func (c *Coalescer) cut() (*batch.Batch, *stats.Histogram) {
	g := c.gauges.Gauges()
	var lateness time.Duration
	if c.cfg.Lateness != nil {
		lateness = c.cfg.Lateness()
	}
	var settings *config.Settings
	if c.cfg.Settings != nil {
		settings = c.cfg.Settings()
	}
	c.mu.Lock()
	c.seq++
	b := &batch.Batch{
		Seq:       c.seq,
		At:        c.cfg.Now().UnixMilli(),
		StartedAt: c.started.UnixMilli(),
		TickMs:    c.tick().Milliseconds(),
		Counts:    c.counts.Clone(),
		Events:    c.recentEvents(),
		Config:    settings,
	}
	// The verdict needs the tick's outcomes only (not its admissions), so
	// it is decided here, and seq and verdict change together for Snapshot.
	b.Health = healthOf(g, b.Counts)
	b.Health.ScheduleErrorMs = stats.Millis(lateness)
	c.health, c.published = b.Health, true
	finished := c.totals.Clone()
	c.counts = stats.Counts{}
	lat := c.hist
	c.hist, c.spare = c.spare, nil
	c.nrec = 0
	c.mu.Unlock()
	b.Latency = lat.Summary()
	// Admissions are read after outcomes (see the package comment). An
	// event admitted after the swap counts in the next tick.
	b.Counts.Received = c.tickReceived.Swap(0)
	b.Totals = stats.TotalsOf(finished, c.received.Load())
	return b, lat
}

// recentEvents returns the tick's newest results, oldest first. Called with
// c.mu held.
func (c *Coalescer) recentEvents() []batch.Event {
	k := min(c.nrec, len(c.recent))
	out := make([]batch.Event, 0, k)
	for i := c.nrec - k; i < c.nrec; i++ {
		out = append(out, batch.EventOf(c.recent[i%len(c.recent)]))
	}
	clear(c.recent[:])
	return out
}

// healthOf judges the pipeline from its load and a tick's outcomes. It is
// the one place the verdict is decided: batches carry it, and /api/stats
// reports the latest batch's (Snapshot).
//
// Overloaded means contention: the queue nearly full, or events dropped for
// want of capacity (queue-full, shed, expired) while the processor was
// busy (every slot under the limit taken, or events waiting when the tick
// was cut). Such drops with a slot free and nothing waiting are no
// overload, and neither is a failing worker: both are degraded, and the
// cause says which.
func healthOf(g pipeline.Gauges, tick stats.Counts) batch.Health {
	h := batch.Health{
		QueueDepth: g.QueueDepth, QueueCap: g.QueueCap, Workers: g.Workers, Busy: g.Busy, Status: batch.OK,
		QueueBytes: g.QueueBytes, QueueBytesCap: g.QueueBytesCap,
		Limit:     g.Limit,
		CallP50Ms: stats.Millis(g.CallP50), CallP90Ms: stats.Millis(g.CallP90), CallP99Ms: stats.Millis(g.CallP99), CallBestMs: stats.Millis(g.CallBest),
	}
	fill := 0.0
	if g.QueueCap > 0 {
		fill = float64(g.QueueDepth) / float64(g.QueueCap)
	}
	if g.QueueBytesCap > 0 {
		// A queue full of bytes is as full as one full of events.
		fill = max(fill, float64(g.QueueBytes)/float64(g.QueueBytesCap))
	}
	limit := g.Limit
	if limit <= 0 {
		limit = g.Workers
	}
	busy := g.QueueDepth > 0 || g.Busy >= limit
	var overload, degraded []string // causes, worst first
	if fill >= 0.9 {
		overload = append(overload, batch.CauseQueueFull)
	}
	var capacity, other []event.Reason // drops for want of capacity, and the rest
	for _, r := range reasonsByCount(tick.DroppedBy) {
		switch r {
		case event.QueueFull, event.Shed, event.Expired:
			capacity = append(capacity, r)
		case event.Failed:
		default:
			other = append(other, r)
		}
	}
	switch {
	case len(capacity) == 0:
	case busy || tick.DroppedBy[event.QueueFull] > 0: // a full queue is contention
		overload = append(overload, batch.CauseDropping+joinReasons(capacity))
	default:
		degraded = append(degraded, batch.CauseDroppingIdle+joinReasons(capacity))
	}
	if tick.DroppedBy[event.Failed] > 0 {
		degraded = append(degraded, batch.CauseFailing+topKind(tick.FailedBy))
	}
	if len(other) > 0 {
		degraded = append(degraded, batch.CauseDropped+joinReasons(other))
	}
	if tick.Late > 0 {
		degraded = append(degraded, batch.CauseLate)
	}
	if fill >= 0.5 && fill < 0.9 {
		degraded = append(degraded, batch.CauseQueueFilling)
	}
	switch {
	case len(overload) > 0:
		h.Status = batch.Overloaded
	case len(degraded) > 0:
		h.Status = batch.Degraded
	}
	h.Cause = strings.Join(append(overload, degraded...), "; ")
	return h
}

// reasonsByCount returns the reasons of m, most frequent first (ties by
// name), so that a cause reads the same from tick to tick.
func reasonsByCount(m map[event.Reason]uint64) []event.Reason {
	out := make([]event.Reason, 0, len(m))
	for r, n := range m {
		if n > 0 {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b event.Reason) int {
		return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b))
	})
	return out
}

func joinReasons(rs []event.Reason) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// topKind is the most frequent failure kind of m (ties by name), "error"
// when m names none.
func topKind(m map[string]uint64) string {
	top, most := "error", uint64(0)
	for k, n := range m {
		if n > most || n == most && k < top {
			top, most = k, n
		}
	}
	return top
}

// Snapshot is the state right now, between batches.
type Snapshot struct {
	Totals stats.Totals `json:"totals"`
	// Health is the latest batch's (seq Seq): its load and verdict, so
	// that /api/stats and the batches never disagree about the same
	// moment. Before the first batch, the verdict on the tick so far.
	Health    batch.Health `json:"health"`
	Seq       uint64       `json:"seq"`
	StartedAt int64        `json:"startedAt"`
	TickMs    int64        `json:"tickMs"`
	// TickJitter digests how late every tick since start fired (ms).
	TickJitter stats.Summary `json:"tickJitter"`
}

// Snapshot returns the totals right now and the health of the latest
// batch. A verdict computed here from the tick so far would judge a
// partial tick against the batches' whole ones: a drop just after a cut
// made /api/stats say overloaded beside a batch saying ok, and vice versa.
func (c *Coalescer) Snapshot() Snapshot {
	g := c.gauges.Gauges()
	c.mu.Lock()
	s := Snapshot{
		Seq: c.seq, StartedAt: c.started.UnixMilli(),
		TickMs: c.tick().Milliseconds(), TickJitter: c.jitter.Summary(),
		Health: c.health,
	}
	finished := c.totals.Clone()
	if !c.published {
		s.Health = healthOf(g, c.counts)
	}
	c.mu.Unlock()
	s.Totals = stats.TotalsOf(finished, c.received.Load())
	return s
}
