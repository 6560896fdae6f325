package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/pipeline"
	"github.com/ontime-rt/ontime/internal/source"
	"github.com/ontime-rt/ontime/internal/worker"
)

// live holds the settings in force and applies changes to the running parts.
// What the tick reads (current, lateness) is held in atomics, not under mu:
// Apply holds mu while it changes the pipeline, which can take long (a
// queue of a million events to reshape), and the tick must not wait for it.
type live struct {
	mu       sync.Mutex
	settings config.Settings
	current  atomic.Pointer[config.Settings] // immutable copy handed to batches
	stopped  bool                            // Run is shutting down: Apply refuses

	genCtx    context.Context // the generator's parent; nil before Run
	genCancel context.CancelFunc
	genDone   chan struct{}
	lateness  atomic.Pointer[func() time.Duration] // of the running generator, nil when off

	// worker is the http processor in use, nil with simulated work: its
	// idle connections are closed when it is replaced.
	worker *worker.HTTP
}

func ms(v float64) time.Duration { return time.Duration(math.Round(v * float64(time.Millisecond))) }

// processorOf builds the processor the settings describe: simulated work,
// the user's worker over HTTP (then returned as w too) with a keep-alive
// pool of one connection per worker slot, or the user's workers over NATS,
// called on nc, the node's connection (nil outside cluster mode, where
// nats is refused). The worker processors log their failures to log.
func processorOf(s config.Settings, nc *nats.Conn, log *slog.Logger) (_ pipeline.Processor, w *worker.HTTP, err error) {
	switch s.Processor {
	case config.HTTP:
		w, err = worker.New(worker.Config{URL: s.WorkerURL, MaxConns: s.Workers, Logger: log})
		if err != nil {
			return nil, nil, fmt.Errorf("worker: %w", err)
		}
		return w, w, nil
	case config.NATS:
		if nc == nil {
			return nil, nil, errNATSProcessor()
		}
		p, err := worker.NewNATS(worker.NATSConfig{Conn: nc, Subject: s.WorkerSubject, Logger: log})
		if err != nil {
			return nil, nil, fmt.Errorf("worker: %w", err)
		}
		return p, nil, nil
	case "cpu":
		return pipeline.NewSpin(pipeline.Work{Mean: ms(s.WorkMs), Dist: pipeline.Dist(s.WorkDist)}), nil, nil
	}
	return pipeline.Sleep(pipeline.Work{Mean: ms(s.WorkMs), Dist: pipeline.Dist(s.WorkDist)}), nil, nil
}

// errNATSProcessor refuses the nats processor on a node without NATS.
func errNATSProcessor() error {
	return &config.FieldError{
		Field: "processor",
		Msg:   "nats needs cluster mode: start ontime with --nats URL (the workers answer on that NATS server)",
		Want:  "nats needs cluster mode (--nats URL)",
	}
}

// checkSettings refuses what this node cannot do: the nats processor
// without NATS, and a change of tick in cluster mode, where every node must
// use the same.
func (n *Node) checkSettings(old, next config.Settings) error {
	var errs []error
	if next.Processor == config.NATS && n.nc == nil {
		errs = append(errs, errNATSProcessor())
	}
	if next.TickMs != old.TickMs && n.nc != nil {
		errs = append(errs, &config.FieldError{Field: "tickMs", Msg: "cannot change in cluster mode: every node must use the same tick (restart the nodes with --tick)"})
	}
	return errors.Join(errs...)
}

// newProcessor tells whether next needs another processor than old's.
// With the http processor, a change of workers resizes its connection
// pool, which takes a new processor (and the worker is learned afresh).
func newProcessor(old, next config.Settings) bool {
	if next.Processor != old.Processor {
		return true
	}
	switch next.Processor {
	case config.HTTP:
		return next.WorkerURL != old.WorkerURL || next.Workers != old.Workers
	case config.NATS:
		return next.WorkerSubject != old.WorkerSubject
	}
	return next.WorkMs != old.WorkMs || next.WorkDist != old.WorkDist
}

// Settings returns the settings in force.
func (n *Node) Settings() config.Settings {
	n.live.mu.Lock()
	defer n.live.mu.Unlock()
	return n.live.settings
}

// currentSettings is read by the coalescer for every batch.
func (n *Node) currentSettings() *config.Settings {
	return n.live.current.Load()
}

// change is one step of Apply: do changes a running part, undo puts it
// back as it was. Either may be nil.
type change struct {
	what     string
	do, undo func() error
}

// applyAll runs the changes in order. When one fails it undoes those done,
// newest first, and returns its error (with any error undoing, joined), so
// a failed Apply leaves every part as it found it.
func applyAll(changes []change) error {
	for i, c := range changes {
		if c.do == nil {
			continue
		}
		if err := c.do(); err != nil {
			errs := []error{fmt.Errorf("%s: %w", c.what, err)}
			for j := i - 1; j >= 0; j-- {
				if u := changes[j].undo; u != nil {
					if uerr := u(); uerr != nil {
						errs = append(errs, fmt.Errorf("undo %s: %w", changes[j].what, uerr))
					}
				}
			}
			return errors.Join(errs...)
		}
	}
	return nil
}

// Apply changes the settings named by p while the node runs, all or
// nothing: a patch with any problem, or a step that fails, leaves the
// previous settings in force in every part and closes what it built.
// Every event keeps its single final status across the change: resizing
// the queue drops what no longer fits as queue-full, shrinking the pool
// lets workers finish first, and a new generator starts where the old one
// stopped.
func (n *Node) Apply(p config.Patch) (config.Settings, error) {
	_, next, err := n.apply(p)
	return next, err
}

// apply is Apply, which also returns the settings it found in force.
func (n *Node) apply(p config.Patch) (old, next config.Settings, err error) {
	l := &n.live
	l.mu.Lock()
	defer l.mu.Unlock()
	old = l.settings
	if l.stopped {
		return old, old, ErrShuttingDown
	}
	next, err = old.Apply(p, n.checkSettings)
	if err != nil {
		return old, old, err
	}
	pl := n.planFor(old, next)
	if err := applyAll(pl.changes); err != nil {
		return old, old, err
	}
	n.commit(pl, next)
	n.log.Info("settings changed", "settings", next)
	return old, next, nil
}

// plan is what Apply changes for one patch: the steps that may fail, and
// what they build for commit.
type plan struct {
	changes []change
	proc    pipeline.Processor // nil: the processor stays
	w       *worker.HTTP       // proc, when it is an HTTP worker
	gen     *source.Generator  // with restart: the new generator, nil when off
	restart bool               // the generator is replaced
}

// planFor lists the steps from old to next. What can fail without
// touching a running part is built first; then the running parts change
// one by one, each undone if a later one fails, the queue (whose
// shrinking drops events for good) last. Called with live.mu held.
func (n *Node) planFor(old, next config.Settings) *plan {
	pl := &plan{restart: n.live.genCtx != nil && (next.Rate != old.Rate || next.DeadlineMs != old.DeadlineMs || next.Arrivals != old.Arrivals)}
	add := func(c change) { pl.changes = append(pl.changes, c) }
	if newProcessor(old, next) {
		add(change{what: "processor",
			do: func() (err error) { pl.proc, pl.w, err = processorOf(next, n.nc, n.log); return err },
			undo: func() error {
				if pl.w != nil {
					pl.w.Close()
				}
				pl.proc, pl.w = nil, nil
				return nil
			}})
	}
	if pl.restart {
		add(change{what: "generator", do: func() (err error) { pl.gen, err = newGenerator(next, n.submit); return err }})
	}
	if next.Concurrency != old.Concurrency {
		add(change{what: "concurrency",
			do:   func() error { return n.pipe.SetConcurrency(next.Concurrency) },
			undo: func() error { return n.pipe.SetConcurrency(old.Concurrency) }})
	}
	if next.TickMs != old.TickMs {
		add(change{what: "tick",
			do:   func() error { return n.coal.SetTick(ms(next.TickMs)) },
			undo: func() error { return n.coal.SetTick(ms(old.TickMs)) }})
	}
	if next.Workers != old.Workers {
		add(change{what: "workers",
			do:   func() error { return n.pipe.SetWorkers(next.Workers) },
			undo: func() error { return n.pipe.SetWorkers(old.Workers) }})
	}
	if next.QueueCap != old.QueueCap || next.Policy != old.Policy {
		add(change{what: "queue", do: func() error { return n.pipe.SetQueue(next.QueueCap, next.Policy) }})
	}
	return pl
}

// commit does what cannot fail once every step of pl has passed: the new
// processor and generator take over, and next is in force. Called with
// live.mu held.
func (n *Node) commit(pl *plan, next config.Settings) {
	l := &n.live
	if pl.proc != nil {
		n.pipe.SetProcessor(pl.proc)
		if l.worker != nil {
			l.worker.Close()
		}
		l.worker = pl.w
	}
	l.settings = next
	l.current.Store(&next)
	if pl.restart {
		n.stopGenerator()
		n.runGenerator(pl.gen)
	}
}

// newGenerator builds the generator the settings describe, nil when the
// rate is 0 (off).
func newGenerator(s config.Settings, submit source.Submitter) (*source.Generator, error) {
	if s.Rate <= 0 {
		return nil, nil
	}
	return source.NewGenerator(source.GeneratorConfig{
		Rate: s.Rate, Deadline: ms(s.DeadlineMs), Poisson: s.Arrivals == config.Poisson,
	}, submit)
}

// startGenerator starts the generator the settings describe, if any.
// Called with live.mu held, once Run has set genCtx.
func (n *Node) startGenerator() error {
	g, err := newGenerator(n.live.settings, n.submit)
	if err != nil {
		return err
	}
	n.runGenerator(g)
	return nil
}

// runGenerator runs g (nil: none) until stopGenerator. Called with live.mu
// held, once Run has set genCtx.
func (n *Node) runGenerator(g *source.Generator) {
	if g == nil {
		return
	}
	l := &n.live
	ctx, cancel := context.WithCancel(l.genCtx)
	done := make(chan struct{})
	l.genCancel, l.genDone = cancel, done
	take := g.TakeLateness
	l.lateness.Store(&take)
	go func() { defer close(done); _ = g.Run(ctx) }()
}

// stopGenerator stops the running generator and waits for it. Called with
// live.mu held.
func (n *Node) stopGenerator() {
	l := &n.live
	if l.genCancel == nil {
		return
	}
	l.genCancel()
	<-l.genDone
	l.genCancel, l.genDone = nil, nil
	l.lateness.Store(nil)
}

// generatorLateness reads the running generator's schedule error.
func (n *Node) generatorLateness() time.Duration {
	f := n.live.lateness.Load()
	if f == nil {
		return 0
	}
	return (*f)()
}
