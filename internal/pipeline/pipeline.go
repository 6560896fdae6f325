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
)

// Processor does the work of one event. It must return promptly once ctx is
// done: ctx ends at the event's deadline.
type Processor interface {
	Process(ctx context.Context, ev event.Event) error
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
	// QueueCap bounds the events waiting for a worker. When full, new events
	// are dropped as queue-full. Default 64.
	QueueCap int
	// DrainTimeout bounds how long Run keeps processing queued events after
	// its context ends; work still running then is cancelled and dropped as
	// shutdown. Default 2s.
	DrainTimeout time.Duration
	// Now is the clock used to stamp results. Default time.Now. Deadlines are
	// enforced with context deadlines, which follow the runtime clock, so Now
	// must agree with it (tests use testing/synctest to fake both).
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.QueueCap == 0 {
		c.QueueCap = 64
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
	proc Processor
	rec  Recorder
	q    *queue
	busy atomic.Int64
	ran  atomic.Bool
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
	if cfg.DrainTimeout < 0 {
		return nil, fmt.Errorf("pipeline: drain timeout must not be negative, got %s", cfg.DrainTimeout)
	}
	if proc == nil || rec == nil {
		return nil, errors.New("pipeline: processor and recorder are required")
	}
	return &Pipeline{cfg: cfg, proc: proc, rec: rec, q: newQueue(cfg.QueueCap)}, nil
}

// Submit offers ev to the pipeline. It never blocks. It reports whether the
// event was queued; an event that was not is already recorded as dropped,
// with the reason returned.
func (p *Pipeline) Submit(ev event.Event) (bool, event.Reason) {
	p.rec.Admit(ev)
	ok, closed := p.q.push(ev)
	if ok {
		return true, event.ReasonNone
	}
	reason := event.QueueFull
	if closed {
		reason = event.Shutdown
	}
	p.finish(ev, event.Dropped, reason)
	return false, reason
}

// Gauges is an instant view of the pipeline's load.
type Gauges struct {
	QueueDepth int
	QueueCap   int
	Workers    int
	Busy       int
}

// Gauges returns the pipeline's current load.
func (p *Pipeline) Gauges() Gauges {
	return Gauges{
		QueueDepth: p.q.len(),
		QueueCap:   p.cfg.QueueCap,
		Workers:    p.cfg.Workers,
		Busy:       int(p.busy.Load()),
	}
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

	var wg sync.WaitGroup
	for range p.cfg.Workers {
		wg.Go(func() { p.work(workCtx) })
	}
	<-ctx.Done()
	p.q.close()

	drained := make(chan struct{})
	go func() { wg.Wait(); close(drained) }()
	timer := time.NewTimer(p.cfg.DrainTimeout)
	select {
	case <-drained:
	case <-timer.C:
		stopWork()
		<-drained
	}
	timer.Stop()
	for _, ev := range p.q.takeAll() {
		p.finish(ev, event.Dropped, event.Shutdown)
	}
	return nil
}

func (p *Pipeline) work(ctx context.Context) {
	for {
		ev, ok := p.q.pop(ctx)
		if !ok {
			return
		}
		p.process(ctx, ev)
	}
}

func (p *Pipeline) process(ctx context.Context, ev event.Event) {
	deadline := ev.DeadlineAt()
	if !p.cfg.Now().Before(deadline) {
		p.finish(ev, event.Dropped, event.Expired)
		return
	}
	p.busy.Add(1)
	wctx, cancel := context.WithDeadline(ctx, deadline)
	err := p.proc.Process(wctx, ev)
	cancel()
	p.busy.Add(-1)
	now := p.cfg.Now()
	switch {
	case err == nil && now.After(deadline):
		p.finishAt(ev, now, event.Late, event.ReasonNone)
	case err == nil:
		p.finishAt(ev, now, event.OnTime, event.ReasonNone)
	case ctx.Err() != nil:
		// The drain timed out: the pipeline, not the deadline, stopped it.
		p.finishAt(ev, now, event.Dropped, event.Shutdown)
	case errors.Is(err, context.DeadlineExceeded):
		p.finishAt(ev, now, event.Late, event.Cancelled)
	default:
		p.finishAt(ev, now, event.Dropped, event.Failed)
	}
}

func (p *Pipeline) finish(ev event.Event, s event.Status, r event.Reason) {
	p.finishAt(ev, p.cfg.Now(), s, r)
}

func (p *Pipeline) finishAt(ev event.Event, at time.Time, s event.Status, r event.Reason) {
	p.rec.Finish(event.Result{Event: ev, ProcessedAt: at, Status: s, Reason: r})
}
