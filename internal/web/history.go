package web

import (
	"errors"
	"fmt"
)

// History is the server's record of the pipeline beyond the last minute:
// what GET /api/history and GET /api/incidents answer. The page reads it
// for its longer ranges and its incident list. The types mirror the JSON
// of those endpoints (docs/api.md), so an implementation may convert
// field by field or through their JSON.
type History interface {
	// Series returns the history of one range ("1m", "15m", "1h", "24h"),
	// oldest first, missing steps absent.
	Series(rng string) (HistorySeries, error)
	// Incidents returns the incidents, newest first.
	Incidents() ([]Incident, error)
}

// HistorySeries is one range of the history (GET /api/history).
type HistorySeries struct {
	Range string `json:"range"`
	// StepMs is the span of each point: 1000, or 60000 for 24h.
	StepMs    int64          `json:"stepMs"`
	Now       int64          `json:"now"`
	StartedAt int64          `json:"startedAt"`
	Points    []HistoryPoint `json:"points"`
}

// HistoryPoint is one step: counts over the step, the rest as of its end.
type HistoryPoint struct {
	T         int64             `json:"t"`
	Received  uint64            `json:"received"`
	OnTime    uint64            `json:"onTime"`
	Late      uint64            `json:"late"`
	Dropped   uint64            `json:"dropped"`
	DroppedBy map[string]uint64 `json:"droppedBy"`
	FailedBy  map[string]uint64 `json:"failedBy,omitempty"`
	P50       float64           `json:"p50"`
	P90       float64           `json:"p90"`
	P99       float64           `json:"p99"`
	Max       float64           `json:"max"`
	// QueueDepth and the rest are the pipeline's load.
	QueueDepth int    `json:"queueDepth"`
	QueueCap   int    `json:"queueCap"`
	Busy       int    `json:"busy"`
	Workers    int    `json:"workers"`
	Limit      int    `json:"limit"`
	Status     string `json:"status"`
}

// Incident is a span of degraded or overloaded health, a restart, or a
// node lost or rejoined (GET /api/incidents).
type Incident struct {
	ID     int64  `json:"id"`
	Kind   string `json:"kind"`
	Status string `json:"status"`
	Start  int64  `json:"start"`
	// End is nil while the incident goes on.
	End           *int64        `json:"end"`
	WorstMissRate float64       `json:"worstMissRate"`
	TopReasons    []ReasonCount `json:"topReasons"`
	Node          string        `json:"node,omitempty"`
}

// ReasonCount is a drop reason and how many events it dropped.
type ReasonCount struct {
	Reason string `json:"reason"`
	Count  uint64 `json:"count"`
}

// Ranges are the chart ranges the page offers, in order.
var Ranges = []struct {
	Key, Label string
	Ms         int64
}{
	{"1m", "1 min", 60_000},
	{"15m", "15 min", 15 * 60_000},
	{"1h", "1 h", 60 * 60_000},
	{"24h", "24 h", 24 * 60 * 60_000},
}

// LiveRange is the range drawn from the live batches, refreshed every
// tick; the longer ones come from the History.
const LiveRange = "1m"

// errRange is a range the page does not offer.
var errRange = errors.New("unknown range")

func rangeMs(rng string) (int64, error) {
	for _, r := range Ranges {
		if r.Key == rng {
			return r.Ms, nil
		}
	}
	return 0, fmt.Errorf("%w %q: use 1m, 15m, 1h or 24h", errRange, rng)
}
