package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ontime-rt/ontime/internal/pipeline"
)

// Section c of the worker suite (worker.go): the worker's capacity changes
// under load; how soon goodput follows.

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
