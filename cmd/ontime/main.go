// Command ontime is the soft real-time event monitor: a deadline-aware
// pipeline whose per-tick batches stream to an HTMX page, a React dashboard,
// SSE and WebSocket clients.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/node"
	"github.com/ontime-rt/ontime/internal/server"
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
	version  bool // print the version and exit
	node     node.Config
}

// envName is the environment variable that backs a flag: ONTIME_ + the flag
// name in upper snake case.
func envName(flagName string) string {
	return "ONTIME_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// msFlag is a duration flag (Go syntax: 100ms, 1.5s) kept as the
// milliseconds of a config.Settings field.
type msFlag struct{ ms *float64 }

func (f msFlag) String() string {
	if f.ms == nil {
		return ""
	}
	return time.Duration(math.Round(*f.ms * float64(time.Millisecond))).String()
}

func (f msFlag) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return errors.New("want a duration like 100ms or 1.5s")
	}
	*f.ms = float64(d) / float64(time.Millisecond)
	return nil
}

// bytesFlag is a size in bytes, given as a whole number with an optional
// binary unit: 65536, 512KiB, 64MiB, 1GiB.
type bytesFlag struct{ n *int64 }

var byteUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}}

func (f bytesFlag) String() string {
	if f.n == nil {
		return ""
	}
	for _, u := range byteUnits {
		if *f.n != 0 && *f.n%u.mult == 0 && u.mult > 1 {
			return strconv.FormatInt(*f.n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(*f.n, 10)
}

func (f bytesFlag) Set(v string) error {
	num, mult := v, int64(1)
	for _, u := range byteUnits {
		if s, ok := strings.CutSuffix(v, u.suffix); ok {
			num, mult = s, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return errors.New("want a size like 65536, 512KiB, 64MiB or 1GiB")
	}
	*f.n = n * mult
	return nil
}

func parse(args []string, getenv func(string) string, out io.Writer) (options, error) {
	o := options{node: node.DefaultConfig()}
	s := &o.node.Settings
	fs := flag.NewFlagSet("ontime", flag.ContinueOnError)
	fs.SetOutput(out)
	// flagOf names the flag behind each field a config.FieldError can
	// name, so that errors speak of what the user typed.
	flagOf := map[string]string{}
	field := func(name, flag string) string { flagOf[name] = flag; return flag }
	var origins string

	// The live settings (config.Settings): their defaults and limits are
	// the config package's.
	fs.Float64Var(&s.Rate, field("rate", "rate"), s.Rate, "generated events per second (0 turns the generator off)")
	fs.Var(msFlag{&s.DeadlineMs}, field("deadlineMs", "deadline"), "each event's deadline, a `duration` counted from its creation")
	fs.Var(msFlag{&s.WorkMs}, field("workMs", "work"), "mean simulated work per event, a `duration`")
	fs.StringVar(&s.WorkDist, field("workDist", "work-dist"), s.WorkDist, "distribution of work around its mean: fixed, uniform (0 to 2x mean), exp")
	fs.StringVar(&s.Processor, field("processor", "processor"), s.Processor, "what processes events: sleep (simulated work that waits, like I/O), cpu (simulated work that burns a core), http (your worker at --worker-url) or nats (your workers on --worker-subject; needs --nats)")
	fs.StringVar(&s.WorkerURL, field("workerUrl", "worker-url"), s.WorkerURL, "the worker that processes each event with --processor http: POST `URL` (see docs/workers.md)")
	fs.StringVar(&s.WorkerSubject, field("workerSubject", "worker-subject"), s.WorkerSubject, "the NATS `subject` each event is sent on as a request with --processor nats; workers share it as a queue group (see docs/workers.md)")
	fs.StringVar(&s.Arrivals, field("arrivals", "arrivals"), s.Arrivals, "spacing of generated events: constant or poisson")
	fs.StringVar(&s.Policy, field("policy", "policy"), s.Policy, "queueing and shedding policy: edf (earliest deadline first, sheds doomed events), lifo (adaptive LIFO, sheds), fifo (baseline)")
	fs.IntVar(&s.Workers, field("workers", "workers"), s.Workers, "events processed concurrently (with adaptive concurrency: at most)")
	var concurrency string
	fs.StringVar(&concurrency, field("concurrency", "concurrency"), "", "fixed (--workers events at once) or adaptive (a limit between 1 and --workers learned from call latency); default adaptive with --processor http, fixed otherwise")
	fs.IntVar(&s.QueueCap, field("queueCap", "queue"), s.QueueCap, "capacity of the queue in front of the workers (full: drop)")
	fs.Var(msFlag{&s.TickMs}, field("tickMs", "tick"), "batch period, a `duration`: one message per tick to every client")

	// The options fixed for the node's lifetime (node.Config).
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address (host:port)")
	fs.StringVar(&o.node.Token, "token", "", "bearer token required on every write (POST /api/events, PATCH /api/config); prefer ONTIME_TOKEN to keep it out of ps")
	fs.Float64Var(&o.node.WriteRate, field("writeRate", "write-rate"), o.node.WriteRate, "writes per second allowed per client address (burst twice that); 0 for no limit")
	fs.BoolVar(&o.node.Profiling, "pprof", false, "serve Go profiles under /debug/pprof/ (exposes internals: keep it on loopback)")
	fs.Int64Var(&o.node.MaxBody, field("maxBody", "max-body"), o.node.MaxBody, "largest POST /api/events body, in bytes")
	fs.Int64Var(&o.node.HistoryBytes, field("historyBytes", "history-bytes"), o.node.HistoryBytes, "bytes of encoded batches kept for clients that resume (besides at most 600 batches); the oldest go first")
	fs.IntVar(&o.node.MaxClients, field("maxClients", "max-clients"), o.node.MaxClients, "maximum clients per transport (SSE, page, WebSocket); beyond it 503 with Retry-After")
	fs.StringVar(&origins, field("allowedOrigins", "allowed-origins"), "", "comma-separated origins (scheme://host:port) allowed to open /ws besides the server's own; * for any")
	fs.Var(bytesFlag{&o.node.QueueBytes}, field("queueBytes", "queue-bytes"), "bytes the events waiting in the queue may hold, payloads plus a few hundred bytes each (full: drop), like 64MiB; bounds the queue's memory as --queue bounds its length")
	fs.IntVar(&o.node.Outcomes, field("outcomes", "outcomes"), o.node.Outcomes, "events whose outcome is kept for GET /api/events/{id}, wait=1 and duplicate ids (also at most the last 60 s)")
	fs.StringVar(&o.node.NATSURL, "nats", "", "NATS server URL(s), comma-separated (e.g. nats://127.0.0.1:4222): run as one node of a cluster that shares events and serves the same batches on every node; empty for a single node")
	fs.StringVar(&o.node.NodeID, field("nodeId", "node-id"), "", "this node's id in the cluster: unique and stable across restarts (default hostname:port)")
	fs.StringVar(&o.node.TLSCertFile, field("tlsCert", "tls-cert"), "", "serve HTTPS (HTTP/2 and HTTP/1.1) with this PEM certificate `file` (chain first); needs --tls-key; reloaded when the file changes or on SIGHUP")
	fs.StringVar(&o.node.TLSKeyFile, "tls-key", "", "the PEM private key `file` of --tls-cert")
	fs.StringVar(&o.node.PublicURL, field("publicUrl", "public-url"), "", "the origin users type to reach the server, e.g. https://ontime.example.com behind a proxy: accepted as Host on writes and /ws, allowed as Origin on /ws, and printed")
	var trustProxy string
	fs.StringVar(&trustProxy, "trust-proxy", "", "comma-separated `CIDRs` of proxies whose X-Forwarded-For / Forwarded / X-Real-IP are believed, so rate limits and logs see the real client (e.g. 127.0.0.1/32)")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn, error")
	fs.BoolVar(&o.version, "version", false, "print the version and the commit it was built from, and exit")
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
	if o.version {
		return o, nil
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q (all settings are flags; see -h)", fs.Args())
	}
	for _, s := range strings.Split(origins, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.node.AllowedOrigins = append(o.node.AllowedOrigins, s)
		}
	}
	s.Concurrency = cmp.Or(concurrency, config.DefaultConcurrency(s.Processor))
	var errs []error
	if trusted, err := server.ParseCIDRs(trustProxy); err != nil {
		errs = append(errs, fmt.Errorf("--trust-proxy: %w", err))
	} else {
		o.node.TrustedProxies = trusted
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr %q: want host:port: %w", o.addr, err))
	}
	// On the command line 0 means no limit; in node.Config a negative rate
	// does (0 takes the default there).
	if o.node.WriteRate < 0 {
		errs = append(errs, fmt.Errorf("--write-rate %g: want 0 (no limit) or more", o.node.WriteRate))
	} else if o.node.WriteRate == 0 {
		o.node.WriteRate = -1
	}
	errs = append(errs, flagErrors(o.node.Validate(), fs, flagOf))
	return o, errors.Join(errs...)
}

// flagErrors rewrites each *config.FieldError in err (joined) to name the
// flag that set the field, with the value as the flag shows it.
func flagErrors(err error, fs *flag.FlagSet, flagOf map[string]string) error {
	var out []error
	for _, e := range flatten(err) {
		var fe *config.FieldError
		name, known := "", false
		if errors.As(e, &fe) {
			name, known = flagOf[fe.Field]
		}
		switch {
		case !known:
			out = append(out, e)
		case fe.Want != "":
			out = append(out, fmt.Errorf("--%s %s: %s", name, fs.Lookup(name).Value, fe.Want))
		default:
			out = append(out, fmt.Errorf("--%s: %s", name, fe.Msg))
		}
	}
	return errors.Join(out...)
}

// flatten lists the errors joined in err, at any depth.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	o, err := parse(args, getenv, stdout)
	if err != nil {
		return err
	}
	if o.version {
		info, _ := debug.ReadBuildInfo()
		fmt.Fprintln(stdout, version(info))
		return nil
	}
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: o.logLevel}))
	cfg := o.node
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
	// Registered before the start-up lines are printed: once they are, a
	// SIGHUP reloads the certificate instead of ending the process.
	if n.TLS() {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		hctx, stopHup := context.WithCancel(ctx)
		hupDone := make(chan struct{})
		defer func() { stopHup(); signal.Stop(hup); <-hupDone }()
		go func() {
			defer close(hupDone)
			for {
				select {
				case <-hctx.Done():
					return
				case <-hup:
					log.Info("SIGHUP: reloading the TLS certificate")
					n.ReloadTLS()
				}
			}
		}()
	}
	host, everywhere := browsable(ln.Addr())
	scheme := "http"
	if n.TLS() {
		scheme = "https"
	}
	base := scheme + "://" + host
	if cfg.PublicURL != "" {
		pub, _ := server.ParsePublicURL(cfg.PublicURL) // validated by node.New
		base = pub.String()
	}
	wsBase := "ws" + strings.TrimPrefix(base, "http")
	log.Info("ontime serving",
		"addr", ln.Addr().String(), "tls", n.TLS(), "page", base+"/", "dashboard", base+"/app/", "stream", base+"/api/stream", "websocket", wsBase+"/ws",
		"settings", cfg.Settings)
	log.Info("access: " + access(cfg, ln.Addr()))
	if cfg.NATSURL != "" {
		log.Info("cluster mode", "nats", cfg.NATSURL, "nodeId", cfg.NodeID)
	}
	fmt.Fprintf(stdout, "\n  ontime is running\n    page:       %s/\n    dashboard:  %s/app/\n    SSE stream: curl -N %s/api/stream\n", base, base, base)
	if everywhere {
		fmt.Fprintf(stdout, "    listening on all interfaces (%s): use this machine's address from elsewhere\n", ln.Addr())
	}
	fmt.Fprintln(stdout)
	err = n.Run(ctx, ln)
	log.Info("ontime stopped", "err", err)
	return err
}

// access says in one line what is open to whom: reads are open to whoever
// reaches the address; writes depend on the token, the listen address and
// the proxies.
func access(cfg node.Config, addr net.Addr) string {
	reads := fmt.Sprintf("reads (page, dashboard, streams, GET API) are open to whoever can reach %s", addr)
	var writes string
	switch {
	case cfg.Token != "":
		writes = "writes (POST /api/events, PATCH /api/config) need the bearer token, from anywhere"
	case cfg.Exposed:
		writes = "writes are refused to everyone (non-loopback listen address and no token; set --token)"
	case cfg.PublicURL != "" || len(cfg.TrustedProxies) > 0:
		writes = "writes are refused to everyone (served through a proxy: --public-url or --trust-proxy, and no token; set --token)"
	default:
		writes = "writes are open without a token to clients on this machine only; refused through a proxy (Forwarded, X-Forwarded-For, X-Real-IP) or from elsewhere (set --token)"
	}
	proxies := "no proxy is trusted: rate limits key on the peer address"
	if len(cfg.TrustedProxies) > 0 {
		var ps []string
		for _, p := range cfg.TrustedProxies {
			ps = append(ps, p.String())
		}
		proxies = "client addresses from proxies " + strings.Join(ps, ",") + " are believed"
	}
	return reads + "; " + writes + "; " + proxies
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

// browsable is the host:port a person can open for addr, and whether addr
// is every interface's (0.0.0.0 or [::], which no browser can open): then
// the loopback address stands for it.
func browsable(addr net.Addr) (hostPort string, everywhere bool) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String(), false
	}
	if tcp.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port)), true
	}
	return tcp.String(), false
}

// version says which build this is: the module version and, when the build
// recorded them, the VCS commit, its time and whether the tree was modified.
func version(info *debug.BuildInfo) string {
	if info == nil {
		return "ontime (no build information)"
	}
	s := "ontime " + info.Main.Version
	var rev, at, modified string
	for _, kv := range info.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.time":
			at = kv.Value
		case "vcs.modified":
			if kv.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev != "" {
		s += fmt.Sprintf(" (commit %s, %s%s)", rev, at, modified)
	}
	return s + " " + info.GoVersion
}

// isLoopback reports whether addr is reachable only from this machine.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
