// Package stats provides the counters and the latency histogram that batches
// and the stats endpoint are made of. Both are mergeable, so the summaries of
// several ticks (or several nodes) combine exactly.
package stats

import (
	"math"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds. Latencies are recorded in microseconds from 1 µs to one
// hour with two significant figures: at most 1% relative error, which is
// 1 ms at a 100 ms deadline, in about 23 KiB per histogram. Values above the
// range are recorded at the top of the range (and the exact maximum is kept
// apart), so a pathological latency is never lost from the count.
const (
	lowestMicros  = 1
	highestMicros = int64(time.Hour / time.Microsecond)
	sigFigs       = 2
)

// Histogram is a latency histogram (an HDR histogram) plus the exact maximum.
// It is not safe for concurrent use: its owner synchronises.
type Histogram struct {
	h   *hdrhistogram.Histogram
	max time.Duration
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{h: hdrhistogram.New(lowestMicros, highestMicros, sigFigs)}
}

// Record adds one latency. Negative latencies (a producer clock ahead of
// ours) are recorded as zero.
func (h *Histogram) Record(d time.Duration) {
	if d > h.max {
		h.max = d
	}
	us := max(int64(d/time.Microsecond), lowestMicros)
	us = min(us, highestMicros)
	// The value is clamped into range, so RecordValue cannot fail.
	_ = h.h.RecordValue(us)
}

// Merge adds every value of o into h.
func (h *Histogram) Merge(o *Histogram) {
	h.h.Merge(o.h)
	h.max = max(h.max, o.max)
}

// Reset empties the histogram, keeping its memory.
func (h *Histogram) Reset() {
	h.h.Reset()
	h.max = 0
}

// Count is the number of recorded latencies.
func (h *Histogram) Count() int64 { return h.h.TotalCount() }

// Quantile returns the latency at quantile q (0..1), zero when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.h.TotalCount() == 0 {
		return 0
	}
	d := time.Duration(h.h.ValueAtQuantile(q*100)) * time.Microsecond
	// The histogram reports the top of a bucket: never above the true max.
	return min(d, h.max)
}

// Max is the exact largest recorded latency.
func (h *Histogram) Max() time.Duration { return h.max }

// Summary is the latency digest carried in every batch: percentiles of the
// events processed (on time or late) in one tick, in milliseconds.
type Summary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// Summary digests the histogram.
func (h *Histogram) Summary() Summary {
	return Summary{
		Count: h.Count(),
		P50:   Millis(h.Quantile(0.50)),
		P90:   Millis(h.Quantile(0.90)),
		P99:   Millis(h.Quantile(0.99)),
		Max:   Millis(h.max),
	}
}

// Millis converts a duration to milliseconds rounded to the microsecond,
// the unit of every latency on the wire.
func Millis(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}
