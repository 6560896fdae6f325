// Package web serves the server-rendered page: templ components rendered
// once per tick into HTML fragments that htmx swaps in over SSE.
package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/sse"
	"github.com/ontime-rt/ontime/views"
)

// Format is the hub format of the page's fragment stream.
const Format = "html"

// TableRows is how many events the page's table shows.
const TableRows = 50

// Renderer renders each batch into the page's fragments. It keeps the newest
// TableRows events across batches, since one tick usually holds only a few.
type Renderer struct {
	mu     sync.Mutex
	recent []batch.Event // newest first, at most TableRows
}

// NewRenderer returns a renderer with an empty table.
func NewRenderer() *Renderer { return &Renderer{} }

// Encode is the hub encoder: two SSE events, "stats" and "events", whose
// data are the HTML fragments swapped into the page.
func (r *Renderer) Encode(b *batch.Batch) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recent = prependNewest(r.recent, b.Events, TableRows)
	var stats, rows bytes.Buffer
	ctx := context.Background()
	if err := views.Stats(b).Render(ctx, &stats); err != nil {
		return nil, fmt.Errorf("render stats: %w", err)
	}
	if err := views.Rows(r.recent).Render(ctx, &rows); err != nil {
		return nil, fmt.Errorf("render rows: %w", err)
	}
	id := strconv.FormatUint(b.Seq, 10)
	out := make([]byte, 0, stats.Len()+rows.Len()+256)
	out = sse.AppendEvent(out, sse.Event{ID: id, Name: "stats", Data: stats.Bytes()})
	out = sse.AppendEvent(out, sse.Event{ID: id, Name: "events", Data: rows.Bytes()})
	return out, nil
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
func PageHandler(h *hub.Hub, r *Renderer) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		var b *batch.Batch
		if f := h.Latest(); f != nil {
			b = f.Batch
		}
		var buf bytes.Buffer
		if err := views.Page(b, r.Recent()).Render(req.Context(), &buf); err != nil {
			http.Error(w, "render page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(buf.Bytes())
	}
}
