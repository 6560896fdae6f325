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
// the items it holds (see sizeOf), and allocates as it fills, not up front:
// a queue's capacity costs nothing until events wait in it.
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

func newDiscipline(p Policy) discipline {
	switch p {
	case EDF:
		return &edf{}
	case LIFO:
		return &deque{lifo: true}
	default:
		return &deque{}
	}
}

// minRing is the least ring a deque allocates, and below which it does not
// shrink.
const minRing = 64

// deque is a ring buffer serving FIFO, or adaptive LIFO when lifo is set.
// It doubles when full and halves when a quarter full, so its memory
// follows the items it holds (amortised O(1) per operation).
type deque struct {
	buf     []item
	head, n int
	bytes   int64
	lifo    bool
}

func (d *deque) len() int     { return d.n }
func (d *deque) size() int64  { return d.bytes }
func (d *deque) at(i int) int { return (d.head + i) & (len(d.buf) - 1) }

// resize moves the items into a ring of n slots (a power of two).
func (d *deque) resize(n int) {
	buf := make([]item, n)
	for i := range d.n {
		buf[i] = d.buf[d.at(i)]
	}
	d.buf, d.head = buf, 0
}

func (d *deque) push(it item) {
	if d.n == len(d.buf) {
		d.resize(max(2*len(d.buf), minRing))
	}
	d.buf[d.at(d.n)] = it
	d.n++
	d.bytes += sizeOf(it)
}

// removed accounts for it leaving, and shrinks the ring when it is mostly
// empty.
func (d *deque) removed(it item) item {
	d.n--
	d.bytes -= sizeOf(it)
	if len(d.buf) > minRing && d.n <= len(d.buf)/4 {
		d.resize(len(d.buf) / 2)
	}
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

func (d *deque) first() item { return d.buf[d.head] }

func (d *deque) last() item { return d.buf[d.at(d.n-1)] }

func (d *deque) removeLast() item {
	i := d.at(d.n - 1)
	it := d.buf[i]
	d.buf[i] = item{}
	return d.removed(it)
}

func (d *deque) removeFirst() item {
	it := d.buf[d.head]
	d.buf[d.head] = item{}
	d.head = d.at(1)
	return d.removed(it)
}

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
