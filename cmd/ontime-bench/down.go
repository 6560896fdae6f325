package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/pipeline"
)

// Section d of the worker suite (worker.go): the worker goes down and comes
// back under load.

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
