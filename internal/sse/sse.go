// Package sse serves hub frames as Server-Sent Events.
//
// One goroutine per client owns its connection: it waits for frames, writes
// them with a write deadline, and sends a heartbeat comment when idle so
// proxies and clients can tell a quiet stream from a dead one. Over HTTP/1.x
// the handler hands the hijacked connection to that goroutine and returns
// (see Handler.Streams); otherwise the handler's goroutine streams through
// the ResponseWriter. Each batch event's id is its stream position,
// "<epoch>-<seq>"; clients resume with the standard Last-Event-ID header (or
// ?lastEventId= for clients that cannot set headers), and are sent an event
// "reset" first when that position is not a place in this stream.
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
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

// BatchWrap is the hub format of the JSON stream, made around the bytes of
// the JSON format of: one "batch" event per tick whose id is the batch's
// position ("<epoch>-<seq>"). The JSON is the hub's own bytes, shared with
// the WebSocket, never copied: it is one line, so it fits one data field.
func BatchWrap(of string) hub.Wrap {
	return hub.Wrap{Of: of, Head: batchHead, Tail: []byte("\n\n")}
}

// batchHead is the start of a batch event, up to its data.
func batchHead(p hub.Position, _ *batch.Batch) []byte {
	dst := make([]byte, 0, 64)
	dst = append(dst, "id: "...)
	dst, _ = p.AppendText(dst)
	return append(dst, "\nevent: batch\ndata: "...)
}

// resetEvent tells a client that what follows does not continue from its
// position: data {"seq":N,"epoch":E,"reason":R} names the first batch sent
// next and why (a hub.Gap).
func resetEvent(dst []byte, first hub.Position, why hub.Gap) []byte {
	return AppendEvent(dst, Event{Name: "reset", Data: ResetJSON(nil, first, why)})
}

// ResetJSON appends the JSON of a reset: the position of the first batch
// sent after it and the reason. The WebSocket sends the same with a "type".
func ResetJSON(dst []byte, first hub.Position, why hub.Gap) []byte {
	return fmt.Appendf(dst, `{"seq":%d,"epoch":%d,"reason":%q}`, first.Seq, first.Epoch, string(why))
}

// Handler streams one hub format to each client.
type Handler struct {
	// Hub is the source of frames.
	Hub *hub.Hub
	// Format is the hub format written to clients; its bytes (or parts,
	// for a hub.Wrap such as BatchWrap) must be complete SSE events.
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

	// cohorts groups the HTTP/2 streams of each connection (see cohorts);
	// a Handler must not be copied once it serves.
	cohorts cohorts
}

// resumeFrom reads the resume position from Last-Event-ID or ?lastEventId=.
func resumeFrom(r *http.Request) (hub.Resume, error) {
	id := r.Header.Get("Last-Event-ID")
	if id == "" {
		id = r.URL.Query().Get("lastEventId")
	}
	res, err := hub.ParseResume(id)
	if err != nil {
		return hub.Resume{}, fmt.Errorf("last event id: %w", err)
	}
	return res, nil
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
	// net/http's HTTP/2 server resets a stream when its write deadline
	// passes, even while nothing is being written: the deadline is taken
	// off a stream that has gone quiet (see client.run).
	out := &sink{dst: flushingWriter{w: w, rc: http.NewResponseController(w)}, timeout: c.writeTimeout, idleReset: r.ProtoMajor == 2}
	if err := out.write(first); err != nil {
		c.gone(err)
		return
	}
	if r.ProtoMajor == 2 {
		if conn := stream.Conn(r); conn != nil {
			coh := h.cohorts.join(conn, h.Hub, out.quietCheck())
			defer coh.leave()
			c.cohort = coh
		}
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
// once a second (or half the timeout, when that is shorter), not per
// write: arming it costs about a microsecond (a runtime timer), which at
// thousands of clients and ten writes a second is a visible share of the
// stream's CPU. A blocked write therefore ends after timeout minus up to a
// second (at least half the timeout).
type sink struct {
	dst     destination
	timeout time.Duration
	// idleReset tells that dst ends the stream when its deadline passes
	// even if no write is under way (net/http's HTTP/2 server), not only
	// the writes made after it, as a connection's deadline does.
	idleReset   bool
	deadlineSet time.Time // zero: no deadline armed
	lastWrite   time.Time // for the heartbeat
	scratch     []byte    // see writeParts
}

func (s *sink) write(p []byte) error {
	if err := s.arm(); err != nil {
		return err
	}
	_, err := s.dst.Write(p)
	return err
}

func (s *sink) arm() error {
	now := time.Now()
	s.lastWrite = now
	if now.Sub(s.deadlineSet) >= min(time.Second, s.timeout/2) {
		if err := s.dst.SetWriteDeadline(now.Add(s.timeout)); err != nil {
			return err
		}
		s.deadlineSet = now
	}
	return nil
}

// quietCheck is how often a stream whose destination resets it at its
// deadline even while idle (idleReset) checks for quiet, and how long it
// must have been quiet to have the deadline taken off. A deadline is set at
// most min(1 s, timeout/2) before a write and lasts timeout, so it passes
// no sooner than timeout/2 after the last write; two checks a fifth of
// the timeout apart find the stream quiet for a fifth of it before then.
func (s *sink) quietCheck() time.Duration { return max(s.timeout/5, time.Millisecond) }

// disarm takes the deadline off a quiet stream; the next write arms one
// again.
func (s *sink) disarm() error {
	if s.deadlineSet.IsZero() {
		return nil
	}
	s.deadlineSet = time.Time{}
	return s.dst.SetWriteDeadline(time.Time{})
}

// writeParts writes the pieces in order without copying them together: one
// writev(2) on a TCP connection; through a ResponseWriter, one write per
// piece into its buffer and one flush. Other connections (TLS) would send a
// record per piece, so small pieces are gathered in scratch (at most
// gatherMax bytes, allocated when first needed) and large ones written as
// they are. parts is consumed.
func (s *sink) writeParts(parts net.Buffers) error {
	if err := s.arm(); err != nil {
		return err
	}
	switch d := s.dst.(type) {
	case *net.TCPConn:
		_, err := parts.WriteTo(d)
		return err
	case flushingWriter:
		for _, p := range parts {
			if _, err := d.w.Write(p); err != nil {
				return err
			}
		}
		return d.rc.Flush()
	}
	for _, p := range parts {
		if len(s.scratch)+len(p) > gatherMax && len(s.scratch) > 0 {
			if _, err := s.dst.Write(s.scratch); err != nil {
				return err
			}
			s.scratch = s.scratch[:0]
		}
		if len(p) > gatherMax {
			if _, err := s.dst.Write(p); err != nil {
				return err
			}
			continue
		}
		if s.scratch == nil {
			s.scratch = make([]byte, 0, gatherMax)
		}
		s.scratch = append(s.scratch, p...)
	}
	if len(s.scratch) == 0 {
		return nil
	}
	_, err := s.dst.Write(s.scratch)
	s.scratch = s.scratch[:0]
	return err
}

// gatherMax bounds a client's scratch buffer for connections that cannot
// write vectors.
const gatherMax = 16 << 10

// client is one stream's state.
type client struct {
	cohort       *cohort // the HTTP/2 connection's streams; nil otherwise
	hub          *hub.Hub
	format       string
	heartbeat    time.Duration
	writeTimeout time.Duration
	log          *slog.Logger
	remote       string
}

// run writes sub's frames (and heartbeats) to out until the client goes,
// the hub closes or stop is closed.
// ready is what the stream waits on for its next frame: its subscription,
// or its cohort's wake-up while it has nothing to take.
func (c *client) ready(sub *hub.Subscriber) <-chan struct{} {
	if c.cohort == nil {
		return sub.Ready()
	}
	wake := c.cohort.next()
	if wake == nil {
		return sub.Ready()
	}
	select {
	case <-sub.Ready():
		return sub.Ready() // behind: take at once
	default:
		return wake
	}
}

func (c *client) run(out *sink, sub *hub.Subscriber, stop <-chan struct{}) {
	write := func(p net.Buffers) error {
		err := out.writeParts(p)
		if isTimeout(err) {
			c.hub.NoteSlow()
		}
		return err
	}
	// Over HTTP/2 a quiet stream must have its write deadline taken off
	// (see sink.idleReset): a stream whose cohort has a leader hears from
	// it when the connection has gone quiet, so only the leader keeps a
	// short timer; any other stream checks every quietCheck itself.
	period := func() time.Duration {
		if out.idleReset && (c.cohort == nil || c.cohort.next() == nil) {
			return min(c.heartbeat, out.quietCheck())
		}
		return c.heartbeat
	}
	cur := period()
	idle := time.NewTimer(cur)
	defer idle.Stop()
	disarmIfQuiet := func(quiet time.Duration) error {
		if out.idleReset && quiet >= out.quietCheck() {
			return out.disarm()
		}
		return nil
	}
	var parts [][]byte
	for {
		select {
		case <-stop:
			return
		case <-idle.C:
			// The timer is not reset on every write (that too costs per
			// write); when it fires, it checks how long the stream has
			// really been quiet.
			quiet := time.Since(out.lastWrite)
			if err := disarmIfQuiet(quiet); err != nil {
				c.gone(err)
				return
			}
			cur = period()
			if quiet < c.heartbeat {
				idle.Reset(min(c.heartbeat-quiet, cur))
				continue
			}
			if err := write(net.Buffers{[]byte(": heartbeat\n\n")}); err != nil {
				c.gone(err)
				return
			}
			idle.Reset(cur)
			continue
		case <-c.ready(sub):
		}
		if out.idleReset {
			// Woken by a frame, or by the cohort's leader finding the
			// connection quiet.
			if err := disarmIfQuiet(time.Since(out.lastWrite)); err != nil {
				c.gone(err)
				return
			}
			if p := period(); p < cur { // the cohort's leader has retired
				cur = p
				idle.Reset(cur)
			}
		}
		frames, gap, err := sub.Take()
		if errors.Is(err, hub.ErrTooSlow) {
			_ = write(net.Buffers{AppendEvent(nil, Event{Name: "error", Data: []byte(`{"error":"client too slow: it kept falling behind the stream; reconnect to resume"}`)})})
			c.log.Info("sse client too slow, disconnected", "remote", c.remote)
			return
		}
		if err != nil {
			return // hub closed: the server is shutting down
		}
		// The pieces of every frame, written without copying them
		// together; the references are dropped after the write so that an
		// idle client keeps no frame alive.
		parts = parts[:0]
		var reset []byte
		if gap != hub.NoGap && len(frames) > 0 {
			// What follows does not continue from the client's position:
			// the next batch's totals are a fresh snapshot.
			reset = resetEvent(nil, frames[0].Position(), gap)
			parts = append(parts, reset)
		}
		for _, f := range frames {
			parts = f.AppendParts(parts, c.format)
		}
		if len(parts) == 0 {
			continue
		}
		err = write(parts)
		clear(parts[:cap(parts)])
		if err != nil {
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
