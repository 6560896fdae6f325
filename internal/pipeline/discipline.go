package pipeline

import (
	"fmt"
	"time"
)

// Policy names a queueing and shedding discipline.
type Policy string

// The policies. Every policy drops an event that can no longer start in
// time, and reports each drop with its reason.
const (
	// FIFO is the baseline: first come, first served; a full queue drops the
	// newcomer; an event is dropped at dequeue only once its deadline has
	// passed. Under overload most events start too late to finish in time.
	FIFO Policy = "fifo"
	// EDF serves the earliest deadline first and sheds, at dequeue, events
	// whose time left is shorter than the expected service time (a learned
	// high percentile), so workers only start events that can finish in
	// time. A full queue evicts the latest deadline when the newcomer's is
	// earlier. The default.
	EDF Policy = "edf"
	// LIFO is adaptive LIFO: first come, first served while the queue is
	// short (no more events waiting than workers), newest first once it
	// backs up, so under overload fresh events are served with their whole
	// deadline ahead of them. Sheds like EDF; a full queue evicts the oldest.
	LIFO Policy = "lifo"
)

// Policies lists every policy, the default first.
var Policies = []Policy{EDF, LIFO, FIFO}

// ParsePolicy checks a policy name.
func ParsePolicy(s string) (Policy, error) { return parseName("policy", s, Policies) }

// parseName returns the one of names spelled s, or an error saying what
// was unknown and listing the names.
func parseName[T ~string](what, s string, names []T) (T, error) {
	for _, n := range names {
		if string(n) == s {
			return n, nil
		}
	}
	return "", fmt.Errorf("unknown %s %q (want one of %v)", what, s, names)
}

// discipline orders the queued items. Implementations are not safe for
// concurrent use; the queue's mutex guards them. Each keeps the bytes of
// the items it holds (see sizeOf), and allocates as it fills, a chunk at a
// time, not up front: a queue's capacity costs nothing until events wait
// in it, and a long queue never moves its items to grow or shrink.
type discipline interface {
	len() int
	// size is the bytes of the items held, by sizeOf.
	size() int64
	push(it item)
	// evictFor removes and returns the item to drop so that it can take
	// its place, or reports false when it is the one to drop (or the
	// discipline is empty). It does not push it.
	evictFor(it item) (item, bool)
	// next removes and returns the item to serve; workers is the number of
	// workers, for policies that adapt to the backlog.
	next(workers int) item
	// first returns, without removing, the item whose deadline comes first
	// (approximately, for FIFO and LIFO: the oldest).
	first() item
	// removeFirst removes the item first returns.
	removeFirst() item
	// last returns, without removing, the item with the latest deadline
	// (EDF) or the newest (FIFO, LIFO).
	last() item
}

// newDiscipline returns an empty discipline of policy p whose storage
// comes from and goes back to pool (nil: none).
func newDiscipline(p Policy, pool *chunkPool) discipline {
	switch p {
	case EDF:
		return &edf{h: minMaxHeap{s: store{pool: pool}}}
	case LIFO:
		return &deque{s: store{pool: pool}, lifo: true}
	default:
		return &deque{s: store{pool: pool}}
	}
}

// deque is a double-ended queue serving FIFO, or adaptive LIFO when lifo is
// set. Its items are the slots head to head+n-1 of a store's chunks: it
// grows by a chunk at the back, gives back the first chunk once spent and
// the chunks at the back once empty, and never moves an item (O(1) per
// operation, amortised over a chunk).
type deque struct {
	s       store
	head, n int
	bytes   int64
	lifo    bool
}

func (d *deque) len() int    { return d.n }
func (d *deque) size() int64 { return d.bytes }

// at is the i-th item from the front.
func (d *deque) at(i int) *item { return d.s.slot(d.head + i) }

func (d *deque) push(it item) {
	if d.head+d.n == len(d.s.c)<<chunkShift {
		d.s.grow()
	}
	*d.at(d.n) = it
	d.n++
	d.bytes += sizeOf(it)
}

// take removes the i-th item (the first or the last) and accounts for it
// leaving; the chunks it empties are given back.
func (d *deque) take(i int) item {
	p := d.at(i)
	it := *p
	*p = item{}
	d.n--
	d.bytes -= sizeOf(it)
	if i == 0 {
		d.head++
		if d.head == chunkLen {
			d.s.dropFirst()
			d.head = 0
		}
	}
	if d.n == 0 {
		d.head = 0 // every slot is zero: start the first chunk afresh
	}
	d.s.trim(d.head + d.n)
	return it
}

func (d *deque) evictFor(item) (item, bool) {
	if !d.lifo || d.n == 0 {
		return item{}, false
	}
	return d.removeFirst(), true
}

func (d *deque) next(workers int) item {
	if d.lifo && d.n > workers {
		return d.take(d.n - 1)
	}
	return d.removeFirst()
}

func (d *deque) first() item       { return *d.at(0) }
func (d *deque) last() item        { return *d.at(d.n - 1) }
func (d *deque) removeFirst() item { return d.take(0) }

// edf keeps items in a min-max heap by deadline.
type edf struct {
	h     minMaxHeap
	bytes int64
}

func (e *edf) len() int    { return e.h.len() }
func (e *edf) size() int64 { return e.bytes }
func (e *edf) push(it item) {
	e.h.push(it)
	e.bytes += sizeOf(it)
}
func (e *edf) next(int) item     { return e.removeFirst() }
func (e *edf) first() item       { return e.h.peek(e.h.minIndex()) }
func (e *edf) last() item        { return e.h.peek(e.h.maxIndex()) }
func (e *edf) removeFirst() item { return e.remove(e.h.minIndex()) }

func (e *edf) remove(i int) item {
	it := e.h.remove(i)
	e.bytes -= sizeOf(it)
	return it
}

func (e *edf) evictFor(it item) (item, bool) {
	if e.h.len() == 0 {
		return item{}, false
	}
	last := e.h.maxIndex()
	if !less(it, e.h.peek(last)) {
		return item{}, false
	}
	return e.remove(last), true
}

// viable reports whether an item can still finish in time if started now,
// given the service time it needs.
func viable(it item, now time.Time, need time.Duration) bool {
	return it.deadline.Sub(now) >= need
}
