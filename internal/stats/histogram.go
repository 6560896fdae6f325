// Package stats provides the counters and the latency histogram that batches
// and the stats endpoint are made of. Both are mergeable, so the summaries of
// several ticks (or several nodes) combine exactly.
package stats

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
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

// histEncodingV1 tags the binary form: a version byte, the exact maximum in
// nanoseconds (8 bytes, big endian: the HDR histogram only knows bucket
// tops), then HdrHistogram's compressed V2 encoding (zlib-deflated counts,
// a few hundred bytes for a tick's worth of latencies). hdrhistogram-go
// wraps that encoding in base64 text; the binary form holds the raw bytes.
const histEncodingV1 = 1

// MarshalBinary encodes h, so that histograms can travel between nodes and
// be merged there.
func (h *Histogram) MarshalBinary() ([]byte, error) {
	enc, err := h.h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 9+base64.StdEncoding.DecodedLen(len(enc)))
	out[0] = histEncodingV1
	binary.BigEndian.PutUint64(out[1:9], uint64(h.max))
	n, err := base64.StdEncoding.Decode(out[9:], enc)
	if err != nil {
		return nil, err
	}
	return out[:9+n], nil
}

// UnmarshalBinary replaces h with the histogram encoded in data. It refuses
// encodings of another geometry: merging them would be slow or wrong.
func (h *Histogram) UnmarshalBinary(data []byte) error {
	if len(data) < 9 || data[0] != histEncodingV1 {
		return errors.New("histogram: unknown encoding")
	}
	mx := int64(binary.BigEndian.Uint64(data[1:9]))
	if mx < 0 {
		return errors.New("histogram: negative maximum")
	}
	d, err := hdrhistogram.Decode([]byte(base64.StdEncoding.EncodeToString(data[9:])))
	if err != nil {
		return fmt.Errorf("histogram: %w", err)
	}
	if d.LowestTrackableValue() != lowestMicros || d.HighestTrackableValue() != highestMicros || d.SignificantFigures() != sigFigs {
		return errors.New("histogram: unexpected geometry")
	}
	h.h, h.max = d, time.Duration(mx)
	return nil
}
