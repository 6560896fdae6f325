// Package sse serves hub frames as Server-Sent Events.
//
// One handler goroutine per client owns its connection: it waits for frames,
// writes them with a deadline per write, flushes once per wake-up, and sends
// a heartbeat comment when idle so proxies and clients can tell a quiet
// stream from a dead one. Clients resume with the standard Last-Event-ID
// header (or ?lastEventId= for clients that cannot set headers).
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/httperr"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/stream"
)

// Event is one SSE event.
type Event struct {
	ID   string
	Name string
	Data []byte
}

// AppendEvent appends e in SSE framing to dst. Every line of Data gets its
// own "data:" field, as the format requires for multi-line payloads.
func AppendEvent(dst []byte, e Event) []byte {
	if e.ID != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, e.ID...)
		dst = append(dst, '\n')
	}
	if e.Name != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, e.Name...)
		dst = append(dst, '\n')
	}
	data := e.Data
	for {
		line, rest, more := bytes.Cut(data, []byte{'\n'})
		dst = append(dst, "data: "...)
		dst = append(dst, bytes.TrimSuffix(line, []byte{'\r'})...)
		dst = append(dst, '\n')
		if !more {
			break
		}
		data = rest
	}
	return append(dst, '\n')
}

// EncodeSummary is the hub encoder for ?events=0: the batch without its
// events, for light clients.
func EncodeSummary(b *batch.Batch) ([]byte, error) {
	data, err := batch.SummaryJSON(b)
	if err != nil {
		return nil, fmt.Errorf("encode batch %d: %w", b.Seq, err)
	}
	return AppendEvent(make([]byte, 0, len(data)+64), Event{ID: strconv.FormatUint(b.Seq, 10), Name: "batch", Data: data}), nil
}

// EncodeBatch is the hub encoder for the JSON stream: one "batch" event per
// tick whose id is the seq.
func EncodeBatch(b *batch.Batch) ([]byte, error) {
	data, err := batch.JSON(b)
	if err != nil {
		return nil, fmt.Errorf("encode batch %d: %w", b.Seq, err)
	}
	return AppendEvent(make([]byte, 0, len(data)+64), Event{ID: strconv.FormatUint(b.Seq, 10), Name: "batch", Data: data}), nil
}

// Handler streams one hub format to each client.
type Handler struct {
	// Hub is the source of frames.
	Hub *hub.Hub
	// Format is the hub format written to clients; its bytes must be
	// complete SSE events.
	Format string
	// SummaryFormat, when set, is written instead of Format to clients that
	// ask for ?events=0 (batches without their events).
	SummaryFormat string
	// Gate bounds the clients; when full, new clients get 503 with
	// Retry-After. Nil admits everyone.
	Gate *hub.Gate
	// Heartbeat is the idle time after which a comment is sent, give or
	// take 20% per client so that thousands of idle clients do not all wake
	// together. Default 15s.
	Heartbeat time.Duration
	// WriteTimeout bounds every write; a client that cannot take a write in
	// that time is too slow and is disconnected. Default 5s.
	WriteTimeout time.Duration
	// Retry is the reconnection delay suggested to clients. Default 1s.
	Retry time.Duration
	// Logger reports disconnections. Default slog.Default().
	Logger *slog.Logger
}

// resumeFrom reads the resume point from Last-Event-ID or ?lastEventId=.
func resumeFrom(r *http.Request) (hub.Resume, error) {
	id := r.Header.Get("Last-Event-ID")
	if id == "" {
		id = r.URL.Query().Get("lastEventId")
	}
	if id == "" {
		return hub.Resume{}, nil
	}
	seq, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return hub.Resume{}, fmt.Errorf("last event id %q is not a batch seq (a non-negative integer)", id)
	}
	return hub.Resume{After: seq, Set: true}, nil
}

// ServeHTTP streams until the client goes or the hub closes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resume, err := resumeFrom(r)
	if err != nil {
		httperr.Write(w, http.StatusBadRequest, err.Error())
		return
	}
	format, err := stream.Format(r, h.Format, h.SummaryFormat)
	if err != nil {
		httperr.Write(w, http.StatusBadRequest, err.Error())
		return
	}
	leave, ok := stream.Admit(w, h.Gate, "stream")
	if !ok {
		return
	}
	defer leave()
	heartbeat := jittered(cmpOr(h.Heartbeat, 15*time.Second))
	writeTimeout := cmpOr(h.WriteTimeout, 5*time.Second)
	retry := cmpOr(h.Retry, time.Second)
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}

	stream.LimitSendBuffer(r)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Connection", "keep-alive")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	rc := http.NewResponseController(w)
	// The write deadline is renewed at most once a second, not per write:
	// arming it costs about a microsecond (a runtime timer), which at
	// thousands of clients and ten writes a second is a visible share of
	// the stream's CPU. A blocked write therefore ends after writeTimeout
	// minus up to a second.
	var deadlineSet, lastWrite time.Time
	write := func(p []byte) error {
		now := time.Now()
		if now.Sub(deadlineSet) >= time.Second {
			if err := rc.SetWriteDeadline(now.Add(writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return err
			}
			deadlineSet = now
		}
		_, err := w.Write(p)
		if err == nil {
			err = rc.Flush()
		}
		if isTimeout(err) {
			h.Hub.NoteSlow()
		}
		lastWrite = now
		return err
	}

	sub := h.Hub.Subscribe(resume)
	defer sub.Close()
	if err := write(fmt.Appendf(nil, "retry: %d\n\n", retry.Milliseconds())); err != nil {
		return
	}
	idle := time.NewTimer(heartbeat)
	defer idle.Stop()
	var out []byte
	for {
		select {
		case <-r.Context().Done():
			return
		case <-idle.C:
			// The timer is not reset on every write (that too costs per
			// write); when it fires, it checks how long the stream has
			// really been quiet.
			if quiet := time.Since(lastWrite); quiet < heartbeat {
				idle.Reset(heartbeat - quiet)
				continue
			}
			if err := write([]byte(": heartbeat\n\n")); err != nil {
				log.Debug("sse client gone", "err", err)
				return
			}
			idle.Reset(heartbeat)
			continue
		case <-sub.Ready():
		}
		frames, gap, err := sub.Take()
		if errors.Is(err, hub.ErrTooSlow) {
			_ = write(AppendEvent(nil, Event{Name: "error", Data: []byte(`{"error":"client too slow: it kept falling behind the stream; reconnect to resume"}`)}))
			log.Info("sse client too slow, disconnected", "remote", r.RemoteAddr)
			return
		}
		if err != nil {
			return // hub closed: the server is shutting down
		}
		out = out[:0]
		if gap && len(frames) > 0 {
			// The client missed batches that are gone; the next batch's
			// totals are a fresh snapshot.
			out = AppendEvent(out, Event{Name: "reset", Data: fmt.Appendf(nil, `{"seq":%d}`, frames[0].Seq())})
		}
		for _, f := range frames {
			out = append(out, f.Bytes(format)...)
		}
		if len(out) == 0 {
			continue
		}
		if err := write(out); err != nil {
			log.Debug("sse client gone", "err", err)
			return
		}
	}
}

// jittered spreads d by ±20%.
func jittered(d time.Duration) time.Duration {
	return d - d/5 + time.Duration(rand.Int64N(int64(d/5)*2+1))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
