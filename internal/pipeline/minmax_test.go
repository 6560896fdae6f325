package pipeline

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// The min-max heap agrees with a sorted reference under any sequence of
// pushes and removals at either end.
func TestMinMaxHeapMatchesSortedReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		base := time.Unix(0, 0)
		var h minMaxHeap
		var ref []time.Duration
		ops := rapid.SliceOfN(rapid.IntRange(0, 2), 1, 300).Draw(t, "ops")
		for i, op := range ops {
			switch {
			case op == 0 || len(ref) == 0:
				d := time.Duration(rapid.IntRange(0, 50).Draw(t, "d")) * time.Millisecond
				h.push(item{deadline: base.Add(d)})
				ref = append(ref, d)
				slices.Sort(ref)
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
		}
	})
}
