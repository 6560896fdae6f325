package cluster

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/stats"
)

// The local copy must digest exactly as stats.Histogram does.
func TestHistogramMatchesStats(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ours, theirs := newHistogram(), stats.NewHistogram()
	for range 5000 {
		d := time.Duration(rng.ExpFloat64() * float64(20*time.Millisecond))
		ours.Record(d)
		theirs.Record(d)
	}
	ours.Record(-time.Second)
	theirs.Record(-time.Second)
	ours.Record(2 * time.Hour)
	theirs.Record(2 * time.Hour)
	if a, b := ours.Summary(), theirs.Summary(); a != b {
		t.Fatalf("summary %+v, stats.Histogram says %+v", a, b)
	}
}

func TestHistogramBinaryRoundTrip(t *testing.T) {
	h := newHistogram()
	if data, err := h.MarshalBinary(); err != nil {
		t.Fatal(err)
	} else {
		g := newHistogram()
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
	g := newHistogram()
	if err := g.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if g.Summary() != h.Summary() || g.max != h.max || !g.h.Equals(h.h) {
		t.Fatalf("round trip: %+v, want %+v", g.Summary(), h.Summary())
	}
	for _, bad := range [][]byte{nil, {2}, data[:9], append([]byte{1, 0x80}, data[2:]...), data[:len(data)-3]} {
		if err := newHistogram().UnmarshalBinary(bad); err == nil {
			t.Errorf("UnmarshalBinary(%x...) accepted", bad[:min(len(bad), 10)])
		}
	}
}

// Merging the decoded histograms of several nodes gives the histogram of all
// their latencies.
func TestHistogramMergeAcrossWire(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	all := stats.NewHistogram()
	merged := newHistogram()
	for range 3 {
		h := newHistogram()
		for range 400 {
			d := time.Duration(rng.Int64N(int64(200 * time.Millisecond)))
			h.Record(d)
			all.Record(d)
		}
		data, err := h.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		g := newHistogram()
		if err := g.UnmarshalBinary(data); err != nil {
			t.Fatal(err)
		}
		merged.Merge(g)
	}
	if a, b := merged.Summary(), all.Summary(); a != b {
		t.Fatalf("merged %+v, single %+v", a, b)
	}
}
