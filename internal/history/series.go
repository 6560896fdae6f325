package history

import (
	"math"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/stats"
)

// Sizes of the two series: 3,600 one-second steps (the last hour) and 1,440
// one-minute steps (the last 24 hours).
const (
	SecondSteps = 3600
	MinuteSteps = 1440
)

// Bounds of what a step keeps besides its fixed fields. A step keeps at
// most maxTallies drop reasons and as many failure kinds; beyond them the
// counts go to the entry Other, so sums stay exact. Names (reasons and
// kinds) are interned in a table of at most maxNames names of at most
// maxNameLen bytes; later or longer names count as Other.
const (
	maxTallies = 6
	maxNames   = 255
	maxNameLen = 64
)

// Other names the counts of reasons or failure kinds beyond the bounds.
const Other = "other"

// tally is one reason's (or failure kind's) count in a step: the name's
// index in the name table in the top 8 bits, the count in the low 56
// (7.2e16 events: no step comes near). 0 is an empty tally.
type tally uint64

const countBits = 56

func (t tally) name() uint8 { return uint8(t >> countBits) }
func (t tally) n() uint64   { return uint64(t) & (1<<countBits - 1) }

// tallies are a step's drop reasons or failure kinds, in place: a step
// allocates nothing.
type tallies [maxTallies]tally

// point is one step of a series. Its size is what the history's memory is
// made of: 3,600 + 1,440 of them, 176 bytes each (see docs/design.md).
type point struct {
	t                               int64 // unix ms, the step's start; 0: no data
	received, onTime, late, dropped uint64
	drops, fails                    tallies
	// Latencies of the step in µs, from the merged histograms of its
	// batches (max is exact).
	p50, p90, p99, max uint32
	queueDepth, busy   int32 // the step's largest
	queueCap, workers  int32 // the step's last
	limit              int32 // the step's last
	status             uint8 // the step's worst (severity)
	// deadlineMs is the deadline in force at the step's end, in whole ms
	// (the settings' 1 to 60,000 fit); 0 when unknown. It fits in the
	// padding after status: a step stays 176 bytes.
	deadlineMs uint16
}

// names interns reasons and failure kinds; index 0 is Other.
type names struct {
	list  []string
	index map[string]uint8
}

func newNames() names {
	return names{list: []string{Other}, index: map[string]uint8{Other: 0}}
}

func (ns *names) of(s string) uint8 {
	if i, ok := ns.index[s]; ok {
		return i
	}
	if len(ns.list) >= maxNames || len(s) > maxNameLen {
		return 0
	}
	i := uint8(len(ns.list))
	ns.list = append(ns.list, s)
	ns.index[s] = i
	return i
}

// add adds n to name in ts; once the tallies run out, the last one counts
// Other.
func (ts *tallies) add(name uint8, n uint64) {
	if n == 0 {
		return
	}
	for i, t := range ts {
		switch {
		case t == 0 && (i < len(ts)-1 || name == 0):
			ts[i] = tally(uint64(name)<<countBits | n)
			return
		case t == 0:
			ts[i] = tally(n) // the last one left: Other
			return
		case t.name() == name || i == len(ts)-1 && t.name() == 0:
			ts[i] += tally(n)
			return
		}
	}
}

// severity orders the verdicts; status 0 is ok.
func severity(s batch.Status) uint8 {
	switch s {
	case batch.Degraded:
		return 1
	case batch.Overloaded:
		return 2
	}
	return 0
}

var statuses = [...]batch.Status{batch.OK, batch.Degraded, batch.Overloaded}

// series is a ring of steps plus the step being filled.
type series struct {
	step int64 // ms
	ring []point
	open point            // the step being filled; open.t 0: none
	hist *stats.Histogram // the open step's latencies
	// maxUs is the open step's largest latency digest, for batches that
	// came without a histogram.
	maxUs uint32
	last  int64 // t of the newest closed step, 0 before the first
}

func newSeries(step time.Duration, n int) series {
	return series{step: step.Milliseconds(), ring: make([]point, n), hist: stats.NewHistogram()}
}

// fold adds batch b (made at, with latencies lat, possibly nil) to the step
// of at. It returns the step it closed, if at is in a later step than the
// open one. A batch older than the open step (a clock step back) counts in
// the open step: closed steps are final.
func (s *series) fold(ns *names, b *batch.Batch, at int64, lat *stats.Histogram) (closed *point) {
	t := at - at%s.step
	if s.open.t != 0 && t > s.open.t {
		closed = s.close()
	}
	if s.open.t == 0 {
		s.open.t = max(t, s.last+s.step)
	}
	p := &s.open
	c := &b.Counts
	p.received += c.Received
	p.onTime += c.OnTime
	p.late += c.Late
	p.dropped += c.Dropped
	for r, n := range c.DroppedBy {
		p.drops.add(ns.of(string(r)), n)
	}
	for k, n := range c.FailedBy {
		p.fails.add(ns.of(k), n)
	}
	if lat != nil {
		s.hist.Merge(lat)
	} else {
		s.maxUs = max(s.maxUs, micros(time.Duration(b.Latency.Max*float64(time.Millisecond))))
	}
	h := &b.Health
	p.queueDepth = max(p.queueDepth, clamp32(h.QueueDepth))
	p.busy = max(p.busy, clamp32(h.Busy))
	p.queueCap, p.workers, p.limit = clamp32(h.QueueCap), clamp32(h.Workers), clamp32(h.Limit)
	p.status = max(p.status, severity(h.Status))
	if d := deadlineOf(b); d > 0 {
		p.deadlineMs = d
	}
	return closed
}

// deadlineOf is the deadline b says is in force, in whole ms, as the charts
// take it: the settings' deadline, else that of the tick's last event; 0
// when b says none.
func deadlineOf(b *batch.Batch) uint16 {
	var ms float64
	switch {
	case b.Config != nil && b.Config.DeadlineMs > 0:
		ms = b.Config.DeadlineMs
	case len(b.Events) > 0:
		ms = b.Events[len(b.Events)-1].DeadlineMs
	}
	return uint16(min(max(math.Round(ms), 0), math.MaxUint16))
}

// close stores the open step in the ring and returns it.
func (s *series) close() *point {
	p := &s.open
	if s.hist.Count() > 0 {
		p.p50 = micros(s.hist.Quantile(0.50))
		p.p90 = micros(s.hist.Quantile(0.90))
		p.p99 = micros(s.hist.Quantile(0.99))
		p.max = micros(s.hist.Max())
	}
	p.max = max(p.max, s.maxUs)
	slot := &s.ring[(p.t/s.step)%int64(len(s.ring))]
	*slot = *p
	s.last = p.t
	*p = point{}
	s.hist.Reset()
	s.maxUs = 0
	return slot
}

// points returns the closed steps that start at or after from, oldest
// first, in wire form.
func (s *series) points(ns *names, from int64) []Point {
	n := int64(len(s.ring))
	out := []Point{}
	if s.last == 0 {
		return out
	}
	newest := s.last / s.step
	for k := newest - n + 1; k <= newest; k++ {
		p := &s.ring[((k%n)+n)%n]
		if p.t == 0 || p.t != k*s.step || p.t < from {
			continue
		}
		out = append(out, p.wire(ns))
	}
	return out
}

func (p *point) wire(ns *names) Point {
	w := Point{
		T: p.t,
		Counts: stats.Counts{
			Received: p.received, OnTime: p.onTime, Late: p.late, Dropped: p.dropped,
			DroppedBy: make(map[event.Reason]uint64, maxTallies),
		},
		P50: ms(p.p50), P90: ms(p.p90), P99: ms(p.p99), Max: ms(p.max),
		QueueDepth: int(p.queueDepth), QueueCap: int(p.queueCap), Busy: int(p.busy),
		Workers: int(p.workers), Limit: int(p.limit), Status: statuses[p.status],
		DeadlineMs: float64(p.deadlineMs),
	}
	for _, d := range p.drops {
		if d != 0 {
			w.DroppedBy[event.Reason(ns.list[d.name()])] += d.n()
		}
	}
	for _, f := range p.fails {
		if f == 0 {
			continue
		}
		if w.FailedBy == nil {
			w.FailedBy = make(map[string]uint64, maxTallies)
		}
		w.FailedBy[ns.list[f.name()]] += f.n()
	}
	return w
}

// Point is one step of a series on the wire (GET /api/history).
type Point struct {
	// T is the step's start (unix ms).
	T int64 `json:"t"`
	// Counts are the sums of the step's batches: exact (the same members
	// on the wire as a batch's counts).
	stats.Counts
	// Latency percentiles of the events processed in the step (ms), from
	// the merged histograms of its batches; 0 when none was processed.
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
	// QueueDepth and Busy are the step's largest; QueueCap, Workers and
	// Limit its last.
	QueueDepth int `json:"queueDepth"`
	QueueCap   int `json:"queueCap"`
	Busy       int `json:"busy"`
	Workers    int `json:"workers"`
	Limit      int `json:"limit"`
	// Status is the worst verdict of the step's batches.
	Status batch.Status `json:"status"`
	// DeadlineMs is the deadline in force at the step's end, whole ms (the
	// settings' deadline, else the deadline of the last event); 0 when
	// none of the step's batches said.
	DeadlineMs float64 `json:"deadlineMs"`
}

func micros(d time.Duration) uint32 {
	us := math.Round(float64(d) / float64(time.Microsecond))
	return uint32(min(max(us, 0), math.MaxUint32))
}

func ms(us uint32) float64 { return float64(us) / 1000 }

func clamp32(v int) int32 { return int32(min(max(v, math.MinInt32), math.MaxInt32)) }
