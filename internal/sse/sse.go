// Package sse serves hub frames as Server-Sent Events.
//
// One goroutine per client owns its connection: it waits for frames, writes
// them with a write deadline, and sends a heartbeat comment when idle so
// proxies and clients can tell a quiet stream from a dead one. Over HTTP/1.x
// the handler hands the hijacked connection to that goroutine and returns
// (see Handler.Streams); otherwise the handler's goroutine streams through
// the ResponseWriter. Clients resume with the standard Last-Event-ID header
// (or ?lastEventId= for clients that cannot set headers).
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
	Gate *stream.Gate
	// Streams, when set, takes over HTTP/1.x connections: the handler
	// hijacks the connection, writes the response itself (ended by closing
	// the connection, so without chunked framing) and returns, and a small
	// goroutine owned by Streams writes the stream. That lets go of the
	// HTTP server's per-connection buffers and goroutines (about half of
	// what a client costs). Nil, or a connection that cannot be hijacked
	// (HTTP/2), streams from the handler through the ResponseWriter.
	Streams *stream.Streams
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
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &client{
		hub:          h.Hub,
		format:       format,
		heartbeat:    jittered(cmpOr(h.Heartbeat, 15*time.Second)),
		writeTimeout: cmpOr(h.WriteTimeout, 5*time.Second),
		log:          log,
		remote:       r.RemoteAddr,
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no")
	first := fmt.Appendf(nil, "retry: %d\n\n", cmpOr(h.Retry, time.Second).Milliseconds())

	// Subscribed before the first byte goes out: a client that has the
	// response head misses no batch published after it.
	sub := h.Hub.Subscribe(resume)
	end := func() {
		sub.Close()
		leave()
	}

	if h.Streams != nil && r.ProtoMajor == 1 {
		conn, head, err := takeOver(w, first)
		switch {
		case err == nil:
			if !h.Streams.Go(conn, func(stop <-chan struct{}) {
				defer end()
				out := &sink{dst: conn, timeout: c.writeTimeout}
				if err := out.write(head); err != nil {
					c.gone(err)
					return
				}
				c.run(out, sub, stop)
			}) {
				end() // shutting down: the connection is closed
			}
			return
		case !errors.Is(err, http.ErrNotSupported):
			log.Debug("sse: cannot take the connection over", "err", err)
			end()
			return
		}
	}

	defer end()
	stream.LimitSendBuffer(r)
	if r.ProtoMajor == 1 {
		hdr.Set("Connection", "keep-alive") // HTTP/2 forbids connection headers
	}
	w.WriteHeader(http.StatusOK)
	out := &sink{dst: flushingWriter{w: w, rc: http.NewResponseController(w)}, timeout: c.writeTimeout}
	if err := out.write(first); err != nil {
		c.gone(err)
		return
	}
	c.run(out, sub, r.Context().Done())
}

// takeOver hijacks the connection and returns it with the response head
// and first bytes to write. Without chunked framing the body simply ends
// when the connection closes, so frames go to the socket as they are. It
// returns an error wrapping http.ErrNotSupported when the connection cannot
// be hijacked.
func takeOver(w http.ResponseWriter, first []byte) (net.Conn, []byte, error) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil, err
	}
	// Nothing more is read from the connection (a client going away shows
	// as a failed write), so the server's buffered reader is let go.
	stream.LimitConnSendBuffer(conn)
	hdr := w.Header().Clone()
	hdr.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	hdr.Set("Connection", "close")
	head := bytes.NewBuffer(make([]byte, 0, 512+len(first)))
	head.WriteString("HTTP/1.1 200 OK\r\n")
	_ = hdr.Write(head) // a bytes.Buffer does not fail
	head.WriteString("\r\n")
	head.Write(first)
	return conn, head.Bytes(), nil
}

// destination is where a stream's bytes go: a hijacked connection (a
// net.Conn as it is) or the ResponseWriter (flushingWriter).
type destination interface {
	Write(p []byte) (int, error)
	SetWriteDeadline(t time.Time) error
}

// flushingWriter streams through a ResponseWriter: every write is flushed,
// and a writer that cannot set deadlines (http.ErrNotSupported) streams
// without them.
type flushingWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (f flushingWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

func (f flushingWriter) SetWriteDeadline(t time.Time) error {
	if err := f.rc.SetWriteDeadline(t); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// sink writes one client's stream. The write deadline is renewed at most
// once a second, not per write: arming it costs about a microsecond (a
// runtime timer), which at thousands of clients and ten writes a second is
// a visible share of the stream's CPU. A blocked write therefore ends after
// timeout minus up to a second.
type sink struct {
	dst         destination
	timeout     time.Duration
	deadlineSet time.Time
	lastWrite   time.Time // for the heartbeat
}

func (s *sink) write(p []byte) error {
	now := time.Now()
	s.lastWrite = now
	if now.Sub(s.deadlineSet) >= time.Second {
		if err := s.dst.SetWriteDeadline(now.Add(s.timeout)); err != nil {
			return err
		}
		s.deadlineSet = now
	}
	_, err := s.dst.Write(p)
	return err
}

// client is one stream's state.
type client struct {
	hub          *hub.Hub
	format       string
	heartbeat    time.Duration
	writeTimeout time.Duration
	log          *slog.Logger
	remote       string
}

// run writes sub's frames (and heartbeats) to out until the client goes,
// the hub closes or stop is closed.
func (c *client) run(out *sink, sub *hub.Subscriber, stop <-chan struct{}) {
	write := func(p []byte) error {
		err := out.write(p)
		if isTimeout(err) {
			c.hub.NoteSlow()
		}
		return err
	}
	idle := time.NewTimer(c.heartbeat)
	defer idle.Stop()
	var buf []byte
	for {
		select {
		case <-stop:
			return
		case <-idle.C:
			// The timer is not reset on every write (that too costs per
			// write); when it fires, it checks how long the stream has
			// really been quiet.
			if quiet := time.Since(out.lastWrite); quiet < c.heartbeat {
				idle.Reset(c.heartbeat - quiet)
				continue
			}
			if err := write([]byte(": heartbeat\n\n")); err != nil {
				c.gone(err)
				return
			}
			idle.Reset(c.heartbeat)
			continue
		case <-sub.Ready():
		}
		frames, gap, err := sub.Take()
		if errors.Is(err, hub.ErrTooSlow) {
			_ = write(AppendEvent(nil, Event{Name: "error", Data: []byte(`{"error":"client too slow: it kept falling behind the stream; reconnect to resume"}`)}))
			c.log.Info("sse client too slow, disconnected", "remote", c.remote)
			return
		}
		if err != nil {
			return // hub closed: the server is shutting down
		}
		var out []byte
		if len(frames) == 1 && !gap {
			// The common case: write the hub's bytes as they are.
			out = frames[0].Bytes(c.format)
		} else {
			buf = buf[:0]
			if gap && len(frames) > 0 {
				// The client missed batches that are gone; the next
				// batch's totals are a fresh snapshot.
				buf = AppendEvent(buf, Event{Name: "reset", Data: fmt.Appendf(nil, `{"seq":%d}`, frames[0].Seq())})
			}
			for _, f := range frames {
				buf = append(buf, f.Bytes(c.format)...)
			}
			out = buf
		}
		if len(out) == 0 {
			continue
		}
		if err := write(out); err != nil {
			c.gone(err)
			return
		}
	}
}

func (c *client) gone(err error) {
	c.log.Debug("sse client gone", "remote", c.remote, "err", err)
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
