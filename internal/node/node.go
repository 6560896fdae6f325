// Package node assembles one ontime server: generator -> pipeline ->
// coalescer -> hub -> transports, and runs it with an orderly shutdown.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ontime-rt/ontime/frontend-react"
	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/coalescer"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/ingest"
	"github.com/ontime-rt/ontime/internal/metrics"
	"github.com/ontime-rt/ontime/internal/pipeline"
	"github.com/ontime-rt/ontime/internal/server"
	"github.com/ontime-rt/ontime/internal/sse"
	"github.com/ontime-rt/ontime/internal/stream"
	"github.com/ontime-rt/ontime/internal/web"
	"github.com/ontime-rt/ontime/static"
)

// Config is everything a node can be told. Zero values take the defaults.
type Config struct {
	// Rate is the generator's events per second. Default 20; negative
	// turns the generator off.
	Rate float64
	// Deadline is each generated event's time to live. Default 100ms.
	Deadline time.Duration
	// Work is the mean simulated work per event. Default 50ms.
	Work time.Duration
	// WorkDist is the distribution of work around its mean. Default fixed.
	WorkDist pipeline.Dist
	// CPUWork makes the simulated work burn CPU (pipeline.Spin) instead of
	// sleeping, so events compete for the cores. Default false.
	CPUWork bool
	// Poisson spaces generated events randomly at the same mean rate.
	// Default false (evenly spaced).
	Poisson bool
	// Policy is the queueing and shedding policy. Default edf.
	Policy pipeline.Policy
	// Workers processing events concurrently. Default 4.
	Workers int
	// Queue bounds the events waiting for a worker. Default 64.
	Queue int
	// Tick is the batch period. Default 100ms.
	Tick time.Duration
	// History is how many batches are kept for clients that resume.
	// Default 600 (60 s at the default tick).
	History int
	// AllowedOrigins may open /ws from other sites. Default none.
	AllowedOrigins []string
	// MaxClients bounds the clients of each transport. Default 10000.
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
	// MaxBody bounds an ingest request's body in bytes. Default 1 MiB.
	MaxBody int64
	// Profiling serves net/http/pprof under /debug/pprof/. Default off.
	Profiling bool
	// ShutdownTimeout bounds the graceful shutdown. Default 5s.
	ShutdownTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.Rate == 0 {
		c.Rate = 20
	}
	if c.Deadline == 0 {
		c.Deadline = 100 * time.Millisecond
	}
	if c.Work == 0 {
		c.Work = 50 * time.Millisecond
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 5 * time.Second
	}
	if c.WriteRate == 0 {
		c.WriteRate = 20
	}
	return c
}

// Node is one running ontime server.
type Node struct {
	cfg  Config
	log  *slog.Logger
	live live
	pipe *pipeline.Pipeline
	coal *coalescer.Coalescer
	hub  *hub.Hub
	page *web.Renderer
	// metrics counts everything for GET /metrics.
	metrics *metrics.Metrics
	http    http.Handler
}

// relay lets the coalescer and the pipeline be built in either order: the
// pipeline records into the coalescer, which reads the pipeline's gauges.
type relay struct{ p *pipeline.Pipeline }

func (r *relay) Gauges() pipeline.Gauges { return r.p.Gauges() }

// New builds a node. It starts nothing: Run does.
func New(cfg Config, log *slog.Logger) (*Node, error) {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	n := &Node{cfg: cfg, log: log, page: web.NewRenderer()}
	var err error
	n.hub, err = hub.New(hub.Config{
		History: cfg.History,
		Logger:  log,
		// The page gets full snapshots and never resumes: keep its HTML
		// for the newest batch only.
		Ephemeral: []string{web.Format},
		Encoders: map[string]hub.Encoder{
			server.FormatJSON:        batch.JSON,
			server.FormatJSONSummary: batch.SummaryJSON,
			server.FormatSSE:         sse.EncodeBatch,
			server.FormatSSESummary:  sse.EncodeSummary,
			web.Format:               n.page.Encode,
		},
	})
	if err != nil {
		return nil, err
	}
	settings := settingsOf(cfg)
	if err := settings.Validate(); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	n.live.settings, n.live.current = settings, &settings
	gauges := &relay{}
	n.coal, err = coalescer.New(coalescer.Config{
		Tick:     ms(settings.TickMs),
		Lateness: n.generatorLateness,
		Settings: n.currentSettings,
	}, gauges, n.hub)
	if err != nil {
		return nil, err
	}
	maxClients := cfg.MaxClients
	if maxClients <= 0 {
		maxClients = 10000
	}
	gates := make(map[string]*hub.Gate, len(server.Transports))
	for _, t := range server.Transports {
		gates[t] = hub.NewGate(maxClients)
	}
	n.metrics = metrics.New(metrics.Config{
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
	})
	// The metrics tap sees exactly what the coalescer sees, so /metrics and
	// /api/stats agree.
	n.pipe, err = pipeline.New(pipeline.Config{Workers: settings.Workers, QueueCap: settings.QueueCap, Policy: pipeline.Policy(settings.Policy)}, processorOf(settings), n.metrics.Recorder(n.coal))
	if err != nil {
		return nil, err
	}
	gauges.p = n.pipe
	in := ingest.New(ingest.Config{Logger: log, MaxBody: cfg.MaxBody}, n.pipe)
	app, _ := frontend.App()
	n.http = server.New(server.Config{AllowedOrigins: cfg.AllowedOrigins, Logger: log, App: app, Static: static.FS, MaxClients: maxClients, Gates: gates,
		Observe: n.metrics.Middleware, Metrics: n.metrics.Handler(),
		Ingest: in, IngestStats: func() any { return in.Stats() }, Profiling: cfg.Profiling,
		Writes: &server.WriteGuard{Token: cfg.Token, Exposed: cfg.Exposed, Rate: cfg.WriteRate}}, n.hub, n.coal, n, n.page)
	return n, nil
}

// Handler is the node's HTTP handler, for tests that serve it themselves.
func (n *Node) Handler() http.Handler { return n.http }

// Snapshot is the node's state right now.
func (n *Node) Snapshot() coalescer.Snapshot { return n.coal.Snapshot() }

// Run serves on ln and runs the pipeline until ctx ends, then shuts down in
// flow order: the generator stops, the pipeline drains, the coalescer
// publishes a last batch, the hub closes (which ends every stream), and the
// HTTP server finishes its requests. A nil ln runs without serving.
func (n *Node) Run(ctx context.Context, ln net.Listener) error {
	var srv *http.Server
	serveErr := make(chan error, 1)
	if ln != nil {
		srv = &http.Server{
			Handler:           n.http,
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ConnContext:       stream.ConnContext,
			ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
		}
		go func() { serveErr <- srv.Serve(ln) }()
	}

	pipeCtx, stopPipe := context.WithCancel(context.WithoutCancel(ctx))
	coalCtx, stopCoal := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPipe()
	defer stopCoal()

	pipeDone := make(chan struct{})
	coalDone := make(chan struct{})
	n.live.mu.Lock()
	n.live.genCtx = context.WithoutCancel(ctx)
	if err := n.startGenerator(); err != nil {
		n.live.mu.Unlock()
		return fmt.Errorf("generator: %w", err)
	}
	n.live.mu.Unlock()
	go func() { _ = n.pipe.Run(pipeCtx); close(pipeDone) }()
	go func() { _ = n.coal.Run(coalCtx); close(coalDone) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("serve: %w", err)
	}
	n.live.mu.Lock()
	n.stopGenerator()
	n.live.genCtx = nil // Apply no longer restarts it
	n.live.mu.Unlock()
	stopPipe()
	<-pipeDone
	stopCoal()
	<-coalDone
	n.hub.Close()
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.cfg.ShutdownTimeout)
		defer cancel()
		if serr := srv.Shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("shutdown: %w", serr)
		}
		if serr := <-serveErr; err == nil && serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = fmt.Errorf("serve: %w", serr)
		}
	}
	return err
}
