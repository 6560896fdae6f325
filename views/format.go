// Package views holds the templ components of the server-rendered page.
package views

import (
	"bytes"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	json "github.com/go-json-experiment/json/v1"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/config"
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

// kindsOf lists the kinds of a failure count, sorted.
func kindsOf(by map[string]uint64) []string {
	return slices.Sorted(maps.Keys(by))
}

// workerHost is the host (and port) of the worker that processes events,
// "" when the processor is no http worker or its URL does not parse.
func workerHost(s *config.Settings) string {
	if s == nil || s.Processor != config.HTTP || s.WorkerURL == "" {
		return ""
	}
	u, err := url.Parse(s.WorkerURL)
	if err != nil {
		return ""
	}
	return u.Host
}

// workerSubject is the NATS subject of the workers that process events,
// "" when the processor is not nats.
func workerSubject(s *config.Settings) string {
	if s == nil || s.Processor != config.NATS {
		return ""
	}
	return s.WorkerSubject
}

// limitText is the bound on events processed at once against the workers:
// "limit 9 / 64".
func limitText(h batch.Health) string {
	return "limit " + itoa(h.Limit) + " / " + itoa(h.Workers)
}

// callText digests the processor's call latency, or says none completed.
func callText(h batch.Health) string {
	if h.CallP50Ms <= 0 && h.CallP99Ms <= 0 {
		return "calls: none in the last 10 s"
	}
	best := "—"
	if h.CallBestMs > 0 {
		best = strconv.FormatFloat(h.CallBestMs, 'f', 1, 64)
	}
	return "calls p50 " + strconv.FormatFloat(h.CallP50Ms, 'f', 1, 64) +
		" · p90 " + strconv.FormatFloat(h.CallP90Ms, 'f', 1, 64) +
		" · p99 " + strconv.FormatFloat(h.CallP99Ms, 'f', 1, 64) + " · best " + best + " ms"
}

// reasonText is an event's reason, with the kind of failure for a failed
// one: "failed · http-503".
func reasonText(e batch.Event) string {
	if e.Failure != "" {
		r := string(e.Reason)
		if r == "" {
			r = string(event.Failed)
		}
		return r + " · " + e.Failure
	}
	return string(e.Reason)
}

// resultPreviewChars is how many characters of a result a row shows.
const resultPreviewChars = 60

// resultText is a worker's result as compact JSON: all of it, and a
// preview of at most resultPreviewChars characters, cut with an ellipsis
// (preview == full when nothing was cut). Both are plain text for templ's
// escaping interpolation: the result is untrusted.
func resultText(raw json.RawMessage) (preview, full string) {
	if len(raw) == 0 {
		return "", ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err == nil {
		full = buf.String()
	} else {
		full = string(raw)
	}
	if utf8.RuneCountInString(full) <= resultPreviewChars {
		return full, full
	}
	cut, n := 0, 0
	for i := range full {
		if n == resultPreviewChars-1 {
			cut = i
			break
		}
		n++
	}
	return full[:cut] + "…", full
}
