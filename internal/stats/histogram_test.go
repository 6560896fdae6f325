package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// quantiles checked against the oracle, the tails included.
var quantiles = []float64{0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1}

// oracle is the exact value at quantile q of sorted, with the histogram's
// rank convention: the ceil-rounded rank q*n, at least the first value.
func oracle(sorted []time.Duration, q float64) time.Duration {
	rank := int(q*float64(len(sorted)) + 0.5)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// latencies returns n latencies spread log-uniformly from 1 µs to 10 s, so
// every magnitude the histogram tracks is exercised.
func latencies(r *rand.Rand, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(math.Pow(10, 3+7*r.Float64())) // 1e3 ns to 1e10 ns
	}
	return out
}

// Quantiles are within the stated precision (1%, plus the microsecond unit)
// of the exact ones, and the maximum is exact.
func TestHistogramQuantilesVsOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 3, 10, 101, 10000} {
		vals := latencies(r, n)
		h := NewHistogram()
		for _, v := range vals {
			h.Record(v)
		}
		sorted := slices.Sorted(slices.Values(vals))
		if h.Count() != int64(n) {
			t.Fatalf("n=%d: count %d", n, h.Count())
		}
		if h.Max() != sorted[n-1] {
			t.Fatalf("n=%d: max %v, want exactly %v", n, h.Max(), sorted[n-1])
		}
		for _, q := range quantiles {
			got, want := h.Quantile(q), oracle(sorted, q)
			if tol := want/100 + time.Microsecond; got < want-tol || got > want+tol {
				t.Errorf("n=%d: q%g = %v, want %v ± %v", n, q, got, want, tol)
			}
			if got > h.Max() {
				t.Errorf("n=%d: q%g = %v above the max %v", n, q, got, h.Max())
			}
		}
	}
}

// Merging histograms gives exactly the histogram of all their values, as
// merging the ticks of a run or the nodes of a cluster requires.
func TestHistogramMergeExact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	all, parts := NewHistogram(), make([]*Histogram, 4)
	for i := range parts {
		parts[i] = NewHistogram()
		for _, v := range latencies(r, 1000*(i+1)) {
			parts[i].Record(v)
			all.Record(v)
		}
	}
	merged := NewHistogram()
	for _, p := range parts {
		merged.Merge(p)
	}
	merged.Merge(NewHistogram()) // an empty one changes nothing
	if merged.Count() != all.Count() || merged.Max() != all.Max() {
		t.Fatalf("merged count %d max %v, want %d %v", merged.Count(), merged.Max(), all.Count(), all.Max())
	}
	for q := 0.0; q <= 1; q += 0.001 {
		if got, want := merged.Quantile(q), all.Quantile(q); got != want {
			t.Fatalf("q%g: merged %v, recorded together %v", q, got, want)
		}
	}
	if parts[0].Count() != 1000 {
		t.Fatalf("merging changed its source: count %d", parts[0].Count())
	}
}

func TestHistogramEmpty(t *testing.T) {
	h := NewHistogram()
	if h.Count() != 0 || h.Max() != 0 || h.Quantile(0.5) != 0 || h.Quantile(1) != 0 {
		t.Fatalf("empty: count %d max %v p50 %v p100 %v, want zeros", h.Count(), h.Max(), h.Quantile(0.5), h.Quantile(1))
	}
	if s := h.Summary(); s != (Summary{}) {
		t.Fatalf("empty summary %+v, want zeros", s)
	}
}

// With one value every quantile above 0 is that value, exactly: the
// bucket's top is capped by the exact maximum. (Quantile 0 is the bucket's
// bottom, within the precision.)
func TestHistogramSingleValue(t *testing.T) {
	h := NewHistogram()
	const v = 42*time.Millisecond + 517*time.Microsecond
	h.Record(v)
	for _, q := range quantiles[1:] {
		if got := h.Quantile(q); got != v {
			t.Fatalf("q%g = %v, want %v", q, got, v)
		}
	}
	if got := h.Quantile(0); got > v || got < v-v/100 {
		t.Fatalf("q0 = %v, want %v within 1%%", got, v)
	}
	if s := h.Summary(); s != (Summary{Count: 1, P50: 42.517, P90: 42.517, P99: 42.517, Max: 42.517}) {
		t.Fatalf("summary %+v", s)
	}
}

// A latency beyond the trackable hour is counted at the top of the range,
// its exact value kept as the maximum; a negative one counts as zero.
func TestHistogramOutOfRange(t *testing.T) {
	h := NewHistogram()
	h.Record(3 * time.Hour)
	if h.Count() != 1 || h.Max() != 3*time.Hour {
		t.Fatalf("count %d max %v, want 1 and exactly 3h", h.Count(), h.Max())
	}
	if got := h.Quantile(0.5); got < time.Hour || got > time.Hour+time.Hour/100 {
		t.Fatalf("p50 %v, want the top of the range (1h within 1%%)", got)
	}
	h.Record(time.Duration(math.MaxInt64))
	if h.Count() != 2 || h.Max() != time.Duration(math.MaxInt64) {
		t.Fatalf("count %d max %v after the largest duration", h.Count(), h.Max())
	}

	neg := NewHistogram()
	neg.Record(-5 * time.Millisecond)
	if neg.Count() != 1 || neg.Quantile(0.5) != 0 || neg.Max() != 0 {
		t.Fatalf("negative latency: count %d p50 %v max %v, want 1, 0, 0", neg.Count(), neg.Quantile(0.5), neg.Max())
	}
}

func TestHistogramReset(t *testing.T) {
	h := NewHistogram()
	h.Record(time.Second)
	h.Reset()
	if h.Count() != 0 || h.Max() != 0 || h.Quantile(1) != 0 {
		t.Fatalf("after Reset: count %d max %v p100 %v", h.Count(), h.Max(), h.Quantile(1))
	}
	h.Record(time.Millisecond)
	if h.Max() != time.Millisecond || h.Quantile(1) != time.Millisecond {
		t.Fatalf("after Reset and a record: max %v p100 %v", h.Max(), h.Quantile(1))
	}
}

// The binary form carries the counts and the exact maximum; it refuses what
// it cannot have written.
func TestHistogramBinary(t *testing.T) {
	h := NewHistogram()
	for _, v := range latencies(rand.New(rand.NewPCG(5, 6)), 5000) {
		h.Record(v)
	}
	data, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back Histogram
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if back.Count() != h.Count() || back.Max() != h.Max() {
		t.Fatalf("decoded count %d max %v, want %d %v", back.Count(), back.Max(), h.Count(), h.Max())
	}
	for q := 0.0; q <= 1; q += 0.01 {
		if back.Quantile(q) != h.Quantile(q) {
			t.Fatalf("q%g: decoded %v, want %v", q, back.Quantile(q), h.Quantile(q))
		}
	}
	negMax := slices.Clone(data)
	negMax[1] = 0x80
	for name, bad := range map[string][]byte{
		"empty":        nil,
		"short":        data[:8],
		"version":      append([]byte{2}, data[1:]...),
		"negative max": negMax,
		"truncated":    data[:len(data)/2],
	} {
		if err := new(Histogram).UnmarshalBinary(bad); err == nil {
			t.Errorf("%s: decoded without an error", name)
		}
	}
}

func TestMillis(t *testing.T) {
	for d, want := range map[time.Duration]float64{
		0:                        0,
		1500 * time.Nanosecond:   0.002, // rounded to the microsecond
		1499 * time.Nanosecond:   0.001,
		42517 * time.Microsecond: 42.517,
		-2 * time.Millisecond:    -2,
		90 * time.Second:         90000,
	} {
		if got := Millis(d); got != want {
			t.Errorf("Millis(%v) = %v, want %v", d, got, want)
		}
	}
}
