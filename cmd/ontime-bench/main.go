// Command ontime-bench measures the pipeline in-process (no HTTP): goodput,
// lateness and latency of each policy from light load to 10x overload, the
// recovery after a load step, the coalescer's tick jitter, and the raw
// throughput of the pipeline beside a bare buffered channel. Every figure of
// one table comes from the same run, so ratios between rows hold even on a
// noisy machine.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/coalescer"
	"github.com/ontime-rt/ontime/internal/demoworker"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/pipeline"
	"github.com/ontime-rt/ontime/internal/source"
	"github.com/ontime-rt/ontime/internal/stats"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args, os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "ontime-bench:", err)
		os.Exit(2)
	}
}

type options struct {
	duration  time.Duration
	workers   int
	work      time.Duration
	workDist  pipeline.Dist
	deadline  time.Duration
	queue     int
	tick      time.Duration
	loads     []float64
	policies  []pipeline.Policy
	cpu       bool
	zeroN     int
	skipSweep bool

	// The worker suite (worker.go).
	workerSuite bool
	noopWorker  bool
	pairs       int
	pair        time.Duration
	run         time.Duration
	warm        time.Duration
	trace       io.Writer // the worker suite's per-row gauge trace; nil for none
	sections    string    // the worker suite's sections to run, of "abcd"
	cpuProfile  string

	// The goodput suite (goodput.go).
	goodput   bool
	shapes    []demoworker.Dist
	goodLoads []float64
	arrivals  []arrivals
}

func parse(args []string, out io.Writer) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("ontime-bench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.DurationVar(&o.duration, "duration", 4*time.Second, "length of each measured run")
	fs.IntVar(&o.workers, "workers", 4, "workers")
	fs.DurationVar(&o.work, "work", 50*time.Millisecond, "mean work per event")
	workDist := fs.String("work-dist", "fixed", "distribution of the simulated work: fixed, uniform or exp")
	fs.DurationVar(&o.deadline, "deadline", 100*time.Millisecond, "deadline per event")
	fs.IntVar(&o.queue, "queue", 64, "queue capacity")
	fs.DurationVar(&o.tick, "tick", 100*time.Millisecond, "coalescer tick")
	loads := fs.String("loads", "0.5,1,2,5,10", "offered loads, as multiples of capacity")
	policies := fs.String("policies", "edf,lifo,fifo", "policies to compare")
	fs.BoolVar(&o.cpu, "cpu", true, "also run the CPU-bound processor at 2x and 10x")
	fs.IntVar(&o.zeroN, "zero-events", 2_000_000, "events for the zero-work throughput runs")
	fs.BoolVar(&o.skipSweep, "throughput-only", false, "only measure zero-work throughput")
	fs.BoolVar(&o.workerSuite, "worker", false, "run the worker suite instead: the pipeline calling real HTTP workers on loopback")
	fs.BoolVar(&o.noopWorker, "noop-worker", false, "serve a no-op HTTP worker on loopback, print its address, serve until stdin closes (the worker suite's child process)")
	fs.IntVar(&o.pairs, "worker-pairs", 3, "worker suite: pairs of overhead runs (ontime, plain)")
	fs.DurationVar(&o.pair, "worker-pair", 3*time.Second, "worker suite: length of each overhead run")
	fs.DurationVar(&o.run, "worker-run", 10*time.Second, "worker suite: length of each unknown-capacity row")
	fs.DurationVar(&o.warm, "worker-warmup", 2*time.Second, "worker suite: warm-up before each measured run")
	fs.StringVar(&o.sections, "worker-sections", "abcd", "worker suite: the sections to run: a (overhead), b (unknown capacity), c (capacity step), d (worker down)")
	trace := fs.Bool("worker-trace", false, "worker suite: print the pipeline's gauges and the worker's load every 100 ms of each unknown-capacity row to stderr")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.BoolVar(&o.goodput, "goodput", false, "run the goodput suite instead: ontime, a plain pool and failsafe-go's adaptive limiter side by side against the demo worker (uses -worker-run and -worker-warmup)")
	shapes := fs.String("goodput-shapes", "fixed,uniform,exp,lognormal,spike", "goodput suite: service time shapes")
	goodLoads := fs.String("goodput-loads", "0.25,0.5,0.9,2,5,10", "goodput suite: offered loads, as multiples of the worker's capacity")
	arrs := fs.String("goodput-arrivals", "constant,poisson,bursts", "goodput suite: arrival patterns")
	if err := fs.Parse(args[1:]); err != nil {
		return o, err
	}
	if *trace {
		o.trace = os.Stderr
	}
	d, err := pipeline.ParseDist(*workDist)
	if err != nil {
		return o, fmt.Errorf("--work-dist: %w", err)
	}
	o.workDist = d
	if err := parseGoodput(&o, *shapes, *goodLoads, *arrs); err != nil {
		return o, err
	}
	for _, s := range strings.Split(*loads, ",") {
		var l float64
		if _, err := fmt.Sscan(strings.TrimSpace(s), &l); err != nil || l <= 0 || l > 100 {
			return o, fmt.Errorf("--loads: %q is not a multiple of capacity in (0, 100]", s)
		}
		o.loads = append(o.loads, l)
	}
	for _, s := range strings.Split(*policies, ",") {
		p, err := pipeline.ParsePolicy(strings.TrimSpace(s))
		if err != nil {
			return o, fmt.Errorf("--policies: %w", err)
		}
		o.policies = append(o.policies, p)
	}
	if o.duration < 500*time.Millisecond || o.workers < 1 || o.work <= 0 || o.deadline <= 0 || o.queue < 1 || o.zeroN < 1000 {
		return o, errors.New("bad settings: duration >= 500ms, workers >= 1, work and deadline > 0, queue >= 1, zero-events >= 1000")
	}
	if o.sections == "" || strings.Trim(o.sections, "abcd") != "" {
		return o, fmt.Errorf("--worker-sections %q: want some of the letters abcd", o.sections)
	}
	if o.pairs < 1 || o.pair < 500*time.Millisecond || o.run < time.Second || o.warm < 0 {
		return o, errors.New("bad worker suite settings: worker-pairs >= 1, worker-pair >= 500ms, worker-run >= 1s, worker-warmup >= 0")
	}
	return o, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	o, err := parse(args, out)
	if err != nil {
		return err
	}
	if o.noopWorker {
		return noopWorker(out)
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(out, "# ontime-bench — %s, GOMAXPROCS=%d, %s\n\n", runtime.Version(), runtime.GOMAXPROCS(0), time.Now().UTC().Format(time.RFC3339))
	if o.workerSuite {
		return workerSuite(ctx, o, out)
	}
	if o.goodput {
		return goodputSuite(ctx, o, out)
	}
	if !o.skipSweep {
		if err := sweep(ctx, o, out); err != nil {
			return err
		}
	}
	return throughput(ctx, o, out)
}

// recorder tallies a run: counts and a run-wide latency histogram of the
// processed events, optionally after a point in time; it forwards
// everything to the coalescer too, as the server does.
type recorder struct {
	next pipeline.Recorder

	mu    sync.Mutex
	after time.Time // only events created from here on are tallied
	c     stats.Counts
	hist  *stats.Histogram
	// recovery: the latest creation time of an event processed slower than
	// normal, for the step test
	slowThreshold time.Duration
	lastSlow      time.Time
}

func newRecorder(next pipeline.Recorder) *recorder {
	return &recorder{next: next, hist: stats.NewHistogram()}
}

// window starts the tally afresh for events created from at on.
func (r *recorder) window(at time.Time, slowThreshold time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.after = at
	r.c = stats.Counts{}
	r.hist.Reset()
	r.slowThreshold = slowThreshold
	r.lastSlow = at
}

func (r *recorder) Admit(ev event.Event) {
	r.next.Admit(ev)
	r.mu.Lock()
	if !ev.CreatedAt.Before(r.after) {
		r.c.Admit()
	}
	r.mu.Unlock()
}

func (r *recorder) Finish(res event.Result) {
	r.next.Finish(res)
	r.mu.Lock()
	defer r.mu.Unlock()
	if res.CreatedAt.Before(r.after) {
		return
	}
	r.c.Finish(res)
	if res.Processed() {
		r.hist.Record(res.Latency())
		if r.slowThreshold > 0 && res.Latency() > r.slowThreshold && res.CreatedAt.After(r.lastSlow) {
			r.lastSlow = res.CreatedAt
		}
	}
	if r.slowThreshold > 0 && res.Status == event.Dropped && res.CreatedAt.After(r.lastSlow) {
		r.lastSlow = res.CreatedAt
	}
}

// discard is the publisher of a benchmark run: batches are made (so the
// coalescer's cost and jitter are real) and thrown away.
type discard struct{ n atomic.Uint64 }

func (d *discard) Publish(*batch.Batch) { d.n.Add(1) }

type relay struct{ p *pipeline.Pipeline }

func (r *relay) Gauges() pipeline.Gauges { return r.p.Gauges() }

// rig is one pipeline with its coalescer, running.
type rig struct {
	pipe   *pipeline.Pipeline
	coal   *coalescer.Coalescer
	rec    *recorder
	cancel func()
	wait   func()
}

func startRig(o options, policy pipeline.Policy, cpu bool, deadline time.Duration) (*rig, error) {
	return startRigWith(o, policy, cpu, o.work, deadline, nil)
}

// startRigWith builds a rig; with wrap set, the pipeline records into
// wrap(coalescer) instead of the run-wide tally.
func startRigWith(o options, policy pipeline.Policy, cpu bool, meanWork, deadline time.Duration, wrap func(pipeline.Recorder) pipeline.Recorder) (*rig, error) {
	work := pipeline.Work{Mean: meanWork, Dist: o.workDist}
	var proc pipeline.Processor = pipeline.Sleep(work)
	if cpu {
		proc = pipeline.NewSpin(work)
	}
	return newRig(o.tick, pipeline.Config{Workers: o.workers, QueueCap: o.queue, Policy: policy, DrainTimeout: deadline + time.Second}, proc, wrap)
}

// newRig starts a pipeline with cfg and proc, and its coalescer; with wrap
// set, the pipeline records into wrap(coalescer) instead of the run-wide
// tally.
func newRig(tick time.Duration, cfg pipeline.Config, proc pipeline.Processor, wrap func(pipeline.Recorder) pipeline.Recorder) (*rig, error) {
	g := &relay{}
	coal, err := coalescer.New(coalescer.Config{Tick: tick}, g, &discard{})
	if err != nil {
		return nil, err
	}
	rec := newRecorder(coal)
	var into pipeline.Recorder = rec
	if wrap != nil {
		into = wrap(coal)
	}
	pipe, err := pipeline.New(cfg, proc, into)
	if err != nil {
		return nil, err
	}
	g.p = pipe
	pctx, pcancel := context.WithCancel(context.Background())
	cctx, ccancel := context.WithCancel(context.Background())
	var pw, cw sync.WaitGroup
	pw.Go(func() { _ = pipe.Run(pctx) })
	cw.Go(func() { _ = coal.Run(cctx) })
	return &rig{pipe: pipe, coal: coal, rec: rec,
		cancel: func() { pcancel(); pw.Wait(); ccancel(); cw.Wait() },
	}, nil
}

// generate offers events at rate for d, and returns the rate achieved.
func generate(ctx context.Context, p *pipeline.Pipeline, rate float64, poisson bool, deadline, d time.Duration) (float64, error) {
	gen, err := source.NewGenerator(source.GeneratorConfig{Rate: rate, Deadline: deadline, Poisson: poisson}, p)
	if err != nil {
		return 0, err
	}
	gctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	_ = gen.Run(gctx)
	_, achieved := gen.Offered(start.Add(d))
	return achieved, ctx.Err()
}

type row struct {
	policy   pipeline.Policy
	arrivals string
	proc     string
	load     float64
	offered  float64
	c        stats.Counts
	hist     *stats.Histogram
	jitter   stats.Summary
	dur      time.Duration
}

func sweep(ctx context.Context, o options, out io.Writer) error {
	capacity := float64(o.workers) / o.work.Seconds()
	measured, err := measureCapacity(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Settings: %d workers, work %s (%s), deadline %s, queue %d, tick %s, %s per run.\n",
		o.workers, o.work, o.workDist, o.deadline, o.queue, o.tick, o.duration)
	fmt.Fprintf(out, "Capacity: %.0f events/s by design (workers / work); %.1f events/s measured (FIFO saturated, 10 s deadlines).\n\n", capacity, measured)

	fmt.Fprintln(out, "| policy | arrivals | work | load | offered/s | goodput (on-time/s) | % of capacity | % of processed on time | p50 ms | p99 ms | max ms | dropped: queue-full / expired / shed | tick jitter p99 ms |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	type variant struct {
		arrivals string
		cpu      bool
		loads    []float64
	}
	variants := []variant{{"constant", false, o.loads}, {"poisson", false, o.loads}}
	if o.cpu {
		variants = append(variants, variant{"constant", true, []float64{2, 10}})
	}
	for _, v := range variants {
		vcap := capacity
		if v.cpu {
			// CPU-bound work runs on at most GOMAXPROCS cores at once.
			vcap = float64(min(o.workers, runtime.GOMAXPROCS(0))) / o.work.Seconds()
		}
		for _, load := range v.loads {
			for _, p := range o.policies {
				r, err := measure(ctx, o, p, v.arrivals == "poisson", v.cpu, load*vcap)
				if err != nil {
					return err
				}
				r.load = load
				r.arrivals = v.arrivals
				printRow(out, r, vcap)
			}
		}
	}
	if o.cpu {
		fmt.Fprintf(out, "\nFor cpu work, capacity is min(workers, cores) / work = %.0f events/s, and load multiples are of that.\n",
			float64(min(o.workers, runtime.GOMAXPROCS(0)))/o.work.Seconds())
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "Step from 10x down to 0.5x (constant arrivals): time from the step until the last event\n")
	fmt.Fprintf(out, "created after it that was dropped or processed slower than work + 10 ms.\n\n")
	fmt.Fprintln(out, "| policy | recovery ms | p99 ms after the step | dropped after the step |")
	fmt.Fprintln(out, "|---|---|---|---|")
	for _, p := range o.policies {
		if err := step(ctx, o, p, capacity, out); err != nil {
			return err
		}
	}
	fmt.Fprintln(out)
	return nil
}

func measureCapacity(ctx context.Context, o options) (float64, error) {
	long := 10 * time.Second
	r, err := startRig(o, pipeline.FIFO, false, long)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	r.rec.window(start, 0)
	capacity := float64(o.workers) / o.work.Seconds()
	if _, err := generate(ctx, r.pipe, 3*capacity, false, long, 2*time.Second); err != nil {
		r.cancel()
		return 0, err
	}
	r.rec.mu.Lock()
	done := r.rec.c.OnTime + r.rec.c.Late
	r.rec.mu.Unlock()
	el := time.Since(start)
	r.cancel()
	return float64(done) / el.Seconds(), nil
}

func measure(ctx context.Context, o options, p pipeline.Policy, poisson, cpu bool, rate float64) (row, error) {
	rg, err := startRig(o, p, cpu, o.deadline)
	if err != nil {
		return row{}, err
	}
	// Warm up for a second (the service estimate learns), then measure the
	// events created during the run; the drain finishes them.
	if _, err := generate(ctx, rg.pipe, rate, poisson, o.deadline, time.Second); err != nil {
		rg.cancel()
		return row{}, err
	}
	rg.rec.window(time.Now(), 0)
	offered, err := generate(ctx, rg.pipe, rate, poisson, o.deadline, o.duration)
	rg.cancel()
	if err != nil {
		return row{}, err
	}
	proc := "sleep"
	if cpu {
		proc = "cpu"
	}
	return row{policy: p, proc: proc, offered: offered, c: rg.rec.c, hist: rg.rec.hist, jitter: rg.coal.Snapshot().TickJitter, dur: o.duration}, nil
}

func printRow(out io.Writer, r row, capacity float64) {
	secs := r.dur.Seconds()
	goodput := float64(r.c.OnTime) / secs
	processed := r.c.OnTime + r.c.Late
	onTimePct := 100.0
	if processed > 0 {
		onTimePct = 100 * float64(r.c.OnTime) / float64(processed)
	}
	fmt.Fprintf(out, "| %s | %s | %s | %.1fx | %.0f | %.1f | %.1f%% | %.2f%% | %.1f | %.1f | %.1f | %d / %d / %d | %.2f |\n",
		r.policy, r.arrivals, r.proc, r.load, r.offered, goodput, 100*goodput/capacity, onTimePct,
		stats.Millis(r.hist.Quantile(0.5)), stats.Millis(r.hist.Quantile(0.99)), stats.Millis(r.hist.Max()),
		r.c.DroppedBy[event.QueueFull], r.c.DroppedBy[event.Expired], r.c.DroppedBy[event.Shed], r.jitter.P99)
}

func step(ctx context.Context, o options, p pipeline.Policy, capacity float64, out io.Writer) error {
	rg, err := startRig(o, p, false, o.deadline)
	if err != nil {
		return err
	}
	if _, err := generate(ctx, rg.pipe, 10*capacity, false, o.deadline, 2*time.Second); err != nil {
		rg.cancel()
		return err
	}
	stepAt := time.Now()
	rg.rec.window(stepAt, o.work+10*time.Millisecond)
	if _, err := generate(ctx, rg.pipe, 0.5*capacity, false, o.deadline, 2*time.Second); err != nil {
		rg.cancel()
		return err
	}
	rg.cancel()
	rec := rg.rec
	fmt.Fprintf(out, "| %s | %.1f | %.1f | %d |\n", p, stats.Millis(rec.lastSlow.Sub(stepAt)), stats.Millis(rec.hist.Quantile(0.99)), rec.c.Dropped)
	return nil
}
