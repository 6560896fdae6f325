package web

import (
	"math"
	"strconv"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/history"
	"github.com/ontime-rt/ontime/views"
)

// ChartWindowMs is the time span the charts show.
const ChartWindowMs = 60_000

// MaxChartPoints caps the ticks the charts keep: 60 s of the default
// 100 ms tick. With a faster tick the charts show the last
// MaxChartPoints ticks, a shorter span, and say so.
const MaxChartPoints = 600

// point is what the charts keep of one batch, or of one step of the
// server's history.
type point struct {
	at       int64 // Unix ms
	tickMs   int64
	p50, p99 float64
	hasLat   bool // the tick processed events: p50 and p99 mean something
	deadline float64
	onTime   uint64
	late     uint64
	dropped  uint64
	// Finished per second, as drawn: for a batch the counts of the
	// batches of the last RateWindowMs (this one included), for a history
	// step its counts over its length.
	rOnTime, rLate, rDropped float64
	depth                    int
	queueCap                 int
	busy                     int
	workers                  int
	status                   uint8 // statusOK, statusDegraded, statusOverloaded
	gap                      bool  // no data: breaks the lines (steps missing from the history)
}

// RateWindowMs is the span the live rates are measured over: a sliding
// second. The React dashboard's series.ts measures them alike;
// testdata/series-cases.json holds both to the same values.
const RateWindowMs = 1000

// Health verdicts as levels, worst last.
const (
	statusOK uint8 = iota
	statusDegraded
	statusOverloaded
)

var statusNames = [...]string{"ok", "degraded", "overloaded"}

func statusLevel(s batch.Status) uint8 {
	switch s {
	case batch.Degraded:
		return statusDegraded
	case batch.Overloaded:
		return statusOverloaded
	}
	return statusOK
}

func pointOf(b *batch.Batch, prevDeadline float64) point {
	p := point{
		at: b.At, tickMs: b.TickMs,
		p50: b.Latency.P50, p99: b.Latency.P99, hasLat: b.Latency.Count > 0,
		onTime: b.Counts.OnTime, late: b.Counts.Late, dropped: b.Counts.Dropped,
		depth: b.Health.QueueDepth, queueCap: b.Health.QueueCap, busy: b.Health.Busy, workers: b.Health.Workers,
		deadline: prevDeadline,
		status:   statusLevel(b.Health.Status),
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

// historyPoint is a step of the server's history as the charts draw it.
func historyPoint(h *history.Point, stepMs int64) point {
	perSec := 1000 / float64(stepMs)
	return point{
		at: h.T, tickMs: stepMs,
		p50: h.P50, p99: h.P99, hasLat: h.OnTime+h.Late > 0,
		onTime: h.OnTime, late: h.Late, dropped: h.Dropped,
		rOnTime: float64(h.OnTime) * perSec, rLate: float64(h.Late) * perSec, rDropped: float64(h.Dropped) * perSec,
		depth: h.QueueDepth, queueCap: h.QueueCap, busy: h.Busy, workers: h.Workers,
		status: statusLevel(h.Status),
		// The deadline in force at the step's end; 0 (not drawn) when
		// unknown.
		deadline: h.DeadlineMs,
	}
}

// points is what the charts are drawn from: the live ring, or a range of
// the history.
type points interface {
	len() int
	get(i int) *point
}

// ring is the newest points of the live charts, at most MaxChartPoints and
// at most ChartWindowMs old.
type ring struct {
	buf  [MaxChartPoints]point
	head int // index of the oldest point
	n    int
}

func (h *ring) len() int { return h.n }

func (h *ring) get(i int) *point { return &h.buf[(h.head+i)%len(h.buf)] }

func (h *ring) newest() *point { return h.get(h.n - 1) }

// push adds p, with its rates over the sliding second: its own counts and
// those of the points before it whose at is within RateWindowMs of its.
func (h *ring) push(p point) {
	on, late, dropped := p.onTime, p.late, p.dropped
	for i := h.n - 1; i >= 0; i-- {
		q := h.get(i)
		if q.at <= p.at-RateWindowMs {
			break
		}
		on, late, dropped = on+q.onTime, late+q.late, dropped+q.dropped
	}
	// The window is one second long: the sums are the rates.
	p.rOnTime, p.rLate, p.rDropped = float64(on), float64(late), float64(dropped)
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

// pointSlice is a range of the history, downsampled to the plot's width.
type pointSlice []point

func (s pointSlice) len() int { return len(s) }

func (s pointSlice) get(i int) *point { return &s[i] }

// downsample folds the history's points from t0 on into at most
// views.PlotW columns, the plot's resolution: rates over the steps present,
// the highest latency percentiles, the peak queue and busy workers, the
// worst verdict. Steps missing from the history stay missing: a column
// without points is no point, and a run of them is a gap in the lines.
func downsample(s *history.Series, t0, span int64) pointSlice {
	step := s.StepMs
	if step <= 0 {
		step = 1000
	}
	colMs := max(step, (span+views.PlotW-1)/views.PlotW)
	out := make(pointSlice, 0, min(len(s.Points), views.PlotW+1))
	var cur *point
	var steps int64
	flush := func() {
		if cur == nil {
			return
		}
		perSec := 1000 / float64(steps*step)
		cur.rOnTime, cur.rLate, cur.rDropped = float64(cur.onTime)*perSec, float64(cur.late)*perSec, float64(cur.dropped)*perSec
		out = append(out, *cur)
		cur = nil
	}
	prevT := int64(math.MinInt64)
	for i := range s.Points {
		h := &s.Points[i]
		if h.T < t0 || h.T <= prevT {
			continue
		}
		col := t0 + (h.T-t0)/colMs*colMs
		gap := prevT != math.MinInt64 && h.T-prevT > step*3/2
		if cur != nil && (col != cur.at || gap) {
			flush()
		}
		if gap && len(out) > 0 {
			// A null point breaks the lines where steps are missing.
			out = append(out, point{at: (prevT + h.T) / 2, gap: true})
		}
		prevT = h.T
		p := historyPoint(h, step)
		if cur == nil {
			p.at = col
			cur, steps = &p, 1
			continue
		}
		steps++
		cur.onTime, cur.late, cur.dropped = cur.onTime+p.onTime, cur.late+p.late, cur.dropped+p.dropped
		if p.hasLat {
			if !cur.hasLat {
				cur.p50, cur.p99, cur.hasLat = p.p50, p.p99, true
			} else {
				cur.p50, cur.p99 = max(cur.p50, p.p50), max(cur.p99, p.p99)
			}
		}
		cur.depth, cur.busy = max(cur.depth, p.depth), max(cur.busy, p.busy)
		cur.queueCap, cur.workers = p.queueCap, p.workers
		if p.deadline > 0 {
			cur.deadline = p.deadline
		}
		cur.status = max(cur.status, p.status)
	}
	flush()
	return out
}

// isGap tells the null points downsample puts where steps are missing.
func isGap(p *point) bool { return p.gap }

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
func (c *chartBuilder) trace(h points, t0, span int64, pb *pathBuf, ymax float64, s series) string {
	pb.reset()
	for i := 0; i < h.len(); i++ {
		p := h.get(i)
		if p.at < t0 {
			continue
		}
		if isGap(p) {
			pb.lift()
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
func (c *chartBuilder) stepMarker(h points, t0, span int64, pb *pathBuf, ymax float64) string {
	pb.reset()
	b := pb.b
	started, lastY := false, 0
	for i := 0; i < h.len(); i++ {
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

// missPct is the share of finished events that were late or dropped, over
// the same span as the point's rates, in percent; false when none finished
// (a gap, not 0 %).
func missPct(p *point) (float64, bool) {
	done := p.rOnTime + p.rLate + p.rDropped
	if !(done > 0) {
		return 0, false
	}
	return (p.rLate + p.rDropped) * 100 / done, true
}

// bandsOf finds the incidents in the window: runs of points at degraded or
// overloaded, each from its first point to the point after its last (or
// its last, at the end), at least a unit wide.
func bandsOf(h points, t0, span int64) []views.Band {
	var out []views.Band
	open, from, lvl := false, 0, statusOK
	closeAt := func(x int) {
		out = append(out, views.Band{X: from, W: max(1, x-from), Status: statusNames[lvl]})
		open = false
	}
	for i := 0; i < h.len(); i++ {
		p := h.get(i)
		if p.at < t0 || isGap(p) {
			continue
		}
		x := xOf(p.at, t0, span)
		if open && p.status != lvl {
			closeAt(x)
		}
		if !open && p.status > statusOK {
			open, from, lvl = true, x, p.status
		}
	}
	if open {
		closeAt(xOf(h.get(h.len()-1).at, t0, span))
	}
	return out
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

// build renders the live ring into the charts' view model: the last
// minute (or the last MaxChartPoints ticks, if shorter), a point per tick.
func (c *chartBuilder) build(h *ring) views.Charts {
	if h.n == 0 {
		return views.Charts{Range: LiveRange}
	}
	last := h.newest()
	span := min(int64(ChartWindowMs), MaxChartPoints*last.tickMs)
	np := 0
	for i := 0; i < h.n; i++ {
		if h.get(i).at >= last.at-span {
			np++
		}
	}
	window := fmtSpan(span)
	return c.draw(h, last, last.at-span, span, views.Charts{
		Range: LiveRange, Window: window, Points: np,
		Note: "Last " + window + ", one point per tick (" + strconv.Itoa(np) + " ticks), rates over a sliding second.",
	})
}

// buildHistory renders a range of the server's history: its steps folded
// into the plot's columns, the window ending at the history's now.
func (c *chartBuilder) buildHistory(s *history.Series, rng, label string, span int64) views.Charts {
	now := s.Now
	if n := len(s.Points); n > 0 {
		now = max(now, s.Points[n-1].T)
	}
	t0 := now - span
	pts := downsample(s, t0, span)
	var last *point
	for i := len(pts) - 1; i >= 0; i-- {
		if !pts[i].gap {
			last = &pts[i]
			break
		}
	}
	steps := 0
	for i := range s.Points {
		if s.Points[i].T >= t0 {
			steps++
		}
	}
	v := views.Charts{Range: rng, Window: label, Points: steps}
	if last == nil {
		v.Note = "The server's history has nothing in the last " + label + " yet."
		return v
	}
	col := max(s.StepMs, (span+views.PlotW-1)/views.PlotW)
	v.Note = "Last " + label + " from the server's history: " + strconv.Itoa(steps) + " steps of " + fmtSpan(s.StepMs) +
		", drawn a point per " + fmtSpan(col) + " (peaks kept); refreshed every few seconds."
	return c.draw(pts, last, t0, span, v)
}

// draw renders the points from t0 on, over span; last is the newest.
func (c *chartBuilder) draw(h points, last *point, t0, span int64, v views.Charts) views.Charts {
	var (
		maxLat, maxRate    float64
		maxCap, maxWorkers int
	)
	for i := 0; i < h.len(); i++ {
		p := h.get(i)
		if p.at < t0 || isGap(p) {
			continue
		}
		if p.hasLat {
			maxLat = max(maxLat, p.p99)
		}
		maxLat = max(maxLat, p.deadline)
		maxRate = max(maxRate, p.rOnTime, p.rLate, p.rDropped)
		maxCap = max(maxCap, p.queueCap, p.depth)
		maxWorkers = max(maxWorkers, p.workers, p.busy)
	}
	latMax := niceCeil(maxLat * 1.1)
	rateMax := niceCeil(maxRate)
	capMax := float64(max(maxCap, 1))
	// Headroom: a line at its maximum (every worker busy) sits below the
	// top edge, not on it.
	workMax := niceCeil(float64(max(maxWorkers, 1)) * 1.25)
	window := v.Window

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
	per := "per tick"
	if v.Range != LiveRange {
		per = "highest per point"
	}
	deadlineNow := "–"
	if last.deadline > 0 {
		deadlineNow = fmtMs(last.deadline)
	}
	latency := views.Chart{
		ID: "latency", Title: "Latency of processed events, " + per,
		YMax: fmtNum(latMax, "ms"), YMid: fmtNum(latMax/2, "ms"),
		Desc: "Latency over the last " + window + ": p50 now " + nowLat(last.p50) + ", p99 now " + nowLat(last.p99) +
			", deadline " + deadlineNow + "; scale 0 to " + fmtNum(latMax, "ms") + ".",
		Lines: []views.Line{
			{Class: "p50", Label: "p50", Now: nowLat(last.p50), D: p50},
			{Class: "p99", Label: "p99", Now: nowLat(last.p99), D: p99},
		},
		Marker: &views.Line{Class: "deadline", Label: "deadline", Now: deadlineNow, D: deadline},
	}

	onTime := c.trace(h, t0, span, &pb[3], rateMax, func(p *point) (float64, bool) { return p.rOnTime, true })
	late := c.trace(h, t0, span, &pb[4], rateMax, func(p *point) (float64, bool) { return p.rLate, true })
	dropped := c.trace(h, t0, span, &pb[5], rateMax, func(p *point) (float64, bool) { return p.rDropped, true })
	nowOn, nowLate, nowDrop := last.rOnTime, last.rLate, last.rDropped
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
	if m, ok := missPct(last); ok {
		missNow = fmtNum(m, "%")
	}
	missRate := views.Chart{
		ID: "miss", Title: "Miss rate (late or dropped)",
		YMax: "100 %", YMid: "50 %",
		Desc: "Share of finished events late or dropped over the last " + window + ": now " + missNow + ".",
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
			" of " + strconv.Itoa(last.workers) + "; scale 0 to " + fmtNum(workMax, "") + ".",
		Lines: []views.Line{{Class: "busy", Label: "busy", Now: strconv.Itoa(last.busy) + " / " + strconv.Itoa(last.workers),
			D: c.trace(h, t0, span, &pb[8], workMax, func(p *point) (float64, bool) { return float64(p.busy), true })}},
	}
	v.Latency = latency
	v.Small = []views.Chart{throughput, missRate, queue, busy}
	v.Bands = bandsOf(h, t0, span)
	return v
}
