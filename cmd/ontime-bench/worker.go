package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/pprof"
	"strings"
	"sync"
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
