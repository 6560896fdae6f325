package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/pipeline"
	"github.com/ontime-rt/ontime/internal/stats"
	"github.com/ontime-rt/ontime/internal/worker"
)

// Section b of the worker suite (worker.go): goodput against a worker of
// unknown capacity, adaptive and fixed concurrency.

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
