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
func ParsePolicy(s string) (Policy, error) {
	for _, p := range Policies {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown policy %q (want one of %v)", s, Policies)
}

// discipline orders the queued items. Implementations are not safe for
// concurrent use; the queue's mutex guards them.
type discipline interface {
	len() int
	push(it item)
	// evictFor makes room in a full queue for it: it removes and returns
	// the item to drop instead of it, or reports false when it is the one
	// to drop.
	evictFor(it item) (item, bool)
	// next removes and returns the item to serve; workers is the number of
	// workers, for policies that adapt to the backlog.
	next(workers int) item
	// first returns, without removing, the item whose deadline comes first
	// (approximately, for FIFO and LIFO: the oldest).
	first() item
	// removeFirst removes the item first returns.
	removeFirst() item
}

func newDiscipline(p Policy, capacity int) discipline {
	switch p {
	case EDF:
		return &edf{h: minMaxHeap{a: make([]item, 0, min(capacity, 4096))}}
	case LIFO:
		return &deque{buf: make([]item, capacity), lifo: true}
	default:
		return &deque{buf: make([]item, capacity)}
	}
}

// deque is a ring buffer serving FIFO, or adaptive LIFO when lifo is set.
type deque struct {
	buf     []item
	head, n int
	lifo    bool
}

func (d *deque) len() int { return d.n }

func (d *deque) push(it item) {
	d.buf[(d.head+d.n)%len(d.buf)] = it
	d.n++
}

func (d *deque) evictFor(it item) (item, bool) {
	if !d.lifo {
		return item{}, false
	}
	old := d.removeFirst()
	d.push(it)
	return old, true
}

func (d *deque) next(workers int) item {
	if d.lifo && d.n > workers {
		i := (d.head + d.n - 1) % len(d.buf)
		it := d.buf[i]
		d.buf[i] = item{}
		d.n--
		return it
	}
	return d.removeFirst()
}

func (d *deque) first() item { return d.buf[d.head] }

func (d *deque) removeFirst() item {
	it := d.buf[d.head]
	d.buf[d.head] = item{}
	d.head = (d.head + 1) % len(d.buf)
	d.n--
	return it
}

// edf keeps items in a min-max heap by deadline.
type edf struct{ h minMaxHeap }

func (e *edf) len() int          { return e.h.len() }
func (e *edf) push(it item)      { e.h.push(it) }
func (e *edf) next(int) item     { return e.h.remove(e.h.minIndex()) }
func (e *edf) first() item       { return e.h.peek(e.h.minIndex()) }
func (e *edf) removeFirst() item { return e.h.remove(e.h.minIndex()) }

func (e *edf) evictFor(it item) (item, bool) {
	last := e.h.maxIndex()
	if !less(it, e.h.peek(last)) {
		return item{}, false
	}
	old := e.h.remove(last)
	e.h.push(it)
	return old, true
}

// viable reports whether an item can still finish in time if started now,
// given the service time it needs.
func viable(it item, now time.Time, need time.Duration) bool {
	return it.deadline.Sub(now) >= need
}
