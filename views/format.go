// Package views holds the templ components of the server-rendered page.
package views

import (
	"maps"
	"slices"
	"strconv"
	"strings"
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

func dropReasons(by map[event.Reason]uint64) string {
	var b strings.Builder
	for i, r := range slices.Sorted(maps.Keys(by)) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(r))
		b.WriteString(" ")
		b.WriteString(utoa(by[r]))
	}
	return b.String()
}
