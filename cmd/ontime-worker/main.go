// Command ontime-worker is a demo worker for ontime's http processor: it
// serves POST /work with a capacity a user can dial, so that ontime's
// deadline handling and adaptive concurrency can be watched against a
// service whose capacity ontime does not know.
//
// The model (package demoworker): --slots calls are served at once, each
// for a service time drawn around --service; calls beyond that wait in a
// FIFO of at most --queue calls (full: 503), so latency grows with load the
// way real services behave. A call whose caller hangs up (ontime cancels at
// the deadline) or whose Ontime-Timeout-Ms runs out leaves the FIFO or its
// slot at once. --fail-rate answers that fraction of calls 503 at once.
//
//	ontime-worker --slots 8 --service 20ms        # capacity 400 calls/s
//	curl -s localhost:8090/stats                  # counters, load, settings
//	curl -s -X PATCH localhost:8090/config -d '{"slots": 4}'
//
// Every flag can be set with ONTIME_WORKER_<FLAG> (e.g. ONTIME_WORKER_SLOTS);
// flags win. The worker contract is in docs/workers.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ontime-rt/ontime/internal/demoworker"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "ontime-worker:", err)
		os.Exit(2)
	}
}

// options are the command line, parsed and validated.
type options struct {
	addr     string
	worker   demoworker.Config
	report   time.Duration
	logLevel slog.Level
}

// envName is the environment variable that backs a flag.
func envName(flagName string) string {
	return "ONTIME_WORKER_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func parse(args []string, getenv func(string) string, out io.Writer) (options, error) {
	o := options{worker: demoworker.Config{Capacity: demoworker.Capacity{Slots: 8, ServiceMs: 20}}}
	c := &o.worker.Capacity
	fs := flag.NewFlagSet("ontime-worker", flag.ContinueOnError)
	fs.SetOutput(out)
	service := 20 * time.Millisecond
	var d string
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8090", "listen address (host:port)")
	fs.IntVar(&c.Slots, "slots", c.Slots, "calls served at once")
	fs.DurationVar(&service, "service", service, "mean service time of a call")
	fs.StringVar(&d, "dist", string(demoworker.Fixed), "service time distribution: fixed, uniform (0 to 2x mean), exp, lognormal (sigma 1), spike (1 call in 200 takes 15x)")
	fs.Float64Var(&c.FailRate, "fail-rate", 0, "fraction of calls answered 503 at once (0 to 1)")
	fs.IntVar(&o.worker.Queue, "queue", 1024, "calls that may wait for a slot, in FIFO order (full: 503)")
	fs.StringVar(&o.worker.Result, "result", demoworker.ResultStats, "what a served call answers: stats ({worker,id,slot,waitedMs,servedMs}), echo ({worker,id,payload}) or empty (204)")
	fs.StringVar(&o.worker.Name, "name", "demo", "the worker's name in its answers")
	fs.DurationVar(&o.report, "report", 5*time.Second, "period of the summary log line (0: none)")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "log level: debug (every call), info, warn, error")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: ontime-worker [flags]\n\nA demo worker for ontime --processor http --worker-url http://ADDR/work.\n"+
			"Every flag can also be set with ONTIME_WORKER_<FLAG> (e.g. ONTIME_WORKER_SLOTS=4); flags win.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(envName(f.Name)); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("invalid %s=%q: %w", envName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return o, envErr
	}
	if err := fs.Parse(args[1:]); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q (all settings are flags; see -h)", fs.Args())
	}
	var errs []error
	c.ServiceMs = float64(service.Microseconds()) / 1000
	var err error
	if c.Dist, err = demoworker.ParseDist(d); err != nil {
		errs = append(errs, fmt.Errorf("--dist: %w", err))
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr %q: want host:port: %w", o.addr, err))
	}
	if c.Slots < 1 || c.Slots > demoworker.MaxSlots {
		errs = append(errs, fmt.Errorf("--slots %d: want 1 to %d", c.Slots, demoworker.MaxSlots))
	}
	if service < 0 || service > demoworker.MaxServiceMs*time.Millisecond {
		errs = append(errs, fmt.Errorf("--service %s: want 0 to %s", service, demoworker.MaxServiceMs*time.Millisecond))
	}
	if f := c.FailRate; !(f >= 0 && f <= 1) {
		errs = append(errs, fmt.Errorf("--fail-rate %g: want 0 to 1", f))
	}
	if q := o.worker.Queue; q < 0 || q > demoworker.MaxQueue {
		errs = append(errs, fmt.Errorf("--queue %d: want 0 (no waiting) to %d", q, demoworker.MaxQueue))
	}
	switch o.worker.Result {
	case demoworker.ResultStats, demoworker.ResultEcho, demoworker.ResultEmpty:
	default:
		errs = append(errs, fmt.Errorf("--result %q: want stats, echo or empty", o.worker.Result))
	}
	if o.report < 0 {
		errs = append(errs, fmt.Errorf("--report %s: want 0 (none) or more", o.report))
	}
	return o, errors.Join(errs...)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	o, err := parse(args, getenv, stdout)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: o.logLevel}))
	o.worker.Log = log
	s, err := demoworker.New(o.worker)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Cancelled at shutdown, so calls waiting in the FIFO leave at once
	// instead of holding Shutdown up.
	base, stopCalls := context.WithCancel(context.Background())
	defer stopCalls()
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	summaryCtx, stopSummary := context.WithCancel(ctx)
	summaryDone := make(chan struct{})
	go func() {
		defer close(summaryDone)
		if o.report > 0 {
			s.Summarize(summaryCtx, o.report)
		}
	}()
	defer func() { stopSummary(); <-summaryDone }()
	c := s.Capacity()
	log.Info("ontime-worker serving", "url", "http://"+ln.Addr().String()+"/work",
		"slots", c.Slots, "serviceMs", c.ServiceMs, "dist", c.Dist, "capacityPerSec", c.PerSecond(),
		"failRate", c.FailRate, "queue", o.worker.Queue, "result", o.worker.Result)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	stopCalls()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	<-served
	st := s.Stats()
	log.Info("ontime-worker stopped", "received", st.Received, "served", st.Served, "noTimeLeft", st.NoTimeLeft,
		"cancelled", st.Cancelled, "failed", st.Failed, "queueFull", st.QueueFull)
	return err
}
