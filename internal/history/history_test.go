package history

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/stats"
)

// t0 is a minute boundary far from the epoch (point.t 0 means empty).
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type sink struct {
	mu sync.Mutex
	n  int
}

func (s *sink) Publish(*batch.Batch) { s.mu.Lock(); s.n++; s.mu.Unlock() }

// clock is a settable Now.
type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

func newHistory(t testing.TB, c *clock) (*History, *sink) {
	t.Helper()
	out := &sink{}
	h, err := New(Config{Next: out, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return h, out
}

// gen makes random ticks and remembers what each held.
type gen struct {
	rng *rand.Rand
}

type tick struct {
	b   *batch.Batch
	lat *stats.Histogram
	all []time.Duration
}

var reasons = []event.Reason{event.Shed, event.Expired, event.QueueFull, event.Failed}

func (g gen) tick(at time.Time) tick {
	c := stats.Counts{Received: uint64(g.rng.IntN(50)), OnTime: uint64(g.rng.IntN(40)), Late: uint64(g.rng.IntN(3))}
	for _, r := range reasons {
		if g.rng.IntN(3) == 0 {
			n := uint64(1 + g.rng.IntN(5))
			if c.DroppedBy == nil {
				c.DroppedBy = map[event.Reason]uint64{}
			}
			c.DroppedBy[r] += n
			c.Dropped += n
			if r == event.Failed {
				c.FailedBy = map[string]uint64{"http-503": n}
			}
		}
	}
	lat := stats.NewHistogram()
	var all []time.Duration
	for range c.OnTime + c.Late {
		d := time.Duration(1+g.rng.IntN(150_000)) * time.Microsecond
		lat.Record(d)
		all = append(all, d)
	}
	status := batch.OK
	switch {
	case c.Dropped > 0:
		status = batch.Overloaded
	case c.Late > 0:
		status = batch.Degraded
	}
	b := &batch.Batch{At: at.UnixMilli(), Counts: c, Latency: lat.Summary(), Health: batch.Health{
		QueueDepth: g.rng.IntN(64), QueueCap: 64, Busy: g.rng.IntN(5), Workers: 4, Limit: 1 + g.rng.IntN(4), Status: status,
	}}
	return tick{b, lat, all}
}

// sum adds up ticks as a step must: counts summed, gauges max or last,
// status worst, latencies merged.
func sum(ts []tick) (Point, []time.Duration) {
	p := Point{Counts: stats.Counts{DroppedBy: map[event.Reason]uint64{}}}
	var all []time.Duration
	for _, t := range ts {
		c := t.b.Counts
		p.Received += c.Received
		p.OnTime += c.OnTime
		p.Late += c.Late
		p.Dropped += c.Dropped
		for r, n := range c.DroppedBy {
			p.DroppedBy[r] += n
		}
		for k, n := range c.FailedBy {
			if p.FailedBy == nil {
				p.FailedBy = map[string]uint64{}
			}
			p.FailedBy[k] += n
		}
		h := t.b.Health
		p.QueueDepth = max(p.QueueDepth, h.QueueDepth)
		p.Busy = max(p.Busy, h.Busy)
		p.QueueCap, p.Workers, p.Limit = h.QueueCap, h.Workers, h.Limit
		if severity(h.Status) > severity(p.Status) || p.Status == "" {
			p.Status = h.Status
		}
		all = append(all, t.all...)
	}
	return p, all
}

func sameCounts(t *testing.T, what string, got, want Point) {
	t.Helper()
	if got.Received != want.Received || got.OnTime != want.OnTime || got.Late != want.Late || got.Dropped != want.Dropped ||
		fmt.Sprint(got.DroppedBy) != fmt.Sprint(want.DroppedBy) || fmt.Sprint(got.FailedBy) != fmt.Sprint(want.FailedBy) {
		t.Fatalf("%s: counts %+v, want %+v", what, got, want)
	}
	if got.QueueDepth != want.QueueDepth || got.Busy != want.Busy || got.QueueCap != want.QueueCap ||
		got.Workers != want.Workers || got.Limit != want.Limit || got.Status != want.Status {
		t.Fatalf("%s: gauges %+v, want %+v", what, got, want)
	}
}

// checkLatency compares a step's percentiles with a histogram of all its
// samples (equal: merging is exact) and with the exact sample quantiles
// (within the histogram's 1% precision, plus the µs of the wire).
func checkLatency(t *testing.T, what string, got Point, all []time.Duration) {
	t.Helper()
	if len(all) == 0 {
		if got.P50 != 0 || got.Max != 0 {
			t.Fatalf("%s: no latencies, got %+v", what, got)
		}
		return
	}
	ref := stats.NewHistogram()
	for _, d := range all {
		ref.Record(d)
	}
	s := ref.Summary()
	if got.P50 != s.P50 || got.P90 != s.P90 || got.P99 != s.P99 || got.Max != s.Max {
		t.Fatalf("%s: p50/p90/p99/max %v/%v/%v/%v, histogram of all samples %+v", what, got.P50, got.P90, got.P99, got.Max, s)
	}
	sorted := slices.Clone(all)
	slices.Sort(sorted)
	for _, q := range []struct {
		p   float64
		got float64
	}{{0.5, got.P50}, {0.9, got.P90}, {0.99, got.P99}, {1, got.Max}} {
		// The rank of a quantile is rounded either way: one sample of
		// slack, then the histogram's 1% (and the wire's µs).
		i := int(q.p*float64(len(sorted))+0.999999) - 1
		lo := float64(sorted[max(i-1, 0)]) / float64(time.Millisecond)
		hi := float64(sorted[min(i+1, len(sorted)-1)]) / float64(time.Millisecond)
		if q.got < lo*0.99-0.002 || q.got > hi*1.01+0.002 {
			t.Fatalf("%s: p%v %.3f ms, exact between %.3f and %.3f ms: beyond 1%%", what, q.p*100, q.got, lo, hi)
		}
	}
}

// Steps are exact sums of their batches, at 1 s and at 1 min, and their
// percentiles are those of a histogram of all their samples.
func TestStepsAreExactSums(t *testing.T) {
	c := &clock{t0}
	h, out := newHistory(t, c)
	g := gen{rand.New(rand.NewPCG(1, 2))}
	bySec := map[int64][]tick{}
	byMin := map[int64][]tick{}
	const ticks = 3*600 + 5 // three minutes and a bit at 100 ms
	for i := range ticks {
		at := t0.Add(time.Duration(i+1) * 100 * time.Millisecond)
		tk := g.tick(at)
		ms := at.UnixMilli()
		bySec[ms-ms%1000] = append(bySec[ms-ms%1000], tk)
		byMin[ms-ms%60000] = append(byMin[ms-ms%60000], tk)
		h.PublishWithLatencies(tk.b, tk.lat)
	}
	if out.n != ticks {
		t.Fatalf("%d batches handed on, want %d", out.n, ticks)
	}
	c.t = t0.Add(ticks * 100 * time.Millisecond)
	s := h.Series(mustRange(t, "1h"))
	if s.StepMs != 1000 || s.Range != "1h" || s.StartedAt != t0.UnixMilli() || s.Now != c.t.UnixMilli() {
		t.Fatalf("series head %+v", s)
	}
	// Every second up to the one being filled (180.5 s: 180 closed).
	if len(s.Points) != 180 {
		t.Fatalf("%d one-second points, want 180", len(s.Points))
	}
	for i, p := range s.Points {
		if i > 0 && p.T != s.Points[i-1].T+1000 {
			t.Fatalf("point %d at %d after %d", i, p.T, s.Points[i-1].T)
		}
		want, all := sum(bySec[p.T])
		sameCounts(t, fmt.Sprintf("second %d", i), p, want)
		checkLatency(t, fmt.Sprintf("second %d", i), p, all)
	}
	day := h.Series(mustRange(t, "24h"))
	if day.StepMs != 60000 || len(day.Points) != 3 {
		t.Fatalf("24h: step %d, %d points, want 3 one-minute points", day.StepMs, len(day.Points))
	}
	for i, p := range day.Points {
		want, all := sum(byMin[p.T])
		sameCounts(t, fmt.Sprintf("minute %d", i), p, want)
		checkLatency(t, fmt.Sprintf("minute %d", i), p, all)
		// Downsampling keeps sums exact: the minute is its seconds' sum.
		var secs uint64
		for _, q := range s.Points {
			if q.T >= p.T && q.T < p.T+60000 {
				secs += q.Received + q.Dropped
			}
		}
		if secs != p.Received+p.Dropped {
			t.Fatalf("minute %d: received+dropped %d, its seconds' sum %d", i, p.Received+p.Dropped, secs)
		}
	}
	// Shorter ranges are the newest steps of the hour.
	if m := h.Series(mustRange(t, "1m")); len(m.Points) != 60 || m.Points[59].T != s.Points[179].T || m.StepMs != 1000 {
		t.Fatalf("1m: %d points, last %d", len(m.Points), m.Points[len(m.Points)-1].T)
	}
	if q := h.Series(mustRange(t, "15m")); len(q.Points) != 180 {
		t.Fatalf("15m: %d points, want all 180", len(q.Points))
	}
}

func mustRange(t *testing.T, s string) Range {
	t.Helper()
	r, err := ParseRange(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Steps without batches are absent; the ring forgets what is older than its
// span; a batch without latencies still gives its step a max.
func TestGapsAndWrap(t *testing.T) {
	c := &clock{t0}
	h, _ := newHistory(t, c)
	g := gen{rand.New(rand.NewPCG(3, 4))}
	feed := func(from, to time.Duration) {
		for d := from; d < to; d += 100 * time.Millisecond {
			tk := g.tick(t0.Add(d))
			h.PublishWithLatencies(tk.b, tk.lat)
		}
	}
	feed(0, 10*time.Second)
	feed(20*time.Second, 30*time.Second) // down from 10 s to 20 s
	c.t = t0.Add(30 * time.Second)
	pts := h.Series(mustRange(t, "1m")).Points
	if len(pts) != 19 { // 0-9 and 20-28 closed; 29 is being filled
		t.Fatalf("%d points, want 19", len(pts))
	}
	for _, p := range pts {
		if off := p.T - t0.UnixMilli(); off >= 10000 && off < 20000 {
			t.Fatalf("a point at +%d ms, inside the gap", off)
		}
	}
	if pts[0].T != t0.UnixMilli() {
		t.Fatalf("first point at %d, want the start %d", pts[0].T, t0.UnixMilli())
	}
	// An hour and a half later, the hour holds only the newest hour.
	feed(90*time.Minute, 90*time.Minute+3*time.Second)
	c.t = t0.Add(90*time.Minute + 3*time.Second)
	hour := h.Series(mustRange(t, "1h")).Points
	if len(hour) != 2 || hour[0].T != t0.Add(90*time.Minute).UnixMilli() {
		t.Fatalf("after the gap the hour has %d points from %d", len(hour), hour[0].T)
	}
	if day := h.Series(mustRange(t, "24h")).Points; len(day) != 1 || day[0].T != t0.UnixMilli() {
		t.Fatalf("24h: %+v", day)
	}
	// A batch that came without a histogram keeps its digest's max.
	b := &batch.Batch{At: t0.Add(90*time.Minute + 3500*time.Millisecond).UnixMilli(), Latency: stats.Summary{Count: 1, P50: 7, Max: 250.5}, Counts: stats.Counts{OnTime: 1}}
	h.Publish(b)
	h.Publish(&batch.Batch{At: b.At + 1000})
	c.t = t0.Add(90*time.Minute + 5*time.Second)
	hour = h.Series(mustRange(t, "1h")).Points
	if last := hour[len(hour)-1]; last.Max != 250.5 || last.OnTime != 1 {
		t.Fatalf("step with a digest only: %+v", last)
	}
}

// A batch dated before the step being filled (a clock stepped back) counts
// in that step: closed steps are final, and no count is lost.
func TestLateBatchFoldsIntoOpenStep(t *testing.T) {
	c := &clock{t0}
	h, _ := newHistory(t, c)
	at := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
	h.Publish(&batch.Batch{At: at(100 * time.Millisecond), Counts: stats.Counts{Received: 1}})
	h.Publish(&batch.Batch{At: at(1100 * time.Millisecond), Counts: stats.Counts{Received: 2}})
	h.Publish(&batch.Batch{At: at(900 * time.Millisecond), Counts: stats.Counts{Received: 4}})
	h.Publish(&batch.Batch{At: at(2100 * time.Millisecond)})
	c.t = t0.Add(3 * time.Second)
	pts := h.Series(mustRange(t, "1m")).Points
	if len(pts) != 2 || pts[0].Received != 1 || pts[1].Received != 6 {
		t.Fatalf("points %+v, want 1 then 2+4", pts)
	}
}

// Reasons and failure kinds beyond a step's bounds count as "other": sums
// stay exact.
func TestTalliesAreBounded(t *testing.T) {
	c := &clock{t0}
	h, _ := newHistory(t, c)
	drops := map[event.Reason]uint64{}
	fails := map[string]uint64{}
	var total uint64
	for i := range 20 {
		drops[event.Reason(fmt.Sprintf("reason-%02d", i))] = uint64(i + 1)
		fails[fmt.Sprintf("kind-%02d", i)] = uint64(i + 1)
		total += uint64(i + 1)
	}
	h.Publish(&batch.Batch{At: t0.Add(time.Millisecond).UnixMilli(), Counts: stats.Counts{Dropped: total, DroppedBy: drops, FailedBy: fails}})
	h.Publish(&batch.Batch{At: t0.Add(time.Second).UnixMilli()})
	c.t = t0.Add(2 * time.Second)
	p := h.Series(mustRange(t, "1m")).Points[0]
	var d, f uint64
	for _, n := range p.DroppedBy {
		d += n
	}
	for _, n := range p.FailedBy {
		f += n
	}
	if len(p.DroppedBy) != maxTallies || len(p.FailedBy) != maxTallies || d != total || f != total || p.DroppedBy[Other] == 0 {
		t.Fatalf("bounded tallies: %d reasons summing to %d, %d kinds to %d; want %d each summing to %d with %q", len(p.DroppedBy), d, len(p.FailedBy), f, maxTallies, total, Other)
	}
}

func TestParseRange(t *testing.T) {
	if r, err := ParseRange(DefaultRange); err != nil || r.Span != time.Hour || r.Step != time.Second {
		t.Fatalf("default range %+v %v", r, err)
	}
	for _, s := range []string{"1m", "15m", "1h", "24h"} {
		r, err := ParseRange(s)
		if err != nil || r.Name != s {
			t.Fatalf("%q: %+v %v", s, r, err)
		}
	}
	for _, s := range []string{"", "2h", "1H", "60s", " 1h", "1h,1h"} {
		if _, err := ParseRange(s); err == nil || err.Error() != fmt.Sprintf("range %q is not one of 1m, 15m, 1h, 24h", s) {
			t.Fatalf("%q: error %v", s, err)
		}
	}
}

func TestNeedsNext(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("a History without a next publisher was made")
	}
}

// A step keeps the deadline in force at its end: the settings' deadline,
// else the last event's, in whole ms; 0 when no batch said. Keeping it
// costs no memory: a step is 176 bytes.
func TestStepKeepsTheDeadline(t *testing.T) {
	if n := unsafe.Sizeof(point{}); n != 176 {
		t.Errorf("a step is %d bytes, want 176 (docs/design.md)", n)
	}
	for _, c := range []struct {
		name string
		b    batch.Batch
		want float64
	}{
		{"settings", batch.Batch{Config: &config.Settings{DeadlineMs: 250.4}, Events: []batch.Event{{DeadlineMs: 80}}}, 250},
		{"the last event's", batch.Batch{Events: []batch.Event{{DeadlineMs: 80}, {DeadlineMs: 120.6}}}, 121},
		{"none", batch.Batch{}, 0},
	} {
		c0 := &clock{t: t0.Add(3 * time.Second)}
		h, _ := newHistory(t, c0)
		c.b.At = t0.UnixMilli() + 100
		h.Publish(&c.b)
		h.Publish(&batch.Batch{At: t0.UnixMilli() + 1100}) // closes the step
		r, _ := ParseRange("1m")
		pts := h.Series(r).Points
		if len(pts) != 1 || pts[0].DeadlineMs != c.want {
			t.Errorf("%s: points %+v, want one with deadlineMs %g", c.name, pts, c.want)
		}
	}
}
