package web

import (
	"math"
	"strconv"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/views"
)

// ChartWindowMs is the time span the charts show.
const ChartWindowMs = 60_000

// MaxChartPoints caps the ticks the charts keep: 60 s of the default
// 100 ms tick. With a faster tick the charts show the last
// MaxChartPoints ticks, a shorter span, and say so.
const MaxChartPoints = 600

// point is what the charts keep of one batch.
type point struct {
	at       int64 // Unix ms
	tickMs   int64
	p50, p99 float64
	hasLat   bool // the tick processed events: p50 and p99 mean something
	deadline float64
	onTime   uint64
	late     uint64
	dropped  uint64
	depth    int
	queueCap int
	busy     int
	workers  int
}

func pointOf(b *batch.Batch, prevDeadline float64) point {
	p := point{
		at: b.At, tickMs: b.TickMs,
		p50: b.Latency.P50, p99: b.Latency.P99, hasLat: b.Latency.Count > 0,
		onTime: b.Counts.OnTime, late: b.Counts.Late, dropped: b.Counts.Dropped,
		depth: b.Health.QueueDepth, queueCap: b.Health.QueueCap, busy: b.Health.Busy, workers: b.Health.Workers,
		deadline: prevDeadline,
	}
	if p.tickMs <= 0 {
		p.tickMs = 100
	}
	switch {
	case b.Config != nil:
		p.deadline = b.Config.DeadlineMs
	case len(b.Events) > 0:
		p.deadline = b.Events[len(b.Events)-1].DeadlineMs
	}
	return p
}

// history is a ring of the newest points, at most MaxChartPoints and at
// most ChartWindowMs old.
type history struct {
	buf  [MaxChartPoints]point
	head int // index of the oldest point
	n    int
}

func (h *history) get(i int) *point { return &h.buf[(h.head+i)%len(h.buf)] }

func (h *history) newest() *point { return h.get(h.n - 1) }

func (h *history) push(p point) {
	if h.n == len(h.buf) {
		h.head = (h.head + 1) % len(h.buf)
		h.n--
	}
	h.buf[(h.head+h.n)%len(h.buf)] = p
	h.n++
	for h.n > 1 && p.at-h.get(0).at > ChartWindowMs {
		h.head = (h.head + 1) % len(h.buf)
		h.n--
	}
}

// pathBuf writes SVG path data in plot units: "M" to start a stretch,
// relative "l" pairs after it ("M0 40l1-2 1 0 1 3"), about 5 bytes a
// point. A stretch of one point gets "l0 0" so its round cap shows a dot.
type pathBuf struct {
	b      []byte
	down   bool // a stretch is open
	inL    bool // the open stretch has an "l" command going
	single bool // the open stretch has one point
	x, y   int
}

func (p *pathBuf) reset() { p.b, p.down = p.b[:0], false }

func (p *pathBuf) to(x, y int) {
	if !p.down {
		p.b = append(p.b, 'M')
		p.b = strconv.AppendInt(p.b, int64(x), 10)
		p.b = append(p.b, ' ')
		p.b = strconv.AppendInt(p.b, int64(y), 10)
		p.down, p.inL, p.single = true, false, true
	} else {
		if p.inL {
			p.b = append(p.b, ' ')
		} else {
			p.b = append(p.b, 'l')
			p.inL = true
		}
		p.b = strconv.AppendInt(p.b, int64(x-p.x), 10)
		if y-p.y >= 0 {
			p.b = append(p.b, ' ')
		}
		p.b = strconv.AppendInt(p.b, int64(y-p.y), 10)
		p.single = false
	}
	p.x, p.y = x, y
}

// lift ends the open stretch: the next point starts a new one.
func (p *pathBuf) lift() {
	if p.down && p.single {
		p.b = append(p.b, "l0 0"...)
	}
	p.down = false
}

func (p *pathBuf) String() string {
	p.lift()
	return string(p.b)
}

// scaleY maps v on [0, max] to plot units, 0 at the bottom.
func scaleY(v, max float64) int {
	if !(v > 0) || max <= 0 {
		return views.PlotH
	}
	y := views.PlotH - int(math.Round(v/max*views.PlotH))
	return min(max0(y), views.PlotH)
}

func max0(y int) int {
	if y < 0 {
		return 0
	}
	return y
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// chartBuilder turns the history into the charts. Its path buffers are
// reused from tick to tick, so a render allocates one string per line and
// nothing per point.
type chartBuilder struct {
	paths [9]pathBuf
}

// series reads one value of a point; ok false leaves a gap.
type series func(p *point) (v float64, ok bool)

// trace draws s over the window into pb.
func (c *chartBuilder) trace(h *history, t0, span int64, pb *pathBuf, ymax float64, s series) string {
	pb.reset()
	for i := 0; i < h.n; i++ {
		p := h.get(i)
		if p.at < t0 {
			continue
		}
		v, ok := s(p)
		if !ok {
			pb.lift()
			continue
		}
		pb.to(xOf(p.at, t0, span), scaleY(v, ymax))
	}
	return pb.String()
}

func xOf(at, t0, span int64) int {
	return int((at - t0) * views.PlotW / span)
}

// stepMarker draws a value that changes rarely (the deadline) as a step
// line across the window: "M0 33H250V20H600".
func (c *chartBuilder) stepMarker(h *history, t0, span int64, pb *pathBuf, ymax float64) string {
	pb.reset()
	b := pb.b
	started, lastY := false, 0
	for i := 0; i < h.n; i++ {
		p := h.get(i)
		if p.at < t0 || p.deadline <= 0 {
			continue
		}
		x, y := xOf(p.at, t0, span), scaleY(p.deadline, ymax)
		switch {
		case !started:
			b = append(b, 'M')
			b = strconv.AppendInt(b, int64(x), 10)
			b = append(b, ' ')
			b = strconv.AppendInt(b, int64(y), 10)
			started, lastY = true, y
		case y != lastY:
			b = append(b, 'H')
			b = strconv.AppendInt(b, int64(x), 10)
			b = append(b, 'V')
			b = strconv.AppendInt(b, int64(y), 10)
			lastY = y
		}
	}
	if started {
		b = append(b, 'H')
		b = strconv.AppendInt(b, views.PlotW, 10)
	}
	pb.b = b
	return string(b)
}

// perSecond is n events of one tick as a rate. The React dashboard's
// series.ts does the same arithmetic; testdata/series-cases.json holds both
// to the same values.
func perSecond(n uint64, tickMs int64) float64 { return float64(n) * 1000 / float64(tickMs) }

// missPct is the share of a tick's finished events that were late or
// dropped, in percent; false when none finished (a gap, not 0 %).
func missPct(p *point) (float64, bool) {
	done := p.onTime + p.late + p.dropped
	if done == 0 {
		return 0, false
	}
	return float64(p.late+p.dropped) * 100 / float64(done), true
}

func fmtNum(v float64, unit string) string {
	prec := 0
	if v != math.Trunc(v) && math.Abs(v) < 10 {
		prec = 1
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if unit != "" {
		s += " " + unit
	}
	return s
}

func fmtMs(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + " ms" }

func fmtSpan(ms int64) string {
	if ms%1000 == 0 {
		return strconv.FormatInt(ms/1000, 10) + " s"
	}
	return strconv.FormatFloat(float64(ms)/1000, 'f', 1, 64) + " s"
}

// build renders the history into the charts' view model.
func (c *chartBuilder) build(h *history) views.Charts {
	if h.n == 0 {
		return views.Charts{}
	}
	last := h.newest()
	span := min(int64(ChartWindowMs), MaxChartPoints*last.tickMs)
	t0 := last.at - span
	var (
		maxLat, maxRate        float64
		maxCap, maxWorkers, np int
	)
	for i := 0; i < h.n; i++ {
		p := h.get(i)
		if p.at < t0 {
			continue
		}
		np++
		if p.hasLat {
			maxLat = max(maxLat, p.p99)
		}
		maxLat = max(maxLat, p.deadline)
		maxRate = max(maxRate, perSecond(p.onTime, p.tickMs), perSecond(p.late, p.tickMs), perSecond(p.dropped, p.tickMs))
		maxCap = max(maxCap, p.queueCap, p.depth)
		maxWorkers = max(maxWorkers, p.workers, p.busy)
	}
	latMax := niceCeil(maxLat * 1.1)
	rateMax := niceCeil(maxRate)
	capMax, workMax := float64(max(maxCap, 1)), float64(max(maxWorkers, 1))
	window := fmtSpan(span)

	pb := &c.paths
	p50 := c.trace(h, t0, span, &pb[0], latMax, func(p *point) (float64, bool) { return p.p50, p.hasLat })
	p99 := c.trace(h, t0, span, &pb[1], latMax, func(p *point) (float64, bool) { return p.p99, p.hasLat })
	deadline := c.stepMarker(h, t0, span, &pb[2], latMax)
	nowLat := func(v float64) string {
		if !last.hasLat {
			return "–"
		}
		return fmtMs(v)
	}
	latency := views.Chart{
		ID: "latency", Title: "Latency of processed events, per tick",
		YMax: fmtNum(latMax, "ms"), YMid: fmtNum(latMax/2, "ms"),
		Desc: "Latency over the last " + window + ": p50 now " + nowLat(last.p50) + ", p99 now " + nowLat(last.p99) +
			", deadline " + fmtMs(last.deadline) + "; scale 0 to " + fmtNum(latMax, "ms") + ".",
		Lines: []views.Line{
			{Class: "p50", Label: "p50", Now: nowLat(last.p50), D: p50},
			{Class: "p99", Label: "p99", Now: nowLat(last.p99), D: p99},
		},
		Marker: &views.Line{Class: "deadline", Label: "deadline", Now: fmtMs(last.deadline), D: deadline},
	}

	onTime := c.trace(h, t0, span, &pb[3], rateMax, func(p *point) (float64, bool) { return perSecond(p.onTime, p.tickMs), true })
	late := c.trace(h, t0, span, &pb[4], rateMax, func(p *point) (float64, bool) { return perSecond(p.late, p.tickMs), true })
	dropped := c.trace(h, t0, span, &pb[5], rateMax, func(p *point) (float64, bool) { return perSecond(p.dropped, p.tickMs), true })
	nowOn, nowLate, nowDrop := perSecond(last.onTime, last.tickMs), perSecond(last.late, last.tickMs), perSecond(last.dropped, last.tickMs)
	throughput := views.Chart{
		ID: "throughput", Title: "Finished per second",
		YMax: fmtNum(rateMax, "/s"), YMid: fmtNum(rateMax/2, "/s"),
		Desc: "Events finished per second over the last " + window + ": now " + fmtNum(nowOn, "on time") + ", " +
			fmtNum(nowLate, "late") + ", " + fmtNum(nowDrop, "dropped") + "; scale 0 to " + fmtNum(rateMax, "per second") + ".",
		Lines: []views.Line{
			{Class: "on-time", Label: "on time", Now: fmtNum(nowOn, "/s"), D: onTime},
			{Class: "late", Label: "late", Now: fmtNum(nowLate, "/s"), D: late},
			{Class: "dropped", Label: "dropped", Now: fmtNum(nowDrop, "/s"), D: dropped},
		},
	}

	missNow := "–"
	if v, ok := missPct(last); ok {
		missNow = fmtNum(v, "%")
	}
	missRate := views.Chart{
		ID: "miss", Title: "Miss rate (late or dropped)",
		YMax: "100 %", YMid: "50 %",
		Desc: "Share of finished events late or dropped, per tick, over the last " + window + ": now " + missNow + ".",
		Lines: []views.Line{{Class: "miss", Label: "missed", Now: missNow,
			D: c.trace(h, t0, span, &pb[6], 100, missPct)}},
	}

	queue := views.Chart{
		ID: "queue", Title: "Queue depth",
		YMax: fmtNum(capMax, ""), YMid: fmtNum(capMax/2, ""),
		Desc: "Events waiting for a worker over the last " + window + ": now " + strconv.Itoa(last.depth) +
			" of " + strconv.Itoa(last.queueCap) + ".",
		Lines: []views.Line{{Class: "queue", Label: "waiting", Now: strconv.Itoa(last.depth) + " / " + strconv.Itoa(last.queueCap),
			D: c.trace(h, t0, span, &pb[7], capMax, func(p *point) (float64, bool) { return float64(p.depth), true })}},
	}
	busy := views.Chart{
		ID: "busy", Title: "Busy workers",
		YMax: fmtNum(workMax, ""), YMid: fmtNum(workMax/2, ""),
		Desc: "Workers processing an event over the last " + window + ": now " + strconv.Itoa(last.busy) +
			" of " + strconv.Itoa(last.workers) + ".",
		Lines: []views.Line{{Class: "busy", Label: "busy", Now: strconv.Itoa(last.busy) + " / " + strconv.Itoa(last.workers),
			D: c.trace(h, t0, span, &pb[8], workMax, func(p *point) (float64, bool) { return float64(p.busy), true })}},
	}
	return views.Charts{Window: window, Points: np, Latency: latency, Small: []views.Chart{throughput, missRate, queue, busy}}
}
