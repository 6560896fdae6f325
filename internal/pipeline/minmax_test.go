package pipeline

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/ontime-rt/ontime/internal/event"
)

// boundaries are initial lengths around chunk boundaries, so that growing
// and trimming cross them.
var boundaries = []int{0, 1, chunkLen - 1, chunkLen, chunkLen + 1, 2*chunkLen + 7, 3 * chunkLen}

// The min-max heap agrees with a sorted reference under any sequence of
// pushes and removals at either end.
func TestMinMaxHeapMatchesSortedReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base := time.Unix(0, 0)
		h := minMaxHeap{s: store{pool: &chunkPool{}}}
		var ref []time.Duration
		for range rapid.SampledFrom(boundaries).Draw(t, "initial") {
			d := time.Duration(rapid.IntRange(0, 50).Draw(t, "d")) * time.Millisecond
			h.push(item{deadline: base.Add(d)})
			i, _ := slices.BinarySearch(ref, d)
			ref = slices.Insert(ref, i, d)
		}
		ops := rapid.SliceOfN(rapid.IntRange(0, 2), chunkLen/2, 4*chunkLen).Draw(t, "ops")
		for i, op := range ops {
			switch {
			case op == 0 || len(ref) == 0:
				d := time.Duration(rapid.IntRange(0, 50).Draw(t, "d")) * time.Millisecond
				h.push(item{deadline: base.Add(d)})
				i, _ := slices.BinarySearch(ref, d)
				ref = slices.Insert(ref, i, d)
			case op == 1:
				got := h.remove(h.minIndex()).deadline.Sub(base)
				if got != ref[0] {
					t.Fatalf("op %d: min %s, want %s", i, got, ref[0])
				}
				ref = ref[1:]
			default:
				got := h.remove(h.maxIndex()).deadline.Sub(base)
				if want := ref[len(ref)-1]; got != want {
					t.Fatalf("op %d: max %s, want %s", i, got, want)
				}
				ref = ref[:len(ref)-1]
			}
			if h.len() != len(ref) {
				t.Fatalf("len %d, want %d", h.len(), len(ref))
			}
			if chunks := len(h.s.c); chunks > (len(ref)+chunkLen-1)/chunkLen+1 {
				t.Fatalf("%d chunks for %d items", chunks, len(ref))
			}
		}
	})
}

// A deque (FIFO, or LIFO past the workers) agrees with a slice under any
// sequence of pushes, removals at the front, takes from the back and
// evictions, across chunk boundaries; it holds at most one chunk beyond
// those its items need.
func TestDequeMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		lifo := rapid.Bool().Draw(t, "lifo")
		d := &deque{s: store{pool: &chunkPool{}}, lifo: lifo}
		var ref []int
		next := 0
		push := func() {
			d.push(item{ev: event.Event{Work: time.Duration(next)}})
			ref = append(ref, next)
			next++
		}
		for range rapid.SampledFrom(boundaries).Draw(t, "initial") {
			push()
		}
		ops := rapid.SliceOfN(rapid.IntRange(0, 3), chunkLen/2, 4*chunkLen).Draw(t, "ops")
		for i, op := range ops {
			var got, want int
			switch {
			case op == 0 || len(ref) == 0:
				push()
				continue
			case op == 1:
				got, want = int(d.removeFirst().ev.Work), ref[0]
				ref = ref[1:]
			case op == 2:
				// next serves the newest under LIFO once more wait than
				// the workers (here none), else the oldest.
				got = int(d.next(0).ev.Work)
				if lifo {
					want, ref = ref[len(ref)-1], ref[:len(ref)-1]
				} else {
					want, ref = ref[0], ref[1:]
				}
			default:
				it, ok := d.evictFor(item{})
				if ok != lifo {
					t.Fatalf("op %d: evictFor %v under lifo=%v", i, ok, lifo)
				}
				if !ok {
					continue
				}
				got, want = int(it.ev.Work), ref[0]
				ref = ref[1:]
			}
			if got != want {
				t.Fatalf("op %d (%d): got item %d, want %d", i, op, got, want)
			}
			if d.len() != len(ref) || d.size() != int64(len(ref))*itemOverhead {
				t.Fatalf("op %d: len %d size %d, want %d items", i, d.len(), d.size(), len(ref))
			}
			if len(ref) > 0 && (int(d.first().ev.Work) != ref[0] || int(d.last().ev.Work) != ref[len(ref)-1]) {
				t.Fatalf("op %d: first %d last %d, want %d %d", i, d.first().ev.Work, d.last().ev.Work, ref[0], ref[len(ref)-1])
			}
			if chunks := len(d.s.c); chunks > (d.head+len(ref)+chunkLen-1)/chunkLen+1 {
				t.Fatalf("op %d: %d chunks for %d items from slot %d", i, chunks, len(ref), d.head)
			}
		}
	})
}
