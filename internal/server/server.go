// Package server routes ontime's HTTP API, streams and pages with chi.
//
// Streaming routes (SSE, WebSocket) carry no timeout middleware and rely on
// per-write deadlines in their handlers; the HTTP server must not set a
// server-wide WriteTimeout either, or it would cut every stream.
package server

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	json "github.com/go-json-experiment/json/v1"
	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/coalescer"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/history"
	"github.com/ontime-rt/ontime/internal/httperr"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/outcomes"
	"github.com/ontime-rt/ontime/internal/sse"
	"github.com/ontime-rt/ontime/internal/stream"
	"github.com/ontime-rt/ontime/internal/web"
	"github.com/ontime-rt/ontime/internal/ws"
)

// Hub formats the server reads; the node registers their encoders.
const (
	FormatJSON        = "json"         // the batch JSON, one WebSocket message per batch
	FormatJSONSummary = "json-summary" // the same without events (?events=0)
	FormatSSE         = "sse"          // the batch JSON as an SSE "batch" event
	FormatSSESummary  = "sse-summary"  // the same without events (?events=0)
)

// StatsSource gives the state right now, between batches.
type StatsSource interface {
	Snapshot() coalescer.Snapshot
}

// Config configures the routes.
type Config struct {
	// AllowedOrigins are the cross-site origins allowed to open /ws, besides
	// the server's own. Default none.
	AllowedOrigins []string
	// Logger logs requests and failures. Default slog.Default().
	Logger *slog.Logger
	// App is the built React dashboard served under /app/, nil when it has
	// not been built (the route then says how to build it).
	App fs.FS
	// Static holds style.css and vendor/ served under /static/.
	Static fs.FS
	// MaxClients bounds the clients of each transport (SSE stream, page
	// stream, WebSocket); beyond it new clients get 503 with Retry-After.
	// Default 10000.
	MaxClients int
	// Writes guards the routes that change state. Nil: no token, no limit.
	// New sets its Proxied field (see PublicURL).
	Writes *WriteGuard
	// Closing, when set, refuses every write once closed (shutdown).
	Closing *WriteGate
	// Streams, when set, takes over the connections of streaming clients
	// (SSE over HTTP/1.x, WebSocket) from the HTTP server; whoever owns the
	// server must Shutdown it too. Nil: streams run in their handlers.
	Streams *stream.Streams
	// Gates bound the clients of each transport ("sse", "page", "ws");
	// missing ones are made with MaxClients.
	Gates map[string]*stream.Gate
	// Observe, when set, wraps every route (request metrics); it must see
	// the router's own state, so it is installed with Use.
	Observe func(http.Handler) http.Handler
	// Metrics, when set, is served at GET /metrics.
	Metrics http.Handler
	// Ingest, when set, is served at POST /api/events behind the write
	// guard; IngestStats then reports its counters in /api/stats.
	Ingest      http.Handler
	IngestStats func() any
	// Outcomes, when set, is served at GET /api/events/{id}.
	Outcomes OutcomeSource
	// ForgetNode, when set (cluster mode), is served at
	// DELETE /api/cluster/nodes/{id} behind the write guard.
	ForgetNode http.Handler
	// History, when set, is served at GET /api/history and
	// GET /api/incidents.
	History HistorySource
	// Profiling mounts net/http/pprof under /debug/pprof/ (for measuring
	// where the time goes; off by default: profiles reveal internals).
	Profiling bool
	// IngestReadTimeout bounds reading one ingest request's body, so a
	// slow-drip producer cannot hold a connection forever. Default 30s.
	// (A server-wide ReadTimeout would also end the streams.)
	IngestReadTimeout time.Duration
	// BodyReadTimeout bounds reading the body a request announces on the
	// routes that read none (see bodyDeadline). Default 10s.
	BodyReadTimeout time.Duration
	// PublicURL is the origin users type to reach the server (through a
	// proxy, say), from ParsePublicURL: its host is one of the server's own
	// names (see hostCheck) and it may open /ws. Nil: none. With it (or
	// TrustedProxies), New marks Writes as Proxied: writes need a token.
	PublicURL *url.URL
	// Hostnames are more of the server's own names, accepted as Host on
	// the port a request came in on (the machine's hostname, so that
	// Prometheus can scrape ontime-1:8080). Default none.
	Hostnames []string
	// TrustedProxies are the peers whose client-address headers
	// (X-Forwarded-For, Forwarded, X-Real-IP) are believed, so that rate
	// limits and logs key on the real client. Default none.
	TrustedProxies []netip.Prefix
	// Reload, when set, is served at POST /api/config/reload behind the
	// write guard: it reads the configuration file again and applies it.
	Reload func() (config.Reload, error)
}

// OutcomeSource looks up an event's outcome in the window of recent ones.
// *outcomes.Store satisfies it.
type OutcomeSource interface {
	Lookup(id uuid.UUID) (outcomes.Outcome, bool)
}

// HistorySource gives the series and incidents of the last 24 hours.
// *history.History satisfies it.
type HistorySource interface {
	Series(r history.Range) history.Series
	Incidents() []history.Incident
}

// Transports names the client gates, one per streaming transport.
var Transports = []string{"sse", "page", "ws"}

// statsBody is GET /api/stats: the coalescer's state plus the fan-out's.
type statsBody struct {
	coalescer.Snapshot
	// Clients counts connected clients per transport.
	Clients map[string]int `json:"clients"`
	// Fanout reports what slow clients cost (batches skipped by clients
	// that fell behind, clients disconnected for being too slow), and
	// streams ended by a panic.
	Fanout fanoutStats `json:"fanout"`
	// Ingest counts POST /api/events requests and the producers' clock
	// skew.
	Ingest any `json:"ingest,omitempty"`
}

type fanoutStats struct {
	Skipped         uint64 `json:"skipped"`
	SlowDisconnects uint64 `json:"slowDisconnects"`
	MaxClients      int    `json:"maxClients"`
	StreamPanics    uint64 `json:"streamPanics"`
}

// New returns the router.
func New(cfg Config, h *hub.Hub, st StatsSource, conf Configurator, page *web.Renderer) http.Handler {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	r := chi.NewRouter()
	if cfg.Observe != nil {
		r.Use(cfg.Observe)
	}
	r.Use(realClient(cfg.TrustedProxies), recoverer(log), securityHeaders, bodyDeadline(cfg.BodyReadTimeout))
	if cfg.Closing != nil {
		r.Use(cfg.Closing.Wrap)
	}
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		httperr.Write(w, http.StatusNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		httperr.Write(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s", r.Method, r.URL.Path))
	})
	// A load balancer's health check may name the node any way it likes,
	// and the answer tells nothing: /healthz is the one route open to any
	// Host.
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	r.Group(func(r chi.Router) {
		r.Use(hostCheck(cfg.PublicURL, cfg.Hostnames))
		routes(r, cfg, log, h, st, conf, page)
	})
	return r
}

// routes mounts every route but /healthz on r, behind the Host check.
func routes(r chi.Router, cfg Config, log *slog.Logger, h *hub.Hub, st StatsSource, conf Configurator, page *web.Renderer) {
	maxClients := cfg.MaxClients
	if maxClients <= 0 {
		maxClients = 10000
	}
	gates := make(map[string]*stream.Gate, len(Transports))
	for _, t := range Transports {
		if gates[t] = cfg.Gates[t]; gates[t] == nil {
			gates[t] = stream.NewGate(maxClients)
		}
	}
	if cfg.Metrics != nil {
		r.Method(http.MethodGet, "/metrics", cfg.Metrics)
	}
	if cfg.Profiling {
		r.HandleFunc("/debug/pprof/*", pprof.Index)
		r.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		r.HandleFunc("/debug/pprof/profile", pprof.Profile)
		r.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		r.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	r.Get("/api/stats", func(w http.ResponseWriter, _ *http.Request) {
		body := statsBody{Snapshot: st.Snapshot(), Clients: make(map[string]int, len(gates)),
			Fanout: fanoutStats{Skipped: h.Skipped(), SlowDisconnects: h.SlowDisconnects(), MaxClients: maxClients}}
		for name, g := range gates {
			body.Clients[name] = g.Clients()
		}
		if cfg.Streams != nil {
			body.Fanout.StreamPanics = cfg.Streams.Panics()
		}
		if cfg.IngestStats != nil {
			body.Ingest = cfg.IngestStats()
		}
		writeJSON(w, http.StatusOK, body)
	})
	r.Get("/api/config", getConfig(conf))
	r.Get("/api/config/schema", getSchema)
	guard := cfg.Writes
	if guard == nil {
		guard = &WriteGuard{}
	}
	if cfg.PublicURL != nil || len(cfg.TrustedProxies) > 0 {
		guard.Proxied = true
	}
	r.With(guard.Wrap).Patch("/api/config", patchConfig(conf))
	r.With(guard.Wrap).Method(http.MethodPatch, "/ui/config", web.ConfigForm(conf))
	if cfg.Reload != nil {
		r.With(guard.Wrap).Method(http.MethodPost, "/api/config/reload", reloadConfig(cfg.Reload))
	}
	if cfg.Ingest != nil {
		timeout := cfg.IngestReadTimeout
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		r.With(guard.Wrap).Method(http.MethodPost, "/api/events", readDeadline(timeout, cfg.Ingest))
	}
	if cfg.Outcomes != nil {
		r.Get("/api/events/{id}", lookup(cfg.Outcomes))
	}
	if cfg.ForgetNode != nil {
		r.With(guard.Wrap).Method(http.MethodDelete, "/api/cluster/nodes/{id}", cfg.ForgetNode)
	}
	if cfg.History != nil {
		r.Get("/api/history", historyOf(cfg.History))
		r.Get("/api/incidents", func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, struct {
				Incidents []history.Incident `json:"incidents"`
			}{cfg.History.Incidents()})
		})
	}
	r.Method(http.MethodGet, "/api/stream", &sse.Handler{Hub: h, Format: FormatSSE, SummaryFormat: FormatSSESummary, Gate: gates["sse"], Streams: cfg.Streams, Logger: log})
	r.Method(http.MethodGet, "/ui/stream", &sse.Handler{Hub: h, Format: web.Format, Gate: gates["page"], Streams: cfg.Streams, Logger: log})
	origins := cfg.AllowedOrigins
	if cfg.PublicURL != nil {
		origins = append(slices.Clip(origins), cfg.PublicURL.String())
	}
	r.Method(http.MethodGet, "/ws", &ws.Handler{Hub: h, Format: FormatJSON, SummaryFormat: FormatJSONSummary, Gate: gates["ws"], AllowedOrigins: origins, Streams: cfg.Streams, Logger: log})
	r.Get("/ui/events/{id}", web.EventHandler(page))
	r.Get("/", web.PageHandler(h, page))
	r.Head("/", web.PageHandler(h, page))
	if cfg.Static != nil {
		r.Handle("/static/*", http.StripPrefix("/static/", filesOnly(cfg.Static, cacheFor(time.Hour, http.FileServerFS(cfg.Static)))))
	}
	r.Get("/app", http.RedirectHandler("/app/", http.StatusMovedPermanently).ServeHTTP)
	r.Get("/app/*", appHandler(cfg.App))
	r.Head("/app/*", appHandler(cfg.App))
}

// appHandler serves the single-page dashboard: its files, and index.html
// for any other path under /app/ so client-side routes survive a reload.
func appHandler(app fs.FS) http.HandlerFunc {
	if app == nil {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "The React dashboard has not been built into this binary.\n\n"+
				"Build it and restart:  make run   (or: make frontend && go run ./cmd/ontime)\n\n"+
				"The server-rendered page at / works without it.\n")
		}
	}
	files := http.StripPrefix("/app/", http.FileServerFS(app))
	return func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/app/")
		if name == "" || name == "index.html" {
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, app, "index.html")
			return
		}
		if _, err := fs.Stat(app, name); err != nil {
			if strings.HasPrefix(name, "assets/") {
				httperr.Write(w, http.StatusNotFound, "no such asset: "+name)
				return
			}
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, app, "index.html")
			return
		}
		if strings.HasPrefix(name, "assets/") {
			// Vite puts a content hash in every asset name.
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		files.ServeHTTP(w, r)
	}
}

// lookup answers GET /api/events/{id}: the event's outcome, or
// {"id","status":"in-flight"}, while it is in the window; 404 after it or
// for an id never seen; 400 for an id that is not a canonical UUID.
func lookup(src OutcomeSource) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := chi.URLParam(r, "id")
		id, err := uuid.Parse(s)
		if len(s) != 36 || err != nil {
			httperr.Write(w, http.StatusBadRequest, fmt.Sprintf("event id %q is not a UUID (want the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", s))
			return
		}
		o, ok := src.Lookup(id)
		if !ok {
			httperr.Write(w, http.StatusNotFound, fmt.Sprintf("no outcome of event %s here: unknown to this node, or older than its outcome window", s))
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(append(o.AppendJSON(nil), '\n'))
	}
}

// historyOf answers GET /api/history?range=1m|15m|1h|24h (default 1h); any
// other range (empty, or given twice) is a 400 that lists the valid ones.
func historyOf(src HistorySource) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		name := history.DefaultRange
		if vs, ok := q["range"]; ok {
			name = strings.Join(vs, ",")
		}
		rng, err := history.ParseRange(name)
		if err != nil {
			httperr.Write(w, http.StatusBadRequest, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, src.Series(rng))
	}
}

// bodyDeadline gives a request over HTTP/1.x that announces a body
// (Content-Length or chunked) a read deadline of d; the write routes set
// their own. Routes
// that read no body still have net/http read what was announced (up to 256
// KiB) before answering or closing, with no deadline of the server's own:
// there is deliberately no server-wide ReadTimeout, which would end the
// streams. Without this, a GET or a 404 announcing a body it never sends
// would hold its connection for good. Requests without a body, the
// streams' among them, get no deadline.
func bodyDeadline(d time.Duration) func(http.Handler) http.Handler {
	if d <= 0 {
		d = 10 * time.Second
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ProtoMajor == 1 && r.ContentLength != 0 {
				// Not every ResponseWriter supports deadlines (tests' recorders).
				_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
			}
			next.ServeHTTP(w, r)
		})
	}
}

// readDeadline bounds the time to read a request, body included.
func readDeadline(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Not every ResponseWriter supports deadlines (tests' recorders).
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
		next.ServeHTTP(w, r)
	})
}

// filesOnly serves the files of fsys and nothing else: GET and HEAD only
// (405 otherwise), and no directory listings (404).
func filesOnly(fsys fs.FS, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			httperr.Write(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on static files: GET or HEAD", r.Method))
			return
		}
		name := strings.TrimSuffix(r.URL.Path, "/")
		if name == "" {
			name = "."
		}
		if fi, err := fs.Stat(fsys, name); err != nil || fi.IsDir() || strings.HasSuffix(r.URL.Path, "/") {
			httperr.Write(w, http.StatusNotFound, "no such file: /static/"+r.URL.Path)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func cacheFor(d time.Duration, next http.Handler) http.Handler {
	v := fmt.Sprintf("public, max-age=%d", int(d.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", v)
		next.ServeHTTP(w, r)
	})
}

// securityHeaders forbids inline scripts and framing, so an injected string
// can never run as code in either UI.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// recoverer turns a handler panic into a logged 500 instead of a dropped
// connection with no explanation.
func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				log.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				httperr.Write(w, http.StatusInternalServerError, "internal error")
			}()
			next.ServeHTTP(w, r)
		})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
