package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"

	"github.com/ontime-rt/ontime/internal/demoworker"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/pipeline"
	"github.com/ontime-rt/ontime/internal/worker"
)

// The goodput suite runs, side by side against the same demo worker (8
// slots, a FIFO inside, mean service 20 ms: 400 calls/s), ontime and what a
// Go user would write instead, and counts the events each gets done before
// their deadline (5x the mean service time), for each shape of service time,
// offered load and arrival pattern:
//
//   - ontime: the pipeline with the http processor, --workers 64, adaptive
//     concurrency, EDF, a queue of 64, as `ontime --processor http` runs;
//   - pool: 64 goroutines taking events from a channel of 64 (full: the
//     event is dropped) and calling the worker under each event's deadline;
//   - failsafe: failsafe-go's adaptive limiter (TryAcquirePermit, default
//     settings but a limit of at most 64) in front of the same calls, one
//     goroutine per admitted event.
//
// Each contender gets a fresh worker, the same arrivals and the same
// measured window; every figure of a row comes from the same run.

// goodputCapacity is the worker of the suite, its shape set per row.
var goodputCapacity = demoworker.Capacity{Slots: 8, ServiceMs: 20}

const (
	goodputWorkers  = 64
	goodputQueue    = 64
	goodputDeadline = 100 * time.Millisecond // 5x the mean service time
	burstEvery      = 100 * time.Millisecond
)

// arrivals names how events are spaced.
type arrivals string

const (
	constant arrivals = "constant"
	poisson  arrivals = "poisson"
	// bursts: every 100 ms, 100 ms worth of events at once, as producers
	// posting NDJSON batches send them.
	bursts arrivals = "bursts"
)

// contender is one way of running events against the worker.
type contender interface {
	offer(ev event.Event)
	// stop ends the contender once every event it took has ended.
	stop()
}

// tally counts the outcomes of the events created in the measured window.
type tally struct {
	from, to        atomic.Int64 // unix ns; events created in [from, to) count
	offered, onTime atomic.Int64
	late, dropped   atomic.Int64

	mu      sync.Mutex
	reasons map[event.Reason]int // of the dropped and late events
}

func (t *tally) counts(ev event.Event) bool {
	at := ev.CreatedAt.UnixNano()
	return at >= t.from.Load() && at < t.to.Load()
}

func (t *tally) admit(ev event.Event) {
	if t.counts(ev) {
		t.offered.Add(1)
	}
}

func (t *tally) finish(ev event.Event, s event.Status) {
	if !t.counts(ev) {
		return
	}
	switch s {
	case event.OnTime:
		t.onTime.Add(1)
	case event.Late:
		t.late.Add(1)
	default:
		t.dropped.Add(1)
	}
}

// ontimeContender is the pipeline with the http processor.
type ontimeContender struct {
	p      *pipeline.Pipeline
	cancel context.CancelFunc
	done   chan struct{}
	closer func()
}

type tallyRecorder struct{ t *tally }

func (r tallyRecorder) Admit(ev event.Event) { r.t.admit(ev) }
func (r tallyRecorder) Finish(x event.Result) {
	r.t.finish(x.Event, x.Status)
	if x.Reason != "" && r.t.counts(x.Event) {
		r.t.mu.Lock()
		if r.t.reasons == nil {
			r.t.reasons = map[event.Reason]int{}
		}
		r.t.reasons[x.Reason]++
		r.t.mu.Unlock()
	}
}

func newOntime(url string, t *tally) (contender, error) {
	proc, err := newHTTPProcessor(url, goodputWorkers)
	if err != nil {
		return nil, err
	}
	p, err := pipeline.New(pipeline.Config{Workers: goodputWorkers, QueueCap: goodputQueue, Policy: pipeline.EDF,
		Concurrency: pipeline.ConcurrencyAdaptive, DrainTimeout: goodputDeadline + time.Second}, proc, tallyRecorder{t})
	if err != nil {
		proc.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &ontimeContender{p: p, cancel: cancel, done: make(chan struct{}), closer: proc.Close}
	go func() { defer close(c.done); _ = p.Run(ctx) }()
	return c, nil
}

func (c *ontimeContender) offer(ev event.Event) { c.p.Submit(ev) }
func (c *ontimeContender) stop()                { c.cancel(); <-c.done; c.closer() }

// poolContender is a plain pool of goroutines behind a bounded channel.
type poolContender struct {
	ch     chan event.Event
	t      *tally
	wg     sync.WaitGroup
	client *http.Client
}

func newPool(url string, t *tally) contender {
	c := &poolContender{ch: make(chan event.Event, goodputQueue), t: t, client: plainClient(goodputWorkers)}
	for range goodputWorkers {
		c.wg.Go(func() {
			for ev := range c.ch {
				c.t.finish(ev, call(c.client, url, ev))
			}
		})
	}
	return c
}

func (c *poolContender) offer(ev event.Event) {
	c.t.admit(ev)
	select {
	case c.ch <- ev:
	default:
		c.t.finish(ev, event.Dropped) // the channel is full
	}
}

func (c *poolContender) stop() {
	close(c.ch)
	c.wg.Wait()
	c.client.CloseIdleConnections()
}

// failsafeContender admits an event when failsafe-go's adaptive limiter
// gives it a permit, and calls the worker at once in a goroutine of its own.
type failsafeContender struct {
	lim    adaptivelimiter.AdaptiveLimiter[any]
	t      *tally
	url    string
	wg     sync.WaitGroup
	client *http.Client
}

func newFailsafe(url string, t *tally) contender {
	return &failsafeContender{
		lim: adaptivelimiter.NewBuilder[any]().WithLimits(1, goodputWorkers, 20).Build(),
		t:   t, url: url, client: plainClient(goodputWorkers),
	}
}

func (c *failsafeContender) offer(ev event.Event) {
	c.t.admit(ev)
	permit, ok := c.lim.TryAcquirePermit()
	if !ok {
		c.t.finish(ev, event.Dropped)
		return
	}
	c.wg.Go(func() {
		s := call(c.client, c.url, ev)
		if s == event.OnTime {
			permit.Record()
		} else {
			permit.Drop()
		}
		c.t.finish(ev, s)
	})
}

func (c *failsafeContender) stop() { c.wg.Wait(); c.client.CloseIdleConnections() }

// newHTTPProcessor is ontime's http processor for url. Its failure log
// (calls the worker answers 504 once their budget ran out there) would
// interleave with the table.
func newHTTPProcessor(url string, conns int) (*worker.HTTP, error) {
	return worker.New(worker.Config{URL: url, MaxConns: conns, Logger: slog.New(slog.DiscardHandler)})
}

func plainClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxConnsPerHost: conns, MaxIdleConnsPerHost: conns, MaxIdleConns: conns}}
}

// call is one event's call under its deadline, as the peers make it: on
// time when the worker answered before the deadline.
func call(client *http.Client, url string, ev event.Event) event.Status {
	if !time.Now().Before(ev.DeadlineAt()) {
		return event.Dropped
	}
	err := plainCall(context.Background(), client, url, ev)
	switch {
	case err == nil && !time.Now().After(ev.DeadlineAt()):
		return event.OnTime
	case err == nil, time.Now().After(ev.DeadlineAt()):
		return event.Late
	}
	return event.Dropped
}

// goodputRow is one cell of the matrix: the three contenders' on-time rates.
type goodputRow struct {
	shape   demoworker.Dist
	load    float64
	arr     arrivals
	offered float64
	onTime  [3]float64 // ontime, pool, failsafe, per second
	late    [3]float64 // share of the offered events that ended late
	reasons map[event.Reason]int
	limit   string // ontime's limit in force: mean (min-max)
}

var contenderNames = [3]string{"ontime", "pool", "failsafe"}

func goodputSuite(ctx context.Context, o options, out io.Writer) error {
	fmt.Fprintf(out, "## Goodput: ontime beside a plain pool and failsafe-go's adaptive limiter\n\n")
	fmt.Fprintf(out, "Demo worker: %d slots, mean service %g ms (capacity C = %.0f/s), FIFO inside; deadline %s; %s measured after %s of warm-up per contender.\n",
		goodputCapacity.Slots, goodputCapacity.ServiceMs, goodputCapacity.PerSecond(), goodputDeadline, o.run, o.warm)
	fmt.Fprintln(out, "ontime: --processor http --workers 64 --queue 64 --policy edf, adaptive concurrency. pool: 64 goroutines, a channel of 64. failsafe: adaptivelimiter (limit 1-64, TryAcquirePermit), a goroutine per call.")
	fmt.Fprintln(out, "Figures: events on time per second (events created in the window); ratio: ontime over the better peer; late: share of ontime's events that ended late.")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| service | load | arrivals | offered/s | ontime | pool | failsafe | ratio | ontime on time % | ontime late % | ontime's limit | ontime's drops and late, by reason |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	var worst float64 = 1e9
	for _, shape := range o.shapes {
		for _, load := range o.goodLoads {
			for _, arr := range o.arrivals {
				r, err := goodputCell(ctx, o, shape, load, arr)
				if err != nil {
					return err
				}
				best := max(r.onTime[1], r.onTime[2])
				ratio := r.onTime[0] / max(best, 1e-9)
				worst = min(worst, ratio)
				fmt.Fprintf(out, "| %s | %gx | %s | %.0f | %.1f | %.1f | %.1f | %.2f | %.1f%% | %.2f%% | %s | %v |\n", shape, load, arr, r.offered,
					r.onTime[0], r.onTime[1], r.onTime[2], ratio, 100*r.onTime[0]/max(r.offered, 1e-9), 100*r.late[0], r.limit, reasonList(r.reasons))
			}
		}
	}
	fmt.Fprintf(out, "\nLeast ratio ontime / better peer: %.2f\n\n", worst)
	return nil
}

func goodputCell(ctx context.Context, o options, shape demoworker.Dist, load float64, arr arrivals) (goodputRow, error) {
	r := goodputRow{shape: shape, load: load, arr: arr}
	c := goodputCapacity
	c.Dist = shape
	rate := load * c.PerSecond()
	for i, make := range []func(string, *tally) (contender, error){
		newOntime,
		func(u string, t *tally) (contender, error) { return newPool(u, t), nil },
		func(u string, t *tally) (contender, error) { return newFailsafe(u, t), nil },
	} {
		w, err := newDemo(c)
		if err != nil {
			return r, err
		}
		var t tally
		t.from.Store(time.Now().Add(time.Hour).UnixNano())
		t.to.Store(time.Now().Add(time.Hour).UnixNano())
		k, err := make(w.url(), &t)
		if err != nil {
			w.close()
			return r, fmt.Errorf("%s: %w", contenderNames[i], err)
		}
		rng := rand.New(rand.NewPCG(uint64(load*1000), uint64(len(arr))))
		from := time.Now().Add(o.warm)
		t.from.Store(from.UnixNano())
		t.to.Store(from.Add(o.run).UnixNano())
		var lim *limits
		if oc, ok := k.(*ontimeContender); ok {
			lim = sampleLimits(oc.p)
		}
		offer(ctx, k, rate, arr, o.warm+o.run, rng)
		if lim != nil {
			lim.stop()
			mean, lo, hi := lim.summary()
			r.limit = fmt.Sprintf("%.1f (%d-%d)", mean, lo, hi)
		}
		time.Sleep(goodputDeadline + 50*time.Millisecond) // the window's last events end
		k.stop()
		w.close()
		if err := ctx.Err(); err != nil {
			return r, err
		}
		secs := o.run.Seconds()
		if i == 0 {
			r.offered = float64(t.offered.Load()) / secs
			r.late[0] = float64(t.late.Load()) / max(float64(t.offered.Load()), 1)
			r.reasons = t.reasons
		}
		r.onTime[i] = float64(t.onTime.Load()) / secs
	}
	return r, nil
}

// offer makes events at rate per second for d, spaced as arr says, and
// offers each to k as it is made.
func offer(ctx context.Context, k contender, rate float64, arr arrivals, d time.Duration, rng *rand.Rand) {
	start := time.Now()
	end := start.Add(d)
	next := start
	n := 0
	for ctx.Err() == nil {
		now := time.Now()
		if !now.Before(end) {
			return
		}
		if wait := next.Sub(now); wait > 0 {
			time.Sleep(wait)
		}
		switch arr {
		case bursts:
			for range int(rate * burstEvery.Seconds()) {
				n++
				k.offer(benchEvent(n))
			}
			next = next.Add(burstEvery)
		case poisson:
			n++
			k.offer(benchEvent(n))
			next = next.Add(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
		default:
			n++
			k.offer(benchEvent(n))
			next = next.Add(time.Duration(float64(time.Second) / rate))
		}
	}
}

func benchEvent(i int) event.Event {
	ev := makeEvent(i, time.Now())
	ev.Deadline = goodputDeadline
	return ev
}

// parseGoodput reads the suite's lists.
func parseGoodput(o *options, shapes, loads, arrs string) error {
	for _, s := range strings.Split(shapes, ",") {
		d, err := demoworker.ParseDist(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("--goodput-shapes: %w", err)
		}
		o.shapes = append(o.shapes, d)
	}
	for _, s := range strings.Split(loads, ",") {
		var l float64
		if _, err := fmt.Sscan(strings.TrimSpace(s), &l); err != nil || l <= 0 || l > 100 {
			return fmt.Errorf("--goodput-loads: %q is not a multiple of capacity in (0, 100]", s)
		}
		o.goodLoads = append(o.goodLoads, l)
	}
	for _, s := range strings.Split(arrs, ",") {
		switch a := arrivals(strings.TrimSpace(s)); a {
		case constant, poisson, bursts:
			o.arrivals = append(o.arrivals, a)
		default:
			return fmt.Errorf("--goodput-arrivals: unknown %q (want constant, poisson or bursts)", s)
		}
	}
	return nil
}

// reasonList is "cancelled 19, shed 841", by reason, or "none".
func reasonList(m map[event.Reason]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
