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
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

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

	// As given, parsed into the fields above by parse.
	logLevelName, origins, trustProxy string

	// configFile is the configuration file (--config), empty for none.
	configFile string
	// where says, by JSON name, where each setting not left at its default
	// was set: "--workers", "ONTIME_WORKERS" or "ontime.yaml:7".
	where map[string]string
}

// destinations are the fields each setting's flag sets, by JSON name: the
// live settings are the node's config.Settings, the others its options.
func destinations(o *options) map[string]any {
	dest := map[string]any{
		"addr": &o.addr, "token": &o.node.Token, "writeRate": &o.node.WriteRate, "pprof": &o.node.Profiling,
		"maxBody": &o.node.MaxBody, "historyBytes": &o.node.HistoryBytes, "maxClients": &o.node.MaxClients,
		"allowedOrigins": &o.origins, "queueBytes": &o.node.QueueBytes, "outcomes": &o.node.Outcomes,
		"nats": &o.node.NATSURL, "nodeId": &o.node.NodeID, "tlsCert": &o.node.TLSCertFile, "tlsKey": &o.node.TLSKeyFile,
		"publicUrl": &o.node.PublicURL, "trustProxy": &o.trustProxy, "logLevel": &o.logLevelName,
	}
	for _, name := range config.Names() {
		dest[name], _ = o.node.Settings.Addr(name)
	}
	return dest
}

func parse(args []string, getenv func(string) string, out io.Writer) (options, error) {
	o := options{node: node.DefaultConfig(), addr: config.DefaultAddr, logLevelName: "info"}
	s := &o.node.Settings
	fs := flag.NewFlagSet("ontime", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() { usage(out) }
	dest := destinations(&o)
	specs := map[string]config.Spec{} // by flag
	for _, sp := range config.Specs() {
		dst, ok := dest[sp.Name]
		if !ok {
			panic("cmd/ontime: no flag for setting " + sp.Name) // a Spec without its field here
		}
		specs[sp.Flag] = sp
		fs.Var(specValue{sp, reflect.ValueOf(dst).Elem()}, sp.Flag, sp.Help)
	}
	fs.StringVar(&o.configFile, configDoc.name, "", configDoc.meaning)
	fs.BoolVar(&o.version, versionDoc.name, false, versionDoc.meaning)
	if err := fs.Parse(args[1:]); err != nil {
		return o, err
	}
	// The command line wins over the environment, which wins over the
	// configuration file, which wins over the defaults: each is read only
	// for the flags the ones above it left unset. given notes where each
	// flag was set: "--workers", "ONTIME_WORKERS" or "ontime.yaml:7".
	given := map[string]string{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = "--" + f.Name })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name := config.EnvName(f.Name)
		if v := getenv(name); v != "" && given[f.Name] == "" {
			given[f.Name] = name
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("invalid %s=%q: %w", name, v, err))
			}
		}
	})
	if o.version {
		return o, nil
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q (all settings are flags; see -h)", fs.Args())
	}
	if o.configFile != "" {
		file, err := config.LoadFile(o.configFile)
		if err != nil {
			return o, errors.Join(append(errs, err)...)
		}
		for _, e := range file.Entries {
			if given[e.Spec.Flag] != "" {
				continue
			}
			given[e.Spec.Flag] = e.Where(file)
			if err := fs.Lookup(e.Spec.Flag).Value.Set(e.Text); err != nil { // LoadFile read it: only an int too large for this machine
				errs = append(errs, fmt.Errorf("%s: %s: %w", e.Where(file), e.Spec.Flag, err))
			}
		}
	}
	if len(errs) > 0 {
		return o, errors.Join(errs...)
	}
	o.where = map[string]string{}
	for f, where := range given {
		if sp, ok := specs[f]; ok {
			o.where[sp.Name] = where
		}
	}
	for _, s := range strings.Split(o.origins, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.node.AllowedOrigins = append(o.node.AllowedOrigins, s)
		}
	}
	// The defaults that follow the processor: the user's worker gets
	// adaptive concurrency and no synthetic load unless asked for.
	if given["concurrency"] == "" {
		s.Concurrency = config.DefaultConcurrency(s.Processor)
	}
	if given["rate"] == "" {
		s.Rate = config.DefaultRate(s.Processor)
	}
	if err := config.CheckRange("logLevel", o.logLevelName); err != nil {
		errs = append(errs, err)
	} else if err := o.logLevel.UnmarshalText([]byte(o.logLevelName)); err != nil {
		errs = append(errs, &config.FieldError{Field: "logLevel", Msg: err.Error()})
	}
	if trusted, err := server.ParseCIDRs(o.trustProxy); err != nil {
		errs = append(errs, &config.FieldError{Field: "trustProxy", Msg: err.Error()})
	} else {
		o.node.TrustedProxies = trusted
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		errs = append(errs, &config.FieldError{Field: "addr", Msg: fmt.Sprintf("%q: want host:port: %v", o.addr, err)})
	}
	// On the command line 0 means no limit; in node.Config a negative rate
	// does (0 takes the default there).
	if err := config.CheckRange("writeRate", o.node.WriteRate); err != nil {
		errs = append(errs, err)
	} else if o.node.WriteRate == 0 {
		o.node.WriteRate = -1
	}
	errs = append(errs, o.node.Validate())
	return o, flagErrors(errors.Join(errs...), fs, specs, given)
}

// flagErrors rewrites each *config.FieldError in err (joined) to name
// where the field was set, with the value as its flag shows it: the flag
// ("--workers 0: want 1 to 10000"), the environment variable
// ("ONTIME_WORKERS=0: want 1 to 10000") or the file's line
// ("ontime.yaml:7: workers: want 1 to 10000, got 0").
func flagErrors(err error, fs *flag.FlagSet, specs map[string]config.Spec, given map[string]string) error {
	flagOf := map[string]string{}
	for _, sp := range specs {
		flagOf[sp.Name] = sp.Flag
	}
	var out []error
	for _, e := range config.Flatten(err) {
		fe, isField := errors.AsType[*config.FieldError](e)
		name, known := "", false
		if isField {
			name, known = flagOf[fe.Field]
		}
		if !known {
			out = append(out, e)
			continue
		}
		value := fs.Lookup(name).Value.String()
		switch where := given[name]; {
		case strings.HasPrefix(where, "ONTIME_") && fe.Want != "":
			out = append(out, fmt.Errorf("%s=%s: %s", where, value, fe.Want))
		case strings.HasPrefix(where, "ONTIME_"):
			out = append(out, fmt.Errorf("%s: %s", where, fe.Msg))
		case where != "" && !strings.HasPrefix(where, "-") && fe.Want != "":
			out = append(out, fmt.Errorf("%s: %s: %s, got %s", where, name, fe.Want, value))
		case where != "" && !strings.HasPrefix(where, "-"):
			out = append(out, fmt.Errorf("%s: %s: %s", where, name, fe.Msg))
		case fe.Want != "":
			out = append(out, fmt.Errorf("--%s %s: %s", name, value, fe.Want))
		default:
			out = append(out, fmt.Errorf("--%s: %s", name, fe.Msg))
		}
	}
	return errors.Join(out...)
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
	if o.configFile != "" {
		cfg.Reload = func() (config.Reloaded, error) { return reread(o, args, getenv) }
	}
	n, err := node.New(cfg, log)
	if err != nil {
		ln.Close()
		return err
	}
	// Registered before the start-up lines are printed: once they are, a
	// SIGHUP reloads the certificate and the configuration file instead of
	// ending the process.
	if n.TLS() || o.configFile != "" {
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
					if n.TLS() {
						log.Info("SIGHUP: reloading the TLS certificate")
						n.ReloadTLS()
					}
					if o.configFile != "" {
						log.Info("SIGHUP: reloading the configuration file", "file", o.configFile)
						_, _ = n.ReloadConfig() // it logs what changed or why nothing did
					}
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

// reread reads the configuration again as a restart would (the defaults,
// the file, then the environment and the command line of start), for a
// reload of the server started with start: the live settings it makes,
// and the settings fixed at start whose value differs from start's, which
// keep theirs until a restart. In cluster mode the settings every node
// must share (the tick) are among those.
func reread(start options, args []string, getenv func(string) string) (config.Reloaded, error) {
	next, err := parse(args, getenv, io.Discard)
	if err != nil {
		return config.Reloaded{}, err
	}
	r := config.Reloaded{Settings: next.node.Settings, Restart: []string{}, Where: next.where}
	was, now := destinations(&start), destinations(&next)
	for _, sp := range config.Specs() {
		fixed := !sp.Live || sp.FixedInCluster && start.node.NATSURL != ""
		if !fixed || reflect.DeepEqual(reflect.ValueOf(was[sp.Name]).Elem().Interface(), reflect.ValueOf(now[sp.Name]).Elem().Interface()) {
			continue
		}
		r.Restart = append(r.Restart, sp.Flag)
		if sp.Live { // kept as it is until a restart
			v, _ := start.node.Settings.Get(sp.Name)
			dst, _ := r.Settings.Addr(sp.Name)
			reflect.ValueOf(dst).Elem().Set(reflect.ValueOf(v).Convert(reflect.ValueOf(dst).Elem().Type()))
		}
	}
	return r, nil
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
