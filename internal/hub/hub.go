// Package hub fans every batch out to every subscriber.
//
// Each batch is encoded once per format when it is published (JSON, SSE
// frames, HTML fragments...), and every subscriber is handed the same bytes.
// Published frames form a list, each linked to the next; a subscriber is
// only a pointer to the frame it delivered last. Publishing links the new
// frame and closes one channel, which wakes every waiting subscriber at
// once; a subscriber then follows the links without taking a lock. So a
// subscriber holds no queue of its own, a slow one delays nobody (it skips
// ahead when it falls more than MaxLag frames behind), and the hub keeps the
// last History frames in a ring so that a reconnecting client can resume
// from the seq it last saw.
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
// except that ephemeral encodings are let go once a newer frame exists, and
// that next is set (then done closed) when the following frame is published,
// or done closed alone when the hub closes.
type Frame struct {
	Batch *batch.Batch
	enc   map[string][]byte
	eph   atomic.Pointer[map[string][]byte]
	next  atomic.Pointer[Frame]
	done  chan struct{}
}

// Seq is the batch's sequence number.
func (f *Frame) Seq() uint64 {
	if f.Batch == nil {
		return 0 // the list's head before the first publish
	}
	return f.Batch.Seq
}

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

	// tail is the newest frame (before the first publish, an empty frame
	// with seq 0); its done channel is open until the next publish or Close.
	tail atomic.Pointer[Frame]
	// now is a closed channel: Ready for a subscriber that has frames to
	// take without waiting.
	now chan struct{}

	mu     sync.Mutex // serialises Publish and Close, guards ring and closed
	ring   []*Frame   // ring[seq % len(ring)], for resuming by seq
	closed bool

	subs    atomic.Int64
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
	h := &Hub{cfg: cfg, ring: make([]*Frame, cfg.History), now: make(chan struct{})}
	close(h.now)
	h.tail.Store(&Frame{done: make(chan struct{})})
	return h, nil
}

// Publish encodes b in every format and wakes every waiting subscriber (one
// channel close). Batches must be published in seq order from one
// goroutine. It never blocks on subscribers.
func (h *Hub) Publish(b *batch.Batch) {
	f := &Frame{Batch: b, enc: make(map[string][]byte, len(h.cfg.Encoders)), done: make(chan struct{})}
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
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	prev := h.tail.Load()
	prev.eph.Store(nil)
	h.ring[b.Seq%uint64(len(h.ring))] = f
	// The new tail is stored before the link: a subscriber that finds f by
	// the link then never sees a tail older than f (its lag would be
	// negative, and it would skip back to a frame it already had).
	h.tail.Store(f)
	prev.next.Store(f)
	close(prev.done)
}

// Latest returns the newest frame, or nil before the first publish.
func (h *Hub) Latest() *Frame {
	if f := h.tail.Load(); f.Batch != nil {
		return f
	}
	return nil
}

// frame returns the frame with seq, or nil if the ring no longer (or not
// yet) holds it. Called with h.mu held.
func (h *Hub) frame(seq uint64) *Frame {
	if seq == 0 || seq > h.tail.Load().Seq() {
		return nil
	}
	f := h.ring[seq%uint64(len(h.ring))]
	if f == nil || f.Seq() != seq {
		return nil
	}
	return f
}

// Subscribers is the number of current subscribers.
func (h *Hub) Subscribers() int { return int(h.subs.Load()) }

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
	if h.closed {
		return
	}
	h.closed = true
	close(h.tail.Load().done) // with no next frame: the end of the list
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
// newest frame, so a new client has something to show at once. Every
// subscription must be closed.
func (h *Hub) Subscribe(r Resume) *Subscriber {
	s := &Subscriber{hub: h}
	h.subs.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	tail := h.tail.Load()
	last := tail.Seq()
	s.last = tail
	switch {
	case !r.Set || r.After > last:
		// No resume point, or one from another run of the server (seq
		// restarted): start at the newest.
		if last > 0 {
			s.pending = tail
		}
		s.gap = r.Set && last > 0
	case r.After == last:
		// Up to date: wait for the next frame.
	case h.frame(r.After+1) != nil:
		s.pending = h.frame(r.After + 1)
		s.replayTo = last
	default:
		s.pending = tail
		s.gap = true
	}
	return s
}

// Subscriber is one client's cursor into the hub's list of frames. Its
// methods may be called from one goroutine at a time.
//
// A subscriber holds the frame it delivered last, and with it every newer
// frame: the ring holds those anyway, and transports bound how long a
// subscriber may stand still (write deadlines, SlowAfter).
type Subscriber struct {
	hub      *Hub
	last     *Frame // the frame delivered last: the next one is linked from it
	pending  *Frame // when set, the next frame to deliver (start, replay, more left)
	replayTo uint64 // frames up to this seq were asked for on resume
	gap      bool
	skipped  atomic.Uint64
	behind   time.Time // when it started lagging; zero while keeping up
	buf      []*Frame
	closed   bool
}

// Ready is closed when frames may be available to Take (or the hub closed).
// It is a different channel after each Take: call it for every wait.
func (s *Subscriber) Ready() <-chan struct{} {
	if s.pending != nil {
		return s.hub.now
	}
	return s.last.done
}

// Take returns the frames available now, oldest first (at most MaxLag of
// them; a call with more left keeps Ready closed). gap reports that frames
// were missed before the first returned one: the resume point was too old,
// or the subscriber lagged and skipped. The slice is reused by the next
// Take. After Close, Take returns what remains, then ErrClosed.
func (s *Subscriber) Take() (frames []*Frame, gap bool, err error) {
	h := s.hub
	start := s.pending
	if start == nil {
		if start = s.last.next.Load(); start == nil {
			select {
			case <-s.last.done:
				// Closed, unless a frame was linked between the two looks.
				if start = s.last.next.Load(); start == nil {
					gap, s.gap = s.gap, false
					return nil, gap, ErrClosed
				}
			default:
				return nil, false, nil
			}
		}
	}
	s.pending = nil
	if newest := h.tail.Load(); start.Seq() > s.replayTo && newest.Seq()-start.Seq() >= uint64(h.cfg.MaxLag) {
		// Too far behind: skip to the newest frame. A subscriber that keeps
		// lagging for SlowAfter is given up on.
		now := h.cfg.Now()
		if s.behind.IsZero() {
			s.behind = now
		} else if now.Sub(s.behind) > h.cfg.SlowAfter {
			h.slow.Add(1)
			return nil, false, ErrTooSlow
		}
		n := newest.Seq() - start.Seq()
		s.skipped.Add(n)
		h.skipped.Add(n)
		start = newest
		s.gap = true
	} else {
		s.behind = time.Time{}
	}
	s.buf = s.buf[:0]
	for f := start; f != nil; f = f.next.Load() {
		if len(s.buf) == h.cfg.MaxLag {
			s.pending = f // more to take: Ready stays closed
			break
		}
		s.buf = append(s.buf, f)
		s.last = f
	}
	gap, s.gap = s.gap, false
	return s.buf, gap, nil
}

// Skipped is the number of frames this subscriber skipped by lagging.
func (s *Subscriber) Skipped() uint64 { return s.skipped.Load() }

// Close ends the subscription.
func (s *Subscriber) Close() {
	if !s.closed {
		s.closed = true
		s.hub.subs.Add(-1)
	}
}
