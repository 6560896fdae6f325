package config

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Type is how a setting's value is written in JSON.
type Type string

// The types of settings.
const (
	// Number is a JSON number, decimals allowed.
	Number Type = "number"
	// Integer is a JSON number without fraction or exponent.
	Integer Type = "integer"
	// String is a JSON string; with Choices, one of them.
	String Type = "string"
	// Boolean is true or false.
	Boolean Type = "boolean"
)

// Spec describes one setting: everything the command line, the
// environment, the configuration file, PATCH /api/config,
// GET /api/config/schema and both settings forms show of it or check it
// against. Specs lists them all; each of
// those surfaces is derived from it.
type Spec struct {
	// Name is the JSON name: in Settings, in a patch, in the schema, and
	// the Field of a *FieldError about it.
	Name string `json:"name"`
	// Flag is the command-line flag, without its dashes.
	Flag string `json:"flag"`
	// Env is the environment variable that sets it when the flag is not
	// given: ONTIME_ and the flag in upper snake case.
	Env string `json:"env"`
	// Label names it in the settings forms.
	Label string `json:"label"`
	// Type is its JSON type.
	Type Type `json:"type"`
	// Unit is what a number counts: "ms" (on the command line a duration
	// like 100ms or 1.5s), "bytes" (on the command line a size like 64MiB
	// or 65536), "events/s", "events"; empty for none.
	Unit string `json:"unit,omitempty"`
	// Min and Max bound a number, inclusive; nil for no bound.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// ZeroMeans says what 0 stands for ("off", "no limit"), if anything
	// special.
	ZeroMeans string `json:"zeroMeans,omitempty"`
	// Choices are the values a string takes, the default first; empty for
	// free text.
	Choices []string `json:"choices,omitempty"`
	// MaxLength bounds free text, in bytes; 0 for no bound of its own.
	MaxLength int `json:"maxLength,omitempty"`
	// Example is a valid value of free text.
	Example string `json:"example,omitempty"`
	// Default is the value without flag or environment variable.
	Default any `json:"default"`
	// WorkerDefault, when set, is the default instead when the processor
	// is one of the user's workers (http, nats).
	WorkerDefault any `json:"workerDefault,omitempty"`
	// Help says what it does, in a sentence or two (--help).
	Help string `json:"help"`
	// Hint is a few words for a form, under the field, for a setting
	// without range (a number's hint is its range).
	Hint string `json:"hint,omitempty"`
	// Live settings change while the server runs (PATCH /api/config, the
	// forms); the others are fixed at start.
	Live bool `json:"live"`
	// PerNode settings apply to each node of a cluster on its own.
	PerNode bool `json:"perNode,omitempty"`
	// FixedInCluster settings cannot change live in cluster mode, where
	// every node must agree on them.
	FixedInCluster bool `json:"fixedInCluster,omitempty"`
	// Secret settings come from the environment or the command line,
	// never from the configuration file, which is often shared or kept
	// in version control.
	Secret bool `json:"-"`
}

// Want says what the setting takes, like "want 1 to 60000 ms" or "want
// one of edf, lifo, fifo"; empty for free text.
func (s Spec) Want() string {
	switch {
	case len(s.Choices) > 0:
		return "want one of " + strings.Join(s.Choices, ", ")
	case s.Min == nil && s.Max == nil:
		return ""
	}
	lo := "any"
	if s.Min != nil {
		lo = num(*s.Min)
		if *s.Min == 0 && s.ZeroMeans != "" {
			lo += " (" + s.ZeroMeans + ")"
		}
	}
	var w string
	if s.Max == nil {
		w = "want " + lo + " or more"
	} else {
		w = "want " + lo + " to " + num(*s.Max)
	}
	if s.Unit != "" {
		w += " " + s.Unit
	}
	return w
}

// Check says with a *FieldError whether v is within the setting's range
// (for a number) or among its choices (for a string with choices).
func (s Spec) Check(v any) error {
	switch x := v.(type) {
	case string:
		if len(s.Choices) == 0 || slices.Contains(s.Choices, x) {
			return nil
		}
		return &FieldError{Field: s.Name, Msg: fmt.Sprintf("%q is not one of %s", clip(x), strings.Join(s.Choices, ", ")), Want: s.Want()}
	case float64:
		return s.checkNumber(x, v)
	case int:
		return s.checkNumber(float64(x), v)
	case int64:
		return s.checkNumber(float64(x), v)
	}
	return nil
}

func (s Spec) checkNumber(f float64, v any) error {
	if math.IsNaN(f) || math.IsInf(f, 0) || (s.Min != nil && f < *s.Min) || (s.Max != nil && f > *s.Max) {
		return Bad(s.Name, s.Want(), v)
	}
	return nil
}

// num writes a bound as the messages show it: whole numbers without
// exponent.
func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func bound(f float64) *float64 { return &f }

// Limits of the live settings.
const (
	MaxRate     = 1_000_000
	MaxMs       = 60_000 // deadline and work
	MaxWorkers  = 10_000
	MaxQueueCap = 1_000_000
	MinTickMs   = 10
	MaxTickMs   = 10_000
	// MaxWorkerURL bounds the worker's URL, which travels in every batch.
	MaxWorkerURL = 2048
	// MaxWorkerSubject bounds the worker's NATS subject, which travels in
	// every batch too.
	MaxWorkerSubject = 256
)

// Limits and defaults of the start-up options.
const (
	MinHistoryBytes     = 1 << 20
	MaxHistoryBytes     = 64 << 30
	DefaultHistoryBytes = 64 << 20
	MaxMaxBody          = 1 << 30
	DefaultMaxBody      = 1 << 20
	MaxMaxClients       = 1_000_000
	DefaultMaxClients   = 10_000
	MaxNodeID           = 128
	MinQueueBytes       = 64 << 10
	MaxQueueBytes       = 1 << 40
	DefaultQueueBytes   = 64 << 20
	MaxOutcomes         = 10_000_000
	DefaultOutcomes     = 100_000
	DefaultWriteRate    = 20
	DefaultAddr         = "127.0.0.1:8080"
)

// LogLevels are the levels --log-level takes, as log/slog spells them.
func LogLevels() []string { return []string{"info", "debug", "warn", "error"} }

// EnvName is the environment variable that backs a flag: ONTIME_ + the flag
// name in upper snake case.
func EnvName(flag string) string {
	return "ONTIME_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Specs describes every setting: first the live ones, in the order of
// Settings, then those fixed at start. It returns a fresh copy.
func Specs() []Spec {
	d := Defaults()
	specs := []Spec{
		{Name: "rate", Flag: "rate", Label: "Rate", Type: Number, Unit: "events/s", Min: bound(0), Max: bound(MaxRate), ZeroMeans: "off",
			Default: d.Rate, WorkerDefault: DefaultRate(HTTP), Live: true,
			Help: "events per second the built-in generator sends; 0 turns it off (the default with --processor http or nats)"},
		{Name: "deadlineMs", Flag: "deadline", Label: "Deadline", Type: Number, Unit: "ms", Min: bound(1), Max: bound(MaxMs),
			Default: d.DeadlineMs, Live: true,
			Help: "each generated event's deadline, counted from its creation"},
		{Name: "workMs", Flag: "work", Label: "Work (mean)", Type: Number, Unit: "ms", Min: bound(0), Max: bound(MaxMs),
			Default: d.WorkMs, Live: true,
			Help: "mean simulated work per event (processors sleep and cpu)"},
		{Name: "workDist", Hint: "of the work around its mean", Flag: "work-dist", Label: "Work distribution", Type: String, Choices: names(Dists()),
			Default: string(d.WorkDist), Live: true,
			Help: "distribution of simulated work around its mean: fixed, uniform (0 to 2x the mean), exp (exponential)"},
		{Name: "processor", Hint: "sleep waits, cpu burns a core, http calls your worker, nats asks workers over NATS (cluster mode only)", Flag: "processor", Label: "Processor", Type: String, Choices: names(Processors()),
			Default: string(d.Processor), Live: true,
			Help: "what processes events: sleep (simulated work that waits, like I/O), cpu (simulated work that burns a core), http (your worker at --worker-url) or nats (your workers on --worker-subject; needs --nats); see docs/workers.md"},
		{Name: "workerUrl", Hint: "http(s) URL, required with processor http", Flag: "worker-url", Label: "Worker URL", Type: String, MaxLength: MaxWorkerURL, Example: ExampleWorkerURL,
			Default: d.WorkerURL, Live: true,
			Help: "with --processor http: the http:// or https:// URL each event is POSTed to (no user:password@)"},
		{Name: "workerSubject", Hint: "NATS subject without wildcards, used with processor nats", Flag: "worker-subject", Label: "Worker subject", Type: String, MaxLength: MaxWorkerSubject, Example: DefaultSubject,
			Default: d.WorkerSubject, Live: true,
			Help: "with --processor nats: the NATS subject each event is sent on as a request, without wildcards; workers share it as a queue group"},
		{Name: "arrivals", Hint: "even spacing, or random (poisson)", Flag: "arrivals", Label: "Arrivals", Type: String, Choices: names(ArrivalSet()),
			Default: string(d.Arrivals), Live: true,
			Help: "spacing of generated events: constant or poisson (random)"},
		{Name: "workers", Flag: "workers", Label: "Workers", Type: Integer, Min: bound(1), Max: bound(MaxWorkers),
			Default: d.Workers, Live: true, PerNode: true,
			Help: "events processed at once (with adaptive concurrency: at most)"},
		{Name: "concurrency", Hint: "adaptive learns the limit from latency", Flag: "concurrency", Label: "Concurrency", Type: String, Choices: names(Concurrencies()),
			Default: string(d.Concurrency), WorkerDefault: string(DefaultConcurrency(HTTP)), Live: true,
			Help: "fixed (--workers events at once) or adaptive (a limit between 1 and --workers learned from the latency of calls); at start adaptive with --processor http or nats, fixed otherwise; a change of processor leaves it as it is"},
		{Name: "queueCap", Flag: "queue", Label: "Queue capacity", Type: Integer, Unit: "events", Min: bound(1), Max: bound(MaxQueueCap),
			Default: d.QueueCap, Live: true, PerNode: true,
			Help: "events that may wait for a worker; when full, one is dropped as queue-full"},
		{Name: "policy", Hint: "edf: earliest deadline first", Flag: "policy", Label: "Policy", Type: String, Choices: names(Policies()),
			Default: string(d.Policy), Live: true,
			Help: "queueing and shedding: edf (earliest deadline first; under contention sheds the events least likely to finish in time), lifo (adaptive LIFO, sheds likewise), fifo (the naive baseline)"},
		{Name: "tickMs", Flag: "tick", Label: "Tick", Type: Number, Unit: "ms", Min: bound(MinTickMs), Max: bound(MaxTickMs),
			Default: d.TickMs, Live: true, FixedInCluster: true,
			Help: "batch period: one message per tick to every client"},

		{Name: "addr", Flag: "addr", Label: "Listen address", Type: String, Example: DefaultAddr, Default: DefaultAddr,
			Help: "listen address, host:port"},
		{Name: "token", Flag: "token", Label: "Token", Type: String, Default: "", Secret: true,
			Help: "bearer token required on every write (POST /api/events, PATCH /api/config); prefer ONTIME_TOKEN, which ps does not show. Without one, writes are accepted only from this machine, not through a proxy, and a server on a non-loopback address or with --public-url or --trust-proxy refuses them all"},
		{Name: "writeRate", Flag: "write-rate", Label: "Write rate", Type: Number, Unit: "writes/s", Min: bound(0), ZeroMeans: "no limit", Default: float64(DefaultWriteRate),
			Help: "writes per second per client address (burst twice that)"},
		{Name: "pprof", Flag: "pprof", Label: "Profiling", Type: Boolean, Default: false,
			Help: "serve Go profiles under /debug/pprof/ (exposes internals: keep it on loopback)"},
		{Name: "maxBody", Flag: "max-body", Label: "Largest body", Type: Integer, Unit: "bytes", Min: bound(1), Max: bound(MaxMaxBody), Default: DefaultMaxBody,
			Help: "largest POST /api/events body"},
		{Name: "historyBytes", Flag: "history-bytes", Label: "Resume history", Type: Integer, Unit: "bytes", Min: bound(MinHistoryBytes), Max: bound(MaxHistoryBytes), Default: DefaultHistoryBytes,
			Help: "bytes of encoded batches kept for clients that resume (besides at most 600 batches); the oldest go first"},
		{Name: "maxClients", Flag: "max-clients", Label: "Clients per transport", Type: Integer, Min: bound(1), Max: bound(MaxMaxClients), Default: DefaultMaxClients,
			Help: "clients per transport (SSE, page, WebSocket); beyond it 503 with Retry-After"},
		{Name: "allowedOrigins", Flag: "allowed-origins", Label: "Allowed origins", Type: String, Example: "https://example.com", Default: "",
			Help: "comma-separated origins (scheme://host:port) allowed to open /ws besides the server's own; * for any"},
		{Name: "queueBytes", Flag: "queue-bytes", Label: "Queue bytes", Type: Integer, Unit: "bytes", Min: bound(MinQueueBytes), Max: bound(MaxQueueBytes), Default: DefaultQueueBytes,
			Help: "bytes the events waiting in the queue may hold, payloads plus 384 bytes each; when full, one is dropped as queue-full. Bounds the queue's memory as --queue bounds its length"},
		{Name: "outcomes", Flag: "outcomes", Label: "Outcomes kept", Type: Integer, Unit: "events", Min: bound(1), Max: bound(MaxOutcomes), Default: DefaultOutcomes,
			Help: "events whose outcome is kept (also at most the last 60 s) for GET /api/events/{id}, POST /api/events?wait=1 and duplicate ids"},
		{Name: "nats", Flag: "nats", Label: "NATS URL", Type: String, Example: "nats://127.0.0.1:4222", Default: "",
			Help: "NATS server URL(s), comma-separated: run as one node of a cluster that shares events and serves the same batches on every node; empty for one self-contained node"},
		{Name: "nodeId", Flag: "node-id", Label: "Node id", Type: String, MaxLength: MaxNodeID, Default: "",
			Help: "this node's id in a cluster: unique and stable across restarts (empty: hostname:port)"},
		{Name: "tlsCert", Flag: "tls-cert", Label: "TLS certificate", Type: String, Default: "",
			Help: "serve HTTPS (HTTP/2 and HTTP/1.1) with this PEM certificate file (chain first); needs --tls-key; reloaded when the file changes or on SIGHUP"},
		{Name: "tlsKey", Flag: "tls-key", Label: "TLS key", Type: String, Default: "",
			Help: "the PEM private key file of --tls-cert"},
		{Name: "publicUrl", Flag: "public-url", Label: "Public URL", Type: String, Example: "https://ontime.example.com", Default: "",
			Help: "the origin users type to reach the server, e.g. https://ontime.example.com behind a proxy: accepted as Host on writes and /ws, allowed as Origin on /ws, and printed at start"},
		{Name: "trustProxy", Flag: "trust-proxy", Label: "Trusted proxies", Type: String, Example: "127.0.0.1/32", Default: "",
			Help: "comma-separated CIDRs of proxies whose X-Forwarded-For, Forwarded and X-Real-IP are believed, so rate limits and logs see the real client"},
		{Name: "logLevel", Flag: "log-level", Label: "Log level", Type: String, Choices: LogLevels(), Default: "info",
			Help: "log level"},
	}
	for i := range specs {
		specs[i].Env = EnvName(specs[i].Flag)
	}
	return specs
}

// Get returns the value of the live setting with that JSON name: a
// float64, an int or a string.
func (s Settings) Get(name string) (any, bool) {
	f, ok := field(name)
	if !ok {
		return nil, false
	}
	switch v := reflect.ValueOf(s).Field(f.index); v.Kind() {
	case reflect.Float64:
		return v.Float(), true
	case reflect.Int:
		return int(v.Int()), true
	default:
		return v.String(), true
	}
}

// Addr returns a pointer to the live setting with that JSON name, for a
// caller that fills settings by name (the command line): a *float64, an
// *int, or a pointer to a string kind.
func (s *Settings) Addr(name string) (any, bool) {
	f, ok := field(name)
	if !ok {
		return nil, false
	}
	return reflect.ValueOf(s).Elem().Field(f.index).Addr().Interface(), true
}

// Lookup returns the spec of the setting with that JSON name.
func Lookup(name string) (Spec, bool) {
	for _, s := range Specs() {
		if s.Name == name {
			return s, true
		}
	}
	return Spec{}, false
}

// CheckRange says with a *FieldError whether v is within the range of the
// setting with that JSON name; nil for a name without range.
func CheckRange(name string, v any) error {
	s, ok := Lookup(name)
	if !ok {
		return nil
	}
	return s.Check(v)
}

// Schema is the answer of GET /api/config/schema: every setting as Specs
// describes it.
type Schema struct {
	// Settings are the specs, the live ones first.
	Settings []Spec `json:"settings"`
	// MaxPatchBytes bounds a PATCH /api/config body.
	MaxPatchBytes int `json:"maxPatchBytes"`
}

// TheSchema returns the schema of the settings.
func TheSchema() Schema { return Schema{Settings: Specs(), MaxPatchBytes: MaxPatchBytes} }
