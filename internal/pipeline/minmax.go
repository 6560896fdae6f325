package pipeline

import (
	"time"

	"github.com/ontime-rt/ontime/internal/event"
)

// item is a queued event with its absolute deadline, cached for ordering.
type item struct {
	ev       event.Event
	deadline time.Time
	queued   time.Time
}

// minMaxHeap is a double-ended priority queue of items ordered by deadline
// (Atkinson et al., 1986): the earliest and the latest deadline are both
// reachable in O(1) and removable in O(log n). Even levels (the root is
// level 0) are min levels: an item there is no later than its descendants;
// odd levels are max levels.
type minMaxHeap struct {
	a []item
}

func (h *minMaxHeap) len() int { return len(h.a) }

func less(x, y item) bool { return x.deadline.Before(y.deadline) }

func isMinLevel(i int) bool {
	level := 0
	for i > 0 {
		i = (i - 1) / 2
		level++
	}
	return level%2 == 0
}

func (h *minMaxHeap) push(it item) {
	h.a = append(h.a, it)
	h.up(len(h.a) - 1)
}

// min returns the index of the earliest deadline; the heap must not be empty.
func (h *minMaxHeap) minIndex() int { return 0 }

// maxIndex returns the index of the latest deadline; the heap must not be
// empty.
func (h *minMaxHeap) maxIndex() int {
	switch len(h.a) {
	case 1:
		return 0
	case 2:
		return 1
	default:
		if less(h.a[1], h.a[2]) {
			return 2
		}
		return 1
	}
}

func (h *minMaxHeap) peek(i int) item { return h.a[i] }

// remove removes and returns the item at index i (0 for the minimum,
// maxIndex() for the maximum).
func (h *minMaxHeap) remove(i int) item {
	it := h.a[i]
	last := len(h.a) - 1
	h.a[i] = h.a[last]
	h.a[last] = item{}
	h.a = h.a[:last]
	if cap(h.a) > minRing && len(h.a) <= cap(h.a)/4 {
		// Give back what a backlog grew: the heap's memory follows its items.
		h.a = append(make([]item, 0, cap(h.a)/2), h.a...)
	}
	if i < len(h.a) {
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
		if less(h.a[p], h.a[i]) {
			h.a[i], h.a[p] = h.a[p], h.a[i]
			h.upWith(p, func(x, y item) bool { return less(y, x) })
		} else {
			h.upWith(i, less)
		}
	} else {
		if less(h.a[i], h.a[p]) {
			h.a[i], h.a[p] = h.a[p], h.a[i]
			h.upWith(p, less)
		} else {
			h.upWith(i, func(x, y item) bool { return less(y, x) })
		}
	}
}

// upWith bubbles i up through its grandparents while before(i, grandparent).
func (h *minMaxHeap) upWith(i int, before func(x, y item) bool) {
	for i > 2 {
		g := ((i-1)/2 - 1) / 2
		if !before(h.a[i], h.a[g]) {
			return
		}
		h.a[i], h.a[g] = h.a[g], h.a[i]
		i = g
	}
}

func (h *minMaxHeap) down(i int) {
	if isMinLevel(i) {
		h.downWith(i, less)
	} else {
		h.downWith(i, func(x, y item) bool { return less(y, x) })
	}
}

// downWith trickles i down: before is "less" on min levels and "greater" on
// max levels.
func (h *minMaxHeap) downWith(i int, before func(x, y item) bool) {
	n := len(h.a)
	for {
		// m: the child or grandchild that should come first.
		first := 2*i + 1
		if first >= n {
			return
		}
		m := first
		for _, c := range [...]int{2*i + 2, 4*i + 3, 4*i + 4, 4*i + 5, 4*i + 6} {
			if c < n && before(h.a[c], h.a[m]) {
				m = c
			}
		}
		if m > 2*i+2 { // a grandchild
			if !before(h.a[m], h.a[i]) {
				return
			}
			h.a[m], h.a[i] = h.a[i], h.a[m]
			p := (m - 1) / 2
			if before(h.a[p], h.a[m]) {
				h.a[m], h.a[p] = h.a[p], h.a[m]
			}
			i = m
			continue
		}
		if before(h.a[m], h.a[i]) {
			h.a[m], h.a[i] = h.a[i], h.a[m]
		}
		return
	}
}
