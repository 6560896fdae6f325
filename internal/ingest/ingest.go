// Package ingest is the HTTP intake of external events: POST /api/events
// takes one JSON event, a JSON array of them, or NDJSON, validates each
// event and submits the valid ones to the pipeline as they arrive.
//
// Bodies are streamed: arrays are decoded element by element and NDJSON
// line by line, so an event is submitted before the rest of the body has
// arrived and a large body never sits in memory. The price is that a batch
// cannot be refused whole once it has started: an error found part-way
// (malformed JSON in an array, a body over the size limit, too many events)
// ends the request, but the events before it were already submitted, and
// the error response says how many, with the same counts as a success.
//
// Every event ends in exactly one bucket of the response: accepted
// (queued), dropped (submitted but refused by backpressure; the pipeline
// has already counted it) or rejected (invalid, never submitted, so no
// pipeline counter moves).
//
// With an outcome window (Config.Outcomes) an id seen within it is rejected
// as a duplicate, and wait=1 streams each accepted event's outcome.
package ingest

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/go-json-experiment/json/v1"
	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/httperr"
	"github.com/ontime-rt/ontime/internal/outcomes"
)

// Submitter takes events into processing. It must not block: it reports at
// once whether the event was queued, and if not, why it was dropped.
// *pipeline.Pipeline satisfies it.
type Submitter interface {
	Submit(ev event.Event) (bool, event.Reason)
}

// Syncer is a Submitter that can wait until the events it took are safe
// from its own failure (cluster mode: on the NATS server, see
// cluster.EventBus.Confirmed). When the Submitter implements it, a request
// is answered after one Sync that follows its last event.
type Syncer interface {
	Sync()
}

// Outcomes is the window of recent outcomes: it tells ids already seen and
// hands final outcomes to the waiters of wait=1 requests.
// *outcomes.Store satisfies it.
type Outcomes interface {
	// Claim records id as in flight and registers w (when not nil) for
	// its outcome; false when id was already seen within the window.
	Claim(id uuid.UUID, w *outcomes.Waiter) bool
	// NewWaiter returns a waiter for one request.
	NewWaiter() *outcomes.Waiter
}

// Config configures a Handler. Zero (or negative) fields take the default
// stated on each.
type Config struct {
	// MaxBody is the largest request body read, in bytes. A body that
	// declares a larger Content-Length is refused before any of it is read;
	// one that turns out larger while streaming ends with 413 after the
	// events before the limit. Default 1 MiB.
	MaxBody int64
	// MaxEvents is the most events (valid or not) one request may carry.
	// Reading stops at the next one, with 413. Default 10000.
	MaxEvents int
	// MaxFuture is how far ahead of Now an event's createdAt may be.
	// Default 5s.
	MaxFuture time.Duration
	// MaxPayload is the largest payload of one event, in raw bytes as sent.
	// Default 4 KiB.
	MaxPayload int
	// MaxDepth is how deeply a payload may nest arrays and objects.
	// Default 32.
	MaxDepth int
	// MaxRejected is how many rejections the response lists one by one;
	// rejectedCount still counts them all. Default 100.
	MaxRejected int
	// Now is the clock that stamps events without createdAt and that skew is
	// measured against. It must agree with the pipeline's clock, or every
	// deadline shifts by the difference. Default time.Now.
	Now func() time.Time
	// Logger logs a summary of each request at debug level (client mistakes
	// are the client's to see, not the operator's). Default slog.Default().
	Logger *slog.Logger
	// Outcomes, when set, refuses ids already seen within its window
	// (duplicate id) and serves wait=1. Nil: neither (wait=1 gets 400).
	Outcomes Outcomes
	// WaitGrace is how long after the latest deadline of its events a
	// wait=1 response waits for outcomes still missing. Default 1s.
	WaitGrace time.Duration
	// WriteTimeout bounds each write of a wait=1 response, so a client
	// that stops reading ends its response. Default 5s.
	WriteTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.MaxBody <= 0 {
		c.MaxBody = 1 << 20
	}
	if c.MaxEvents <= 0 {
		c.MaxEvents = 10000
	}
	if c.MaxRejected <= 0 {
		c.MaxRejected = 100
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.WaitGrace <= 0 {
		c.WaitGrace = time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 5 * time.Second
	}
	return c
}

// Handler serves POST /api/events. It is safe for concurrent use.
type Handler struct {
	cfg  Config
	dcfg DecodeConfig
	sub  Submitter

	requests, accepted, dropped, rejected atomic.Int64

	skewMu sync.Mutex
	skew   skewAcc
}

// New returns a handler that submits valid events to sub, which must not
// be nil.
func New(cfg Config, sub Submitter) *Handler {
	if sub == nil {
		panic("ingest: nil Submitter")
	}
	cfg = cfg.withDefaults()
	dcfg := DecodeConfig{MaxFuture: cfg.MaxFuture, MaxPayload: cfg.MaxPayload, MaxDepth: cfg.MaxDepth, Now: cfg.Now}.withDefaults()
	cfg.MaxFuture, cfg.MaxPayload, cfg.MaxDepth = dcfg.MaxFuture, dcfg.MaxPayload, dcfg.MaxDepth
	return &Handler{cfg: cfg, dcfg: dcfg, sub: sub}
}

// Response is the body of every answer to a request whose body was read,
// success or not. Error is set, and the status is 4xx, when the request
// ended early or its single event was rejected; the counts then still say
// what happened to the events before that point.
type Response struct {
	// Error is why the request failed; empty on success. It makes the body a
	// superset of httperr.Body, so clients read every error the same way.
	Error string `json:"error,omitempty"`
	// Accepted counts the events the pipeline queued.
	Accepted int `json:"accepted"`
	// Dropped counts the events submitted but refused by backpressure.
	Dropped int `json:"dropped"`
	// DroppedBy splits Dropped by reason.
	DroppedBy map[event.Reason]int `json:"droppedBy"`
	// Rejected lists the first invalid events (never submitted), in order.
	Rejected []Rejection `json:"rejected"`
	// RejectedCount counts every invalid event, listed or not.
	RejectedCount int `json:"rejectedCount"`
	// IDs are the ids of the accepted events, in body order: those sent,
	// and those assigned to events sent without one.
	IDs []uuid.UUID `json:"ids"`
}

// Missing is the last line of a wait=1 response that ended before every
// accepted event's outcome reached this node.
type Missing struct {
	// Missing lists those events' ids, in body order.
	Missing []uuid.UUID `json:"missing"`
}

// Rejection is one invalid event.
type Rejection struct {
	// Index is the event's 0-based index in the array (0 for a single
	// object), or its 0-based line number in NDJSON, counting empty lines.
	Index int `json:"index"`
	// Error says what is wrong with it.
	Error string `json:"error"`
}

// reasonUnknown stands in for a drop whose Submitter gave no reason, so the
// droppedBy key is never the empty string.
const reasonUnknown event.Reason = "unknown"

// ServeHTTP decodes the request body and submits each valid event as soon
// as it has been read. It answers 202 with a Response once the body has been
// read through, whatever became of the events (a lone object that is invalid
// gets 400 instead); 400 or 413 with a Response when the body ends the
// request early; 405, 415, an early 413 or a bad wait with httperr's body
// before any of the body is read. With wait=1, what would be a 202 is a 200
// NDJSON stream instead: the Response, then each accepted event's outcome as
// it finishes (see stream).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httperr.Write(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed; POST events here", r.Method))
		return
	}
	format, msg := contentFormat(r.Header)
	if msg != "" {
		httperr.Write(w, http.StatusUnsupportedMediaType, msg)
		return
	}
	wait, msg := waitParam(r)
	if msg == "" && wait && h.cfg.Outcomes == nil {
		msg = "wait is not available on this server"
	}
	if msg != "" {
		httperr.Write(w, http.StatusBadRequest, msg)
		return
	}
	h.requests.Add(1)
	if r.ContentLength > h.cfg.MaxBody {
		httperr.Write(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes is larger than the %d allowed", r.ContentLength, h.cfg.MaxBody))
		return
	}
	body := http.MaxBytesReader(w, r.Body, h.cfg.MaxBody)
	dec := NewDecoder(body, format, h.dcfg)
	res := Response{DroppedBy: map[event.Reason]int{}, Rejected: []Rejection{}, IDs: []uuid.UUID{}}
	status, fail := http.StatusAccepted, ""
	var waiter *outcomes.Waiter
	if wait {
		waiter = h.cfg.Outcomes.NewWaiter()
		defer waiter.Close()
	}
	var latest time.Time // the latest deadline of the accepted events
	for n := 0; ; n++ {
		it, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			status, fail = bodyError(err, h.cfg.MaxBody)
			break
		}
		if n == h.cfg.MaxEvents {
			status = http.StatusRequestEntityTooLarge
			fail = fmt.Sprintf("more than %d events in one request; reading stopped at index %d; the events before it were processed", h.cfg.MaxEvents, it.Index)
			break
		}
		if it.Err == nil && h.cfg.Outcomes != nil && !h.cfg.Outcomes.Claim(it.Event.ID, waiter) {
			it.Err = fmt.Errorf("duplicate id: %s was already seen within the outcome window", it.Event.ID)
		}
		if it.Err != nil {
			res.RejectedCount++
			if len(res.Rejected) < h.cfg.MaxRejected {
				res.Rejected = append(res.Rejected, Rejection{Index: it.Index, Error: it.Err.Error()})
			}
			continue
		}
		ev := it.Event
		ev.Payload = it.Payload
		ok, reason := h.sub.Submit(ev)
		if ok {
			res.Accepted++
			res.IDs = append(res.IDs, ev.ID)
			if d := ev.DeadlineAt(); d.After(latest) {
				latest = d
			}
			if it.ClientTime {
				h.recordSkew(it.Skew)
			}
			continue
		}
		if reason == event.ReasonNone {
			reason = reasonUnknown
		}
		res.Dropped++
		res.DroppedBy[reason]++
	}
	if s, ok := h.sub.(Syncer); ok && res.Accepted+res.Dropped > 0 {
		s.Sync()
	}
	// A lone object that is invalid is a failed request, not a batch with
	// one bad member: answering 202 to it would read as success.
	if fail == "" && !dec.Batch() && res.RejectedCount > 0 {
		status, fail = http.StatusBadRequest, res.Rejected[0].Error
	}
	res.Error = fail
	h.accepted.Add(int64(res.Accepted))
	h.dropped.Add(int64(res.Dropped))
	h.rejected.Add(int64(res.RejectedCount))
	h.cfg.Logger.Debug("ingest", "format", format, "status", status, "accepted", res.Accepted,
		"dropped", res.Dropped, "rejected", res.RejectedCount, "error", fail, "wait", wait)
	if wait && status == http.StatusAccepted {
		h.stream(w, r, res, waiter, latest)
		return
	}
	writeResponse(w, status, res)
}

// waitParam reads the wait query parameter: 1 or true to wait, 0, false or
// absent not to; anything else is a message for a 400.
func waitParam(r *http.Request) (bool, string) {
	switch v := r.URL.Query().Get("wait"); v {
	case "", "0", "false":
		return false, ""
	case "1", "true":
		return true, ""
	default:
		return false, fmt.Sprintf("wait must be 1 or 0, got %s", strconv.Quote(v))
	}
}

// stream answers a wait=1 request whose body was read through: the
// acceptance object, then each accepted event's outcome as it finishes,
// each line flushed. It ends when every accepted event has its line; when
// the latest deadline plus WaitGrace passes or no more outcomes can come
// (the node stops), with a Missing line; or when the client leaves, which
// changes nothing for the events.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, res Response, waiter *outcomes.Waiter, latest time.Time) {
	rc := http.NewResponseController(w)
	// The body is read: the read deadline (which would cancel the request
	// when it passes) must not cut a wait that may last longer.
	_ = rc.SetReadDeadline(time.Time{})
	hd := w.Header()
	hd.Set("Content-Type", "application/x-ndjson")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	pending := make(map[uuid.UUID]struct{}, len(res.IDs))
	for _, id := range res.IDs {
		pending[id] = struct{}{}
	}
	buf, _ := json.Marshal(res)
	buf = append(buf, '\n')
	write := func() bool {
		_ = rc.SetWriteDeadline(time.Now().Add(h.cfg.WriteTimeout))
		if _, err := w.Write(buf); err != nil {
			return false
		}
		if rc.Flush() != nil {
			return false
		}
		// Over HTTP/2 a deadline that passes resets the stream even while
		// nothing is written: it must not cut the wait for the next line.
		_ = rc.SetWriteDeadline(time.Time{})
		return true
	}
	if !write() {
		return
	}
	take := func() {
		buf = buf[:0]
		for _, o := range waiter.Take() {
			// Outcomes of events dropped at submission (not accepted)
			// come too; only the accepted get a line.
			if _, ok := pending[o.ID]; ok {
				delete(pending, o.ID)
				buf = o.AppendJSON(buf)
				buf = append(buf, '\n')
			}
		}
	}
	timer := time.NewTimer(latest.Add(h.cfg.WaitGrace).Sub(h.cfg.Now()))
	defer timer.Stop()
	for len(pending) > 0 {
		select {
		case <-waiter.Ready():
			if take(); len(buf) > 0 && !write() {
				return
			}
			continue
		case <-r.Context().Done():
			return
		case <-timer.C:
		case <-waiter.Closed():
		}
		// Out of time: what came last, then what is missing.
		if take(); len(buf) > 0 && !write() {
			return
		}
		if len(pending) == 0 {
			return
		}
		m := Missing{Missing: make([]uuid.UUID, 0, len(pending))}
		for _, id := range res.IDs {
			if _, ok := pending[id]; ok {
				m.Missing = append(m.Missing, id)
			}
		}
		buf, _ = json.Marshal(m)
		buf = append(buf, '\n')
		write()
		return
	}
}

// bodyError maps an error that ended the body to a status and message:
// 413 for the size limit, 400 for everything else (ErrEmptyBody, a
// *SyntaxError, or a body cut short by the client).
func bodyError(err error, limit int64) (int, string) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than the %d bytes allowed; the events before the limit were processed", limit)
	}
	return http.StatusBadRequest, err.Error()
}

// contentFormat picks the format from Content-Type, or says why the body
// cannot be read.
func contentFormat(h http.Header) (Format, string) {
	if enc := h.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return 0, fmt.Sprintf("Content-Encoding %q is not supported; send the body uncompressed", enc)
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		return 0, "Content-Type is required: application/json or application/x-ndjson"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return 0, fmt.Sprintf("malformed Content-Type %q: %v", ct, err)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return 0, fmt.Sprintf("charset %q is not supported; events must be UTF-8", cs)
	}
	switch mt {
	case "application/json":
		return JSON, ""
	case "application/x-ndjson":
		return NDJSON, ""
	}
	return 0, fmt.Sprintf("Content-Type %q is not supported: use application/json or application/x-ndjson", mt)
}

func writeResponse(w http.ResponseWriter, status int, res Response) {
	// The same headers as httperr.Write, since error answers go through here
	// too.
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// The client may be gone; there is no one left to tell.
	_ = json.NewEncoder(w).Encode(res)
}

// Stats are totals since the handler was made.
type Stats struct {
	// Requests counts requests with a supported content type.
	Requests int64 `json:"requests"`
	// Accepted, Dropped and Rejected count events as in Response. Rejected
	// events appear in no pipeline counter, so this is the only place they
	// are counted.
	Accepted int64 `json:"accepted"`
	Dropped  int64 `json:"dropped"`
	Rejected int64 `json:"rejected"`
	// Skew is the clock skew seen in createdAt.
	Skew SkewStats `json:"skew"`
}

// SkewStats describes server clock minus createdAt over the accepted
// events that set createdAt. Rejected events are left out, since their
// createdAt may be what is wrong with them (in seconds, or far ahead), and
// so are dropped ones, among them the events already expired on arrival
// because of an old createdAt.
// A client whose clock runs ahead shows in MaxAheadMs, up to the MaxFuture
// that is accepted; MaxBehindMs also holds network and client-side delay,
// and any deliberately old createdAt.
type SkewStats struct {
	// Samples counts the events measured.
	Samples int64 `json:"samples"`
	// MaxAheadMs is the furthest createdAt was ahead of the server clock,
	// 0 if never.
	MaxAheadMs float64 `json:"maxAheadMs"`
	// MaxBehindMs is the furthest createdAt was behind the server clock,
	// 0 if never.
	MaxBehindMs float64 `json:"maxBehindMs"`
	// MeanMs is the mean of server clock minus createdAt: positive when
	// events arrive after they say they were created.
	MeanMs float64 `json:"meanMs"`
}

type skewAcc struct {
	n                 int64
	sumMs             float64
	maxAhead, maxBehd float64
}

func (h *Handler) recordSkew(d time.Duration) {
	ms := float64(d) / float64(time.Millisecond)
	h.skewMu.Lock()
	h.skew.n++
	h.skew.sumMs += ms
	h.skew.maxBehd = math.Max(h.skew.maxBehd, ms)
	h.skew.maxAhead = math.Max(h.skew.maxAhead, -ms)
	h.skewMu.Unlock()
}

// Skew returns the clock skew seen so far.
func (h *Handler) Skew() SkewStats {
	h.skewMu.Lock()
	defer h.skewMu.Unlock()
	s := SkewStats{Samples: h.skew.n, MaxAheadMs: h.skew.maxAhead, MaxBehindMs: h.skew.maxBehd}
	if s.Samples > 0 {
		s.MeanMs = h.skew.sumMs / float64(s.Samples)
	}
	return s
}

// Stats returns totals since the handler was made.
func (h *Handler) Stats() Stats {
	return Stats{
		Requests: h.requests.Load(),
		Accepted: h.accepted.Load(),
		Dropped:  h.dropped.Load(),
		Rejected: h.rejected.Load(),
		Skew:     h.Skew(),
	}
}
