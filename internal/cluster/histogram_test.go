package cluster

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/stats"
)

// stats.Histogram travels between nodes in its binary form.
func TestHistogramBinaryRoundTrip(t *testing.T) {
	h := stats.NewHistogram()
	if data, err := h.MarshalBinary(); err != nil {
		t.Fatal(err)
	} else {
		g := stats.NewHistogram()
		g.Record(time.Second) // replaced by the decoded one
		if err := g.UnmarshalBinary(data); err != nil || g.Count() != 0 || g.Summary() != h.Summary() {
			t.Fatalf("empty: %v, %+v", err, g.Summary())
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		h.Record(time.Duration(rng.Int64N(int64(300 * time.Millisecond))))
	}
	h.Record(1234567 * time.Nanosecond) // an exact max is kept apart
	data, err := h.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("1001 latencies encode in %d bytes", len(data))
	g := stats.NewHistogram()
	if err := g.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if g.Summary() != h.Summary() || g.Max() != h.Max() || g.Count() != h.Count() || g.Quantile(0.999) != h.Quantile(0.999) || g.Quantile(0.25) != h.Quantile(0.25) {
		t.Fatalf("round trip: %+v, want %+v", g.Summary(), h.Summary())
	}
	for _, bad := range [][]byte{nil, {2}, data[:9], append([]byte{1, 0x80}, data[2:]...), data[:len(data)-3]} {
		if err := stats.NewHistogram().UnmarshalBinary(bad); err == nil {
			t.Errorf("UnmarshalBinary(%x...) accepted", bad[:min(len(bad), 10)])
		}
	}
}

// Merging the decoded histograms of several nodes gives the histogram of all
// their latencies.
func TestHistogramMergeAcrossWire(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	all := stats.NewHistogram()
	merged := stats.NewHistogram()
	for range 3 {
		h := stats.NewHistogram()
		for range 400 {
			d := time.Duration(rng.Int64N(int64(200 * time.Millisecond)))
			h.Record(d)
			all.Record(d)
		}
		data, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		g := stats.NewHistogram()
		if err := g.UnmarshalBinary(data); err != nil {
			t.Fatal(err)
		}
		merged.Merge(g)
	}
	if a, b := merged.Summary(), all.Summary(); a != b {
		t.Fatalf("merged %+v, single %+v", a, b)
	}
}
