package pipeline

import (
	"math/bits"
	"time"

	"github.com/ontime-rt/ontime/internal/event"
)

// item is a queued event with its absolute deadline, cached for ordering.
type item struct {
	ev       event.Event
	deadline time.Time
	queued   time.Time
}

// A queue's items are stored in chunks of chunkLen items (80 KiB), never in
// one slice: growing a queue of a million items by doubling a slice would
// allocate, zero and copy 160 MB under the queue's lock (and without
// preemption, since items hold pointers), which stalls every goroutine
// that a garbage collection waits for, the tick's among them. Growing by a
// chunk costs one small allocation; no item is ever moved to grow or
// shrink.
const (
	chunkShift = 9
	chunkLen   = 1 << chunkShift
	chunkMask  = chunkLen - 1
)

type chunk [chunkLen]item

// chunkPool keeps up to maxFree emptied chunks for the next growth, shared
// by the disciplines of one queue (under its lock): a length hovering at a
// chunk's boundary does not allocate and free a chunk each time, and a
// reshape, which empties the old discipline as it fills the new one, moves
// a million items without allocating their storage afresh.
type chunkPool struct{ free []*chunk }

const maxFree = 4

func (p *chunkPool) get() *chunk {
	if p == nil || len(p.free) == 0 {
		return new(chunk)
	}
	c := p.free[len(p.free)-1]
	p.free[len(p.free)-1] = nil
	p.free = p.free[:len(p.free)-1]
	return c
}

// put takes back c, whose slots must all be zero.
func (p *chunkPool) put(c *chunk) {
	if p != nil && len(p.free) < maxFree {
		p.free = append(p.free, c)
	}
}

// store holds the chunks of a heap or deque, taken from and given back to
// pool (nil: none).
type store struct {
	c    []*chunk
	pool *chunkPool
}

// slot is item j of the chunks in order.
func (s *store) slot(j int) *item { return &s.c[j>>chunkShift][j&chunkMask] }

// grow appends a chunk.
func (s *store) grow() { s.c = append(s.c, s.pool.get()) }

// trim gives back the chunks beyond the ones slots 0 to used-1 take and
// one more, so that a length that goes down and up by a few items moves no
// chunk. Emptied slots must already be zero.
func (s *store) trim(used int) {
	keep := (used+chunkLen-1)>>chunkShift + 1
	for len(s.c) > keep {
		last := len(s.c) - 1
		s.pool.put(s.c[last])
		s.c[last] = nil
		s.c = s.c[:last]
	}
	if len(s.c) == 0 {
		s.c = nil // the slice of chunk pointers too
	}
}

// dropFirst gives back the first chunk, whose slots must all be zero.
func (s *store) dropFirst() {
	s.pool.put(s.c[0])
	copy(s.c, s.c[1:])
	s.c[len(s.c)-1] = nil
	s.c = s.c[:len(s.c)-1]
}

// minMaxHeap is a double-ended priority queue of items ordered by deadline
// (Atkinson et al., 1986): the earliest and the latest deadline are both
// reachable in O(1) and removable in O(log n). Even levels (the root is
// level 0) are min levels: an item there is no later than its descendants;
// odd levels are max levels. Its array is a store's chunks.
type minMaxHeap struct {
	s store
	n int
}

func (h *minMaxHeap) len() int { return h.n }

// at is the item at index i.
func (h *minMaxHeap) at(i int) *item { return h.s.slot(i) }

func (h *minMaxHeap) swap(i, j int) {
	a, b := h.at(i), h.at(j)
	*a, *b = *b, *a
}

func less(x, y item) bool { return x.deadline.Before(y.deadline) }

// greater is less reversed, for the max levels.
func greater(x, y item) bool { return less(y, x) }

func isMinLevel(i int) bool { return bits.Len(uint(i+1))%2 == 1 }

func (h *minMaxHeap) push(it item) {
	if h.n == len(h.s.c)<<chunkShift {
		h.s.grow()
	}
	*h.at(h.n) = it
	h.n++
	h.up(h.n - 1)
}

// min returns the index of the earliest deadline; the heap must not be empty.
func (h *minMaxHeap) minIndex() int { return 0 }

// maxIndex returns the index of the latest deadline; the heap must not be
// empty.
func (h *minMaxHeap) maxIndex() int {
	switch h.n {
	case 1:
		return 0
	case 2:
		return 1
	default:
		if less(*h.at(1), *h.at(2)) {
			return 2
		}
		return 1
	}
}

func (h *minMaxHeap) peek(i int) item { return *h.at(i) }

// remove removes and returns the item at index i (0 for the minimum,
// maxIndex() for the maximum).
func (h *minMaxHeap) remove(i int) item {
	it := *h.at(i)
	last := h.n - 1
	*h.at(i) = *h.at(last)
	*h.at(last) = item{}
	h.n = last
	// Give back what a backlog grew: the heap's memory follows its items.
	h.s.trim(h.n)
	if i < h.n {
		h.down(i)
		h.up(i)
	}
	return it
}

func (h *minMaxHeap) up(i int) {
	if i == 0 {
		return
	}
	p := (i - 1) / 2
	if isMinLevel(i) {
		if less(*h.at(p), *h.at(i)) {
			h.swap(i, p)
			h.upWith(p, greater)
		} else {
			h.upWith(i, less)
		}
	} else {
		if less(*h.at(i), *h.at(p)) {
			h.swap(i, p)
			h.upWith(p, less)
		} else {
			h.upWith(i, greater)
		}
	}
}

// upWith bubbles i up through its grandparents while before(i, grandparent).
func (h *minMaxHeap) upWith(i int, before func(x, y item) bool) {
	for i > 2 {
		g := ((i-1)/2 - 1) / 2
		if !before(*h.at(i), *h.at(g)) {
			return
		}
		h.swap(i, g)
		i = g
	}
}

func (h *minMaxHeap) down(i int) {
	if isMinLevel(i) {
		h.downWith(i, less)
	} else {
		h.downWith(i, greater)
	}
}

// downWith trickles i down: before is "less" on min levels and "greater" on
// max levels.
func (h *minMaxHeap) downWith(i int, before func(x, y item) bool) {
	n := h.n
	for {
		// m: the child or grandchild that should come first.
		first := 2*i + 1
		if first >= n {
			return
		}
		m := first
		for _, c := range [...]int{2*i + 2, 4*i + 3, 4*i + 4, 4*i + 5, 4*i + 6} {
			if c < n && before(*h.at(c), *h.at(m)) {
				m = c
			}
		}
		if m > 2*i+2 { // a grandchild
			if !before(*h.at(m), *h.at(i)) {
				return
			}
			h.swap(m, i)
			p := (m - 1) / 2
			if before(*h.at(p), *h.at(m)) {
				h.swap(m, p)
			}
			i = m
			continue
		}
		if before(*h.at(m), *h.at(i)) {
			h.swap(m, i)
		}
		return
	}
}
