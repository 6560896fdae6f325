package web

import "github.com/ontime-rt/ontime/internal/history"

// History is the server's record of the pipeline beyond the last minute:
// what GET /api/history and GET /api/incidents answer (*history.History).
// The page reads it for its longer ranges and its incident list.
type History interface {
	// Series returns one range of the history, oldest first, missing
	// steps absent.
	Series(history.Range) history.Series
	// Incidents returns the incidents, newest first.
	Incidents() []history.Incident
}

// Ranges are the chart ranges the page offers, in order: those of
// history.Ranges, each with its label.
var Ranges = []struct{ Key, Label string }{
	{"1m", "1 min"},
	{"15m", "15 min"},
	{"1h", "1 h"},
	{"24h", "24 h"},
}

// LiveRange is the range drawn from the live batches, refreshed every
// tick; the longer ones come from the History.
const LiveRange = "1m"
