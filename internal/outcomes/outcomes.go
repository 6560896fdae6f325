// Package outcomes keeps a bounded window of event outcomes keyed by event
// id, so that whoever posted an event can learn what became of it: looked up
// by id (GET /api/events/{id}), or pushed to a Waiter as each event finishes
// (POST /api/events?wait=1). The window also tells ids already seen, which
// ingest refuses as duplicates.
//
// The window holds the newest entries within three bounds, whichever is
// smallest: an age (default 60 s), a count (default 100,000) and a budget of
// bytes for stored results (default 64 MiB). An entry is added when an event
// is admitted (in flight) and updated in place when it finishes; insert,
// lookup, update and eviction are O(1): a map from id to a slot of a ring
// that is kept in insertion order, evicted from the front.
//
// The Store is the pipeline's recorder tap: Finish never blocks, and hands
// each outcome to the Waiter registered for its id (if any) by appending it
// to that waiter's list, whose length is bounded by the ids it registered.
package outcomes

import (
	"strconv"
	"sync"
	"time"

	json "github.com/go-json-experiment/json/v1"
	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/stats"
)

// Defaults of Config.
const (
	DefaultMax            = 100_000
	DefaultAge            = 60 * time.Second
	DefaultMaxResultBytes = 64 << 20
	// MaxMax bounds Config.Max: about 1.3 GB of entries beyond it.
	MaxMax = 10_000_000
)

// InFlight is the status of an event admitted but not yet finished.
const InFlight = "in-flight"

// Config sizes a Store. Zero fields take the defaults stated on each.
type Config struct {
	// Max is the most entries kept. Default 100,000.
	Max int
	// Age is how long an entry is kept after its event was admitted.
	// Default 60 s.
	Age time.Duration
	// MaxResultBytes bounds the bytes of worker results held by the
	// window: when a new result would exceed it, the oldest entries are
	// evicted until it fits, so results shorten the window rather than
	// grow memory. Default 64 MiB.
	MaxResultBytes int64
	// Now is the clock of admission times. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Max <= 0 {
		c.Max = DefaultMax
	}
	if c.Age <= 0 {
		c.Age = DefaultAge
	}
	if c.MaxResultBytes <= 0 {
		c.MaxResultBytes = DefaultMaxResultBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Outcome is what is known of one event: in flight, or its final outcome.
type Outcome struct {
	ID uuid.UUID
	// Final is false while the event is in flight; the other fields are
	// then zero.
	Final       bool
	Status      event.Status
	Reason      event.Reason
	CreatedAt   time.Time
	ProcessedAt time.Time
	// Result is the worker's JSON answer, nil when it answered nothing.
	// It is shared: never modify it.
	Result []byte
	// Failure is the kind of failure of a failed event.
	Failure string
	// Detail says in numbers why a shed event was shed.
	Detail string
}

// Of is the outcome of a finished event.
func Of(r event.Result) Outcome {
	return Outcome{ID: r.ID, Final: true, Status: r.Status, Reason: r.Reason, CreatedAt: r.CreatedAt,
		ProcessedAt: r.ProcessedAt, Result: r.Output, Failure: r.Failure, Detail: r.Detail}
}

// AppendJSON appends the outcome as one JSON object:
// {"id","status":"in-flight"} in flight, else
// {"id","status","reason","latencyMs","processedAt","result","failure","detail"}
// with reason, result, failure and detail only when set; processedAt in
// Unix ms.
func (o Outcome) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":"`...)
	dst = append(dst, o.ID.String()...)
	if !o.Final {
		return append(dst, `","status":"`+InFlight+`"}`...)
	}
	dst = append(dst, `","status":`...)
	dst = strconv.AppendQuote(dst, string(o.Status))
	if o.Reason != "" {
		dst = append(dst, `,"reason":`...)
		dst = strconv.AppendQuote(dst, string(o.Reason))
	}
	dst = append(dst, `,"latencyMs":`...)
	dst = strconv.AppendFloat(dst, stats.Millis(o.ProcessedAt.Sub(o.CreatedAt)), 'f', -1, 64)
	dst = append(dst, `,"processedAt":`...)
	dst = strconv.AppendInt(dst, o.ProcessedAt.UnixMilli(), 10)
	if len(o.Result) > 0 {
		dst = append(dst, `,"result":`...)
		dst = append(dst, o.Result...)
	}
	if o.Failure != "" {
		dst = append(dst, `,"failure":`...)
		dst = appendString(dst, o.Failure)
	}
	if o.Detail != "" {
		dst = append(dst, `,"detail":`...)
		dst = appendString(dst, o.Detail)
	}
	return append(dst, '}')
}

// appendString quotes s as JSON (strconv's quoting is Go syntax, which
// differs from JSON for some control characters).
func appendString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(dst, b...)
}

// MarshalJSON encodes the outcome as AppendJSON does.
func (o Outcome) MarshalJSON() ([]byte, error) { return o.AppendJSON(nil), nil }

// slot is one entry of the window. Its size is fixed (the result aside,
// which the byte budget bounds): the strings point at constants, or at a
// failure kind the processor made once, but a shed event's detail (under
// 100 bytes each: at most 10 MB for the default 100,000 outcomes).
type slot struct {
	id        uuid.UUID
	at        int64 // admission, Unix ns: the entry's age
	created   int64 // Unix ns
	processed int64 // Unix ns
	final     bool
	status    event.Status
	reason    event.Reason
	failure   string
	detail    string // a shed event's numbers: under 100 bytes
	result    []byte
}

// Store is the window. It is safe for concurrent use.
type Store struct {
	cfg Config

	mu          sync.Mutex
	index       map[uuid.UUID]int32 // id -> position in ring
	ring        []slot              // doubles up to cfg.Max; a circular FIFO
	head, n     int                 // oldest slot, entries held
	resultBytes int64
	waiters     map[uuid.UUID]*Waiter
	closed      chan struct{}
	closeOnce   sync.Once
}

// New returns an empty store.
func New(cfg Config) *Store {
	cfg = cfg.withDefaults()
	return &Store{cfg: cfg, index: make(map[uuid.UUID]int32), waiters: make(map[uuid.UUID]*Waiter), closed: make(chan struct{})}
}

// Max is the most entries the store keeps.
func (s *Store) Max() int { return s.cfg.Max }

// Len counts the entries held now (expired ones included until evicted).
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Claim adds id as in flight unless it is already in the window, and
// reports whether it did: false means a duplicate. When w is not nil it
// is registered to receive id's final outcome (only when Claim succeeds).
// Claim must come before the event is submitted, so that its outcome
// cannot finish before the waiter is there.
func (s *Store) Claim(id uuid.UUID, w *Waiter) bool {
	now := s.cfg.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	if _, ok := s.index[id]; ok {
		return false
	}
	s.insert(slot{id: id, at: now})
	if w != nil {
		s.waiters[id] = w
		w.mu.Lock()
		w.ids = append(w.ids, id)
		w.mu.Unlock()
	}
	return true
}

// Admit adds ev as in flight unless its id is already held (an ingested
// event is claimed first). It is the pipeline recorder's Admit.
func (s *Store) Admit(ev event.Event) {
	now := s.cfg.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	if _, ok := s.index[ev.ID]; !ok {
		s.insert(slot{id: ev.ID, at: now})
	}
}

// Finish records r's final outcome, in place when its id is held, as a new
// entry otherwise (it was evicted, or the event was admitted on another
// node), and hands it to the id's waiter. It never blocks on a waiter.
func (s *Store) Finish(r event.Result) {
	now := s.cfg.Now().UnixNano()
	s.mu.Lock()
	s.expire(now)
	fin := slot{id: r.ID, at: now, created: r.CreatedAt.UnixNano(), processed: r.ProcessedAt.UnixNano(), final: true,
		status: r.Status, reason: r.Reason, failure: r.Failure, detail: r.Detail, result: r.Output}
	if i, ok := s.index[r.ID]; ok {
		sl := &s.ring[i]
		s.resultBytes -= int64(len(sl.result))
		fin.at = sl.at
		*sl = fin
		s.resultBytes += int64(len(fin.result))
		s.fitResults(int(i))
	} else {
		s.insert(fin)
	}
	w := s.waiters[r.ID]
	if w != nil {
		delete(s.waiters, r.ID)
	}
	s.mu.Unlock()
	if w != nil {
		w.deliver(Of(r))
	}
}

// Lookup returns what is known of id while it is in the window.
func (s *Store) Lookup(id uuid.UUID) (Outcome, bool) {
	now := s.cfg.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	i, ok := s.index[id]
	if !ok {
		return Outcome{}, false
	}
	sl := &s.ring[i]
	if !sl.final {
		return Outcome{ID: id}, true
	}
	return Outcome{ID: id, Final: true, Status: sl.status, Reason: sl.reason, CreatedAt: time.Unix(0, sl.created),
		ProcessedAt: time.Unix(0, sl.processed), Result: sl.result, Failure: sl.failure, Detail: sl.detail}, true
}

// insert appends e at the back, evicting the front when the ring is full
// or results exceed their budget. s.mu is held.
func (s *Store) insert(e slot) {
	if s.n == s.cfg.Max {
		s.evict()
	}
	if s.n == len(s.ring) {
		s.grow()
	}
	i := (s.head + s.n) % len(s.ring)
	s.ring[i] = e
	s.n++
	s.index[e.id] = int32(i)
	s.resultBytes += int64(len(e.result))
	s.fitResults(i)
}

// grow doubles the ring (up to Max), oldest entry first: amortized O(1)
// per insert, as for a slice. s.mu is held.
func (s *Store) grow() {
	ring := make([]slot, min(max(2*len(s.ring), 1024), s.cfg.Max))
	for k := range s.n {
		ring[k] = s.ring[(s.head+k)%len(s.ring)]
		s.index[ring[k].id] = int32(k)
	}
	s.ring, s.head = ring, 0
}

// fitResults evicts from the front until results fit their budget, but
// never the entry at keep, which was just written. s.mu is held.
func (s *Store) fitResults(keep int) {
	for s.resultBytes > s.cfg.MaxResultBytes && s.n > 1 && s.head != keep {
		s.evict()
	}
}

// expire evicts entries admitted longer than Age before now. s.mu is held.
func (s *Store) expire(now int64) {
	limit := now - int64(s.cfg.Age)
	for s.n > 0 && s.ring[s.head].at < limit {
		s.evict()
	}
}

// evict drops the front entry. s.mu is held.
func (s *Store) evict() {
	sl := &s.ring[s.head]
	if i, ok := s.index[sl.id]; ok && int(i) == s.head {
		delete(s.index, sl.id)
	}
	s.resultBytes -= int64(len(sl.result))
	*sl = slot{}
	s.head = (s.head + 1) % len(s.ring)
	s.n--
	if s.n == 0 {
		s.head = 0
	}
}

// Close ends every wait: Waiter.Closed is closed. The node calls it once
// its pipeline has drained, when no more outcome can come.
func (s *Store) Close() { s.closeOnce.Do(func() { close(s.closed) }) }

// NewWaiter returns a waiter to register ids with through Claim. Call its
// Close when done with it.
func (s *Store) NewWaiter() *Waiter {
	return &Waiter{s: s, ready: make(chan struct{}, 1)}
}

// Waiter receives the final outcomes of the ids claimed with it, in the
// order they finish. It holds at most one outcome per registered id, so
// its memory is bounded by the ids its request carried, and delivering to
// it never blocks.
type Waiter struct {
	s     *Store
	ready chan struct{} // one slot: outcomes are waiting in got

	mu  sync.Mutex
	got []Outcome
	ids []uuid.UUID // registered, for Close
}

func (w *Waiter) deliver(o Outcome) {
	w.mu.Lock()
	w.got = append(w.got, o)
	w.mu.Unlock()
	select {
	case w.ready <- struct{}{}:
	default:
	}
}

// Ready is signalled when outcomes are waiting to be taken.
func (w *Waiter) Ready() <-chan struct{} { return w.ready }

// Closed is closed when the store is: no more outcomes will come.
func (w *Waiter) Closed() <-chan struct{} { return w.s.closed }

// Take returns the outcomes delivered since the last Take, in finish
// order.
func (w *Waiter) Take() []Outcome {
	w.mu.Lock()
	defer w.mu.Unlock()
	got := w.got
	w.got = nil
	return got
}

// Close unregisters every id still waited for, so the store forgets the
// waiter.
func (w *Waiter) Close() {
	w.mu.Lock()
	ids := w.ids
	w.ids = nil
	w.mu.Unlock()
	w.s.mu.Lock()
	for _, id := range ids {
		if w.s.waiters[id] == w {
			delete(w.s.waiters, id)
		}
	}
	w.s.mu.Unlock()
}
