package pipeline

import (
	"context"
	"iter"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// itemOverhead is what a queued event costs beyond its payload: its slot in
// the discipline, counted twice so that the accounting stays above what the
// heap holds (a discipline's spare chunks, the payload's allocation
// rounding), and 64 bytes more. TestQueueBytesBoundHeap measures the heap a
// full queue holds against this accounting.
const itemOverhead = 2*int64(unsafe.Sizeof(item{})) + 64

// sizeOf is the bytes the queue accounts for it.
func sizeOf(it item) int64 { return int64(cap(it.ev.Payload)) + itemOverhead }

// reshapeStep bounds the items a reshape moves per hold of the queue's
// lock, so pushes and workers get the lock between steps.
const reshapeStep = 1024

// queue is the bounded queue in front of the workers. It is bounded twice:
// in events (its capacity) and in bytes (its budget: payloads plus a fixed
// overhead per event). A push never blocks; when either bound would be
// exceeded, the discipline decides which events are dropped (queue-full),
// the newcomer or some already queued. Workers wait on a one-slot wake-up
// channel; a worker that takes an item and leaves more behind passes the
// wake-up on, so every queued item finds a waiting worker without one signal
// per item.
//
// Its depth, capacity and bytes are also kept in atomics, so that gauges
// (read on every tick) never wait for the lock.
type queue struct {
	mu     sync.Mutex
	d      discipline
	pool   chunkPool // the disciplines' spare storage
	cap    int
	budget int64
	closed bool
	ready  chan struct{} // one slot: "there may be work"
	done   chan struct{} // closed by close()

	// A reshape moves items out of the discipline it replaced in steps;
	// until they are moved they count in the depth and the bytes.
	moving      int
	movingBytes int64
	reshapeMu   sync.Mutex // one reshape at a time
	// stepHook, when set (by tests), runs in every reshape step with the
	// lock held.
	stepHook func()

	depth, capacity, bytes atomic.Int64
}

func newQueue(p Policy, capacity int, budget int64) *queue {
	q := &queue{
		cap:    capacity,
		budget: budget,
		ready:  make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	q.d = newDiscipline(p, &q.pool)
	q.capacity.Store(int64(capacity))
	return q
}

func (q *queue) wake() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// publish updates the gauges' atomics. Called with q.mu held.
func (q *queue) publish() {
	q.depth.Store(int64(q.d.len() + q.moving))
	q.bytes.Store(q.d.size() + q.movingBytes)
}

// admit puts it in the discipline, evicting what the policy values less
// while either bound would be exceeded, and appends what it evicted to
// evicted; withMoving counts the items a reshape still has to move against
// the bounds. It reports whether it went in; if not, nothing was evicted
// and evicted is returned as it came. Called with q.mu held.
func (q *queue) admit(it item, withMoving bool, evicted []item) (_ []item, ok bool) {
	size := sizeOf(it)
	if size > q.budget {
		return evicted, false
	}
	had := len(evicted)
	n, b := 0, int64(0)
	if withMoving {
		n, b = q.moving, q.movingBytes
	}
	for q.d.len()+n >= q.cap || q.d.size()+b+size > q.budget {
		old, ok := q.d.evictFor(it)
		if !ok {
			// it is the one to drop: put back what was evicted for it
			// (only EDF evicts more than one, and a heap has no order of
			// arrival to lose).
			for _, e := range evicted[had:] {
				q.d.push(e)
			}
			return evicted[:had], false
		}
		evicted = append(evicted, old)
	}
	q.d.push(it)
	return evicted, true
}

// push adds it. When the queue is full (in events or bytes), either queued
// items were evicted to make room (appended to buf, returned as evicted) or
// it itself is refused (refused set); when closed, closed is set and it is
// refused. buf is the caller's, so that an eviction (one per push under
// overload) allocates nothing.
func (q *queue) push(it item, buf []item) (evicted []item, refused, closed bool) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil, true, true
	}
	evicted, ok := q.admit(it, true, buf)
	q.publish()
	q.mu.Unlock()
	if !ok {
		return nil, true, false
	}
	q.wake()
	return evicted, false, false
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
		if ctx.Err() != nil {
			// Done, even with items left: a drain that timed out leaves
			// them to takeAll, rather than to workers that would each
			// start one only to have it cancelled.
			return item{}, false, false
		}
		q.mu.Lock()
		if q.d.len() > 0 {
			it, got = sel(q.d)
			q.publish()
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
		closed := q.closed && q.moving == 0
		q.mu.Unlock()
		if closed {
			q.wake() // for a worker waiting out a reshape, below
			return item{}, false, false
		}
		select {
		case <-q.ready:
		case <-q.done:
			if q.pending() {
				// A reshape is still moving items in: wait for them.
				select {
				case <-q.ready:
				case <-quit:
					q.wake()
					return item{}, false, false
				case <-ctx.Done():
					return item{}, false, false
				}
			}
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

// pending reports whether a reshape still has items to move in.
func (q *queue) pending() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.moving > 0
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

// takeStep bounds the items takeAll removes per hold of the queue's lock.
const takeStep = 1024

// takeAll removes every queued item, once any reshape under way has moved
// its items in, and yields each with its rank. It removes them takeStep at
// a time, so that emptying a long queue neither copies it whole (a million
// items are 160 MB) nor holds the lock throughout. The caller must take
// them all: a loop that stops early loses the ones removed with the last
// it got.
func (q *queue) takeAll() iter.Seq2[int, item] {
	return func(yield func(int, item) bool) {
		q.reshapeMu.Lock()
		defer q.reshapeMu.Unlock()
		var buf [takeStep]item
		i := 0
		for {
			q.mu.Lock()
			n := 0
			for n < len(buf) && q.d.len() > 0 {
				buf[n] = q.d.removeFirst()
				n++
			}
			q.publish()
			q.mu.Unlock()
			if n == 0 {
				return
			}
			for j := range n {
				if !yield(i, buf[j]) {
					return
				}
				buf[j] = item{}
				i++
			}
			runtime.Gosched() // as in reshape
		}
	}
}

// size returns the queue's length, capacity, bytes and byte budget,
// without taking its lock: the tick reads them while a reshape may hold it.
func (q *queue) size() (n, capacity int, bytes, budget int64) {
	return int(q.depth.Load()), int(q.capacity.Load()), q.bytes.Load(), q.budget
}

// reshape replaces the discipline with one of the given policy and
// capacity, and moves the queued items into it, earliest deadline (FIFO,
// LIFO: oldest) first, reshapeStep at a time: pushes and workers take the
// lock between steps, so a reshape of a long queue stops neither. It
// returns the items that no longer fit.
func (q *queue) reshape(p Policy, capacity int) (dropped []item) {
	q.reshapeMu.Lock()
	defer q.reshapeMu.Unlock()
	q.mu.Lock()
	old := q.d
	q.d, q.cap = newDiscipline(p, &q.pool), capacity
	q.moving, q.movingBytes = old.len(), old.size()
	q.capacity.Store(int64(capacity))
	q.publish()
	q.mu.Unlock()
	for {
		q.mu.Lock()
		if q.stepHook != nil {
			q.stepHook()
		}
		for i := 0; i < reshapeStep && old.len() > 0; i++ {
			it := old.removeFirst()
			q.moving--
			q.movingBytes -= sizeOf(it)
			var ok bool
			dropped, ok = q.admit(it, false, dropped)
			if !ok {
				dropped = append(dropped, it)
			}
		}
		q.publish()
		left, more := old.len(), q.d.len() > 0
		q.mu.Unlock()
		if more || left == 0 {
			// The last step wakes a worker even with nothing moved in: a
			// closed queue's workers wait for the reshape to end.
			q.wake()
		}
		if left == 0 {
			return dropped
		}
		// Let what the step kept waiting run now (the tick's goroutine,
		// if its timer fired): on few cores it would wait for the
		// scheduler to preempt this loop, up to 10 ms.
		runtime.Gosched()
	}
}
