package outcomes

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/event"
)

// fill claims and finishes n events, each with a result of size bytes.
func fill(s *Store, n, size int) {
	out := make([]byte, size)
	for i := range n {
		s.Claim(idOf(i), nil)
		r := result(i, event.OnTime, "")
		if size > 0 {
			// A result of its own per event, as a worker's answer is.
			r.Output = append([]byte(nil), out...)
		}
		s.Finish(r)
	}
}

// Lookups cost the same in a window of 1,000 and of 100,000 entries.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			s := New(Config{Max: n, Age: time.Hour})
			fill(s, n, 0)
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if _, ok := s.Lookup(idOf(i % n)); !ok {
					b.Fatal("missing")
				}
				i++
			}
		})
	}
}

// An event's way through a full window: claimed (evicting the oldest) and
// finished.
func BenchmarkClaimFinish(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			s := New(Config{Max: n, Age: time.Hour})
			fill(s, n, 0)
			i := n
			b.ResetTimer()
			for b.Loop() {
				s.Claim(idOf(i), nil)
				s.Finish(result(i, event.OnTime, ""))
				i++
			}
		})
	}
}

// The heap a full window of 100,000 entries holds, per entry: without
// results, and with a 4 KiB result each (the worst case, which the result
// budget then bounds).
func BenchmarkMemoryPerEntry(b *testing.B) {
	for _, size := range []int{0, 4 << 10} {
		b.Run(fmt.Sprintf("result=%d", size), func(b *testing.B) {
			const n = 100_000
			var per, held float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				s := New(Config{Max: n, Age: time.Hour})
				fill(s, n, size)
				runtime.GC()
				runtime.ReadMemStats(&after)
				held = float64(s.Len())
				per = float64(after.HeapAlloc-before.HeapAlloc) / held
				runtime.KeepAlive(s)
			}
			b.ReportMetric(per, "B/entry")
			b.ReportMetric(held, "entries")
		})
	}
}
