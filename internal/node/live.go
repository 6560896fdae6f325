package node

import (
	"context"
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

// Apply changes the settings named by p while the node runs. Every event
// keeps its single final status across the change: resizing the queue
// drops what no longer fits as queue-full, shrinking the pool lets workers
// finish first, and a new generator starts where the old one stopped.
func (n *Node) Apply(p config.Patch) (config.Settings, error) {
	l := &n.live
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.settings
	if l.stopped {
		return old, ErrShuttingDown
	}
	next, err := old.Apply(p)
	if err != nil {
		return old, err
	}
	if next.Processor == config.NATS && n.nc == nil {
		return old, errNATSProcessor()
	}
	if next.TickMs != old.TickMs && n.nc != nil {
		return old, &config.FieldError{Field: "tickMs", Msg: "cannot change in cluster mode: every node must use the same tick (restart the nodes with --tick)"}
	}
	// Built first: a processor that cannot be built changes nothing.
	var proc pipeline.Processor
	var w *worker.HTTP
	if newProcessor(old, next) {
		if proc, w, err = processorOf(next, n.nc, n.log); err != nil {
			return old, err
		}
	}
	if next.Workers != old.Workers {
		if err := n.pipe.SetWorkers(next.Workers); err != nil {
			return old, fmt.Errorf("workers: %w", err)
		}
	}
	if next.QueueCap != old.QueueCap || next.Policy != old.Policy {
		if err := n.pipe.SetQueue(next.QueueCap, pipeline.Policy(next.Policy)); err != nil {
			return old, fmt.Errorf("queue: %w", err)
		}
	}
	if proc != nil {
		n.pipe.SetProcessor(proc)
		if l.worker != nil {
			l.worker.Close()
		}
		l.worker = w
	}
	if next.Concurrency != old.Concurrency {
		if err := n.pipe.SetConcurrency(pipeline.Concurrency(next.Concurrency)); err != nil {
			return old, fmt.Errorf("concurrency: %w", err)
		}
	}
	if next.TickMs != old.TickMs {
		if err := n.coal.SetTick(ms(next.TickMs)); err != nil {
			return old, fmt.Errorf("tick: %w", err)
		}
	}
	l.settings = next
	l.current.Store(&next)
	if next.Rate != old.Rate || next.DeadlineMs != old.DeadlineMs || next.Arrivals != old.Arrivals {
		if l.genCtx != nil {
			n.stopGenerator()
			if err := n.startGenerator(); err != nil {
				return next, fmt.Errorf("generator: %w", err)
			}
		}
	}
	n.log.Info("settings changed", "settings", next)
	return next, nil
}

// startGenerator starts the generator the settings describe, if any.
// Called with live.mu held, once Run has set genCtx.
func (n *Node) startGenerator() error {
	l := &n.live
	s := l.settings
	if s.Rate <= 0 {
		return nil
	}
	g, err := source.NewGenerator(source.GeneratorConfig{
		Rate: s.Rate, Deadline: ms(s.DeadlineMs), Poisson: s.Arrivals == "poisson",
	}, n.submit)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(l.genCtx)
	done := make(chan struct{})
	l.genCancel, l.genDone = cancel, done
	take := g.TakeLateness
	l.lateness.Store(&take)
	go func() { defer close(done); _ = g.Run(ctx) }()
	return nil
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
