package history

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/stats"
)

// fillWorst fills h as full as it can be after 24 hours: every step of
// both series at its bounds (as many drop reasons and failure kinds as a
// step keeps, latencies), a name table filled with the longest names, and
// MaxIncidents incidents. One batch a minute for 23 hours fills the minute
// steps (the hour's ring would forget the seconds), then one a second for
// the last hour; every third batch (every fifth in the last hour) is
// overloaded, which with the ok ones after it makes an incident.
func fillWorst(h *History) {
	lat := stats.NewHistogram()
	for i := range 200 {
		lat.Record(time.Duration(i+1) * 500 * time.Microsecond)
	}
	long := func(i int) string { return fmt.Sprintf("%0*d", maxNameLen, i) }
	var times []time.Duration
	for m := range 23 * 60 {
		times = append(times, time.Duration(m)*time.Minute)
	}
	for s := range 3600 {
		times = append(times, 23*time.Hour+time.Duration(s)*time.Second)
	}
	for i, d := range times {
		c := stats.Counts{Received: 100, OnTime: 90, Late: 3, Dropped: 7, DroppedBy: map[event.Reason]uint64{}, FailedBy: map[string]uint64{}}
		status := batch.OK
		if d < 23*time.Hour && i%3 == 0 || d >= 23*time.Hour && i%5 == 0 {
			status = batch.Overloaded // then 4 s of ok close the incident
		}
		for k := range maxTallies + 1 {
			c.DroppedBy[event.Reason(long(i*7+k))] = 1
			c.FailedBy[long(i*7+k+1)] = 1
		}
		h.PublishWithLatencies(&batch.Batch{
			At: t0.Add(d).UnixMilli(), Counts: c,
			Health: batch.Health{QueueDepth: 10, QueueCap: 64, Busy: 4, Workers: 4, Limit: 4, Status: status},
		}, lat)
	}
}

// heapOf returns the live heap that make's result holds, measured with
// runtime.MemStats after garbage collection.
func heapOf(make func() any) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := make()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return after.HeapAlloc - before.HeapAlloc
}

func fullHistory(tb testing.TB) *History {
	c := &clock{t0}
	h, _ := newHistory(tb, c)
	fillWorst(h)
	c.t = t0.Add(24 * time.Hour)
	return h
}

// History for 24 hours costs at most 2 MiB, measured when full (every step
// at its bounds, MaxIncidents incidents).
func TestMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("feeds 24 hours of batches")
	}
	var h *History
	bytes := heapOf(func() any { h = fullHistory(t); return h })
	if n := len(h.Series(mustRange(t, "1h")).Points); n != SecondSteps-1 {
		t.Fatalf("the hour holds %d points, want %d", n, SecondSteps-1)
	}
	if n := len(h.Series(mustRange(t, "24h")).Points); n != MinuteSteps-1 {
		t.Fatalf("the day holds %d points, want %d", n, MinuteSteps-1)
	}
	if n := len(h.Incidents()); n != MaxIncidents {
		t.Fatalf("%d incidents kept, want %d", n, MaxIncidents)
	}
	t.Logf("history full for 24 h: %d bytes (%.2f MiB) of heap", bytes, float64(bytes)/(1<<20))
	if bytes > 2<<20 {
		t.Fatalf("history holds %d bytes, more than 2 MiB", bytes)
	}
}

// BenchmarkMemory reports the heap of a full history (bytes/history) and
// the cost of recording one batch.
func BenchmarkMemory(b *testing.B) {
	var h *History
	bytes := heapOf(func() any { h = fullHistory(b); return h })
	lat := stats.NewHistogram()
	for i := range 50 {
		lat.Record(time.Duration(i+1) * time.Millisecond)
	}
	at := t0.Add(25 * time.Hour)
	b.ResetTimer()
	for i := range b.N {
		h.PublishWithLatencies(&batch.Batch{At: at.Add(time.Duration(i) * 100 * time.Millisecond).UnixMilli(), Counts: stats.Counts{OnTime: 50}}, lat)
	}
	b.ReportMetric(float64(bytes), "bytes/history")
}

// BenchmarkSeries reports the cost of answering the hour and the day.
func BenchmarkSeries(b *testing.B) {
	h := fullHistory(b)
	for _, name := range []string{"1h", "24h"} {
		r, _ := ParseRange(name)
		b.Run(name, func(b *testing.B) {
			for range b.N {
				h.Series(r)
			}
		})
	}
}
