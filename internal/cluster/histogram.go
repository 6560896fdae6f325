package cluster

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/ontime-rt/ontime/internal/stats"
)

// histogram is a copy of stats.Histogram (same geometry, same clamping, same
// methods) plus the binary encoding a partial needs to carry it to the other
// nodes. stats.Histogram keeps its HDR histogram unexported, so it cannot be
// encoded from here. Once stats.Histogram has MarshalBinary and
// UnmarshalBinary with exactly the code below, this type is replaced by it
// (the method set is the same).
type histogram struct {
	h   *hdrhistogram.Histogram
	max time.Duration
}

// The geometry of stats.Histogram: 1 µs to 1 hour, two significant figures.
const (
	histLowest  = 1
	histHighest = int64(time.Hour / time.Microsecond)
	histSigFigs = 2
)

func newHistogram() *histogram {
	return &histogram{h: hdrhistogram.New(histLowest, histHighest, histSigFigs)}
}

// Record adds one latency, clamped into range as stats.Histogram does.
func (h *histogram) Record(d time.Duration) {
	if d > h.max {
		h.max = d
	}
	us := max(int64(d/time.Microsecond), histLowest)
	us = min(us, histHighest)
	_ = h.h.RecordValue(us)
}

// Merge adds every value of o into h.
func (h *histogram) Merge(o *histogram) {
	h.h.Merge(o.h)
	h.max = max(h.max, o.max)
}

// Reset empties the histogram.
func (h *histogram) Reset() {
	h.h.Reset()
	h.max = 0
}

// Count is the number of recorded latencies.
func (h *histogram) Count() int64 { return h.h.TotalCount() }

// Quantile returns the latency at quantile q (0..1), never above the max.
func (h *histogram) Quantile(q float64) time.Duration {
	if h.h.TotalCount() == 0 {
		return 0
	}
	return min(time.Duration(h.h.ValueAtQuantile(q*100))*time.Microsecond, h.max)
}

// Summary digests the histogram as stats.Histogram.Summary does.
func (h *histogram) Summary() stats.Summary {
	return stats.Summary{
		Count: h.Count(),
		P50:   stats.Millis(h.Quantile(0.50)),
		P90:   stats.Millis(h.Quantile(0.90)),
		P99:   stats.Millis(h.Quantile(0.99)),
		Max:   stats.Millis(h.max),
	}
}

// histEncodingV1 tags the binary form: a version byte, the exact maximum in
// nanoseconds (8 bytes, big endian: the HDR histogram only knows bucket
// tops), then HdrHistogram's compressed V2 encoding (zlib-deflated counts,
// a few hundred bytes for a tick's worth of latencies). hdrhistogram-go
// wraps that encoding in base64 text; the binary form holds the raw bytes.
const histEncodingV1 = 1

// MarshalBinary encodes h.
func (h *histogram) MarshalBinary() ([]byte, error) {
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
func (h *histogram) UnmarshalBinary(data []byte) error {
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
	if d.LowestTrackableValue() != histLowest || d.HighestTrackableValue() != histHighest || d.SignificantFigures() != histSigFigs {
		return errors.New("histogram: unexpected geometry")
	}
	h.h, h.max = d, time.Duration(mx)
	return nil
}
