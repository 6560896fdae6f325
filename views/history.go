package views

import (
	"strconv"

	"github.com/ontime-rt/ontime/internal/batch"
)

// RangeLink is one choice of the charts' range selector.
type RangeLink struct {
	Key, Label string
	// Available is false for a range of the server's history when the
	// server keeps none.
	Available bool
}

// Incidents is the incident list.
type Incidents struct {
	// Available is false when the server keeps no incidents.
	Available bool
	Rows      []IncidentRow
}

// IncidentRow is one incident, formatted.
type IncidentRow struct {
	Kind, Status, Start, Duration, WorstMiss string
	Ongoing                                  bool
	Node                                     string
	Reasons                                  []ReasonCount
}

// ReasonCount is a drop reason and its count, formatted.
type ReasonCount struct {
	Reason, Count string
}

// Duration formats a span of milliseconds as "4 s", "3 min 20 s", "2 h 5 min".
func Duration(ms int64) string {
	s := max(0, (ms+500)/1000)
	if s < 60 {
		return strconv.FormatInt(s, 10) + " s"
	}
	m := s / 60
	if m < 60 {
		if s%60 != 0 {
			return strconv.FormatInt(m, 10) + " min " + strconv.FormatInt(s%60, 10) + " s"
		}
		return strconv.FormatInt(m, 10) + " min"
	}
	h := m / 60
	if m%60 != 0 {
		return strconv.FormatInt(h, 10) + " h " + strconv.FormatInt(m%60, 10) + " min"
	}
	return strconv.FormatInt(h, 10) + " h"
}

// Clock formats a Unix millisecond time as the page shows times.
func Clock(unixMs int64) string { return clock(unixMs) }

// inCluster reports whether the batch is a cluster's (it lists nodes).
func inCluster(b *batch.Batch) bool { return b != nil && len(b.Nodes) > 0 }

func skewText(ms float64) string {
	s := strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	if ms >= 0 {
		return "+" + s
	}
	return s
}

func nodeLoad(h batch.Health) string {
	limit := h.Limit
	if limit <= 0 {
		limit = h.Workers
	}
	return itoa(h.Busy) + " / " + itoa(limit)
}

func seenText(at, lastSeen int64) string {
	if at <= 0 || lastSeen <= 0 {
		return "–"
	}
	return strconv.FormatFloat(max(0, float64(at-lastSeen)/1000), 'f', 1, 64) + " s ago"
}

// waitedText says how long a dropped event waited before it was dropped;
// waitedTitle says it in full.
func waitedText(e batch.Event) string {
	if e.LatencyMs > 0 {
		return "waited " + ms(e.LatencyMs)
	}
	return "on arrival"
}

func waitedTitle(e batch.Event) string {
	if e.LatencyMs > 0 {
		return "dropped after " + ms(e.LatencyMs) + " in the queue, never processed"
	}
	return "dropped as it arrived, never processed"
}

// reasonTitle is a row's reason tooltip: the reason, its failure kind, and
// what it means.
func reasonTitle(e batch.Event) string {
	if e.Reason == "" {
		return ""
	}
	s := reasonText(e)
	if t := Explain(string(e.Reason)); t != "" {
		s += ": " + t
	}
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}
