// Package node assembles one ontime server: generator -> pipeline ->
// coalescer -> history -> hub -> transports (in cluster mode coalescer ->
// merger -> history -> hub), and runs it with an orderly shutdown.
package node

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/ontime-rt/ontime/internal/cork"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nats.go"

	"github.com/ontime-rt/ontime/frontend-react"
	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/cluster"
	"github.com/ontime-rt/ontime/internal/coalescer"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/history"
	"github.com/ontime-rt/ontime/internal/httperr"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/ingest"
	"github.com/ontime-rt/ontime/internal/metrics"
	"github.com/ontime-rt/ontime/internal/outcomes"
	"github.com/ontime-rt/ontime/internal/pipeline"
	"github.com/ontime-rt/ontime/internal/server"
	"github.com/ontime-rt/ontime/internal/source"
	"github.com/ontime-rt/ontime/internal/sse"
	"github.com/ontime-rt/ontime/internal/stream"
	"github.com/ontime-rt/ontime/internal/tlscert"
	"github.com/ontime-rt/ontime/internal/web"
	"github.com/ontime-rt/ontime/static"
)

// Config is everything a node can be told: the live settings it starts
// with, and the options fixed for its lifetime. Zero values take the
// defaults; Validate checks the result.
type Config struct {
	// Settings are the live settings at start, changed later by Apply.
	// Default config.Defaults() (the zero Settings stands for it; any
	// other value is used as given, and must be valid).
	Settings config.Settings
	// History is how many batches are kept for clients that resume.
	// Default 600 (60 s at the default tick).
	History int
	// HistoryBytes bounds the bytes those batches' encodings hold, 1 MiB to
	// 64 GiB: the oldest go first when it is reached. Default 64 MiB.
	HistoryBytes int64
	// AllowedOrigins may open /ws from other sites: origins like
	// https://example.com, or * for any. Default none.
	AllowedOrigins []string
	// MaxClients bounds the clients of each transport, 1 to 1000000.
	// Default 10000.
	MaxClients int
	// Token, when set, is required as a bearer token on every write
	// (ingest, settings). Default none.
	Token string
	// Exposed tells that the server is reachable from other machines (it
	// listens on a non-loopback address): without a Token, writes are then
	// refused. Default false.
	Exposed bool
	// WriteRate limits writes per second per client address (burst twice
	// that). Default 20; negative means no limit.
	WriteRate float64
	// MaxBody bounds an ingest request's body in bytes, 1 to 1 GiB.
	// Default 1 MiB.
	MaxBody int64
	// Profiling serves net/http/pprof under /debug/pprof/. Default off.
	Profiling bool
	// ShutdownTimeout bounds the graceful shutdown. Default 5s.
	ShutdownTimeout time.Duration
	// NATSURL, when set, runs the node in cluster mode: events are spread
	// over every node's workers through NATS and every node serves the same
	// merged batch per tick (see package cluster). The tick must then be a
	// whole number of milliseconds. Default empty: a single node, which
	// pays nothing for the option.
	NATSURL string
	// NodeID names the node in the cluster: unique, stable across
	// restarts, at most 128 bytes. Default the host name (cmd/ontime adds
	// the listen port).
	NodeID string
	// WriteOffAfter is how long a lost node stays lost before the cluster
	// counts its in-flight events as dropped (node-lost); see
	// cluster.MergerConfig. Default 10s.
	WriteOffAfter time.Duration
	// QueueBytes bounds the bytes of the events waiting in the pipeline's
	// queue (payloads plus a fixed overhead per event), MinQueueBytes to
	// MaxQueueBytes. Default pipeline.DefaultQueueBytes (64 MiB).
	QueueBytes int64
	// Outcomes is the most events whose outcome is kept for lookups,
	// waits and duplicate ids (also bounded to the last 60 s), 1 to
	// 10,000,000. Default 100,000.
	Outcomes int
	// TLSCertFile and TLSKeyFile, both set, serve HTTPS (HTTP/2 and
	// HTTP/1.1) with that PEM pair, reloaded when the files change (checked
	// every TLSPoll) or on ReloadTLS. Default: both empty, plain HTTP.
	TLSCertFile, TLSKeyFile string
	// TLSWriteWindow gathers the writes of an HTTPS connection carrying
	// two or more SSE streams (HTTP/2): one that wrote within the last
	// 250 ms holds what it writes this long and sends it together (see
	// package cork), while other connections, and idle ones, write at
	// once. The frames of a connection's streams then leave in a few
	// writes per tick instead of one each, for at most this much added
	// delay. Default 1 ms; negative: every write at once.
	TLSWriteWindow time.Duration
	// TLSPoll is how often the certificate files are checked for a change.
	// Default 5s.
	TLSPoll time.Duration
	// PublicURL is the origin users type to reach the server, e.g.
	// https://ontime.example.com behind a proxy: a name the server answers
	// writes and /ws on, and an origin allowed to open /ws. Default none.
	PublicURL string
	// TrustedProxies are the peers whose client-address headers
	// (X-Forwarded-For, Forwarded, X-Real-IP) are believed, for per-client
	// rate limits and logs. Default none.
	TrustedProxies []netip.Prefix
	// Reload reads the configuration file again (cmd/ontime's --config),
	// for ReloadConfig. Nil: the node has no file to reload.
	Reload func() (config.Reloaded, error)
}

// Limits of the start-up options: package config's, which describes every
// setting.
const (
	MinHistoryBytes = config.MinHistoryBytes
	MaxHistoryBytes = config.MaxHistoryBytes
	MaxMaxBody      = config.MaxMaxBody
	MaxMaxClients   = config.MaxMaxClients
	MaxNodeID       = config.MaxNodeID
	MinQueueBytes   = config.MinQueueBytes
	MaxQueueBytes   = config.MaxQueueBytes
)

// HTTP/2 limits (docs/security.md states them with Go's other defaults).
const (
	// maxStreamsPerConn bounds the concurrent streams of one HTTP/2
	// connection (Go's default); a client's stream beyond it is refused.
	maxStreamsPerConn = 250
	// http2WriteByteTimeout closes an HTTP/2 connection whose pending
	// writes make no progress for this long: a client that stopped
	// reading its socket.
	http2WriteByteTimeout = 10 * time.Second
)

// ErrShuttingDown is returned by Apply once the node has begun to shut
// down: the pipeline is draining and its settings no longer change.
var ErrShuttingDown = errors.New("node: shutting down: settings no longer change")

// DefaultConfig is the configuration that zero values stand for.
func DefaultConfig() Config {
	return Config{
		Settings:        config.Defaults(),
		History:         600,
		HistoryBytes:    hub.DefaultHistoryBytes,
		MaxClients:      10000,
		WriteRate:       20,
		MaxBody:         1 << 20,
		ShutdownTimeout: 5 * time.Second,
		Outcomes:        outcomes.DefaultMax,
		QueueBytes:      pipeline.DefaultQueueBytes,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.Settings = cmp.Or(c.Settings, d.Settings)
	c.History = cmp.Or(c.History, d.History)
	c.HistoryBytes = cmp.Or(c.HistoryBytes, d.HistoryBytes)
	c.MaxClients = cmp.Or(c.MaxClients, d.MaxClients)
	c.WriteRate = cmp.Or(c.WriteRate, d.WriteRate)
	c.MaxBody = cmp.Or(c.MaxBody, d.MaxBody)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, d.ShutdownTimeout)
	c.Outcomes = cmp.Or(c.Outcomes, d.Outcomes)
	c.QueueBytes = cmp.Or(c.QueueBytes, d.QueueBytes)
	if c.TLSWriteWindow == 0 {
		c.TLSWriteWindow = time.Millisecond
	}
	if c.TLSPoll <= 0 {
		c.TLSPoll = 5 * time.Second
	}
	return c
}

// Validate reports every setting and option out of its limits, as given
// (New fills in the defaults first), each as a *config.FieldError (joined).
func (c Config) Validate() error {
	errs := []error{c.Settings.Validate()}
	for _, e := range []error{
		config.CheckRange("maxClients", c.MaxClients),
		config.CheckRange("historyBytes", c.HistoryBytes),
		config.CheckRange("maxBody", c.MaxBody),
		config.CheckRange("outcomes", c.Outcomes),
		config.CheckRange("queueBytes", c.QueueBytes),
	} {
		if e != nil {
			errs = append(errs, e)
		}
	}
	if math.IsNaN(c.WriteRate) {
		errs = append(errs, config.Bad("writeRate", "want a number", c.WriteRate))
	}
	if len(c.NodeID) > MaxNodeID {
		errs = append(errs, &config.FieldError{Field: "nodeId", Msg: fmt.Sprintf("at most %d bytes, got %d", MaxNodeID, len(c.NodeID)), Want: fmt.Sprintf("at most %d bytes", MaxNodeID)})
	}
	if c.NATSURL == "" && c.Settings.Processor == config.NATS {
		errs = append(errs, errNATSProcessor())
	}
	if c.NATSURL != "" && c.Settings.TickMs != math.Trunc(c.Settings.TickMs) {
		errs = append(errs, config.Bad("tickMs", "want a whole number of milliseconds in cluster mode", c.Settings.TickMs))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, &config.FieldError{Field: "tlsCert", Msg: "give both the certificate and its key, or neither"})
	}
	if c.PublicURL != "" {
		if _, err := server.ParsePublicURL(c.PublicURL); err != nil {
			errs = append(errs, &config.FieldError{Field: "publicUrl", Msg: err.Error()})
		}
	}
	for _, origin := range c.AllowedOrigins {
		if origin != "*" && !strings.Contains(origin, "://") {
			errs = append(errs, &config.FieldError{Field: "allowedOrigins", Msg: fmt.Sprintf("%q is not an origin like https://example.com", origin)})
		}
	}
	return errors.Join(errs...)
}

// Node is one running ontime server.
type Node struct {
	cfg  Config
	log  *slog.Logger
	live live
	pipe *pipeline.Pipeline
	coal *coalescer.Coalescer
	hub  *hub.Hub
	// history records the batches the hub publishes (the cluster's, in
	// cluster mode) for GET /api/history and /api/incidents.
	history *history.History
	page    *web.Renderer
	// metrics counts everything for GET /metrics.
	metrics *metrics.Metrics
	http    http.Handler
	// streams owns the stream connections taken over from the HTTP server.
	streams stream.Streams
	// writes refuses every write once shutdown begins.
	writes server.WriteGate
	// submit takes generated and ingested events: the pipeline, or in
	// cluster mode the event bus.
	submit source.Submitter

	// Cluster mode only (nil otherwise).
	nc     *nats.Conn
	bus    *cluster.EventBus
	merger *cluster.Merger
	closed chan struct{} // closed when nc is closed

	// outs is the window of recent outcomes (lookups, waits, duplicate
	// ids); router (cluster mode) routes outcomes to their events' origin.
	outs   *outcomes.Store
	router *cluster.OutcomeRouter

	// certs serves the TLS certificate; nil for plain HTTP. reloadTLS asks
	// its watcher for a reload (buffered: one pending request is enough).
	certs     *tlscert.Reloader
	reloadTLS chan struct{}
}

// relay lets the coalescer and the pipeline be built in either order: the
// pipeline records into the coalescer, which reads the pipeline's gauges.
type relay struct{ p *pipeline.Pipeline }

func (r *relay) Gauges() pipeline.Gauges { return r.p.Gauges() }

// New builds a node. It starts nothing: Run does. In cluster mode it
// connects to NATS, and a connection failure is an error; Run closes the
// connection.
func New(cfg Config, log *slog.Logger) (_ *Node, err error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	maxClients := cfg.MaxClients
	gates := make(map[string]*stream.Gate, len(server.Transports))
	for _, t := range server.Transports {
		gates[t] = stream.NewGate(maxClients)
	}
	// The page's HTML is most of an idle server's work: render it only
	// while a page is connected.
	n := &Node{cfg: cfg, log: log, page: web.NewRenderer(func() bool { return gates["page"].Clients() > 0 })}
	n.streams.Logger = log
	if cfg.NATSURL != "" {
		if err := n.connect(); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				n.nc.Close()
			}
		}()
	}
	hcfg := hub.Config{
		History:      cfg.History,
		HistoryBytes: cfg.HistoryBytes,
		Logger:       log,
		// The page gets full snapshots and never resumes: keep its HTML
		// for the newest batch only.
		Ephemeral: []string{web.Format},
		Encoders: map[string]hub.Encoder{
			server.FormatJSON:        batch.JSON,
			server.FormatJSONSummary: batch.SummaryJSON,
			web.Format:               n.page.Encode,
		},
		// SSE events are made around the JSON's bytes, not a copy.
		Wraps: map[string]hub.Wrap{
			server.FormatSSE:        sse.BatchWrap(server.FormatJSON),
			server.FormatSSESummary: sse.BatchWrap(server.FormatJSONSummary),
		},
	}
	if n.nc != nil {
		// A cluster's seq is the wall-clock tick index, the same on every
		// node and across restarts: only the tick changes its meaning (and
		// the tick cannot change without restarting every node). A
		// position is then valid on any node whose history holds it.
		hcfg.Epoch = func(b *batch.Batch) int64 { return b.TickMs }
	}
	n.hub, err = hub.New(hcfg)
	if err != nil {
		return nil, err
	}
	settings := cfg.Settings
	n.live.settings = settings
	n.live.current.Store(&settings)
	// Batches go through history to the hub: history sees what clients see.
	if n.history, err = history.New(history.Config{Next: n.hub}); err != nil {
		return nil, err
	}
	n.page.SetHistory(pageHistory{n.history})
	var out coalescer.Publisher = n.history
	if n.nc != nil {
		// The coalescer's batches are this node's share of the tick; the
		// Merger publishes them to every node and hands the merged batch
		// (the same on every node) to the hub.
		n.merger, err = cluster.NewMerger(n.nc, cluster.MergerConfig{
			NodeID: cfg.NodeID, Tick: ms(settings.TickMs), Logger: log, WriteOffAfter: cfg.WriteOffAfter,
		}, n.history)
		if err != nil {
			return nil, err
		}
		out = n.merger
	}
	gauges := &relay{}
	n.coal, err = coalescer.New(coalescer.Config{
		Tick:     ms(settings.TickMs),
		Lateness: n.generatorLateness,
		Settings: n.currentSettings,
		// Every node cuts its ticks at the same instants.
		Align: n.nc != nil,
	}, gauges, out)
	if err != nil {
		return nil, err
	}
	mcfg := metrics.Config{
		Deadline:    ms(settings.DeadlineMs),
		Pipeline:    gauges, // read at scrape time, once the pipeline is set
		Fanout:      n.hub,
		Punctuality: n.coal,
		Clients: func() map[string]int {
			out := make(map[string]int, len(gates))
			for t, g := range gates {
				out[t] = g.Clients()
			}
			return out
		},
		SkipRoutes: []string{"/api/stream", "/ui/stream", "/ws"},
	}
	if n.nc != nil {
		mcfg.Cluster = n
	}
	n.metrics = metrics.New(mcfg)
	// The metrics tap sees exactly what the coalescer sees, so /metrics and
	// /api/stats agree.
	var rec pipeline.Recorder = n.metrics.Recorder(n.coal)
	if n.merger != nil {
		// The Merger needs every latency: batches carry only digests.
		rec = n.merger.Recorder(rec)
	}
	if rec, err = n.withOutcomes(rec); err != nil {
		return nil, err
	}
	proc, w, err := processorOf(settings, n.nc, n.log)
	if err != nil {
		return nil, err
	}
	n.live.worker = w
	n.pipe, err = pipeline.New(pipeline.Config{
		Workers: settings.Workers, QueueCap: settings.QueueCap, QueueBytes: cfg.QueueBytes, Policy: pipeline.Policy(settings.Policy),
		Concurrency: pipeline.Concurrency(settings.Concurrency),
	}, proc, rec)
	if err != nil {
		return nil, err
	}
	gauges.p = n.pipe
	n.submit = n.pipe
	if n.nc != nil {
		// Events that cannot be published, or that the bus finds lost,
		// count as dropped where the pipeline's drops count.
		n.bus, err = cluster.NewEventBus(n.nc, cluster.BusConfig{Recorder: rec, Origin: cfg.NodeID})
		if err != nil {
			return nil, err
		}
		n.merger.AttachBus(n.bus)
		n.submit = n.bus
	}
	ingested := n.submit
	if n.bus != nil {
		// An event is answered for once the NATS server has it: a node
		// killed after its 202 has then handed it on.
		ingested = n.bus.Confirmed()
	}
	in := ingest.New(ingest.Config{Logger: log, MaxBody: cfg.MaxBody, Outcomes: n.outs}, ingested)
	app, _ := frontend.App()
	var public *url.URL
	if cfg.PublicURL != "" {
		public, _ = server.ParsePublicURL(cfg.PublicURL) // validated above
	}
	if cfg.TLSCertFile != "" {
		if n.certs, err = tlscert.New(cfg.TLSCertFile, cfg.TLSKeyFile, log); err != nil {
			return nil, err
		}
		n.reloadTLS = make(chan struct{}, 1)
	}
	n.http = server.New(server.Config{AllowedOrigins: cfg.AllowedOrigins, Logger: log, App: app, Static: static.FS, MaxClients: maxClients, Gates: gates,
		Streams: &n.streams,
		Observe: n.metrics.Middleware, Metrics: n.metrics.Handler(),
		Ingest: in, IngestStats: func() any { return in.Stats() }, Outcomes: n.outs, History: n.history, Profiling: cfg.Profiling,
		ForgetNode: n.forgetNode(),
		PublicURL:  public, TrustedProxies: cfg.TrustedProxies, Hostnames: hostnames(),
		Writes:  &server.WriteGuard{Token: cfg.Token, Exposed: cfg.Exposed, Rate: cfg.WriteRate},
		Closing: &n.writes, Reload: n.ReloadConfig}, n.hub, n.coal, n, n.page)
	return n, nil
}

// hostnames are the machine's names a client may use for the node besides
// its address (Prometheus scraping ontime-1:8080): its hostname, if known.
func hostnames() []string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return []string{h}
	}
	return nil
}

// connect opens the NATS connection of cluster mode, shared by the event bus
// and the Merger. It echoes: a node consumes its own events too.
func (n *Node) connect() error {
	if n.cfg.NodeID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			return errors.New("cluster: a node id is required (--node-id)")
		}
		n.cfg.NodeID = host
	}
	n.closed = make(chan struct{})
	nc, err := nats.Connect(n.cfg.NATSURL,
		nats.Name("ontime "+n.cfg.NodeID),
		nats.MaxReconnects(-1),
		// A NATS restart costs the cluster what is sent meanwhile: try
		// often (the client adds up to 100ms of jitter).
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectBufSize(256<<10),
		nats.ClosedHandler(func(*nats.Conn) { close(n.closed) }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				n.log.Warn("cluster: NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { n.log.Info("cluster: NATS reconnected", "url", nc.ConnectedUrl()) }),
	)
	if err != nil {
		return fmt.Errorf("cluster: connect to NATS at %s: %w", n.cfg.NATSURL, err)
	}
	n.nc = nc
	return nil
}

// NodeID is the node's id in the cluster; empty for a single node.
func (n *Node) NodeID() string {
	if n.nc == nil {
		return ""
	}
	return n.cfg.NodeID
}

// TLS tells whether Run serves HTTPS.
func (n *Node) TLS() bool { return n.certs != nil }

// ReloadTLS asks for the certificate files to be read again (SIGHUP); a
// no-op without TLS. The reload happens in Run's watcher, and a pair that
// does not load is logged and leaves the current one in use.
func (n *Node) ReloadTLS() {
	if n.reloadTLS == nil {
		return
	}
	select {
	case n.reloadTLS <- struct{}{}:
	default: // a reload is pending already
	}
}

// Handler is the node's HTTP handler, for tests that serve it themselves.
func (n *Node) Handler() http.Handler { return n.http }

// Snapshot is the node's state right now: in cluster mode, this node's own
// share (the events its pipeline processed), not the cluster's.
func (n *Node) Snapshot() coalescer.Snapshot { return n.coal.Snapshot() }

// Run serves on ln and runs the pipeline until ctx ends, then shuts down in
// flow order: writes stop (new ones get 503, those under way are waited
// for, at most the shutdown timeout), the settings stop changing, the
// generator stops, (cluster mode: the event bus hands over
// what it was delivered), the pipeline drains, the coalescer publishes a last
// batch, (cluster mode: the Merger stops), the hub closes (which ends every
// stream), the HTTP server finishes its requests (cluster mode: and the NATS
// connection drains). A nil ln runs without serving.
func (n *Node) Run(ctx context.Context, ln net.Listener) error {
	srv, serveErr, stopWatch := n.listen(ctx, ln)
	defer stopWatch()
	r := n.start(ctx)
	// Everything started stops on an early return; after the ordered
	// shutdown, only the NATS connection is left to close.
	defer n.stop(r)
	if err := n.runGeneratorFor(ctx); err != nil {
		return err
	}
	go func() { _ = n.pipe.Run(r.pipeCtx); close(r.pipeDone) }()
	go func() { _ = n.coal.Run(r.coalCtx); close(r.coalDone) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
	}
	return n.shutdown(ctx, r, srv, serveErr, err)
}

// listen serves the node's handler on ln (HTTPS when certificates are
// configured), unless ln is nil. stop ends the certificates' watch.
func (n *Node) listen(ctx context.Context, ln net.Listener) (srv *http.Server, serveErr chan error, stop func()) {
	serveErr = make(chan error, 1)
	stop = func() {}
	if ln == nil {
		return nil, serveErr, stop
	}
	srv = &http.Server{
		Handler:           n.http,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ConnContext:       stream.ConnContext,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	if n.certs != nil {
		stop = n.serveTLS(ctx, srv)
		cln := cork.Listener(ln, n.cfg.TLSWriteWindow)
		go func() { serveErr <- srv.ServeTLS(cln, "", "") }()
	} else {
		go func() { serveErr <- srv.Serve(ln) }()
	}
	return srv, serveErr, stop
}

// running is what Run started besides the HTTP server: each part's
// context and the channel closed when it has ended, in the order the
// shutdown stops them.
type running struct {
	pipeCtx, coalCtx, busCtx, mergerCtx     context.Context
	stopPipe, stopCoal, stopBus, stopMerger context.CancelFunc
	pipeDone, coalDone, busDone, mergerDone chan struct{}
	stopOutcomes                            func()
}

// start starts the cluster's bus and merger (in cluster mode) and the
// outcomes' feed. The pipeline and coalescer are started by Run once the
// generator is.
func (n *Node) start(ctx context.Context) *running {
	base := context.WithoutCancel(ctx)
	r := &running{pipeDone: make(chan struct{}), coalDone: make(chan struct{}),
		busDone: make(chan struct{}), mergerDone: make(chan struct{})}
	r.pipeCtx, r.stopPipe = context.WithCancel(base)
	r.coalCtx, r.stopCoal = context.WithCancel(base)
	r.busCtx, r.stopBus = context.WithCancel(base)
	r.mergerCtx, r.stopMerger = context.WithCancel(base)
	if n.nc != nil {
		go func() {
			defer close(r.busDone)
			if err := n.bus.Consume(r.busCtx, n.pipe); err != nil {
				n.log.Error("cluster: event bus stopped", "err", err)
			}
		}()
		go func() {
			defer close(r.mergerDone)
			if err := n.merger.Run(r.mergerCtx); err != nil {
				n.log.Error("cluster: merger stopped", "err", err)
			}
		}()
		// The bus publishes only while this node's consumer is
		// subscribed (an event published when no node is would be lost
		// without a trace): the generator starts once it is, or once
		// Consume has failed (then the bus refuses, and counts, them).
		select {
		case <-n.bus.Consuming():
		case <-r.busDone:
		}
	} else {
		close(r.busDone)
		close(r.mergerDone)
	}
	r.stopOutcomes = n.startOutcomes(ctx)
	return r
}

// stop ends whatever r still runs: the outcomes' feed, the cluster's bus
// and merger, then the NATS connection, the coalescer and the pipeline.
func (n *Node) stop(r *running) {
	r.stopOutcomes()
	r.stopBus()
	<-r.busDone
	r.stopMerger()
	<-r.mergerDone
	if n.nc != nil {
		n.closeNATS()
	}
	r.stopCoal()
	r.stopPipe()
}

// runGeneratorFor starts the built-in generator for the node's life (Apply
// restarts it as its settings change).
func (n *Node) runGeneratorFor(ctx context.Context) error {
	n.live.mu.Lock()
	defer n.live.mu.Unlock()
	n.live.genCtx = context.WithoutCancel(ctx)
	if err := n.startGenerator(); err != nil {
		return fmt.Errorf("generator: %w", err)
	}
	return nil
}

// shutdown stops the node in flow order once Run's context ended or the
// server failed with err: writes first, so every event answered "accepted"
// is submitted before the pipeline drains and counted in the last batch;
// then the generator, the bus, the pipeline, the outcomes, the coalescer,
// the merger and the hub; then the streams and the HTTP server.
func (n *Node) shutdown(ctx context.Context, r *running, srv *http.Server, serveErr chan error, err error) error {
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), n.cfg.ShutdownTimeout)
	if werr := n.writes.Close(wctx); werr != nil {
		n.log.Warn("shutdown: writes still running at the shutdown timeout; their events may miss the last batch", "err", werr)
	}
	wcancel()
	n.live.mu.Lock()
	n.live.stopped = true
	n.stopGenerator()
	n.live.genCtx = nil // Apply no longer restarts it
	n.live.mu.Unlock()
	r.stopBus()
	<-r.busDone
	r.stopPipe()
	<-r.pipeDone
	if n.merger != nil {
		// Nothing more is admitted or finished: the next partial is the
		// final one, and says that this node leaves.
		n.merger.Leave()
	}
	r.stopOutcomes()
	r.stopCoal()
	<-r.coalDone
	r.stopMerger()
	<-r.mergerDone
	n.hub.Close()
	n.live.mu.Lock()
	if n.live.worker != nil {
		n.live.worker.Close() // no call runs once the pipeline has drained
	}
	n.live.mu.Unlock()
	// Streams taken over from the HTTP server end as the hub closes; those
	// whose last writes block are cut when the shutdown timeout ends.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.cfg.ShutdownTimeout)
	defer cancel()
	if serr := n.streams.Shutdown(sctx); serr != nil {
		err = cmp.Or(err, fmt.Errorf("shutdown streams: %w", serr))
	}
	if srv != nil {
		if serr := srv.Shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("shutdown: %w", serr)
		}
		if serr := <-serveErr; err == nil && serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = fmt.Errorf("serve: %w", serr)
		}
	}
	return err
}

// serveTLS sets srv up for HTTPS with HTTP/2 (a browser then multiplexes
// all its streams of this host over one connection, where HTTP/1.1 allows
// six) and starts the certificate watcher; the returned func stops it.
// HTTP/2 is net/http's own server, with its limits stated in
// docs/security.md (what it costs per delivered frame: docs/benchmarks.md).
func (n *Node) serveTLS(ctx context.Context, srv *http.Server) (stop func()) {
	srv.TLSConfig = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: n.certs.GetCertificate,
	}
	srv.HTTP2 = &http.HTTP2Config{
		// Go's default, stated here because docs/security.md and the load
		// tool's --per-conn bound rely on it.
		MaxConcurrentStreams: maxStreamsPerConn,
		// A connection whose writes make no progress for this long is
		// closed (a client that stopped reading its socket).
		WriteByteTimeout: http2WriteByteTimeout,
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.certs.Watch(wctx, n.cfg.TLSPoll, n.reloadTLS)
	}()
	return func() { cancel(); <-done }
}

// ClusterStats reports the event bus's and the Merger's counters, for
// /metrics in cluster mode. Only called when the node runs with NATS.
func (n *Node) ClusterStats() (cluster.BusStats, cluster.MergerStats) {
	return n.bus.Stats(), n.merger.Stats()
}

// closeNATS drains the connection (what is still buffered goes out) and
// waits for it to close, for at most the shutdown timeout.
func (n *Node) closeNATS() {
	if err := n.nc.Drain(); err != nil {
		n.nc.Close()
	}
	t := time.NewTimer(n.cfg.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-n.closed:
	case <-t.C:
		n.nc.Close()
		<-n.closed
	}
}

// forgetNode serves DELETE /api/cluster/nodes/{id} in cluster mode (nil
// otherwise): an operator removes a lost node from the node list (see
// cluster.Merger.Forget).
func (n *Node) forgetNode() http.Handler {
	if n.merger == nil {
		return nil
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := chi.URLParam(r, "id")
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		switch err := n.merger.Forget(ctx, id); {
		case err == nil:
			w.WriteHeader(http.StatusNoContent)
		case errors.Is(err, cluster.ErrUnknownNode):
			httperr.Write(w, http.StatusNotFound, fmt.Sprintf("no node %q in the node list", id))
		case errors.Is(err, cluster.ErrNodeReporting):
			httperr.Write(w, http.StatusConflict, fmt.Sprintf("node %q is reporting: only a lost node, or one that left, can be removed", id))
		default:
			httperr.Write(w, http.StatusServiceUnavailable, "the cluster's merger is not running")
		}
	})
}
