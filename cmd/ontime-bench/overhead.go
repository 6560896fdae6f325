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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/pipeline"
	"github.com/ontime-rt/ontime/internal/stats"
	"github.com/ontime-rt/ontime/internal/worker"
)

// Section a of the worker suite (worker.go): what a call through ontime
// costs beside a plain HTTP client calling the same no-op worker.

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
