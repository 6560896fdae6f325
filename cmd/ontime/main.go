// Command ontime is the soft real-time event monitor: a deadline-aware
// pipeline whose per-tick batches stream to an HTMX page, a React dashboard,
// SSE and WebSocket clients.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/node"
	"github.com/ontime-rt/ontime/internal/pipeline"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "ontime:", err)
		os.Exit(2)
	}
}

// options are the command line, parsed and validated.
type options struct {
	addr     string
	logLevel slog.Level
	node     node.Config
}

// envName is the environment variable that backs a flag: ONTIME_ + the flag
// name in upper snake case.
func envName(flagName string) string {
	return "ONTIME_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func parse(args []string, getenv func(string) string, out io.Writer) (options, error) {
	o := options{node: node.Config{
		Rate: 20, Deadline: 100 * time.Millisecond, Work: 50 * time.Millisecond,
		Workers: 4, Queue: 64, Tick: 100 * time.Millisecond,
	}}
	fs := flag.NewFlagSet("ontime", flag.ContinueOnError)
	fs.SetOutput(out)
	var origins, policy, dist, processor, arrivals string
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address (host:port)")
	fs.Float64Var(&o.node.Rate, "rate", o.node.Rate, "generated events per second (0 turns the generator off)")
	fs.DurationVar(&o.node.Deadline, "deadline", o.node.Deadline, "each event's deadline, counted from its creation")
	fs.DurationVar(&o.node.Work, "work", o.node.Work, "mean simulated work per event")
	fs.StringVar(&dist, "work-dist", "fixed", "distribution of work around its mean: fixed, uniform (0 to 2x mean), exp")
	fs.StringVar(&processor, "processor", "sleep", "simulated work: sleep (waits, like I/O) or cpu (burns a core)")
	fs.StringVar(&arrivals, "arrivals", "constant", "spacing of generated events: constant or poisson")
	fs.StringVar(&policy, "policy", "edf", "queueing and shedding policy: edf (earliest deadline first, sheds doomed events), lifo (adaptive LIFO, sheds), fifo (baseline)")
	fs.IntVar(&o.node.Workers, "workers", o.node.Workers, "events processed concurrently")
	fs.IntVar(&o.node.Queue, "queue", o.node.Queue, "capacity of the queue in front of the workers (full: drop)")
	fs.DurationVar(&o.node.Tick, "tick", o.node.Tick, "batch period: one message per tick to every client")
	fs.StringVar(&o.node.Token, "token", "", "bearer token required on every write (POST /api/events, PATCH /api/config); prefer ONTIME_TOKEN to keep it out of ps")
	fs.Float64Var(&o.node.WriteRate, "write-rate", 20, "writes per second allowed per client address (burst twice that); 0 for no limit")
	fs.BoolVar(&o.node.Profiling, "pprof", false, "serve Go profiles under /debug/pprof/ (exposes internals: keep it on loopback)")
	fs.Int64Var(&o.node.MaxBody, "max-body", 1<<20, "largest POST /api/events body, in bytes")
	fs.IntVar(&o.node.MaxClients, "max-clients", 10000, "maximum clients per transport (SSE, page, WebSocket); beyond it 503 with Retry-After")
	fs.StringVar(&origins, "allowed-origins", "", "comma-separated origins (scheme://host:port) allowed to open /ws besides the server's own; * for any")
	fs.StringVar(&o.node.NATSURL, "nats", "", "NATS server URL(s), comma-separated (e.g. nats://127.0.0.1:4222): run as one node of a cluster that shares events and serves the same batches on every node; empty for a single node")
	fs.StringVar(&o.node.NodeID, "node-id", "", "this node's id in the cluster: unique and stable across restarts (default hostname:port)")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: ontime [flags]\n\nEvery flag can also be set with the environment variable ONTIME_<FLAG> (e.g. ONTIME_RATE=100);\nflags win over the environment.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	// The environment provides defaults; flags given on the command line
	// override them.
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
	for _, s := range strings.Split(origins, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.node.AllowedOrigins = append(o.node.AllowedOrigins, s)
		}
	}
	var errs []error
	var err error
	if o.node.Policy, err = pipeline.ParsePolicy(policy); err != nil {
		errs = append(errs, fmt.Errorf("--policy: %w", err))
	}
	if o.node.WorkDist, err = pipeline.ParseDist(dist); err != nil {
		errs = append(errs, fmt.Errorf("--work-dist: %w", err))
	}
	switch processor {
	case "sleep":
	case "cpu":
		o.node.CPUWork = true
	default:
		errs = append(errs, fmt.Errorf("--processor: unknown processor %q (want sleep or cpu)", processor))
	}
	switch arrivals {
	case "constant":
	case "poisson":
		o.node.Poisson = true
	default:
		errs = append(errs, fmt.Errorf("--arrivals: unknown arrivals %q (want constant or poisson)", arrivals))
	}
	errs = append(errs, validate(o))
	return o, errors.Join(errs...)
}

func validate(o options) error {
	n := o.node
	var errs []error
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr %q: want host:port: %w", o.addr, err))
	}
	maxMs := time.Duration(config.MaxMs) * time.Millisecond
	if n.Rate < 0 || n.Rate > config.MaxRate || n.Rate != n.Rate {
		errs = append(errs, fmt.Errorf("--rate %g: want 0 (off) to %d events/s", n.Rate, config.MaxRate))
	}
	if n.Deadline < time.Millisecond || n.Deadline > maxMs {
		errs = append(errs, fmt.Errorf("--deadline %s: want 1ms to %s", n.Deadline, maxMs))
	}
	if n.Work < 0 || n.Work > maxMs {
		errs = append(errs, fmt.Errorf("--work %s: want 0 to %s", n.Work, maxMs))
	}
	if n.Workers < 1 || n.Workers > config.MaxWorkers {
		errs = append(errs, fmt.Errorf("--workers %d: want 1 to %d", n.Workers, config.MaxWorkers))
	}
	if n.Queue < 1 || n.Queue > config.MaxQueueCap {
		errs = append(errs, fmt.Errorf("--queue %d: want 1 to %d", n.Queue, config.MaxQueueCap))
	}
	if n.WriteRate < 0 || n.WriteRate != n.WriteRate {
		errs = append(errs, fmt.Errorf("--write-rate %g: want 0 (no limit) or more", n.WriteRate))
	}
	if n.MaxBody < 1 || n.MaxBody > 1<<30 {
		errs = append(errs, fmt.Errorf("--max-body %d: want 1 to %d bytes", n.MaxBody, 1<<30))
	}
	if n.MaxClients < 1 || n.MaxClients > 1_000_000 {
		errs = append(errs, fmt.Errorf("--max-clients %d: want 1 to 1000000", n.MaxClients))
	}
	if n.NATSURL != "" && n.Tick%time.Millisecond != 0 {
		errs = append(errs, fmt.Errorf("--tick %s: want a whole number of milliseconds in cluster mode", n.Tick))
	}
	if len(n.NodeID) > 128 {
		errs = append(errs, errors.New("--node-id: at most 128 bytes"))
	}
	if minT, maxT := time.Duration(config.MinTickMs)*time.Millisecond, time.Duration(config.MaxTickMs)*time.Millisecond; n.Tick < minT || n.Tick > maxT {
		errs = append(errs, fmt.Errorf("--tick %s: want %s to %s", n.Tick, minT, maxT))
	}
	for _, origin := range n.AllowedOrigins {
		if origin != "*" && !strings.Contains(origin, "://") {
			errs = append(errs, fmt.Errorf("--allowed-origins: %q is not an origin like https://example.com", origin))
		}
	}
	return errors.Join(errs...)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	o, err := parse(args, getenv, stdout)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: o.logLevel}))
	cfg := o.node
	if cfg.Rate == 0 {
		cfg.Rate = -1 // node.Config: negative turns the generator off
	}
	if cfg.WriteRate == 0 {
		cfg.WriteRate = -1 // node.Config: negative means no limit
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	cfg.Exposed = !isLoopback(ln.Addr())
	if cfg.NATSURL != "" && cfg.NodeID == "" {
		cfg.NodeID = defaultNodeID(ln.Addr())
	}
	n, err := node.New(cfg, log)
	if err != nil {
		ln.Close()
		return err
	}
	if cfg.Exposed && cfg.Token == "" {
		log.Warn("listening on a non-loopback address without a token: writes (POST /api/events, PATCH /api/config) are refused; set --token or ONTIME_TOKEN to allow them", "addr", ln.Addr().String())
	}
	base := "http://" + ln.Addr().String()
	log.Info("ontime serving",
		"page", base+"/", "dashboard", base+"/app/", "stream", base+"/api/stream", "websocket", "ws://"+ln.Addr().String()+"/ws",
		"rate", o.node.Rate, "deadline", cfg.Deadline, "work", cfg.Work, "workers", cfg.Workers, "queue", cfg.Queue, "tick", cfg.Tick,
		"policy", cfg.Policy, "workDist", cfg.WorkDist, "cpuWork", cfg.CPUWork, "poisson", cfg.Poisson)
	if cfg.NATSURL != "" {
		log.Info("cluster mode", "nats", cfg.NATSURL, "nodeId", cfg.NodeID)
	}
	fmt.Fprintf(stdout, "\n  ontime is running\n    page:       %s/\n    dashboard:  %s/app/\n    SSE stream: curl -N %s/api/stream\n\n", base, base, base)
	err = n.Run(ctx, ln)
	log.Info("ontime stopped", "err", err)
	return err
}

// defaultNodeID is hostname:port, stable across restarts of a node that
// keeps its address.
func defaultNodeID(addr net.Addr) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "ontime"
	}
	port := "0"
	if tcp, ok := addr.(*net.TCPAddr); ok {
		port = strconv.Itoa(tcp.Port)
	}
	return host + ":" + port
}

// isLoopback reports whether addr is reachable only from this machine.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
