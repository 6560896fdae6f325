package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ontime-rt/ontime/internal/demoworker"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/pipeline"
	"github.com/ontime-rt/ontime/internal/stats"
	"github.com/ontime-rt/ontime/internal/worker"
)

// The worker suite runs the real pipeline with the real HTTP processor
// (package worker) against a real HTTP worker on loopback, as ontime does
// with --processor http: the demo worker (package demoworker) served
// in-process, or, for the overhead run, a no-op worker in a child process
// so that this process's CPU time is the caller's alone.

// demo is the demo worker's capacity in the suite: 8 slots x 20 ms = 400/s.
var demo = demoworker.Capacity{Slots: 8, ServiceMs: 20, Dist: demoworker.Fixed}

// Settings of the pipeline in front of the demo worker, as
// ontime --processor http --workers 64 --deadline 100ms runs it.
const (
	suiteWorkers  = 64
	suiteQueue    = 64
	suiteDeadline = 100 * time.Millisecond
	// goodWindow is the window goodput is measured in over time.
	goodWindow = 250 * time.Millisecond
	// sustain is how long goodput must hold to count as back.
	sustain = time.Second
)

func workerSuite(ctx context.Context, o options, out io.Writer) error {
	for _, s := range []struct {
		letter string
		name   string
		run    func(context.Context, options, io.Writer) error
	}{
		{"a", "overhead", overhead},
		{"b", "unknown capacity", unknownCapacity},
		{"c", "capacity step", capacityStep},
		{"d", "worker down", workerDown},
	} {
		if !strings.Contains(o.sections, s.letter) {
			continue
		}
		if err := s.run(ctx, o, out); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// served is a demo worker served over HTTP on loopback. Its goroutines
// carry the pprof label side=worker, so they can be told from the
// caller's.
type served struct {
	w    *demoworker.Worker
	addr string
	srv  *http.Server
	stop context.CancelFunc
	done chan struct{}
}

// serve serves w on addr ("127.0.0.1:0" for any port).
func serve(w *demoworker.Worker, addr string) (*served, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	base, stop := context.WithCancel(context.Background())
	s := &served{w: w, addr: ln.Addr().String(), stop: stop, done: make(chan struct{}),
		srv: &http.Server{Handler: w.Handler(), BaseContext: func(net.Listener) context.Context { return base }}}
	go pprof.Do(base, pprof.Labels("side", "worker"), func(context.Context) {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	})
	return s, nil
}

// close stops the worker as a crash would: the listener and every
// connection close at once, calls in it end.
func (s *served) close() {
	s.stop()
	_ = s.srv.Close()
	<-s.done
}

func (s *served) url() string { return "http://" + s.addr + "/work" }

func newDemo(c demoworker.Capacity) (*served, error) {
	w, err := demoworker.New(demoworker.Config{Capacity: c, Queue: 1024})
	if err != nil {
		return nil, err
	}
	return serve(w, "127.0.0.1:0")
}

// wrec tallies a worker run: outcomes and latencies of the events created
// from a point on, on-time completions per window of time, the outcomes of
// events created in a span, and everything, for conservation.
type wrec struct {
	next pipeline.Recorder

	mu   sync.Mutex
	from time.Time
	c    stats.Counts
	hist *stats.Histogram

	t0     time.Time // start of the windows
	onTime []int     // on-time completions per goodWindow from t0

	spanFrom, spanTo time.Time
	span             stats.Counts

	all stats.Counts
}

func newWrec(next pipeline.Recorder) *wrec {
	return &wrec{next: next, hist: stats.NewHistogram(), from: time.Now().Add(time.Hour)}
}

// measure tallies the events created from at on, and counts on-time
// completions in windows from at.
func (r *wrec) measure(at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.from, r.t0 = at, at
	r.c = stats.Counts{}
	r.hist.Reset()
	r.onTime = r.onTime[:0]
}

// spanOf tallies apart the events created in [from, to).
func (r *wrec) spanOf(from, to time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spanFrom, r.spanTo = from, to
}

func (r *wrec) Admit(ev event.Event) {
	r.next.Admit(ev)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all.Admit()
	if !ev.CreatedAt.Before(r.from) {
		r.c.Admit()
	}
	if !ev.CreatedAt.Before(r.spanFrom) && ev.CreatedAt.Before(r.spanTo) {
		r.span.Admit()
	}
}

func (r *wrec) Finish(res event.Result) {
	r.next.Finish(res)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all.Finish(res)
	if !res.CreatedAt.Before(r.spanFrom) && res.CreatedAt.Before(r.spanTo) {
		r.span.Finish(res)
	}
	if res.CreatedAt.Before(r.from) {
		return
	}
	r.c.Finish(res)
	if res.Processed() {
		r.hist.Record(res.Latency())
	}
	if res.Status == event.OnTime {
		i := int(res.ProcessedAt.Sub(r.t0) / goodWindow)
		for len(r.onTime) <= i {
			r.onTime = append(r.onTime, 0)
		}
		r.onTime[i]++
	}
}

// windows returns the on-time completions per window, as events/s.
func (r *wrec) windows() []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]float64, len(r.onTime))
	for i, n := range r.onTime {
		out[i] = float64(n) / goodWindow.Seconds()
	}
	return out
}

// httpRig is a pipeline calling a worker over HTTP, with its coalescer.
type httpRig struct {
	*rig
	rec  *wrec
	proc *worker.HTTP
}

func startHTTPRig(o options, cfg pipeline.Config, url string) (*httpRig, error) {
	proc, err := worker.New(worker.Config{URL: url, MaxConns: cfg.Workers})
	if err != nil {
		return nil, err
	}
	var rec *wrec
	rg, err := newRig(o.tick, cfg, proc, func(next pipeline.Recorder) pipeline.Recorder {
		rec = newWrec(next)
		return rec
	})
	if err != nil {
		return nil, err
	}
	return &httpRig{rig: rg, rec: rec, proc: proc}, nil
}

func (h *httpRig) stop() {
	h.cancel()
	h.proc.Close()
}

// limits samples the limit in force every 20 ms until stop is called.
type limits struct {
	mu      sync.Mutex
	samples []int
	stop    func()
}

func sampleLimits(p *pipeline.Pipeline) *limits {
	l := &limits{}
	l.stop = every(20*time.Millisecond, func() {
		n := p.Gauges().Limit
		l.mu.Lock()
		l.samples = append(l.samples, n)
		l.mu.Unlock()
	})
	return l
}

// every calls f every d until the returned func is called; that func
// returns once a call under way has ended.
func every(d time.Duration, f func()) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f()
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// summary is the mean, least and greatest limit sampled.
func (l *limits) summary() (mean float64, lo, hi int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) == 0 {
		return 0, 0, 0
	}
	lo, hi = l.samples[0], l.samples[0]
	sum := 0
	for _, n := range l.samples {
		sum += n
		lo, hi = min(lo, n), max(hi, n)
	}
	return float64(sum) / float64(len(l.samples)), lo, hi
}

// ---- a. Overhead ----

// noopWorker serves a worker that answers 200 {} at once on loopback,
// prints its address, and serves until stdin closes. It is the child
// process of the overhead run.
func noopWorker(out io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintln(out, ln.Addr().String())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startNoop starts the no-op worker in a child process.
func startNoop() (url string, stop func() error, err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(exe, "-noop-worker")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return "", nil, fmt.Errorf("the no-op worker did not start: %w", err)
	}
	return "http://" + strings.TrimSpace(line) + "/work", func() error { _ = stdin.Close(); return cmd.Wait() }, nil
}

// cpuTime is this process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err) // unreachable: RUSAGE_SELF and a valid pointer
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rate is one side's events per second and CPU time per event.
type rate struct {
	perSec float64
	cpu    time.Duration // per event
}

// overheadConns is the concurrency of both sides of the overhead run.
const overheadConns = 32

func overhead(ctx context.Context, o options, out io.Writer) error {
	url, stop, err := startNoop()
	if err != nil {
		return err
	}
	defer func() { _ = stop() }()
	fmt.Fprintf(out, "## a. Overhead: a no-op HTTP worker (200 {} at once, in a child process), %d calls at once\n\n", overheadConns)
	fmt.Fprintf(out, "ontime: the pipeline (edf, fixed concurrency %d, queue 256, deadline 1 s, coalescer) with the http processor,\n", overheadConns)
	fmt.Fprintf(out, "fed as fast as it accepts. Plain: %d goroutines, each marshalling the same event, POSTing it with the same\n", overheadConns)
	fmt.Fprintf(out, "headers under a 1 s timeout through one http.Client (pool of %d), reading the answer. %s per side after 0.5 s\n", overheadConns, o.pair)
	fmt.Fprintf(out, "of warm-up, alternately; CPU is this process's (getrusage), the worker's is not in it.\n\n")
	fmt.Fprintln(out, "| pair | ontime events/s | plain calls/s | ontime CPU µs/event | plain CPU µs/call | CPU ratio |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|")
	var ratios, ontimes, plains []float64
	for i := range o.pairs {
		on, err := overheadOntime(ctx, o, url)
		if err != nil {
			return err
		}
		pl, err := overheadPlain(ctx, o, url)
		if err != nil {
			return err
		}
		ratio := float64(on.cpu) / float64(pl.cpu)
		ratios, ontimes, plains = append(ratios, ratio), append(ontimes, on.perSec), append(plains, pl.perSec)
		fmt.Fprintf(out, "| %d | %.0f | %.0f | %.1f | %.1f | %.2f |\n", i+1, on.perSec, pl.perSec, us(on.cpu), us(pl.cpu), ratio)
	}
	fmt.Fprintf(out, "| median | %.0f | %.0f | | | %.2f |\n\n", median(ontimes), median(plains), median(ratios))
	return ctx.Err()
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

func overheadOntime(ctx context.Context, o options, url string) (rate, error) {
	const queue = 256
	h, err := startHTTPRig(o, pipeline.Config{Workers: overheadConns, QueueCap: queue, Policy: pipeline.EDF,
		Concurrency: pipeline.ConcurrencyFixed, DrainTimeout: 2 * time.Second}, url)
	if err != nil {
		return rate{}, err
	}
	defer h.stop()
	// Outstanding events are bounded by the queue, so none is dropped as
	// queue-full: the submitter waits for a finished event instead.
	tokens := make(chan struct{}, queue)
	h.rec.next = finisher{next: h.rec.next, done: func() { <-tokens }}
	sctx, stopSubmit := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case tokens <- struct{}{}:
			case <-sctx.Done():
				return
			}
			ev := makeEvent(i, time.Now())
			ev.Deadline = time.Second
			h.pipe.Submit(ev)
		}
	})
	r := window(ctx, o.pair, func() uint64 {
		h.rec.mu.Lock()
		defer h.rec.mu.Unlock()
		return h.rec.all.OnTime
	})
	stopSubmit()
	wg.Wait()
	h.rec.mu.Lock()
	c := h.rec.all.Clone()
	h.rec.mu.Unlock()
	if c.Late+c.Dropped > 0 {
		return r, fmt.Errorf("the no-op worker run had %d late and %d dropped (%v %v): the figures would not be of dispatch alone", c.Late, c.Dropped, c.DroppedBy, c.FailedBy)
	}
	return r, ctx.Err()
}

// finisher calls done after each outcome.
type finisher struct {
	next pipeline.Recorder
	done func()
}

func (f finisher) Admit(ev event.Event) { f.next.Admit(ev) }
func (f finisher) Finish(r event.Result) {
	f.next.Finish(r)
	f.done()
}

// window measures a running side for d after half a second of warm-up:
// completions per second (count is cumulative) and CPU per completion.
func window(ctx context.Context, d time.Duration, count func() uint64) rate {
	sleep(ctx, 500*time.Millisecond)
	n0, c0, t0 := count(), cpuTime(), time.Now()
	sleep(ctx, d)
	n1, c1, el := count(), cpuTime(), time.Since(t0)
	n := max(n1-n0, 1)
	return rate{perSec: float64(n) / el.Seconds(), cpu: (c1 - c0) / time.Duration(n)}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func overheadPlain(ctx context.Context, o options, url string) (rate, error) {
	tr := &http.Transport{MaxConnsPerHost: overheadConns, MaxIdleConnsPerHost: overheadConns, MaxIdleConns: overheadConns}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var done, failed, next atomic.Uint64
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range overheadConns {
		wg.Go(func() {
			for sctx.Err() == nil {
				ev := makeEvent(int(next.Add(1)), time.Now())
				ev.Deadline = time.Second
				if err := plainCall(sctx, client, url, ev); err != nil {
					if sctx.Err() == nil {
						failed.Add(1)
					}
					continue
				}
				done.Add(1)
			}
		})
	}
	r := window(ctx, o.pair, done.Load)
	stop()
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return r, fmt.Errorf("the plain loop had %d failed calls", n)
	}
	return r, ctx.Err()
}

// plainCall is what a careful client without ontime does per call: encode
// the event, POST it with the same headers under its deadline, read the
// answer.
func plainCall(ctx context.Context, client *http.Client, url string, ev event.Event) error {
	ctx, cancel := context.WithDeadline(ctx, ev.DeadlineAt())
	defer cancel()
	body, err := json.Marshal(worker.Request{ID: ev.ID.String(), Source: ev.Source, CreatedAt: ev.CreatedAt.UnixMilli(),
		DeadlineMs: stats.Millis(ev.Deadline), Payload: ev.Payload})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	left := time.Until(ev.DeadlineAt())
	req.Header = http.Header{
		"Content-Type":        {"application/json"},
		"User-Agent":          {"plain"},
		worker.HeaderEventID:  {ev.ID.String()},
		worker.HeaderDeadline: {strconv.FormatInt(ev.DeadlineAt().UnixMilli(), 10)},
		worker.HeaderTimeout:  {strconv.FormatInt(int64((left+time.Millisecond-1)/time.Millisecond), 10)},
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, event.MaxOutput+1))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || len(out) == 0 {
		return fmt.Errorf("answered %s %q", resp.Status, out)
	}
	return nil
}

// ---- b. Unknown capacity ----

func unknownCapacity(ctx context.Context, o options, out io.Writer) error {
	c := demo.PerSecond()
	fmt.Fprintf(out, "## b. Unknown capacity: the demo worker, %d slots x %g ms (C = %.0f/s), FIFO inside\n\n", demo.Slots, demo.ServiceMs, c)
	measured, err := closedLoop(ctx, 2*demo.Slots, o.pair)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Measured capacity C' = %.1f/s: %d callers (two per slot) in a closed loop for %s, so every slot is busy\n", measured, 2*demo.Slots, o.pair)
	fmt.Fprintln(out, "with a call waiting behind it: the most this worker serves here. C' < C by the overshoot of its timers.")
	fmt.Fprintf(out, "Pipeline: workers %d, queue %d, edf, deadline %s, constant arrivals; %s measured after %s of warm-up.\n",
		suiteWorkers, suiteQueue, suiteDeadline, o.run, o.warm)
	fmt.Fprintln(out, "Limit: the bound in force, sampled every 20 ms (fixed: always the workers). No time left: calls that reached")
	fmt.Fprintln(out, "the worker with Ontime-Timeout-Ms <= 0 or past Ontime-Deadline, by the worker's count, of all its calls.")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| load | concurrency | offered/s | goodput/s | % of C | % of C' | % of processed late | calls/s | no time left % of calls | limit mean (min-max) | p50 ms | p99 ms | dropped: queue-full / expired / shed / failed |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, load := range []float64{2, 5, 10} {
		for _, mode := range []pipeline.Concurrency{pipeline.ConcurrencyAdaptive, pipeline.ConcurrencyFixed} {
			if err := capacityRow(ctx, o, load, mode, measured, out); err != nil {
				return err
			}
		}
	}
	fmt.Fprintln(out)
	return nil
}

func suiteConfig(mode pipeline.Concurrency) pipeline.Config {
	return pipeline.Config{Workers: suiteWorkers, QueueCap: suiteQueue, Policy: pipeline.EDF, Concurrency: mode,
		DrainTimeout: suiteDeadline + time.Second}
}

// closedLoop measures the demo worker's real capacity: n callers, each
// calling again as soon as its call returns, for d. With more callers than
// slots, a call always waits for each slot, so no slot idles between calls.
func closedLoop(ctx context.Context, n int, d time.Duration) (float64, error) {
	w, err := newDemo(demo)
	if err != nil {
		return 0, err
	}
	defer w.close()
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: n, MaxIdleConnsPerHost: n}}
	defer client.CloseIdleConnections()
	var served atomic.Int64
	var wg sync.WaitGroup
	// Calls served in the first second are not counted: connections open
	// and the worker's goroutines start then.
	start := time.Now().Add(time.Second)
	ctx, cancel := context.WithTimeout(ctx, d+time.Second)
	defer cancel()
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, w.url(), strings.NewReader(`{"id":"x","source":"bench","createdAt":0,"deadlineMs":1000}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(worker.HeaderTimeout, "1000")
				req.Header.Set(worker.HeaderDeadline, strconv.FormatInt(time.Now().Add(time.Second).UnixMilli(), 10))
				resp, err := client.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK && time.Now().After(start) {
					served.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if served.Load() == 0 {
		return 0, errors.New("closed loop: the demo worker served no call")
	}
	return float64(served.Load()) / time.Since(start).Seconds(), nil
}

func capacityRow(ctx context.Context, o options, load float64, mode pipeline.Concurrency, measured float64, out io.Writer) error {
	w, err := newDemo(demo)
	if err != nil {
		return err
	}
	defer w.close()
	h, err := startHTTPRig(o, suiteConfig(mode), w.url())
	if err != nil {
		return err
	}
	rate := load * demo.PerSecond()
	if o.trace != nil {
		stopTrace := traceRow(h, w, o.trace)
		defer stopTrace()
	}
	if _, err := generate(ctx, h.pipe, rate, false, suiteDeadline, o.warm); err != nil {
		h.stop()
		return err
	}
	before := w.w.Stats()
	h.rec.measure(time.Now())
	lim := sampleLimits(h.pipe)
	offered, err := generate(ctx, h.pipe, rate, false, suiteDeadline, o.run)
	lim.stop()
	h.stop()
	if err != nil {
		return err
	}
	after := w.w.Stats()
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	cn := h.rec.c
	secs := o.run.Seconds()
	goodput := float64(cn.OnTime) / secs
	processed := cn.OnTime + cn.Late
	calls := after.Received - before.Received
	mean, lo, hi := lim.summary()
	fmt.Fprintf(out, "| %gx | %s | %.0f | %.1f | %.1f%% | %.1f%% | %.2f%% | %.0f | %.3f%% | %.1f (%d-%d) | %.1f | %.1f | %d / %d / %d / %d |\n",
		load, mode, offered, goodput, 100*goodput/demo.PerSecond(), 100*goodput/measured, pct(cn.Late, processed),
		float64(calls)/secs, pct(uint64(after.NoTimeLeft-before.NoTimeLeft), uint64(calls)), mean, lo, hi,
		stats.Millis(h.rec.hist.Quantile(0.5)), stats.Millis(h.rec.hist.Quantile(0.99)),
		cn.DroppedBy[event.QueueFull], cn.DroppedBy[event.Expired], cn.DroppedBy[event.Shed], cn.DroppedBy[event.Failed])
	return nil
}

// traceRow prints the pipeline's gauges and the worker's load every 100 ms
// to out, until the returned func is called: what the limit and the
// learned service time did during a row.
func traceRow(h *httpRig, w *served, out io.Writer) func() {
	return every(100*time.Millisecond, func() {
		g := h.pipe.Gauges()
		st := w.w.Stats()
		h.rec.mu.Lock()
		c := h.rec.all.Clone()
		h.rec.mu.Unlock()
		fmt.Fprintf(out, "%s limit=%d busy=%d queued=%d call p50=%s p99=%s best=%s | worker: received=%d busy=%d queued=%d | on-time=%d late=%d dropped=%v\n",
			time.Now().Format("15:04:05.000"), g.Limit, g.Busy, g.QueueDepth, g.CallP50.Round(time.Microsecond), g.CallP99.Round(time.Microsecond),
			g.CallBest.Round(time.Microsecond), st.Received, st.Busy, st.Queued, c.OnTime, c.Late, c.DroppedBy)
	})
}

func pct(n, of uint64) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// ---- c. Capacity step ----

// recovery is the time from the window at step until the first of
// enough consecutive windows at or above threshold to last sustain; -1 if
// goodput never got there.
func recovery(ws []float64, step int, threshold float64) time.Duration {
	need := int(sustain / goodWindow)
	for k := step; k+need <= len(ws); k++ {
		ok := true
		for _, g := range ws[k : k+need] {
			if g < threshold {
				ok = false
				break
			}
		}
		if ok {
			return time.Duration(k-step) * goodWindow
		}
	}
	return -1
}

// meanOf is the mean of ws[from:to], clamped to ws.
func meanOf(ws []float64, from, to int) float64 {
	from, to = max(from, 0), min(to, len(ws))
	if to <= from {
		return 0
	}
	sum := 0.0
	for _, g := range ws[from:to] {
		sum += g
	}
	return sum / float64(to-from)
}

func fmtRecovery(d time.Duration) string {
	if d < 0 {
		return "not within the run"
	}
	return fmt.Sprintf("%d", d.Milliseconds())
}

// timeline prints goodput per window from step for n windows.
func timeline(ws []float64, step, n int) string {
	var parts []string
	for k := step; k < min(step+n, len(ws)); k++ {
		parts = append(parts, fmt.Sprintf("%.0f", ws[k]))
	}
	return strings.Join(parts, " ")
}

func patchSlots(ctx context.Context, w *served, slots int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, "http://"+w.addr+"/config", strings.NewReader(fmt.Sprintf(`{"slots": %d}`, slots)))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("PATCH /config: %s %s", resp.Status, b)
	}
	return nil
}

func capacityStep(ctx context.Context, o options, out io.Writer) error {
	const load = 5
	const lead = 3 * time.Second  // measured before the first step
	const hold = 10 * time.Second // between the steps, and after the second
	rate := load * demo.PerSecond()
	w, err := newDemo(demo)
	if err != nil {
		return err
	}
	defer w.close()
	h, err := startHTTPRig(o, suiteConfig(pipeline.ConcurrencyAdaptive), w.url())
	if err != nil {
		return err
	}
	gctx, stopGen := context.WithCancel(ctx)
	var gen sync.WaitGroup
	gen.Go(func() { _, _ = generate(gctx, h.pipe, rate, false, suiteDeadline, time.Hour) })
	sleep(ctx, o.warm)
	t0 := time.Now()
	h.rec.measure(t0)
	lim := sampleLimits(h.pipe)
	sleep(ctx, lead)
	down := time.Now()
	errDown := patchSlots(ctx, w, demo.Slots/2)
	sleep(ctx, t0.Add(lead+hold).Sub(time.Now()))
	up := time.Now()
	errUp := patchSlots(ctx, w, demo.Slots)
	sleep(ctx, t0.Add(lead+2*hold).Sub(time.Now()))
	stopGen()
	gen.Wait()
	lim.stop()
	h.stop()
	if err := errors.Join(errDown, errUp, ctx.Err()); err != nil {
		return err
	}
	ws := h.rec.windows()
	idx := func(at time.Time) int { return int(at.Sub(t0) / goodWindow) }
	// Steps fall inside a window; recovery is counted from the first whole
	// window after each step.
	di, ui := idx(down)+1, idx(up)+1
	half := demo
	half.Slots /= 2
	per := int(time.Second / goodWindow)
	fmt.Fprintf(out, "## c. Capacity step: %gx of C (%.0f/s offered), adaptive; slots %d -> %d -> %d, %s apart\n\n", float64(load), rate, demo.Slots, half.Slots, demo.Slots, hold)
	fmt.Fprintf(out, "Goodput (on-time completions) in %s windows. Back: the first window of a run of %s of windows at or above 90%% of\n", goodWindow, sustain)
	fmt.Fprintln(out, "the new capacity, counted from the first whole window after the step (0: goodput never fell below it).")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| step | new capacity/s | goodput before (last 2 s) | back after ms | goodput after (last 5 s) | limit mean (min-max) | goodput per window, first 3 s after |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|")
	meanL, lo, hi := lim.summary()
	fmt.Fprintf(out, "| %d -> %d slots | %.0f | %.1f | %s | %.1f | %.1f (%d-%d) whole run | %s |\n", demo.Slots, half.Slots, half.PerSecond(),
		meanOf(ws, di-1-2*per, di-1), fmtRecovery(recovery(ws, di, 0.9*half.PerSecond())), meanOf(ws, ui-1-5*per, ui-1), meanL, lo, hi,
		timeline(ws, di, 3*per))
	fmt.Fprintf(out, "| %d -> %d slots | %.0f | %.1f | %s | %.1f | | %s |\n\n", half.Slots, demo.Slots, demo.PerSecond(),
		meanOf(ws, ui-1-2*per, ui-1), fmtRecovery(recovery(ws, ui, 0.9*demo.PerSecond())), meanOf(ws, len(ws)-5*per-1, len(ws)-1),
		timeline(ws, ui, 3*per))
	return nil
}

// ---- d. Worker down ----

// goroutines counts this process's goroutines, and those of the in-process
// worker (labelled side=worker) among them.
func goroutines() (total, workerSide int) {
	var b bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
	sc := bufio.NewScanner(&b)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		line := sc.Text()
		if f, _, ok := strings.Cut(line, " @ "); ok && !strings.HasPrefix(line, "#") {
			n, _ = strconv.Atoi(f)
			total += n
			continue
		}
		if strings.HasPrefix(line, "# labels:") && strings.Contains(line, `"side":"worker"`) {
			workerSide += n
		}
	}
	return total, workerSide
}

// peaks samples the goroutines every 50 ms until stop.
type peaks struct {
	mu                    sync.Mutex
	total, worker, caller int // greatest seen; caller is total - worker
	stop                  func()
}

func samplePeaks() *peaks {
	p := &peaks{}
	sample := func() {
		t, w := goroutines()
		p.mu.Lock()
		p.total, p.worker, p.caller = max(p.total, t), max(p.worker, w), max(p.caller, t-w)
		p.mu.Unlock()
	}
	sample()
	p.stop = every(50*time.Millisecond, sample)
	return p
}

func workerDown(ctx context.Context, o options, out io.Writer) error {
	const load = 2
	const before, outage, after = 2 * time.Second, 3 * time.Second, 3 * time.Second
	rate := load * demo.PerSecond()
	w, err := newDemo(demo)
	if err != nil {
		return err
	}
	h, err := startHTTPRig(o, suiteConfig(pipeline.ConcurrencyAdaptive), w.url())
	if err != nil {
		w.close()
		return err
	}
	gctx, stopGen := context.WithCancel(ctx)
	var gen sync.WaitGroup
	gen.Go(func() { _, _ = generate(gctx, h.pipe, rate, false, suiteDeadline, time.Hour) })
	sleep(ctx, o.warm)
	t0 := time.Now()
	h.rec.measure(t0)
	pb := samplePeaks()
	sleep(ctx, before)
	pb.stop()
	downAt := time.Now()
	h.rec.spanOf(downAt, downAt.Add(outage))
	po := samplePeaks()
	w.close()
	sleep(ctx, downAt.Add(outage).Sub(time.Now()))
	po.stop()
	w2, err := serve(w.w, w.addr)
	upAt := time.Now()
	h.rec.spanOf(downAt, upAt)
	if err != nil {
		stopGen()
		gen.Wait()
		h.stop()
		return fmt.Errorf("restarting the worker on %s: %w", w.addr, err)
	}
	defer w2.close()
	sleep(ctx, after)
	stopGen()
	gen.Wait()
	h.stop()
	if err := ctx.Err(); err != nil {
		return err
	}
	ws := h.rec.windows()
	idx := func(at time.Time) int { return int(at.Sub(t0) / goodWindow) }
	per := int(time.Second / goodWindow)
	base := meanOf(ws, 0, idx(downAt))
	ui := idx(upAt) + 1
	back := recovery(ws, ui, 0.9*base)
	snap := h.coal.Snapshot()
	h.rec.mu.Lock()
	span, all := h.rec.span.Clone(), h.rec.all.Clone()
	h.rec.mu.Unlock()
	fmt.Fprintf(out, "## d. Worker down: %gx of C (%.0f/s offered), adaptive; the worker's listener and connections closed for %s, then served again on the same port\n\n",
		float64(load), rate, outage)
	fmt.Fprintln(out, "| events created during the outage | on time | late | dropped: failed (by kind) / shed / expired / queue-full / other |")
	fmt.Fprintln(out, "|---|---|---|---|")
	other := span.Dropped - span.DroppedBy[event.Failed] - span.DroppedBy[event.Shed] - span.DroppedBy[event.Expired] - span.DroppedBy[event.QueueFull]
	fmt.Fprintf(out, "| %d | %d | %d | %d %s / %d / %d / %d / %d |\n\n", span.Received, span.OnTime, span.Late,
		span.DroppedBy[event.Failed], kinds(span.FailedBy), span.DroppedBy[event.Shed], span.DroppedBy[event.Expired], span.DroppedBy[event.QueueFull], other)
	fmt.Fprintln(out, "| conservation (whole run, after the drain) | received | on time + late + dropped | in flight |")
	fmt.Fprintln(out, "|---|---|---|---|")
	fmt.Fprintf(out, "| recorder | %d | %d | %d |\n", all.Received, all.Finished(), all.Received-all.Finished())
	fmt.Fprintf(out, "| coalescer totals | %d | %d | %d |\n\n", snap.Totals.Received, snap.Totals.Finished(), snap.Totals.InFlight)
	fmt.Fprintln(out, "| goroutines, peak | all | the worker's (in-process) | the rest (pipeline, client, bench) |")
	fmt.Fprintln(out, "|---|---|---|---|")
	fmt.Fprintf(out, "| before the outage (%s) | %d | %d | %d |\n", before, pb.total, pb.worker, pb.caller)
	fmt.Fprintf(out, "| during the outage | %d | %d | %d |\n\n", po.total, po.worker, po.caller)
	fmt.Fprintln(out, "| goodput before/s | back to >= 90 % after ms | goodput in the last 2 s/s | goodput per window, first 2 s after the return |")
	fmt.Fprintln(out, "|---|---|---|---|")
	fmt.Fprintf(out, "| %.1f | %s | %.1f | %s |\n\n", base, fmtRecovery(back), meanOf(ws, len(ws)-2*per-1, len(ws)-1), timeline(ws, ui, 2*per))
	return nil
}

func kinds(m map[string]uint64) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return "(" + strings.Join(parts, ", ") + ")"
}
