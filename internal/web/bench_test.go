package web

import (
	"testing"

	"github.com/ontime-rt/ontime/internal/batch"
)

type batchT = batch.Batch

// BenchmarkEncode is the page's cost per tick, paid once for all page
// clients: stats, the charts over MaxChartPoints (600) ticks, the settings
// and 50 table rows, as SSE events.
func BenchmarkEncode(b *testing.B) {
	r := NewRenderer(nil)
	cfg := defaults()
	seq := uint64(0)
	for range MaxChartPoints {
		seq++
		if _, err := r.Encode(makeBatch(seq, 100, cfg)); err != nil {
			b.Fatal(err)
		}
	}
	if r.hist.n != MaxChartPoints {
		b.Fatalf("history holds %d points, want %d", r.hist.n, MaxChartPoints)
	}
	batches := make([]*batchT, 256)
	for i := range batches {
		seq++
		batches[i] = makeBatch(seq, 100, cfg)
	}
	var size int
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		bt := batches[i%len(batches)]
		i++
		bt.Seq = seq + uint64(i)
		bt.At = startAt + int64(bt.Seq)*100
		out, err := r.Encode(bt)
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "bytes/frame")
}
