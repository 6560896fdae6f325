package views

// The charts are SVG drawn on the server. Their paths are in plot units: a
// box PlotW wide (the time window, oldest left, now right) and PlotH high
// (the scale, 0 at the bottom), which the browser stretches to the chart's
// size (preserveAspectRatio="none", strokes kept thin by CSS
// vector-effect). Labels and legends are HTML around the SVG, so they stay
// legible at any width.
const (
	PlotW = 600
	PlotH = 100
)

// plotViewBox leaves a little room above and below the scale so that a
// line at 0 or at the top is not cut in half.
const plotViewBox = "0 -3 600 106"

// gridPath draws the quarter lines of the scale.
const gridPath = "M0 25H600M0 50H600M0 75H600"

// Charts is the charts fragment: one large latency chart and small ones.
type Charts struct {
	// Range is the range shown: "1m" (live, from the batches) or a range
	// of the server's history ("15m", "1h", "24h").
	Range string
	// Window describes the time span on the x axis, such as "60 s".
	Window string
	// Points is how many ticks (or history steps) the charts hold.
	Points int
	// Note says what the charts show, above them.
	Note    string
	Latency Chart
	Small   []Chart
	// Bands are the incidents in the window, shaded on every chart.
	Bands []Band
}

// Band is a span at degraded or overloaded health, in plot units.
type Band struct {
	X, W int
	// Status is "degraded" or "overloaded" (its class, see style.css).
	Status string
}

// Chart is one chart: lines on a common scale, and an optional marker
// line (the deadline).
type Chart struct {
	// ID names the chart's elements; the SVG's data-testid is "chart-"+ID.
	ID    string
	Title string
	// YMax labels the top of the scale, YMid its middle.
	YMax, YMid string
	// Desc is the text alternative of the SVG.
	Desc   string
	Lines  []Line
	Marker *Line
}

// Line is one series.
type Line struct {
	// Class gives the line its colour and dash (see style.css).
	Class string
	Label string
	// Now is the latest value, formatted with its unit.
	Now string
	// D is the SVG path data, in plot units; empty when there is no data.
	D string
}
