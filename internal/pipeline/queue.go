package pipeline

import (
	"context"
	"sync"

	"github.com/ontime-rt/ontime/internal/event"
)

// queue is a bounded FIFO of events. Its limit is its capacity: a push into a
// full queue fails at once (the caller drops the event as queue-full), so the
// producer never blocks. Items live in a ring under a mutex; a buffered
// channel holds one token per queued item so that consumers can wait for work
// in a select alongside cancellation. Keeping the items out of the channel
// leaves room for orderings other than FIFO.
type queue struct {
	mu     sync.Mutex
	items  []event.Event // ring buffer, len == capacity
	head   int
	n      int
	closed bool
	tokens chan struct{} // one token per queued item; closed by close()
}

func newQueue(capacity int) *queue {
	return &queue{
		items:  make([]event.Event, capacity),
		tokens: make(chan struct{}, capacity),
	}
}

// push adds ev. It reports false, without blocking, when the queue is full
// or closed; closed tells which.
func (q *queue) push(ev event.Event) (ok, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, true
	}
	if q.n == len(q.items) {
		return false, false
	}
	q.items[(q.head+q.n)%len(q.items)] = ev
	q.n++
	// Never blocks: tokens never outnumber items, and items fit in capacity.
	// Sending under the lock orders it before close().
	q.tokens <- struct{}{}
	return true, false
}

// pop waits for the next event. It returns false when ctx is done, or when
// the queue is closed and empty.
func (q *queue) pop(ctx context.Context) (event.Event, bool) {
	select {
	case _, ok := <-q.tokens:
		if !ok {
			return event.Event{}, false
		}
	case <-ctx.Done():
		return event.Event{}, false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	ev := q.items[q.head]
	q.items[q.head] = event.Event{}
	q.head = (q.head + 1) % len(q.items)
	q.n--
	return ev, true
}

// close refuses further pushes; queued events can still be popped.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.tokens)
	}
}

// takeAll removes and returns every queued event. Only for use after close,
// once no consumer is left.
func (q *queue) takeAll() []event.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]event.Event, 0, q.n)
	for q.n > 0 {
		out = append(out, q.items[q.head])
		q.items[q.head] = event.Event{}
		q.head = (q.head + 1) % len(q.items)
		q.n--
	}
	for range q.tokens {
	}
	return out
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
