package pipeline

import (
	"context"
	"sync"
)

// queue is the bounded queue in front of the workers. Its limit is its
// capacity: a push into a full queue never blocks; the discipline decides
// which event is dropped (queue-full), the newcomer or one already queued.
// Workers wait on a one-slot wake-up channel; a worker that takes an item
// and leaves more behind passes the wake-up on, so every queued item finds a
// waiting worker without one signal per item.
type queue struct {
	mu     sync.Mutex
	d      discipline
	cap    int
	closed bool
	ready  chan struct{} // one slot: "there may be work"
	done   chan struct{} // closed by close()
}

func newQueue(p Policy, capacity int) *queue {
	return &queue{
		d:     newDiscipline(p, capacity),
		cap:   capacity,
		ready: make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
}

func (q *queue) wake() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// push adds it. When the queue is full, full is set and either a queued
// item was evicted to make room (returned as evicted) or it itself is
// refused (refused set); when closed, closed is set and it is refused.
func (q *queue) push(it item) (evicted item, refused, full, closed bool) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return item{}, true, false, true
	}
	if q.d.len() == q.cap {
		old, ok := q.d.evictFor(it)
		q.mu.Unlock()
		if ok {
			return old, false, true, false
		}
		return item{}, true, true, false
	}
	q.d.push(it)
	q.mu.Unlock()
	q.wake()
	return item{}, false, false, false
}

// selector picks the item to serve from the discipline, under the queue's
// lock. It may remove items it drops (the caller reports them). It reports
// false when nothing is left to serve.
type selector func(d discipline) (item, bool)

// pop waits for work and runs sel on it. got reports an item; open is false
// once ctx is done or the queue is closed and empty. A call that only
// dropped items returns got false and open true, so the caller reports the
// drops before waiting again.
func (q *queue) pop(ctx context.Context, quit <-chan struct{}, sel selector, dropped func() bool) (it item, got, open bool) {
	for {
		q.mu.Lock()
		if q.d.len() > 0 {
			it, got = sel(q.d)
			more := q.d.len() > 0
			q.mu.Unlock()
			if more {
				q.wake()
			}
			if got || dropped() {
				return it, got, true
			}
			continue
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return item{}, false, false
		}
		select {
		case <-q.ready:
		case <-q.done:
		case <-quit:
			// Leaving the pool: pass on a wake-up this worker may have
			// been the one to get.
			q.wake()
			return item{}, false, false
		case <-ctx.Done():
			return item{}, false, false
		}
	}
}

// close refuses further pushes; queued items can still be popped.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
}

// takeAll removes and returns every queued item.
func (q *queue) takeAll() []item {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]item, 0, q.d.len())
	for q.d.len() > 0 {
		out = append(out, q.d.removeFirst())
	}
	return out
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.d.len()
}

// size returns the queue's length and capacity together.
func (q *queue) size() (n, capacity int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.d.len(), q.cap
}

// reshape moves the queued items into a new discipline of the given policy
// and capacity, and returns the items that no longer fit.
func (q *queue) reshape(p Policy, capacity int) (dropped []item) {
	q.mu.Lock()
	next := newDiscipline(p, capacity)
	for q.d.len() > 0 {
		it := q.d.removeFirst()
		if next.len() < capacity {
			next.push(it)
			continue
		}
		if old, evicted := next.evictFor(it); evicted {
			dropped = append(dropped, old)
		} else {
			dropped = append(dropped, it)
		}
	}
	q.d, q.cap = next, capacity
	more := next.len() > 0
	q.mu.Unlock()
	if more {
		q.wake()
	}
	return dropped
}
