package pipeline

import (
	"fmt"

	"github.com/ontime-rt/ontime/internal/config"
)

// Policy names a queueing and shedding discipline: package config's,
// which describes the settings (see config.Policy for each one).
type Policy = config.Policy

// The policies.
const (
	FIFO = config.FIFO
	EDF  = config.EDF
	LIFO = config.LIFO
)

// Policies lists every policy, the default first.
var Policies = config.Policies()

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
	// last returns, without removing, the item with the most time ahead
	// of it: the latest deadline for EDF, the newest for the deques. The
	// discipline is not empty.
	last() item
	// removeLast removes the item last returns.
	removeLast() item
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
		return d.removeLast()
	}
	return d.removeFirst()
}

func (d *deque) first() item       { return *d.at(0) }
func (d *deque) last() item        { return *d.at(d.n - 1) }
func (d *deque) removeFirst() item { return d.take(0) }
func (d *deque) removeLast() item  { return d.take(d.n - 1) }

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
func (e *edf) removeLast() item  { return e.remove(e.h.maxIndex()) }
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
