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
// newest frames in a ring, bounded in frames (History) and in bytes
// (HistoryBytes), so that a reconnecting client can resume from the
// position it last saw.
//
// A position is an epoch and a seq (Position, written "<epoch>-<seq>"): the
// epoch names the numbering the seq counts in (a run of the server), so a
// position from another run, one the ring no longer holds, or one ahead of
// the newest frame is never taken for a place in this stream: the
// subscription starts at the newest frame and Take reports why (Gap), for
// the transport to tell its client (a reset).
package hub

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
)

// Encoder turns a batch into the bytes of one format. Encoders are called
// once per batch, from the publishing goroutine, in seq order; an encoder may
// keep state across batches (a rolling view, say).
type Encoder func(b *batch.Batch) ([]byte, error)

// Wrap derives a format from another one's bytes without copying them: a
// frame of the derived format is Head, then the bytes of format Of, then
// Tail, handed to transports as three pieces (Frame.AppendParts) that they
// write with one vectored write. Head is made once per batch, at publish.
type Wrap struct {
	// Of is the format whose bytes are wrapped (not itself a Wrap).
	Of string
	// Head returns the bytes that precede the wrapped ones for the batch at
	// position p. Called from the publishing goroutine.
	Head func(p Position, b *batch.Batch) []byte
	// Tail follows the wrapped bytes; shared by every frame.
	Tail []byte
}

// DefaultHistoryBytes is the default byte budget of the history.
const DefaultHistoryBytes = 64 << 20

// frameOverhead is what a frame costs besides its encodings: the struct,
// its maps and channel (measured about 600 bytes; rounded up).
const frameOverhead = 1024

// Config configures a Hub.
type Config struct {
	// History is the most frames kept for resuming clients. Default 600
	// (60 s of 100 ms ticks).
	History int
	// HistoryBytes bounds the bytes the history holds (the encodings of
	// its frames, by capacity, plus a fixed overhead per frame): when a
	// publish would exceed it, the oldest frames are let go, even if fewer
	// than History are left. The newest frame is always kept, whatever its
	// size. Default DefaultHistoryBytes (64 MiB).
	HistoryBytes int64
	// Epoch returns the epoch of a batch's seq: the numbering it counts in.
	// Positions of different epochs are never compared. Default the
	// batch's StartedAt (a server's seq restarts with the server).
	// Publish stores it in the batch's Epoch field.
	Epoch func(b *batch.Batch) int64
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
	// Wraps maps more format names to formats derived from an encoder's
	// bytes (no copy of them is made).
	Wraps map[string]Wrap
	// Ephemeral names formats whose bytes are kept for the newest frame
	// only: full snapshots (the page's HTML) that a client never needs to
	// replay, which would otherwise fill the history.
	Ephemeral []string
	// Logger reports encoding failures. Default slog.Default().
	Logger *slog.Logger
}

// Frame is one published batch with its encodings. Frames are immutable,
// except that the batch and the ephemeral encodings are let go once a newer
// frame exists, and that next is set (then done closed) when the following
// frame is published, or done closed alone when the hub closes.
type Frame struct {
	pos   Position
	enc   map[string][]byte
	heads map[string][]byte // of the Wraps
	wraps map[string]Wrap   // the hub's
	size  int64             // what the history counts for it
	// published is false for the list's head before the first publish.
	published bool
	// evicted is set when the history lets the frame go: a subscriber
	// that finds its next frame evicted skips to the newest, so that no
	// subscriber keeps frames alive beyond the history for longer than
	// one write.
	evicted atomic.Bool
	batch   atomic.Pointer[batch.Batch]
	eph     atomic.Pointer[map[string][]byte]
	next    atomic.Pointer[Frame]
	done    chan struct{}
}

// Seq is the batch's sequence number (0 for the list's head before the
// first publish).
func (f *Frame) Seq() uint64 { return f.pos.Seq }

// Position is where the frame is in the stream.
func (f *Frame) Position() Position { return f.pos }

// Batch returns the frame's batch while the frame is the newest; nil once a
// newer one exists (the history keeps only encodings).
func (f *Frame) Batch() *batch.Batch { return f.batch.Load() }

// Bytes returns the batch encoded in format, nil when the hub has no such
// encoder, encoding failed, the format is a Wrap (see AppendParts), or the
// format is ephemeral and a newer frame exists.
func (f *Frame) Bytes(format string) []byte {
	if b, ok := f.enc[format]; ok {
		return b
	}
	if m := f.eph.Load(); m != nil {
		return (*m)[format]
	}
	return nil
}

// AppendParts appends to dst the pieces that make the frame in format, to
// be written in order: the bytes of an encoder's format, or a Wrap's head,
// wrapped bytes and tail. It appends nothing when Bytes would return nil
// (for a Wrap: when its wrapped format's bytes are nil).
func (f *Frame) AppendParts(dst [][]byte, format string) [][]byte {
	w, ok := f.wraps[format]
	if !ok {
		if b := f.Bytes(format); len(b) > 0 {
			dst = append(dst, b)
		}
		return dst
	}
	body := f.Bytes(w.Of)
	if len(body) == 0 {
		return dst
	}
	if head := f.heads[format]; len(head) > 0 {
		dst = append(dst, head)
	}
	dst = append(dst, body)
	if len(w.Tail) > 0 {
		dst = append(dst, w.Tail)
	}
	return dst
}

// Position is a place in the stream: the epoch the seq counts in, and the
// seq. Its text form is "<epoch>-<seq>".
type Position struct {
	Epoch int64
	Seq   uint64
}

// NoEpoch is the epoch of a position that names no run (a bare seq): it
// matches no frame's.
const NoEpoch int64 = -1

// AppendText appends "<epoch>-<seq>".
func (p Position) AppendText(dst []byte) ([]byte, error) {
	dst = strconv.AppendInt(dst, p.Epoch, 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, p.Seq, 10), nil
}

// String returns "<epoch>-<seq>".
func (p Position) String() string {
	b, _ := p.AppendText(nil)
	return string(b)
}

// ParseResume reads a client's resume position: "" is none (start at the
// newest frame), "<epoch>-<seq>" a position. A bare "<seq>", as servers
// before epochs sent, names no run: it is taken as a position from another
// run (the subscription starts at the newest frame, with a reset). Anything
// else is an error that says what is expected.
func ParseResume(s string) (Resume, error) {
	if s == "" {
		return Resume{}, nil
	}
	epoch, seq, found := strings.Cut(s, "-")
	if !found {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return Resume{}, fmt.Errorf("position %q is not epoch-seq (two non-negative integers, as in the ids of the stream's batch events)", s)
		}
		return Resume{After: Position{Epoch: NoEpoch, Seq: n}, Set: true}, nil
	}
	e, err1 := strconv.ParseInt(epoch, 10, 64)
	n, err2 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil || e < 0 || strings.HasPrefix(epoch, "+") {
		return Resume{}, fmt.Errorf("position %q is not epoch-seq (two non-negative integers, as in the ids of the stream's batch events)", s)
	}
	return Resume{After: Position{Epoch: e, Seq: n}, Set: true}, nil
}

// Gap says why a subscriber missed frames before the first one Take
// returned; transports tell their clients with a reset.
type Gap string

// The reasons of a gap.
const (
	// NoGap: the frames follow the client's position without a hole.
	NoGap Gap = ""
	// GapOtherRun: the resume position is from another run (another
	// epoch, or a bare seq).
	GapOtherRun Gap = "another-run"
	// GapTooOld: the history no longer holds the frames after the resume
	// position.
	GapTooOld Gap = "too-old"
	// GapFuture: the resume position is ahead of the newest frame.
	GapFuture Gap = "future"
	// GapLagged: the subscriber fell more than MaxLag frames behind and
	// skipped to the newest.
	GapLagged Gap = "lagged"
)

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

	mu     sync.Mutex // serialises Publish and Close, guards the history and closed
	hist   history
	closed bool

	subs    atomic.Int64
	skipped atomic.Uint64
	slow    atomic.Uint64
	evicted atomic.Uint64 // frames let go for the byte budget
}

// history is the ring of the newest frames, oldest first, bounded in frames
// (len(ring)) and bytes.
type history struct {
	ring     []*Frame
	head, n  int // ring[head] is the oldest of n frames
	bytes    int64
	maxBytes int64
}

func (r *history) at(i int) *Frame { return r.ring[(r.head+i)%len(r.ring)] }

func (r *history) dropOldest() {
	f := r.ring[r.head]
	f.evicted.Store(true)
	r.ring[r.head] = nil
	r.head = (r.head + 1) % len(r.ring)
	r.n--
	r.bytes -= f.size
}

// push adds f, letting the oldest frames go to stay within both bounds; it
// returns how many were let go for the byte budget.
func (r *history) push(f *Frame) (evicted int) {
	if r.n == len(r.ring) {
		r.dropOldest()
	}
	for r.n > 0 && r.bytes+f.size > r.maxBytes {
		r.dropOldest()
		evicted++
	}
	r.ring[(r.head+r.n)%len(r.ring)] = f
	r.n++
	r.bytes += f.size
	return evicted
}

// find returns the frame with seq, or nil.
func (r *history) find(seq uint64) *Frame {
	i := sort.Search(r.n, func(i int) bool { return r.at(i).Seq() >= seq })
	if i < r.n && r.at(i).Seq() == seq {
		return r.at(i)
	}
	return nil
}

// New returns a hub.
func New(cfg Config) (*Hub, error) {
	if cfg.History == 0 {
		cfg.History = 600
	}
	if cfg.HistoryBytes == 0 {
		cfg.HistoryBytes = DefaultHistoryBytes
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
	if cfg.Epoch == nil {
		cfg.Epoch = func(b *batch.Batch) int64 { return b.StartedAt }
	}
	if cfg.History < 1 || cfg.MaxLag < 1 || cfg.HistoryBytes < 1 {
		return nil, fmt.Errorf("hub: history, history bytes and max lag must be at least 1, got %d, %d and %d", cfg.History, cfg.HistoryBytes, cfg.MaxLag)
	}
	for name, w := range cfg.Wraps {
		if _, ok := cfg.Encoders[w.Of]; !ok || w.Head == nil {
			return nil, fmt.Errorf("hub: format %q wraps %q, which is not an encoder's format (or has no Head)", name, w.Of)
		}
		if _, ok := cfg.Encoders[name]; ok {
			return nil, fmt.Errorf("hub: format %q is both an encoder's and a wrap", name)
		}
	}
	h := &Hub{cfg: cfg, hist: history{ring: make([]*Frame, cfg.History), maxBytes: cfg.HistoryBytes}, now: make(chan struct{})}
	close(h.now)
	h.tail.Store(&Frame{done: make(chan struct{})})
	return h, nil
}

// Publish stores the batch's epoch in b.Epoch, encodes b in every format
// and wakes every waiting subscriber (one channel close). Batches must be
// published in seq order from one goroutine; b is the hub's from then on.
// It never blocks on subscribers.
func (h *Hub) Publish(b *batch.Batch) {
	b.Epoch = h.cfg.Epoch(b)
	f := &Frame{
		pos:   Position{Epoch: b.Epoch, Seq: b.Seq},
		enc:   make(map[string][]byte, len(h.cfg.Encoders)),
		heads: make(map[string][]byte, len(h.cfg.Wraps)),
		wraps: h.cfg.Wraps,
		size:  frameOverhead,
		done:  make(chan struct{}),

		published: true,
	}
	f.batch.Store(b)
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
			f.size += int64(cap(data))
		}
	}
	for name, w := range h.cfg.Wraps {
		head := w.Head(f.pos, b)
		f.heads[name] = head
		f.size += int64(cap(head))
	}
	f.eph.Store(&eph)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	prev := h.tail.Load()
	prev.eph.Store(nil)
	prev.batch.Store(nil)
	if n := h.hist.push(f); n > 0 {
		h.evicted.Add(uint64(n))
	}
	// The new tail is stored before the link: a subscriber that finds f by
	// the link then never sees a tail older than f (its lag would be
	// negative, and it would skip back to a frame it already had).
	h.tail.Store(f)
	prev.next.Store(f)
	close(prev.done)
}

// Latest returns the newest frame, or nil before the first publish.
func (h *Hub) Latest() *Frame {
	if f := h.tail.Load(); f.published {
		return f
	}
	return nil
}

// LatestBatch returns the newest batch, or nil before the first publish.
func (h *Hub) LatestBatch() *batch.Batch {
	for {
		f := h.tail.Load()
		if !f.published {
			return nil
		}
		if b := f.Batch(); b != nil {
			return b
		}
		// A newer frame took the tail between the two loads: look again.
	}
}

// HistoryBytes is what the history holds now, as counted against
// Config.HistoryBytes, and the number of frames in it.
func (h *Hub) HistoryBytes() (bytes int64, frames int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hist.bytes, h.hist.n
}

// Evicted is the number of frames let go before History frames were held,
// to keep the history within its byte budget.
func (h *Hub) Evicted() uint64 { return h.evicted.Load() }

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
	// After, when Set, asks for every frame after this position (the last
	// one the client saw). When it is from another epoch, the ring no
	// longer holds the frames after it, or it is ahead of the newest frame,
	// the subscription starts at the newest frame and the first Take
	// reports the Gap.
	After Position
	// Set tells a resume from the very first frame (seq 0) apart from no
	// resume at all (start at the newest frame).
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
	s.last = tail
	if !r.Set {
		if tail.published {
			s.pending = tail
		}
		return s
	}
	if !tail.published {
		// Nothing to compare the position with yet: the first frame is.
		s.check, s.checking = r.After, true
		return s
	}
	switch gap := h.place(r.After, tail); {
	case gap != NoGap:
		s.pending, s.gap = tail, gap
	case r.After.Seq < tail.pos.Seq:
		s.pending = h.hist.find(r.After.Seq + 1)
		s.replayTo = tail.pos.Seq
	}
	return s
}

// place finds where a subscription resuming after p starts, when p is a
// place in this stream: waiting for the next frame (p is the newest), or
// replaying from the ring. Otherwise it returns why not. Called with h.mu
// held, with s set up by the caller on a gap.
func (h *Hub) place(p Position, tail *Frame) Gap {
	switch {
	case p.Epoch != tail.pos.Epoch:
		return GapOtherRun
	case p.Seq > tail.pos.Seq:
		return GapFuture
	case p.Seq == tail.pos.Seq:
		return NoGap
	}
	if f := h.hist.find(p.Seq + 1); f == nil || f.pos.Epoch != p.Epoch {
		return GapTooOld
	}
	return NoGap
}

// Subscriber is one client's cursor into the hub's list of frames. Its
// methods may be called from one goroutine at a time.
//
// A subscriber holds the frame it delivered last, and with it every newer
// frame, including any the history lets go meanwhile. Take skips to the
// newest frame when the next one has been let go, and transports bound how
// long a subscriber may stand still between takes (one write, under a
// deadline), so what subscribers keep beyond the history is at most the
// frames published during one write.
type Subscriber struct {
	hub      *Hub
	last     *Frame // the frame delivered last: the next one is linked from it
	pending  *Frame // when set, the next frame to deliver (start, replay, more left)
	replayTo uint64 // frames up to this seq were asked for on resume
	gap      Gap
	// check is the resume position of a subscription made before the
	// first publish, to compare with the first frame (checking).
	check    Position
	checking bool
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
// them; a call with more left keeps Ready closed). gap, when not NoGap, says
// why frames were missed before the first returned one (or, with none
// returned, before the end): the resume position was from another run, too
// old or ahead, or the subscriber lagged and skipped. The slice is reused
// by the next Take. After Close, Take returns what remains, then ErrClosed.
func (s *Subscriber) Take() (frames []*Frame, gap Gap, err error) {
	h := s.hub
	start := s.pending
	if start == nil {
		if start = s.last.next.Load(); start == nil {
			select {
			case <-s.last.done:
				// Closed, unless a frame was linked between the two looks.
				if start = s.last.next.Load(); start == nil {
					gap, s.gap = s.gap, NoGap
					return nil, gap, ErrClosed
				}
			default:
				return nil, NoGap, nil
			}
		}
	}
	s.pending = nil
	if start.evicted.Load() {
		// The history let it go while this subscriber was writing (or
		// replaying) slowly: skip to the newest, as a lagging one does,
		// rather than keep every frame since alive.
		newest := h.tail.Load()
		n := newest.Seq() - start.Seq()
		s.skipped.Add(n)
		h.skipped.Add(n)
		start, s.replayTo = newest, 0
		if s.gap == NoGap {
			s.gap = GapLagged
		}
	}
	if s.checking {
		// The first frame of a subscription made before any: it follows
		// the resume position, or it is a fresh start.
		s.checking = false
		switch p := start.pos; {
		case p.Epoch != s.check.Epoch:
			s.gap = GapOtherRun
		case p.Seq <= s.check.Seq:
			s.gap = GapFuture
		case p.Seq > s.check.Seq+1:
			s.gap = GapTooOld
		}
		if s.gap != NoGap {
			// A fresh start begins at the newest frame, as with any gap.
			start = h.tail.Load()
		}
	}
	if newest := h.tail.Load(); start.Seq() > s.replayTo && newest.Seq()-start.Seq() >= uint64(h.cfg.MaxLag) {
		// Too far behind: skip to the newest frame. A subscriber that keeps
		// lagging for SlowAfter is given up on.
		now := h.cfg.Now()
		if s.behind.IsZero() {
			s.behind = now
		} else if now.Sub(s.behind) > h.cfg.SlowAfter {
			h.slow.Add(1)
			return nil, NoGap, ErrTooSlow
		}
		n := newest.Seq() - start.Seq()
		s.skipped.Add(n)
		h.skipped.Add(n)
		start = newest
		if s.gap == NoGap {
			s.gap = GapLagged
		}
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
	gap, s.gap = s.gap, NoGap
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
