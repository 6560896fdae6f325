package web

import (
	"bytes"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"
	json "github.com/go-json-experiment/json/v1"
	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/httperr"
)

// DetailEvents is how many of the newest events the page keeps for their
// details (GET /ui/events/{id}): every event of the last DetailEvents that
// reached the table, at least the last 20 ticks at 50 events a tick. An
// event holds its payload and result (at most 4 KiB each, shared with the
// batch it came in), so the index is bounded by about 8 MiB plus some
// 200 bytes an event.
const DetailEvents = 1000

// details is a bounded index of the newest events by id, oldest evicted
// first. Not safe for concurrent use: the Renderer's mutex guards it.
type details struct {
	ring []string // ids in arrival order, a ring once full
	next int      // the slot the next event overwrites, once full
	byID map[string]detailEntry
}

type detailEntry struct {
	e    batch.Event
	slot int // the ring slot that holds its id
}

func (d *details) add(e batch.Event) {
	if d.byID == nil {
		d.byID = make(map[string]detailEntry, DetailEvents)
		d.ring = make([]string, 0, DetailEvents)
	}
	slot := len(d.ring)
	if slot < DetailEvents {
		d.ring = append(d.ring, e.ID)
	} else {
		slot = d.next
		// An id seen twice keeps its newest slot: evict only the entry
		// this slot holds.
		if old, ok := d.byID[d.ring[slot]]; ok && old.slot == slot {
			delete(d.byID, d.ring[slot])
		}
		d.ring[slot] = e.ID
		d.next = (slot + 1) % DetailEvents
	}
	d.byID[e.ID] = detailEntry{e: e, slot: slot}
}

func (d *details) get(id string) (batch.Event, bool) {
	en, ok := d.byID[id]
	return en.e, ok
}

// Event returns one of the DetailEvents newest events by id.
func (r *Renderer) Event(id string) (batch.Event, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.details.get(id)
}

// eventDetail is the answer of GET /ui/events/{id}: the event as the
// batches carried it, and the size of its payload.
type eventDetail struct {
	batch.Event
	// PayloadBytes is the size of the payload as compact JSON, 0 without
	// one.
	PayloadBytes int `json:"payloadBytes"`
}

// EventHandler answers GET /ui/events/{id} for the page's event details:
// the event as the batches carried it (payload and result included, which
// GET /api/events/{id} does not keep) plus payloadBytes, while it is among
// the DetailEvents newest; 404 after that, 400 for an id that is no UUID.
// The page only reads what it already showed, so the route is open like
// the page itself.
func EventHandler(r *Renderer) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		id := chi.URLParam(req, "id")
		if _, err := uuid.Parse(id); len(id) != 36 || err != nil {
			httperr.Write(w, http.StatusBadRequest, fmt.Sprintf("event id %q is not a UUID (want the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", id))
			return
		}
		e, ok := r.Event(id)
		if !ok {
			httperr.Write(w, http.StatusNotFound, fmt.Sprintf("event %s is not among the %d newest events the page keeps", id, DetailEvents))
			return
		}
		d := eventDetail{Event: e}
		if len(e.Payload) > 0 {
			var buf bytes.Buffer
			if json.Compact(&buf, e.Payload) == nil {
				d.PayloadBytes = buf.Len()
			} else {
				d.PayloadBytes = len(e.Payload)
			}
		}
		body, err := json.Marshal(d)
		if err != nil {
			httperr.Write(w, http.StatusInternalServerError, "encode event: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(append(body, '\n'))
	}
}
