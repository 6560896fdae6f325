// Package views holds the templ components of the server-rendered page.
package views

import (
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/ontime-rt/ontime/internal/event"
)

func itoa(n int) string    { return strconv.Itoa(n) }
func utoa(n uint64) string { return strconv.FormatUint(n, 10) }

// ms formats milliseconds with one decimal: enough to compare with a deadline.
func ms(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + " ms" }

// clock formats a Unix-millisecond time as wall-clock time with milliseconds.
func clock(unixMs int64) string {
	return time.UnixMilli(unixMs).UTC().Format("15:04:05.000")
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// num formats a setting as a plain number: "20", "12.5".
func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// reasonsOf lists the reasons of a drop count, sorted.
func reasonsOf(by map[event.Reason]uint64) []event.Reason {
	return slices.Sorted(maps.Keys(by))
}

// meterWidth is the width of an event's latency bar in a 150-wide box
// where the deadline sits at 100: latency as a percentage of the deadline,
// capped at 150.
func meterWidth(latencyMs, deadlineMs float64) string {
	if deadlineMs <= 0 || latencyMs <= 0 {
		return "0"
	}
	return strconv.FormatFloat(min(latencyMs/deadlineMs*100, 150), 'f', 1, 64)
}

// ofDeadline is latency as a rounded percentage of the deadline.
func ofDeadline(latencyMs, deadlineMs float64) string {
	if deadlineMs <= 0 {
		return ""
	}
	return strconv.FormatFloat(latencyMs/deadlineMs*100, 'f', 0, 64) + "%"
}
