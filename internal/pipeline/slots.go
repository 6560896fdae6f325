package pipeline

import (
	"context"
	"sync"
	"sync/atomic"
)

// Bounded is implemented by processors whose work should not run more than
// MaxConcurrent events at once, whatever the number of workers: CPU-bound
// work, which on more workers than cores only time-slices, so every event
// takes longer and misses a deadline it could have met. The pipeline keeps
// the extra workers out of the queue, so waiting events stay where the
// policy orders and sheds them. Zero or less means no bound.
type Bounded interface {
	MaxConcurrent() int
}

// slots bounds how many workers take and process events at once. Its limit
// follows the processor, so it changes while workers wait.
type slots struct {
	// bounded is limit > 0, read without the lock: an unbounded processor
	// (the usual case) costs one atomic load per event.
	bounded atomic.Bool

	mu      sync.Mutex
	limit   int           // 0: no bound
	inUse   int           // slots held
	waiting int           // workers waiting for a slot
	changed chan struct{} // closed (and replaced) when a slot frees or the limit changes
}

func newSlots(limit int) *slots {
	s := &slots{changed: make(chan struct{})}
	s.setLimit(limit)
	return s
}

// setLimit changes the bound; n <= 0 removes it. Waiting workers recheck.
func (s *slots) setLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limit = max(n, 0)
	s.bounded.Store(s.limit > 0)
	s.broadcast()
}

// acquire takes a slot, waiting while all are held. held says whether a
// slot was taken (none is while unbounded) and must be passed to release.
// ok is false, with nothing held, when ctx ends or quit is closed first.
func (s *slots) acquire(ctx context.Context, quit <-chan struct{}) (held, ok bool) {
	if !s.bounded.Load() {
		return false, true
	}
	s.mu.Lock()
	for s.limit > 0 && s.inUse >= s.limit {
		changed := s.changed
		s.waiting++
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
		case <-quit:
		}
		s.mu.Lock()
		s.waiting--
		if ctx.Err() != nil || isClosed(quit) {
			s.mu.Unlock()
			return false, false
		}
	}
	if s.limit == 0 {
		s.mu.Unlock()
		return false, true
	}
	s.inUse++
	s.mu.Unlock()
	return true, true
}

// release gives back a slot acquire said was held.
func (s *slots) release(held bool) {
	if !held {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inUse--
	if s.waiting > 0 {
		s.broadcast()
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// broadcast wakes every waiter. Called with s.mu held.
func (s *slots) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}
