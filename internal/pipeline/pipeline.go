// Package pipeline runs events through a bounded queue and a pool of workers
// so that each event is processed only while it can still meet its deadline,
// and ends in exactly one final status.
//
// Admission never blocks: an event that finds the queue full is dropped at
// once (queue-full). An event whose deadline passed while it waited is not
// processed (expired). Work runs under a context that ends at the event's
// deadline, counted from its creation, so queue wait counts against it; work
// that overruns or is cancelled by the deadline is late.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/limit"
)

// Processor does the work of one event. It must return promptly once ctx is
// done: ctx ends at the event's deadline. It returns the event's output (nil
// for none), kept as the Result's Output when the event is processed. An
// error fails the event (dropped, failed), unless it wraps
// context.DeadlineExceeded (late, cancelled); an *event.Failure among the
// errors it wraps names the kind of failure.
type Processor interface {
	Process(ctx context.Context, ev event.Event) ([]byte, error)
}

// Recorder receives every event the pipeline is given (Admit) and, later,
// its one final outcome (Finish). Both are called from many goroutines.
type Recorder interface {
	Admit(ev event.Event)
	Finish(r event.Result)
}

// Config configures a Pipeline.
type Config struct {
	// Workers is the number of events processed concurrently. Default 4.
	Workers int
	// QueueCap bounds the events waiting for a worker. When it is full the
	// policy drops one event, the newcomer or a queued one, as queue-full.
	// Default 64.
	QueueCap int
	// QueueBytes bounds the bytes of the events waiting for a worker: their
	// payloads plus a fixed overhead per event (a few hundred bytes). When
	// an event would exceed it, the policy drops one or more events as
	// queue-full, as when the queue is full. It is what bounds the queue's
	// memory: a queue of a million 4 KiB events would hold 4 GiB. Default
	// DefaultQueueBytes.
	QueueBytes int64
	// Policy orders the queue and decides what to shed. Default EDF.
	Policy Policy
	// Concurrency is fixed (up to Workers events at once) or adaptive (a
	// limit between 1 and Workers learned from the processor's latency).
	// Default fixed.
	Concurrency Concurrency
	// DrainTimeout bounds how long Run keeps processing queued events after
	// its context ends; work still running then is cancelled and dropped as
	// shutdown. Default 2s.
	DrainTimeout time.Duration
	// Now is the clock used to stamp results. Default time.Now. Deadlines are
	// enforced with context deadlines, which follow the runtime clock, so Now
	// must agree with it (tests use testing/synctest to fake both).
	Now func() time.Time
}

// DefaultQueueBytes is the default byte budget of the queue.
const DefaultQueueBytes = 64 << 20

// ErrStopped is returned by changes to a pipeline whose Run has ended, or
// is draining: its workers and queue are no longer changed.
var ErrStopped = errors.New("pipeline: stopped")

func (c Config) withDefaults() Config {
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.QueueCap == 0 {
		c.QueueCap = 64
	}
	if c.QueueBytes == 0 {
		c.QueueBytes = DefaultQueueBytes
	}
	if c.Policy == "" {
		c.Policy = EDF
	}
	if c.Concurrency == "" {
		c.Concurrency = ConcurrencyFixed
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = 2 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Pipeline is a bounded queue in front of a pool of workers.
type Pipeline struct {
	cfg  Config
	rec  Recorder
	q    *queue
	est  *estimator
	busy atomic.Int64
	ran  atomic.Bool

	// Live settings, changed while running by the Set methods.
	proc     atomic.Pointer[procBox]
	noShed   atomic.Bool  // the FIFO baseline sheds only expired events
	workers  atomic.Int64 // the number of workers wanted
	adaptive atomic.Bool  // Concurrency is adaptive
	lim      *limiter     // the adaptive limit, learned whether in force or not
	slots    *slots       // bounds the workers active at once: the bound in force

	boundMu sync.Mutex // serialises computing and setting the bound in force

	// standing tells a standing queue from a passing one; only the
	// workers' selection uses it, under the queue's lock.
	standing standingQueue

	mu      sync.Mutex // guards the worker pool below
	stopped bool       // Run's context ended: the pool no longer changes
	pool    []chan struct{}
	wg      sync.WaitGroup
	workCtx context.Context // set once Run starts; nil before
}

// procBox holds the processor with its own expectation of service times
// and its bound on events at once, if it has them, so all change together.
type procBox struct {
	proc   Processor
	expect Expecter
	bound  int // 0: none
}

func boxProcessor(proc Processor) *procBox {
	b := &procBox{proc: proc, bound: concurrencyOf(proc)}
	b.expect, _ = proc.(Expecter)
	return b
}

// New returns a pipeline that processes events with proc and reports every
// admission and outcome to rec.
func New(cfg Config, proc Processor, rec Recorder) (*Pipeline, error) {
	cfg = cfg.withDefaults()
	if cfg.Workers < 1 {
		return nil, fmt.Errorf("pipeline: workers must be at least 1, got %d", cfg.Workers)
	}
	if cfg.QueueCap < 1 {
		return nil, fmt.Errorf("pipeline: queue capacity must be at least 1, got %d", cfg.QueueCap)
	}
	if cfg.QueueBytes < itemOverhead {
		return nil, fmt.Errorf("pipeline: queue bytes must be at least %d, got %d", itemOverhead, cfg.QueueBytes)
	}
	if cfg.DrainTimeout < 0 {
		return nil, fmt.Errorf("pipeline: drain timeout must not be negative, got %s", cfg.DrainTimeout)
	}
	if _, err := ParsePolicy(string(cfg.Policy)); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	if _, err := ParseConcurrency(string(cfg.Concurrency)); err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	if proc == nil || rec == nil {
		return nil, errors.New("pipeline: processor and recorder are required")
	}
	p := &Pipeline{cfg: cfg, rec: rec, q: newQueue(cfg.Policy, cfg.QueueCap, cfg.QueueBytes), est: newEstimator()}
	p.proc.Store(boxProcessor(proc))
	p.noShed.Store(cfg.Policy == FIFO)
	p.workers.Store(int64(cfg.Workers))
	p.adaptive.Store(cfg.Concurrency == ConcurrencyAdaptive)
	p.lim = newLimiter(cfg.Workers)
	p.slots = newSlots(0)
	p.applyBound()
	return p, nil
}

// Submit offers ev to the pipeline. It never blocks. It reports whether the
// event was queued; an event that was not is already recorded as dropped,
// with the reason returned. Queuing ev may instead drop a queued event.
func (p *Pipeline) Submit(ev event.Event) (bool, event.Reason) {
	p.rec.Admit(ev)
	now := p.cfg.Now()
	it := item{ev: ev, deadline: ev.DeadlineAt(), queued: now}
	if !it.deadline.After(now) {
		p.finish(ev, event.Dropped, event.Expired)
		return false, event.Expired
	}
	if why, hopeless := p.hopeless(it, now); hopeless {
		p.finishShed(ev, now, why)
		return false, event.Shed
	}
	var buf [1]item // what one eviction needs, on the stack
	evicted, refused, closed := p.q.push(it, buf[:0])
	switch {
	case closed:
		p.finish(ev, event.Dropped, event.Shutdown)
		return false, event.Shutdown
	case refused:
		p.finish(ev, event.Dropped, event.QueueFull)
		return false, event.QueueFull
	}
	// ev took the place of events the policy values less.
	for _, old := range evicted {
		p.finish(old.ev, event.Dropped, event.QueueFull)
	}
	return true, event.ReasonNone
}

// idle is the number of events the processor could start at once beyond
// those it is processing: workers free under the bound in force.
func (p *Pipeline) idle() int {
	return max(p.bound()-int(p.busy.Load()), 0)
}

// expected is what the processor expects it to take, 0 when it expects
// nothing.
func (p *Pipeline) expected(it item) time.Duration {
	if e := p.proc.Load().expect; e != nil {
		return e.Expect(it.ev)
	}
	return 0
}

// hopeless reports whether a newcomer is shed at once: only under
// contention (a worker free for every event already waiting, and none for
// it), and only when no call in the learned window finished within the
// time it has left. Every other decision is left to the dequeue, where the
// events compete with each other.
func (p *Pipeline) hopeless(it item, now time.Time) (shedWhy, bool) {
	if p.noShed.Load() || int(p.q.depth.Load()) < p.idle() {
		return shedWhy{}, false
	}
	d := p.est.dist(now)
	if d == nil {
		return shedWhy{}, false
	}
	left := it.deadline.Sub(now)
	chance, _ := d.odds(p.expected(it), left)
	if chance > 0 {
		return shedWhy{}, false
	}
	return shedWhy{need: d.took.quantile(0.5), left: left, chance: chance, best: -1,
		waiting: int(p.q.depth.Load()), busy: int(p.busy.Load())}, true
}

// The shares behind choose's decisions.
const (
	// yieldShare: while the backlog clears in time, an event is started
	// unless it yields less than this share of what the best waiting event
	// yields per second of worker time. Below 1 on purpose: the event
	// served first (by deadline, or newest for LIFO) is the one that cannot
	// wait, while the best can be served later; and estimates are noisy.
	yieldShare = 0.5
	// clearShare: the backlog clears in time when the freshest waiting
	// event, once the events ahead of it are served, keeps at least this
	// share of its chance of finishing now.
	clearShare = 0.9
	// strictShare: when the backlog cannot clear in time, some waiting
	// events will be lost whatever is done, and every worker's time should
	// go to the likeliest: an event is started only with at least this
	// share of the best waiting event's chance.
	strictShare = 0.95
	// minChance: when the backlog cannot clear in time, an event less
	// likely to finish than not is never started, however poor the others:
	// a worker that does not stop when ontime hangs up spends its whole
	// service time on it, and the calls behind it wait. (The workers free
	// once the queue is cleared still start any event: a worker does not
	// idle while an event has time left.)
	minChance = 0.5
)

// standingQueue tells a queue that stands from one that passes, as CoDel
// does: the queue stands once the event at its front has waited more than
// a twentieth of its deadline at every dequeue for a whole deadline (at
// least 10 ms, at most 1 s). A burst that the workers drain, or the short
// queues of random arrivals below capacity, never stand; sustained
// overload does. Only a standing queue is judged overloaded.
type standingQueue struct {
	since time.Time // when the front first waited above target; zero: it did not
}

// update looks at d's front at now and reports whether the queue stands.
func (s *standingQueue) update(d discipline, now time.Time) bool {
	front := d.first()
	if now.Sub(front.queued) < front.ev.Deadline/20 {
		s.since = time.Time{}
		return false
	}
	if s.since.IsZero() {
		s.since = now
	}
	return now.Sub(s.since) >= min(max(front.ev.Deadline, 10*time.Millisecond), time.Second)
}

// reset: the queue emptied.
func (s *standingQueue) reset() { s.since = time.Time{} }

// clears reports whether the backlog in d clears in time: whether the
// event with the most time left, started once the workers have served
// every event ahead of it, keeps most of its chance of finishing in time.
func (p *Pipeline) clears(d discipline, dist *dist, now time.Time) bool {
	best := d.last()
	left := best.deadline.Sub(now)
	chance, _ := dist.odds(p.expected(best), left)
	ahead := time.Duration(float64(d.len()-1) * float64(dist.mean) / float64(max(p.steadyBound(), 1)))
	turn, _ := dist.odds(p.expected(best), left-ahead)
	return turn >= clearShare*chance
}

// choose decides, under contention, whether a worker starts it at now or
// sheds it, by its chance of finishing in time and what starting it costs
// the events behind it; best is the waiting event with the most time left
// (it itself when none has more), waiting the events left in the queue,
// busy the workers processing or, like the one deciding, about to.
//
// While the backlog clears in time, starting it costs the others little:
// it is shed only when it is a poor bet, yielding less than half as many
// on-time results per second of worker time as best (its chance over its
// expected worker time: its service time, or its time left if shorter,
// since it is cancelled then). When the backlog cannot clear (overloaded),
// every start takes a worker from an event that would have made it: only
// events nearly as likely to finish as best, and more likely than not, are
// started. The detail says why in numbers when it is shed.
func (p *Pipeline) choose(dist *dist, it, best item, overloaded bool, now time.Time, waiting, busy int) (shedWhy, bool) {
	left := it.deadline.Sub(now)
	chance, cost := dist.odds(p.expected(it), left)
	bestChance, bestCost := dist.odds(p.expected(best), best.deadline.Sub(now))
	var ok bool
	if overloaded {
		ok = chance >= minChance && chance >= strictShare*bestChance
	} else {
		ok = chance > 0 && yield(chance, cost) >= yieldShare*yield(bestChance, bestCost)
	}
	if ok {
		return shedWhy{}, true
	}
	return shedWhy{need: dist.took.quantile(0.5), left: left, chance: chance, best: bestChance, waiting: waiting, busy: busy}, false
}

// shedWhy is why an event was shed, in numbers: what it needs (the median
// service time), what it had, its chance, and the events it competed with.
// It is kept as numbers while the decision holds the queue's lock, and
// written out once the lock is released.
type shedWhy struct {
	need, left    time.Duration
	chance, best  float64 // best < 0: none compared
	waiting, busy int
}

// String is the Result's Detail.
func (w shedWhy) String() string {
	s := fmt.Sprintf("needs ~%s, %s left: %.0f%% chance in time", roundMs(w.need), roundMs(w.left), 100*w.chance)
	if w.best >= 0 {
		s += fmt.Sprintf(" (the freshest waiting: %.0f%%)", 100*w.best)
	}
	return s + fmt.Sprintf("; %d waiting, %d busy", w.waiting, w.busy)
}

// roundMs rounds d for people: to 0.1 ms below 10 ms, to 1 ms above.
func roundMs(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}

// Gauges is an instant view of the pipeline's load.
type Gauges struct {
	QueueDepth int
	QueueCap   int
	// QueueBytes is the bytes of the events waiting, as the queue accounts
	// them (see Config.QueueBytes); QueueBytesCap its budget.
	QueueBytes, QueueBytesCap int64
	Workers                   int
	Busy                      int
	// Limit is the bound on events processed at once in force: the
	// adaptive limit, or Workers when fixed; lower when the processor is
	// Bounded below it.
	Limit int
	// CallP50, CallP90 and CallP99 are quantiles of the processor's call
	// latency (from an event's start to its return) as learned for
	// admission: the last 512 calls of the last 10 s, calls cut at their
	// deadline counted as lasting at least that long (censored). Zero when
	// there were none; a quantile that censored calls leave unknown is the
	// longest time seen (a lower bound).
	CallP50, CallP90, CallP99 time.Duration
	// CallBest is the processor's best latency: the adaptive limit's
	// baseline (its no-queue latency) when adaptive, the least call latency
	// over the same window when fixed.
	CallBest time.Duration
}

// Gauges returns the pipeline's current load. It takes no lock that a
// change of the queue holds, so a tick that reads it never waits for one.
func (p *Pipeline) Gauges() Gauges {
	depth, capacity, bytes, budget := p.q.size()
	g := Gauges{
		QueueDepth:    depth,
		QueueCap:      capacity,
		QueueBytes:    bytes,
		QueueBytesCap: budget,
		Workers:       int(p.workers.Load()),
		Busy:          int(p.busy.Load()),
		Limit:         p.bound(),
	}
	var least time.Duration
	g.CallP50, g.CallP90, g.CallP99, least = p.est.dist(p.cfg.Now()).calls()
	g.CallBest = least
	if p.adaptive.Load() {
		g.CallBest = p.lim.bestLatency()
	}
	return g
}

// bound is the bound on events at once in force.
func (p *Pipeline) bound() int {
	n := int(p.workers.Load())
	if p.adaptive.Load() {
		n = min(n, p.lim.limit())
	}
	if b := p.proc.Load().bound; b > 0 {
		n = min(n, b)
	}
	return n
}

// steadyBound is bound outside the adaptive limit's probes.
func (p *Pipeline) steadyBound() int {
	n := int(p.workers.Load())
	if p.adaptive.Load() {
		n = min(n, int(p.lim.steady.Load()))
	}
	if b := p.proc.Load().bound; b > 0 {
		n = min(n, b)
	}
	return n
}

// applyBound puts the bound in force in the slots. A fixed pool of an
// unbounded processor needs none: the workers are the bound, and taking no
// slot keeps the cost per event to one atomic load.
func (p *Pipeline) applyBound() {
	p.boundMu.Lock()
	defer p.boundMu.Unlock()
	if !p.adaptive.Load() && p.proc.Load().bound == 0 {
		p.slots.setLimit(0)
		return
	}
	p.slots.setLimit(p.bound())
}

// Run processes events until ctx ends, then stops admitting, drains the queue
// (each remaining event still within its deadline, for at most DrainTimeout)
// and returns once every admitted event has its final status. Run may be
// called once.
func (p *Pipeline) Run(ctx context.Context) error {
	if p.ran.Swap(true) {
		return errors.New("pipeline: Run called twice")
	}
	// Work outlives ctx during the drain; workCtx ends it when the drain
	// times out.
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()

	p.mu.Lock()
	p.workCtx = workCtx
	for range p.workers.Load() {
		p.startWorker()
	}
	p.mu.Unlock()
	<-ctx.Done()
	// No worker is added once the drain begins: the WaitGroup is waited on.
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.q.close()

	drained := make(chan struct{})
	go func() { p.wg.Wait(); close(drained) }()
	timer := time.NewTimer(p.cfg.DrainTimeout)
	select {
	case <-drained:
	case <-timer.C:
		stopWork()
		<-drained
	}
	timer.Stop()
	for _, it := range p.q.takeAll() {
		p.finish(it.ev, event.Dropped, event.Shutdown)
	}
	return nil
}

// maxSweep bounds how many queued events one dequeue may shed besides the
// ones it had to pass over, so a worker soon gets back to work.
const maxSweep = 32

type drop struct {
	it     item
	reason event.Reason
	why    shedWhy // for shed events
}

// startWorker adds a worker to the pool. Called with p.mu held, once Run
// has started.
func (p *Pipeline) startWorker() {
	quit := make(chan struct{})
	p.pool = append(p.pool, quit)
	ctx := p.workCtx
	p.wg.Go(func() { p.work(ctx, quit) })
}

// SetWorkers resizes the worker pool while running. Extra workers finish
// the event they are processing, then leave; nothing is cancelled. Once
// Run's context has ended it returns ErrStopped.
func (p *Pipeline) SetWorkers(n int) error {
	if n < 1 {
		return fmt.Errorf("pipeline: workers must be at least 1, got %d", n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return ErrStopped
	}
	p.workers.Store(int64(n))
	p.lim.setMax(n)
	p.applyBound()
	if p.workCtx == nil {
		return nil // Run starts them
	}
	for len(p.pool) < n {
		p.startWorker()
	}
	for len(p.pool) > n {
		last := len(p.pool) - 1
		close(p.pool[last])
		p.pool = p.pool[:last]
	}
	return nil
}

// SetQueue changes the queue's capacity and policy while running. Queued
// events move to the new queue in deadline order; when the new capacity is
// smaller, the policy chooses which ones are dropped as queue-full. The
// events move a step at a time, so neither admission nor the workers wait
// for the whole queue to move. Once Run's context has ended it returns
// ErrStopped.
func (p *Pipeline) SetQueue(capacity int, policy Policy) error {
	if capacity < 1 {
		return fmt.Errorf("pipeline: queue capacity must be at least 1, got %d", capacity)
	}
	if _, err := ParsePolicy(string(policy)); err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	p.mu.Lock()
	stopped := p.stopped
	p.mu.Unlock()
	if stopped {
		return ErrStopped
	}
	p.noShed.Store(policy == FIFO)
	for _, it := range p.q.reshape(policy, capacity) {
		p.finish(it.ev, event.Dropped, event.QueueFull)
	}
	return nil
}

// SetProcessor replaces the processor while running; events already being
// processed finish with the old one. What was learned of the old one (its
// service times, the adaptive limit) is forgotten: a new worker is learned
// afresh.
func (p *Pipeline) SetProcessor(proc Processor) {
	p.proc.Store(boxProcessor(proc))
	p.est.reset()
	p.lim.reset(int(p.workers.Load()))
	p.applyBound()
}

// SetConcurrency switches between fixed and adaptive concurrency while
// running. The adaptive limit learns only while in force (calls made at
// another concurrency tell it nothing of its own), so switching to
// adaptive starts it afresh, at the least limit.
func (p *Pipeline) SetConcurrency(c Concurrency) error {
	if _, err := ParseConcurrency(string(c)); err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	adaptive := c == ConcurrencyAdaptive
	if adaptive && !p.adaptive.Load() {
		p.lim.reset(int(p.workers.Load()))
	}
	p.adaptive.Store(adaptive)
	p.applyBound()
	return nil
}

// concurrencyOf is proc's bound on events at once, 0 for none.
func concurrencyOf(proc Processor) int {
	if b, ok := proc.(Bounded); ok {
		return max(b.MaxConcurrent(), 0)
	}
	return 0
}

func (p *Pipeline) work(ctx context.Context, quit <-chan struct{}) {
	var drops []drop
	var now time.Time // when the last item was selected: its start
	sel := func(d discipline) (item, bool) {
		now = p.cfg.Now()
		dist := p.est.dist(now)
		shedding := dist != nil && !p.noShed.Load()
		busy := int(p.busy.Load())
		// The workers free besides this one: while every waiting event
		// has one, nothing is shed (work-conserving: trying costs only
		// capacity that would otherwise sit idle).
		others := max(p.bound()-busy-1, 0)
		for d.len() > 0 {
			var it item
			contended := shedding && d.len() > others+1
			standing := p.standing.update(d, now)
			overloaded := contended && standing && !p.clears(d, dist, now)
			if overloaded {
				// More waiting than can be served in time: whatever is
				// done, some will be lost, so the worker takes the
				// likeliest to make it, the one with the most time left
				// (EDF's order is the worst under overload: it starts
				// the events closest to their deadline, which then end
				// late or are cancelled one after the other).
				it = d.removeLast()
			} else {
				it = d.next(int(p.workers.Load()))
			}
			if !it.deadline.After(now) {
				drops = append(drops, drop{it: it, reason: event.Expired})
				continue
			}
			best := it
			if d.len() > 0 && d.last().deadline.After(best.deadline) {
				best = d.last()
			}
			if contended {
				if why, ok := p.choose(dist, it, best, overloaded, now, d.len(), busy+1); !ok {
					drops = append(drops, drop{it: it, reason: event.Shed, why: why})
					continue
				}
			}
			// Shed what can no longer make it from the other end too, so
			// drops are reported early and free room in the queue: the
			// expired always, the poor bets while contention lasts.
			for range maxSweep {
				if d.len() == 0 {
					break
				}
				first := d.first()
				if !first.deadline.After(now) {
					drops = append(drops, drop{it: d.removeFirst(), reason: event.Expired})
					continue
				}
				if !contended || d.len() <= others {
					break
				}
				why, ok := p.choose(dist, first, best, overloaded, now, d.len(), busy+1)
				if ok {
					break
				}
				drops = append(drops, drop{it: d.removeFirst(), reason: event.Shed, why: why})
			}
			if d.len() == 0 {
				p.standing.reset()
			}
			return it, true
		}
		p.standing.reset()
		return item{}, false
	}
	report := func() bool {
		for _, d := range drops {
			if d.reason == event.Shed {
				p.finishShed(d.it.ev, now, d.why)
				continue
			}
			p.finish(d.it.ev, event.Dropped, d.reason)
		}
		n := len(drops)
		clear(drops)
		drops = drops[:0]
		return n > 0
	}
	for {
		select {
		case <-quit:
			return
		default:
		}
		// A bounded processor keeps the workers beyond its bound out of
		// the queue: the events wait there, ordered and shed by the policy,
		// rather than in a worker competing for a core.
		held, ok := p.slots.acquire(ctx, quit)
		if !ok {
			return
		}
		it, got, open := p.q.pop(ctx, quit, sel, report)
		if !got {
			p.slots.release(held)
			if !open {
				return
			}
			continue
		}
		report()
		p.process(ctx, it, now)
		p.slots.release(held)
	}
}

// process runs it, selected at start.
func (p *Pipeline) process(ctx context.Context, it item, start time.Time) {
	ev := it.ev
	inflight := p.busy.Add(1)
	box := p.proc.Load()
	adaptive := p.adaptive.Load()
	called := start
	if adaptive {
		// The limit is learned from the call alone, without the drops the
		// worker reported since it selected the event.
		called = p.cfg.Now()
	}
	wctx := newDeadlineCtx(ctx, it.deadline)
	out, err := box.proc.Process(wctx, ev)
	wctx.release()
	now := p.cfg.Now()
	p.busy.Add(-1)
	p.learn(box, ev, now.Sub(start), err, now)
	r := event.Result{Event: ev, ProcessedAt: now}
	outcome := limit.OK
	switch {
	case err == nil && now.After(it.deadline):
		r.Status, r.Output = event.Late, out
	case err == nil:
		r.Status, r.Output = event.OnTime, out
	case ctx.Err() != nil:
		// The drain timed out: the pipeline, not the deadline, stopped it.
		r.Status, r.Reason = event.Dropped, event.Shutdown
		adaptive = false // says nothing of the worker
	case errors.Is(err, context.DeadlineExceeded):
		r.Status, r.Reason = event.Late, event.Cancelled
		outcome = limit.Timeout
	default:
		r.Status, r.Reason, r.Failure = event.Dropped, event.Failed, failureKind(err)
		outcome = limit.Failed
	}
	if adaptive && p.proc.Load() == box {
		s := limit.Sample{RTT: now.Sub(called), Inflight: int(inflight), Outcome: outcome}
		if p.lim.observe(s, now) {
			p.applyBound()
		}
	}
	p.rec.Finish(r)
}

// failureKind is the kind of failure err names, "error" when it names none.
func failureKind(err error) string {
	if f, ok := errors.AsType[*event.Failure](err); ok && f.Kind != "" {
		return f.Kind
	}
	return "error"
}

// learn feeds the service-time estimate. Work cut short by its deadline
// only tells that it needed at least as long as it ran: a censored sample.
func (p *Pipeline) learn(box *procBox, ev event.Event, took time.Duration, err error, now time.Time) {
	if p.proc.Load() != box {
		return // the processor changed while it ran: its samples are not the new one's
	}
	var expected time.Duration
	if box.expect != nil {
		expected = box.expect.Expect(ev)
	}
	p.est.observe(sample{extra: took - expected, took: took, at: now, censored: errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)})
}

func (p *Pipeline) finish(ev event.Event, s event.Status, r event.Reason) {
	p.finishAt(ev, p.cfg.Now(), s, r)
}

// finishShed records ev as shed at now, why saying why.
func (p *Pipeline) finishShed(ev event.Event, now time.Time, why shedWhy) {
	p.rec.Finish(event.Result{Event: ev, ProcessedAt: now, Status: event.Dropped, Reason: event.Shed, Detail: why.String()})
}

func (p *Pipeline) finishAt(ev event.Event, at time.Time, s event.Status, r event.Reason) {
	p.rec.Finish(event.Result{Event: ev, ProcessedAt: at, Status: s, Reason: r})
}
