// Package hub fans every batch out to every subscriber.
//
// Each batch is encoded once per format when it is published (JSON, SSE
// frames, HTML fragments...), and every subscriber is handed the same bytes.
// The hub keeps the last History frames in a ring; a subscriber is only a
// cursor into that ring plus a one-slot wake-up channel. So publishing costs
// one non-blocking send per subscriber, a subscriber holds no queue of its
// own, a slow subscriber delays nobody (it skips ahead when it falls more than
// MaxLag frames behind), and a reconnecting client can resume from the seq it
// last saw for as long as the ring still holds it.
package hub

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
)

// Encoder turns a batch into the bytes of one format. Encoders are called
// once per batch, from the publishing goroutine, in seq order; an encoder may
// keep state across batches (a rolling view, say).
type Encoder func(b *batch.Batch) ([]byte, error)

// Config configures a Hub.
type Config struct {
	// History is the number of frames kept for resuming clients. Default
	// 600 (60 s of 100 ms ticks).
	History int
	// MaxLag is how many frames a live subscriber may fall behind before it
	// skips to the newest; skips are counted. Default 20. Replays asked for
	// at subscription are not limited by it.
	MaxLag int
	// SlowAfter is how long a subscriber may keep lagging (skipping frames
	// at every take) before Take gives up on it with ErrTooSlow. Default 5s.
	SlowAfter time.Duration
	// Now is the clock for SlowAfter. Default time.Now.
	Now func() time.Time
	// Encoders maps each format name to its encoder.
	Encoders map[string]Encoder
	// Ephemeral names formats whose bytes are kept for the newest frame
	// only: full snapshots (the page's HTML) that a client never needs to
	// replay, which would otherwise fill the history.
	Ephemeral []string
	// Logger reports encoding failures. Default slog.Default().
	Logger *slog.Logger
}

// Frame is one published batch with its encodings. Frames are immutable,
// except that ephemeral encodings are let go once a newer frame exists.
type Frame struct {
	Batch *batch.Batch
	enc   map[string][]byte
	eph   atomic.Pointer[map[string][]byte]
}

// Seq is the batch's sequence number.
func (f *Frame) Seq() uint64 { return f.Batch.Seq }

// Bytes returns the batch encoded in format, nil when the hub has no such
// encoder, encoding failed, or the format is ephemeral and a newer frame
// exists.
func (f *Frame) Bytes(format string) []byte {
	if b, ok := f.enc[format]; ok {
		return b
	}
	if m := f.eph.Load(); m != nil {
		return (*m)[format]
	}
	return nil
}

// ErrClosed is returned by Subscriber.Take once the hub is closed and the
// subscriber has taken every frame.
var ErrClosed = errors.New("hub: closed")

// ErrTooSlow is returned by Subscriber.Take when the subscriber has lagged
// for longer than SlowAfter: the transport should tell the client and close.
var ErrTooSlow = errors.New("hub: client too slow: it kept falling behind")

// Hub fans batches out to subscribers.
type Hub struct {
	cfg Config

	mu     sync.RWMutex
	ring   []*Frame // ring[seq % len(ring)]
	last   uint64   // seq of the newest frame, 0 before the first
	subs   map[*Subscriber]struct{}
	closed bool

	skipped atomic.Uint64
	slow    atomic.Uint64
}

// New returns a hub.
func New(cfg Config) (*Hub, error) {
	if cfg.History == 0 {
		cfg.History = 600
	}
	if cfg.MaxLag == 0 {
		cfg.MaxLag = 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SlowAfter == 0 {
		cfg.SlowAfter = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.History < 1 || cfg.MaxLag < 1 {
		return nil, fmt.Errorf("hub: history and max lag must be at least 1, got %d and %d", cfg.History, cfg.MaxLag)
	}
	return &Hub{cfg: cfg, ring: make([]*Frame, cfg.History), subs: make(map[*Subscriber]struct{})}, nil
}

// Publish encodes b in every format and wakes every subscriber. Batches must
// be published in seq order from one goroutine. It never blocks on
// subscribers.
func (h *Hub) Publish(b *batch.Batch) {
	f := &Frame{Batch: b, enc: make(map[string][]byte, len(h.cfg.Encoders))}
	eph := make(map[string][]byte, len(h.cfg.Ephemeral))
	for name, enc := range h.cfg.Encoders {
		data, err := enc(b)
		if err != nil {
			h.cfg.Logger.Error("encode batch", "format", name, "seq", b.Seq, "err", err)
			continue
		}
		if slices.Contains(h.cfg.Ephemeral, name) {
			eph[name] = data
		} else {
			f.enc[name] = data
		}
	}
	f.eph.Store(&eph)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	if prev := h.frame(h.last); prev != nil {
		prev.eph.Store(nil)
	}
	h.ring[b.Seq%uint64(len(h.ring))] = f
	h.last = b.Seq
	for s := range h.subs {
		s.wake()
	}
	h.mu.Unlock()
}

// Latest returns the newest frame, or nil before the first publish.
func (h *Hub) Latest() *Frame {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.frame(h.last)
}

// frame returns the frame with seq, or nil if the ring no longer (or not
// yet) holds it. Called with h.mu held.
func (h *Hub) frame(seq uint64) *Frame {
	if seq == 0 || seq > h.last {
		return nil
	}
	f := h.ring[seq%uint64(len(h.ring))]
	if f == nil || f.Seq() != seq {
		return nil
	}
	return f
}

// Subscribers is the number of current subscribers.
func (h *Hub) Subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}

// Skipped is the number of frames skipped by lagging subscribers since start.
func (h *Hub) Skipped() uint64 { return h.skipped.Load() }

// SlowDisconnects is the number of subscribers given up on as too slow:
// by Take (ErrTooSlow) or by a transport whose write timed out (NoteSlow).
func (h *Hub) SlowDisconnects() uint64 { return h.slow.Load() }

// NoteSlow counts a client disconnected by its transport for being too
// slow (a write that did not complete in time).
func (h *Hub) NoteSlow() { h.slow.Add(1) }

// Close ends every subscription: subscribers take what is left, then get
// ErrClosed. Later publishes are ignored.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for s := range h.subs {
		s.wake()
	}
}

// Resume says where a new subscription starts.
type Resume struct {
	// After, when set, asks for every frame after this seq (the last one the
	// client saw). When the ring no longer holds them, the subscription
	// starts at the newest frame and Gap is reported on the first Take.
	After uint64
	// Set tells an After of zero (resume from the very first frame) apart
	// from no resume at all (start at the newest frame).
	Set bool
}

// Subscribe starts a subscription. Without a resume point it starts with the
// newest frame, so a new client has something to show at once.
func (h *Hub) Subscribe(r Resume) *Subscriber {
	s := &Subscriber{hub: h, ready: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case !r.Set || r.After > h.last:
		// No resume point, or one from another run of the server (seq
		// restarted): start at the newest.
		s.next = max(h.last, 1)
		s.gap = r.Set && h.last > 0
	case r.After == h.last:
		s.next = h.last + 1
	case h.frame(r.After+1) != nil:
		s.next = r.After + 1
		s.replayTo = h.last
	default:
		s.next = max(h.last, 1)
		s.gap = true
	}
	h.subs[s] = struct{}{}
	if h.last >= s.next || h.closed {
		s.wake()
	}
	return s
}

// Subscriber is one client's cursor into the hub. Its methods may be called
// from one goroutine at a time.
type Subscriber struct {
	hub      *Hub
	ready    chan struct{} // one slot: "there may be something to take"
	next     uint64        // seq of the next frame to deliver
	replayTo uint64        // frames up to this seq were asked for on resume
	gap      bool
	skipped  atomic.Uint64
	behind   time.Time // when it started lagging; zero while keeping up
	buf      []*Frame
}

func (s *Subscriber) wake() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Ready is signalled when frames may be available to Take.
func (s *Subscriber) Ready() <-chan struct{} { return s.ready }

// Take returns the frames available now, oldest first (at most MaxLag of
// them; a call with more left re-signals Ready). gap reports that frames were
// missed before the first returned one: the resume point was too old, or the
// subscriber lagged and skipped. The slice is reused by the next Take. After
// Close, Take returns what remains, then ErrClosed.
func (s *Subscriber) Take() (frames []*Frame, gap bool, err error) {
	h := s.hub
	h.mu.RLock()
	defer h.mu.RUnlock()
	if s.next <= h.last {
		if oldest := h.oldest(); s.next < oldest || (s.next > s.replayTo && h.last-s.next+1 > uint64(h.cfg.MaxLag)) {
			// Too far behind: skip to the newest frame. A subscriber that
			// keeps lagging for SlowAfter is given up on.
			now := h.cfg.Now()
			if s.behind.IsZero() {
				s.behind = now
			} else if now.Sub(s.behind) > h.cfg.SlowAfter {
				h.slow.Add(1)
				return nil, false, ErrTooSlow
			}
			n := h.last - s.next
			s.skipped.Add(n)
			h.skipped.Add(n)
			s.next = h.last
			s.gap = true
		} else {
			s.behind = time.Time{}
		}
	}
	s.buf = s.buf[:0]
	for s.next <= h.last && len(s.buf) < h.cfg.MaxLag {
		if f := h.frame(s.next); f != nil {
			s.buf = append(s.buf, f)
		}
		s.next++
	}
	if s.next <= h.last || h.closed {
		// More to take, or the end to report: one wake-up may have stood
		// for both the last frames and the close, so signal again.
		s.wake()
	}
	gap, s.gap = s.gap, false
	if len(s.buf) == 0 && h.closed {
		return nil, gap, ErrClosed
	}
	return s.buf, gap, nil
}

// oldest is the seq of the oldest frame the ring holds. Called with h.mu held.
func (h *Hub) oldest() uint64 {
	if h.last < uint64(len(h.ring)) {
		return 1
	}
	return h.last - uint64(len(h.ring)) + 1
}

// Skipped is the number of frames this subscriber skipped by lagging.
func (s *Subscriber) Skipped() uint64 { return s.skipped.Load() }

// Close ends the subscription.
func (s *Subscriber) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	delete(s.hub.subs, s)
}
