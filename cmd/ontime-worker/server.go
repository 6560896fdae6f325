package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

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
	// maxSlots bounds the slots a PATCH /config or --slots may ask for.
	maxSlots = 10_000
	// maxServiceMs bounds the mean service time, as ontime bounds deadlines.
	maxServiceMs = 60_000
	// maxQueue bounds the FIFO.
	maxQueue = 1_000_000
)

// budgetGrace is how long past its Ontime-Timeout-Ms a call may last
// before the worker gives up on it by itself.
const budgetGrace = 50 * time.Millisecond

// Result modes: what a served call answers.
const (
	resultStats = "stats" // {"worker","id","slot","waitedMs","servedMs"}
	resultEcho  = "echo"  // {"worker","id","payload"}
	resultEmpty = "empty" // 204, no body
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

// stats is the body of GET /stats.
type stats struct {
	Received   int64 `json:"received"`
	Served     int64 `json:"served"`
	NoTimeLeft int64 `json:"noTimeLeft"`
	Cancelled  int64 `json:"cancelled"`
	Failed     int64 `json:"failed"`
	QueueFull  int64 `json:"queueFull"`
	BadRequest int64 `json:"badRequest"`
	Busy       int   `json:"busy"`
	Queued     int   `json:"queued"`
	capacity
	QueueCap int `json:"queueCap"`
}

// server serves the demo worker's routes.
type server struct {
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

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /work", s.work)
	mux.HandleFunc("GET /stats", s.stats)
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
func (s *server) budget(r *http.Request) (left time.Duration, none, ok bool, err error) {
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

func (s *server) work(w http.ResponseWriter, r *http.Request) {
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
	case resultEmpty:
		w.WriteHeader(http.StatusNoContent)
	case resultEcho:
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

func (s *server) snapshot() stats {
	busy, queued := s.model.load()
	return stats{
		Received:   s.count.received.Load(),
		Served:     s.count.served.Load(),
		NoTimeLeft: s.count.noTimeLeft.Load(),
		Cancelled:  s.count.cancelled.Load(),
		Failed:     s.count.failed.Load(),
		QueueFull:  s.count.queueFull.Load(),
		BadRequest: s.count.badRequest.Load(),
		Busy:       busy,
		Queued:     queued,
		capacity:   s.model.capacity(),
		QueueCap:   s.model.queueCap,
	}
}

func (s *server) stats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.snapshot())
}

func (s *server) getConfig(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.model.capacity())
}

// configPatch is the body of PATCH /config: the fields to change.
type configPatch struct {
	Slots     *int     `json:"slots"`
	ServiceMs *float64 `json:"serviceMs"`
	Dist      *string  `json:"dist"`
	FailRate  *float64 `json:"failRate"`
}

func (s *server) patchConfig(w http.ResponseWriter, r *http.Request) {
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
		d, err := parseDist(*p.Dist)
		if err != nil {
			httperr.Write(w, http.StatusBadRequest, "dist: "+err.Error())
			return
		}
		c.Dist = d
	}
	if err := c.validate(); err != nil {
		httperr.Write(w, http.StatusBadRequest, err.Error())
		return
	}
	s.model.setCapacity(c)
	s.log.Info("capacity changed", "slots", c.Slots, "serviceMs", c.ServiceMs, "dist", c.Dist, "failRate", c.FailRate)
	writeJSON(w, http.StatusOK, c)
}

// validate checks settings, naming the fields as PATCH /config does.
func (c capacity) validate() error {
	var errs []error
	if c.Slots < 1 || c.Slots > maxSlots {
		errs = append(errs, fmt.Errorf("slots %d: want 1 to %d", c.Slots, maxSlots))
	}
	if !(c.ServiceMs >= 0 && c.ServiceMs <= maxServiceMs) {
		errs = append(errs, fmt.Errorf("serviceMs %g: want 0 to %d", c.ServiceMs, maxServiceMs))
	}
	if !(c.FailRate >= 0 && c.FailRate <= 1) {
		errs = append(errs, fmt.Errorf("failRate %g: want 0 to 1", c.FailRate))
	}
	return errors.Join(errs...)
}

// summarize logs what the worker saw since the last summary, every period,
// until ctx ends; quiet periods log nothing.
func (s *server) summarize(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	var last stats
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.snapshot()
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
