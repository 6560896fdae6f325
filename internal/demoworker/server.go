// Package demoworker is a demo worker for ontime's http processor: it
// serves POST /work with a capacity a user can dial, so that ontime's
// deadline handling and adaptive concurrency can be watched (and
// benchmarked) against a service whose capacity ontime does not know.
//
// The model: Slots calls are served at once, each for a service time drawn
// around ServiceMs; calls beyond that wait in a FIFO of at most Queue calls
// (full: 503), so latency grows with load the way real services behave. A
// call whose caller hangs up (ontime cancels at the deadline) or whose
// Ontime-Timeout-Ms runs out leaves the FIFO or its slot at once. FailRate
// answers that fraction of calls 503 at once. GET /stats reports counters
// (including calls that arrived with no time left) and PATCH /config
// changes the capacity live. The worker contract is in docs/workers.md.
package demoworker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	json "github.com/go-json-experiment/json/v1"

	"github.com/ontime-rt/ontime/internal/httperr"
	"github.com/ontime-rt/ontime/internal/worker"
)

// Limits on what the worker accepts.
const (
	// maxEventBody bounds a POST /work body: an event is a few hundred
	// bytes plus a payload of at most 4 KiB.
	maxEventBody = 64 << 10
	// maxConfigBody bounds a PATCH /config body.
	maxConfigBody = 4 << 10
	// MaxSlots bounds the slots a PATCH /config or --slots may ask for.
	MaxSlots = 10_000
	// MaxServiceMs bounds the mean service time, as ontime bounds deadlines.
	MaxServiceMs = 60_000
	// MaxQueue bounds the FIFO.
	MaxQueue = 1_000_000
)

// budgetGrace is how long past its Ontime-Timeout-Ms a call may last
// before the worker gives up on it by itself.
const budgetGrace = 50 * time.Millisecond

// Result modes: what a served call answers.
const (
	ResultStats = "stats" // {"worker","id","slot","waitedMs","servedMs"}
	ResultEcho  = "echo"  // {"worker","id","payload"}
	ResultEmpty = "empty" // 204, no body
)

// counters are what GET /stats reports, besides the model's load.
type counters struct {
	received   atomic.Int64 // POST /work calls
	served     atomic.Int64 // answered 200 after their service time
	noTimeLeft atomic.Int64 // arrived with Ontime-Timeout-Ms <= 0 or past Ontime-Deadline
	cancelled  atomic.Int64 // left the FIFO or their slot when the caller went or their budget ran out
	failed     atomic.Int64 // answered 503 by the failure rate
	queueFull  atomic.Int64 // answered 503: the FIFO was full
	badRequest atomic.Int64 // answered 400: not an event
}

// Stats is the body of GET /stats: counters since start, the load now
// and the settings in force.
type Stats struct {
	Received   int64 `json:"received"`
	Served     int64 `json:"served"`
	NoTimeLeft int64 `json:"noTimeLeft"`
	Cancelled  int64 `json:"cancelled"`
	Failed     int64 `json:"failed"`
	QueueFull  int64 `json:"queueFull"`
	BadRequest int64 `json:"badRequest"`
	Busy       int   `json:"busy"`
	Queued     int   `json:"queued"`
	Capacity
	QueueCap int `json:"queueCap"`
}

// Config configures a Worker. Zero fields take the defaults.
type Config struct {
	// Name is the worker's name in its answers. Default "demo".
	Name string
	// Capacity is the capacity at start. Slots must be in [1, MaxSlots],
	// ServiceMs in [0, MaxServiceMs], FailRate in [0, 1]; Dist defaults
	// to Fixed.
	Capacity Capacity
	// Queue is how many calls may wait for a slot, in FIFO order, in
	// [0, MaxQueue]; 0 is no waiting (a call finding every slot busy is
	// answered 503).
	Queue int
	// Result is what a served call answers: ResultStats (the default),
	// ResultEcho or ResultEmpty.
	Result string
	// Log receives a line per capacity change and per summary, and every
	// call at debug level. Default: discarded.
	Log *slog.Logger
	// Now is the clock Ontime-Deadline is checked against. Default
	// time.Now.
	Now func() time.Time
	// Rand draws service times and failures, uniform in [0, 1) and safe
	// for concurrent use. Default math/rand/v2's Float64.
	Rand func() float64
}

// Worker is the demo worker: its model and its HTTP routes. It is safe
// for concurrent use.
type Worker struct {
	name   string
	result string
	now    func() time.Time
	log    *slog.Logger
	model  *model
	count  counters
	// warned: the first call with no time left was logged at warn; later
	// ones are counted in the periodic summary.
	warned atomic.Bool
}

// New checks cfg and returns a worker. It serves nothing until its
// Handler is.
func New(cfg Config) (*Worker, error) {
	if cfg.Name == "" {
		cfg.Name = "demo"
	}
	if cfg.Capacity.Dist == "" {
		cfg.Capacity.Dist = Fixed
	}
	if cfg.Result == "" {
		cfg.Result = ResultStats
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	var errs []error
	if err := cfg.Capacity.Validate(); err != nil {
		errs = append(errs, err)
	}
	if cfg.Queue < 0 || cfg.Queue > MaxQueue {
		errs = append(errs, fmt.Errorf("queue %d: want 0 (no waiting) to %d", cfg.Queue, MaxQueue))
	}
	switch cfg.Result {
	case ResultStats, ResultEcho, ResultEmpty:
	default:
		errs = append(errs, fmt.Errorf("result %q: want %s, %s or %s", cfg.Result, ResultStats, ResultEcho, ResultEmpty))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("demoworker: %w", err)
	}
	return &Worker{
		name:   cfg.Name,
		result: cfg.Result,
		now:    cfg.Now,
		log:    cfg.Log,
		model:  newModel(cfg.Capacity, cfg.Queue, cfg.Rand),
	}, nil
}

// Capacity returns the capacity in force.
func (s *Worker) Capacity() Capacity { return s.model.capacity() }

// SetCapacity changes the capacity, as PATCH /config does: more slots
// serve waiting calls at once, fewer take effect as busy slots free up.
func (s *Worker) SetCapacity(c Capacity) error {
	if c.Dist == "" {
		c.Dist = Fixed
	}
	if err := c.Validate(); err != nil {
		return err
	}
	s.model.setCapacity(c)
	s.log.Info("capacity changed", "slots", c.Slots, "serviceMs", c.ServiceMs, "dist", c.Dist, "failRate", c.FailRate)
	return nil
}

// PerSecond is the calls per second the slots can serve, 0 when service
// is instant (unbounded).
func (c Capacity) PerSecond() float64 {
	if c.ServiceMs <= 0 {
		return 0
	}
	return float64(c.Slots) * 1000 / c.ServiceMs
}

// Handler serves the worker's routes: POST /work, GET /stats, GET and
// PATCH /config.
func (s *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /work", s.work)
	mux.HandleFunc("GET /stats", s.getStats)
	mux.HandleFunc("GET /config", s.getConfig)
	mux.HandleFunc("PATCH /config", s.patchConfig)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httperr.Write(w, http.StatusNotFound, "no such route: POST /work, GET /stats, GET or PATCH /config")
	})
	return mux
}

// budget reads the deadline headers: the time left by the caller's count
// (Ontime-Timeout-Ms), and whether the call came with no time left by
// either header. ok is false when the call has no deadline headers.
func (s *Worker) budget(r *http.Request) (left time.Duration, none, ok bool, err error) {
	if v := r.Header.Get(worker.HeaderDeadline); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false, false, fmt.Errorf("%s %q: want Unix milliseconds", worker.HeaderDeadline, v)
		}
		none = !s.now().Before(time.UnixMilli(ms))
		ok = true
	}
	if v := r.Header.Get(worker.HeaderTimeout); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, false, false, fmt.Errorf("%s %q: want whole milliseconds", worker.HeaderTimeout, v)
		}
		left = time.Duration(ms) * time.Millisecond
		none = none || ms <= 0
		ok = true
	}
	return left, none, ok, nil
}

func (s *Worker) work(w http.ResponseWriter, r *http.Request) {
	s.count.received.Add(1)
	// Read the body first: net/http notices a caller that hangs up (ontime
	// cancelling at the deadline) only once the body has been read.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBody))
	if err != nil {
		s.count.badRequest.Add(1)
		httperr.Write(w, http.StatusBadRequest, fmt.Sprintf("reading the event: %v", err))
		return
	}
	var ev worker.Request
	if err := json.Unmarshal(body, &ev); err != nil {
		s.count.badRequest.Add(1)
		httperr.Write(w, http.StatusBadRequest, fmt.Sprintf("the body is not an event: %v", err))
		return
	}
	left, none, hasBudget, err := s.budget(r)
	if err != nil {
		s.count.badRequest.Add(1)
		httperr.Write(w, http.StatusBadRequest, err.Error())
		return
	}
	if none {
		s.count.noTimeLeft.Add(1)
		lvl := slog.LevelDebug
		if s.warned.CompareAndSwap(false, true) {
			lvl = slog.LevelWarn
		}
		s.log.Log(r.Context(), lvl, "call arrived with no time left (later ones are counted in the summary)", "id", ev.ID,
			"timeoutMs", r.Header.Get(worker.HeaderTimeout), "deadline", r.Header.Get(worker.HeaderDeadline))
		httperr.Write(w, http.StatusGatewayTimeout, "no time left")
		return
	}
	if s.model.shouldFail() {
		s.count.failed.Add(1)
		s.log.Debug("failing", "id", ev.ID)
		httperr.Write(w, http.StatusServiceUnavailable, "failed on purpose (fail rate)")
		return
	}
	ctx := r.Context()
	if hasBudget {
		// Give up once the budget is spent, even if the caller stays
		// (a proxy in between may not pass its hang-up on): past it the
		// answer is worth nothing. With grace, so that with ontime
		// calling directly its hang-up at the deadline comes first and
		// the call ends as ontime's cancellation, not as this 504.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, left+budgetGrace)
		defer cancel()
	}
	c, err := s.model.serve(ctx)
	switch {
	case errors.Is(err, errQueueFull):
		s.count.queueFull.Add(1)
		s.log.Debug("queue full", "id", ev.ID)
		httperr.Write(w, http.StatusServiceUnavailable, "queue full")
		return
	case err != nil:
		s.count.cancelled.Add(1)
		s.log.Debug("cancelled", "id", ev.ID, "waitedMs", ms(c.waited), "servedMs", ms(c.served), "cause", cause(r, err))
		// Nobody reads this when the caller hung up; a caller that
		// stayed past its budget learns why.
		httperr.Write(w, http.StatusGatewayTimeout, "no time left: "+cause(r, err))
		return
	}
	s.count.served.Add(1)
	s.log.Debug("served", "id", ev.ID, "slot", c.slot, "waitedMs", ms(c.waited), "servedMs", ms(c.served))
	switch s.result {
	case ResultEmpty:
		w.WriteHeader(http.StatusNoContent)
	case ResultEcho:
		payload := ev.Payload
		if payload == nil {
			payload = json.RawMessage("null")
		}
		writeJSON(w, http.StatusOK, map[string]any{"worker": s.name, "id": ev.ID, "payload": payload})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"worker": s.name, "id": ev.ID, "slot": c.slot,
			"waitedMs": ms(c.waited), "servedMs": ms(c.served)})
	}
}

// cause says why a call was cut short.
func cause(r *http.Request, err error) string {
	if r.Context().Err() != nil {
		return "the caller hung up"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "Ontime-Timeout-Ms ran out"
	}
	return err.Error()
}

// Stats returns the counters, the load and the settings in force.
func (s *Worker) Stats() Stats {
	busy, queued := s.model.load()
	return Stats{
		Received:   s.count.received.Load(),
		Served:     s.count.served.Load(),
		NoTimeLeft: s.count.noTimeLeft.Load(),
		Cancelled:  s.count.cancelled.Load(),
		Failed:     s.count.failed.Load(),
		QueueFull:  s.count.queueFull.Load(),
		BadRequest: s.count.badRequest.Load(),
		Busy:       busy,
		Queued:     queued,
		Capacity:   s.model.capacity(),
		QueueCap:   s.model.queueCap,
	}
}

func (s *Worker) getStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Stats())
}

func (s *Worker) getConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.model.capacity())
}

// configPatch is the body of PATCH /config: the fields to change.
type configPatch struct {
	Slots     *int     `json:"slots"`
	ServiceMs *float64 `json:"serviceMs"`
	Dist      *string  `json:"dist"`
	FailRate  *float64 `json:"failRate"`
}

func (s *Worker) patchConfig(w http.ResponseWriter, r *http.Request) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxConfigBody))
	dec.DisallowUnknownFields()
	var p configPatch
	if err := dec.Decode(&p); err != nil {
		httperr.Write(w, http.StatusBadRequest, fmt.Sprintf("want a JSON object with any of slots, serviceMs, dist, failRate: %v", err))
		return
	}
	if dec.More() {
		httperr.Write(w, http.StatusBadRequest, "want a single JSON object")
		return
	}
	c := s.model.capacity()
	if p.Slots != nil {
		c.Slots = *p.Slots
	}
	if p.ServiceMs != nil {
		c.ServiceMs = *p.ServiceMs
	}
	if p.FailRate != nil {
		c.FailRate = *p.FailRate
	}
	if p.Dist != nil {
		d, err := ParseDist(*p.Dist)
		if err != nil {
			httperr.Write(w, http.StatusBadRequest, "dist: "+err.Error())
			return
		}
		c.Dist = d
	}
	if err := s.SetCapacity(c); err != nil {
		httperr.Write(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// Validate checks settings, naming the fields as PATCH /config does.
func (c Capacity) Validate() error {
	var errs []error
	if _, err := ParseDist(string(c.Dist)); err != nil {
		errs = append(errs, fmt.Errorf("dist: %w", err))
	}
	if c.Slots < 1 || c.Slots > MaxSlots {
		errs = append(errs, fmt.Errorf("slots %d: want 1 to %d", c.Slots, MaxSlots))
	}
	if !(c.ServiceMs >= 0 && c.ServiceMs <= MaxServiceMs) {
		errs = append(errs, fmt.Errorf("serviceMs %g: want 0 to %d", c.ServiceMs, MaxServiceMs))
	}
	if !(c.FailRate >= 0 && c.FailRate <= 1) {
		errs = append(errs, fmt.Errorf("failRate %g: want 0 to 1", c.FailRate))
	}
	return errors.Join(errs...)
}

// Summarize logs what the worker saw since the last summary, every period,
// until ctx ends; quiet periods log nothing.
func (s *Worker) Summarize(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	var last Stats
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.Stats()
		if now.Received == last.Received {
			continue
		}
		s.log.Info("summary", "received", now.Received-last.Received, "served", now.Served-last.Served,
			"noTimeLeft", now.NoTimeLeft-last.NoTimeLeft, "cancelled", now.Cancelled-last.Cancelled,
			"failed", now.Failed-last.Failed, "queueFull", now.QueueFull-last.QueueFull,
			"busy", now.Busy, "queued", now.Queued, "slots", now.Slots)
		last = now
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The caller may be gone; there is no one left to tell.
	_ = json.NewEncoder(w).Encode(v)
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
