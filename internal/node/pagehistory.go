package node

import (
	"encoding/json"
	"fmt"

	"github.com/ontime-rt/ontime/internal/history"
	"github.com/ontime-rt/ontime/internal/web"
)

// pageHistory gives the page the server's history in the page's own
// types. Both describe the JSON of GET /api/history and GET
// /api/incidents, so each answer is carried over through that JSON: the
// page reads history at most every few seconds per viewer, and the two
// packages keep no type in common.
type pageHistory struct{ h *history.History }

// Series returns one range of the history.
func (p pageHistory) Series(rng string) (web.HistorySeries, error) {
	var out web.HistorySeries
	r, err := history.ParseRange(rng)
	if err != nil {
		return out, err
	}
	return out, convert(p.h.Series(r), &out)
}

// Incidents returns the incidents, newest first.
func (p pageHistory) Incidents() ([]web.Incident, error) {
	var out []web.Incident
	return out, convert(p.h.Incidents(), &out)
}

func convert(from, to any) error {
	data, err := json.Marshal(from)
	if err != nil {
		return fmt.Errorf("history for the page: %w", err)
	}
	if err := json.Unmarshal(data, to); err != nil {
		return fmt.Errorf("history for the page: %w", err)
	}
	return nil
}
