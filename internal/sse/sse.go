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
	"net/http"
	"strconv"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/httperr"
	"github.com/ontime-rt/ontime/internal/hub"
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
	// Heartbeat is the idle time after which a comment is sent. Default 15s.
	Heartbeat time.Duration
	// WriteTimeout bounds every write; a client that cannot take a write in
	// that time is disconnected. Default 10s.
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
	heartbeat := cmpOr(h.Heartbeat, 15*time.Second)
	writeTimeout := cmpOr(h.WriteTimeout, 10*time.Second)
	retry := cmpOr(h.Retry, time.Second)
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Connection", "keep-alive")
	hdr.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	rc := http.NewResponseController(w)
	write := func(p []byte) error {
		if err := rc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := w.Write(p); err != nil {
			return err
		}
		return rc.Flush()
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
			if err := write([]byte(": heartbeat\n\n")); err != nil {
				log.Debug("sse client gone", "err", err)
				return
			}
			idle.Reset(heartbeat)
			continue
		case <-sub.Ready():
		}
		frames, gap, err := sub.Take()
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
			out = append(out, f.Bytes(h.Format)...)
		}
		if len(out) == 0 {
			continue
		}
		if err := write(out); err != nil {
			log.Debug("sse client gone", "err", err)
			return
		}
		idle.Reset(heartbeat)
	}
}

func cmpOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
