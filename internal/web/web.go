// Package web serves the server-rendered page: templ components rendered
// once per tick into HTML fragments that htmx swaps in over SSE.
package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/a-h/templ"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/history"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/sse"
	"github.com/ontime-rt/ontime/views"
)

// Format is the hub format of the page's fragment stream.
const Format = "html"

// TableRows is how many events the page's table shows.
const TableRows = 50

// Renderer renders each batch into the page's fragments, once for all page
// clients. It keeps the newest TableRows events across batches, since one
// tick usually holds only a few, the DetailEvents newest by id for their
// details (EventHandler), and the last minute of ticks for the charts.
type Renderer struct {
	mu       sync.Mutex
	recent   []batch.Event // newest first, at most TableRows
	details  details       // the DetailEvents newest, by id
	hist     ring
	charts   chartBuilder
	view     views.Charts // of the newest batch, for the first paint
	buf      bytes.Buffer // reused for each fragment
	deadline float64      // the last known deadline
	size     int          // of the last output, to size the next
	watching func() bool
	source   History // the server's history; nil when it keeps none
}

// SetHistory gives the page the server's history, for the charts' longer
// ranges and the incident list. Without one (nil) the page offers the
// last minute only and says the server keeps no incidents. Call it before
// the page is served.
func (r *Renderer) SetHistory(h History) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.source = h
}

func (r *Renderer) history() History {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.source
}

// NewRenderer returns a renderer with an empty table and empty charts.
//
// watching, when set, says whether any page is connected. While none is,
// Encode keeps the table and the charts' history current but renders no
// HTML: rendering the four fragments is about two thirds of an idle
// server's CPU. A page that connects gets fragments from the next tick on;
// its first paint comes from PageHandler, which renders the current state.
func NewRenderer(watching func() bool) *Renderer { return &Renderer{watching: watching} }

// Encode is the hub encoder: four SSE events whose data are the HTML
// fragments swapped into the page: "stats" (totals, health, drops),
// "charts" (the SVG charts of the last minute), "config" (the settings in
// force) and "events" (the table's rows). It returns no bytes while no page
// is watching (see NewRenderer).
//
// The events carry no id on purpose. Every frame is a complete snapshot,
// so a page that reconnects needs only the newest one; with an id, the
// browser's EventSource would send Last-Event-ID on reconnecting and the
// stream would replay every frame missed (up to the hub's history, ~50 KB
// each with full charts), or, after a server restart, frames of the new
// run picked by an unrelated seq. Without one it starts at the newest.
func (r *Renderer) Encode(b *batch.Batch) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recent = prependNewest(r.recent, b.Events, TableRows)
	for _, e := range b.Events {
		r.details.add(e)
	}
	p := pointOf(b, r.deadline)
	r.deadline = p.deadline
	r.hist.push(p)
	r.view = r.charts.build(&r.hist)
	if r.watching != nil && !r.watching() {
		return nil, nil
	}

	out := make([]byte, 0, max(r.size+r.size/8, 4096))
	ctx := context.Background()
	for _, f := range []struct {
		name string
		c    templ.Component
	}{
		{"stats", views.Stats(b)},
		{"charts", views.ChartsFragment(r.view)},
		{"config", views.InForce(b.Config)},
		{"events", views.Rows(r.recent)},
	} {
		r.buf.Reset()
		if err := f.c.Render(ctx, &r.buf); err != nil {
			return nil, fmt.Errorf("render %s: %w", f.name, err)
		}
		out = sse.AppendEvent(out, sse.Event{Name: f.name, Data: r.buf.Bytes()})
	}
	r.size = len(out)
	return out, nil
}

// Charts returns the charts of the newest batch.
func (r *Renderer) Charts() views.Charts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.view
}

// Recent returns a copy of the table's events, newest first.
func (r *Renderer) Recent() []batch.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]batch.Event(nil), r.recent...)
}

// prependNewest puts the events of a batch (oldest first) in front of recent
// (newest first), keeping at most n.
func prependNewest(recent, batchEvents []batch.Event, n int) []batch.Event {
	out := make([]batch.Event, 0, n)
	for i := len(batchEvents) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, batchEvents[i])
	}
	for _, e := range recent {
		if len(out) == n {
			break
		}
		out = append(out, e)
	}
	return out
}

// PageHandler renders the full page with the newest batch, so the first
// paint is current; the stream keeps it current.
//
// Query parameters: range picks the charts' range (1m, the default, is
// live from the batches; 15m, 1h and 24h come from the server's history);
// part=charts or part=incidents answers that fragment alone, which the
// page fetches again every few seconds for a range of the history and for
// the incident list. Anything else is a 400 with a plain-text message.
func PageHandler(h *hub.Hub, r *Renderer) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		rng := q.Get("range")
		if rng == "" {
			rng = LiveRange
		}
		hr, err := history.ParseRange(rng)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b := h.LatestBatch()
		src := r.history()
		var c templ.Component
		switch part := q.Get("part"); part {
		case "":
			c = views.Page(views.PageView{
				Batch: b, Events: r.Recent(), Charts: r.chartsOf(src, hr),
				Ranges: rangeLinks(src != nil), Incidents: incidentsOf(src, b),
			})
		case "charts":
			c = views.ChartsFragment(r.chartsOf(src, hr))
		case "incidents":
			c = views.IncidentList(incidentsOf(src, b), rng)
		default:
			http.Error(w, fmt.Sprintf("unknown part %q: use charts or incidents", part), http.StatusBadRequest)
			return
		}
		var buf bytes.Buffer
		if err := c.Render(req.Context(), &buf); err != nil {
			http.Error(w, "render page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(buf.Bytes())
	}
}

// chartsOf is the charts of a range: the live ring's for LiveRange, else
// drawn from the history (with a note instead when there is none).
func (r *Renderer) chartsOf(src History, hr history.Range) views.Charts {
	rng := hr.Name
	if rng == LiveRange {
		return r.Charts()
	}
	label := rng
	for _, x := range Ranges {
		if x.Key == rng {
			label = x.Label
		}
	}
	if src == nil {
		return views.Charts{Range: rng, Window: label,
			Note: "This server keeps no history: only the last minute (1 min) can be shown."}
	}
	s := src.Series(hr)
	// A builder of its own: the live one's buffers belong to Encode.
	var cb chartBuilder
	return cb.buildHistory(&s, rng, label, hr.Span.Milliseconds())
}

func rangeLinks(haveHistory bool) []views.RangeLink {
	out := make([]views.RangeLink, len(Ranges))
	for i, x := range Ranges {
		out[i] = views.RangeLink{Key: x.Key, Label: x.Label, Available: x.Key == LiveRange || haveHistory}
	}
	return out
}

// maxIncidents bounds the incident list.
const maxIncidents = 20

// incidentsOf formats the incidents; ongoing ones are measured up to the
// newest batch.
func incidentsOf(src History, b *batch.Batch) views.Incidents {
	if src == nil {
		return views.Incidents{}
	}
	list := src.Incidents()
	var now int64
	if b != nil {
		now = b.At
	}
	out := views.Incidents{Available: true, Rows: make([]views.IncidentRow, 0, min(len(list), maxIncidents))}
	for _, in := range list[:min(len(list), maxIncidents)] {
		row := views.IncidentRow{
			Kind: strings.ReplaceAll(in.Kind, "-", " "), Status: string(in.Status), Node: in.Node,
			Start:     views.Clock(in.Start),
			WorstMiss: strconv.FormatFloat(min(1, max(0, in.WorstMissRate))*100, 'f', 1, 64) + " %",
		}
		if in.End == nil {
			row.Ongoing, row.Duration = true, views.Duration(max(0, now-in.Start))
		} else {
			row.Duration = views.Duration(*in.End - in.Start)
		}
		for _, rc := range in.TopReasons {
			row.Reasons = append(row.Reasons, views.ReasonCount{Reason: rc.Reason, Count: strconv.FormatUint(rc.Count, 10)})
		}
		out.Rows = append(out.Rows, row)
	}
	return out
}
