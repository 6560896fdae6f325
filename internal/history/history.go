// Package history keeps what the batches said over the last 24 hours, in
// fixed memory: a series of one-second steps for the last hour, one of
// one-minute steps for the last 24 hours, and the incidents (health
// episodes, restarts, cluster nodes lost and rejoined).
//
// It sits between the batches' source and the hub (coalescer -> history ->
// hub, or in cluster mode merger -> history -> hub), so it sees exactly the
// batches clients see, with the latency histogram each was digested from:
// a step's percentiles come from the merged histograms of its batches, not
// from their digests (digests cannot be merged).
package history

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/stats"
)

// Publisher is what history hands every batch on to (the hub). It must not
// block.
type Publisher interface {
	Publish(b *batch.Batch)
}

// Config configures a History.
type Config struct {
	// Next receives every batch after history. Required.
	Next Publisher
	// Now is the clock; a step's place is its batch's At, Now dates the
	// answers and the restart. Default time.Now.
	Now func() time.Time
}

// History records batches into the series and incidents. Publish and
// PublishWithLatencies are called from one goroutine; the readers from any.
type History struct {
	next      Publisher
	now       func() time.Time
	startedAt int64

	mu    sync.Mutex
	names names
	sec   series
	min   series
	inc   incidents
}

// New returns an empty History whose process started now: its first
// incident is the restart.
func New(cfg Config) (*History, error) {
	if cfg.Next == nil {
		return nil, errors.New("history: a next publisher is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &History{
		next: cfg.Next, now: cfg.Now, startedAt: cfg.Now().UnixMilli(),
		names: newNames(), sec: newSeries(time.Second, SecondSteps), min: newSeries(time.Minute, MinuteSteps),
	}
	h.inc.restart(h.startedAt, "")
	return h, nil
}

// Publish records b without latencies (a step's percentiles then come from
// the other batches; its max from b's digest too) and hands it on.
func (h *History) Publish(b *batch.Batch) { h.PublishWithLatencies(b, nil) }

// PublishWithLatencies hands b on, then records it with the histogram of
// its latencies, lent for the call.
func (h *History) PublishWithLatencies(b *batch.Batch, lat *stats.Histogram) {
	// Clients first: recording only delays history's readers.
	h.next.Publish(b)
	h.mu.Lock()
	defer h.mu.Unlock()
	at := b.At
	if closed := h.sec.fold(&h.names, b, at, lat); closed != nil {
		h.inc.second(closed)
	}
	h.min.fold(&h.names, b, at, lat)
	h.inc.batch(b, at)
}

// PublishCluster records a cluster batch (the node list is in b.Nodes).
// It makes History a cluster publisher; the Merger prefers
// PublishWithLatencies.
func (h *History) PublishCluster(b *batch.Batch, _ []batch.NodeStatus) { h.Publish(b) }

// Range is a span of history and the step it is given in.
type Range struct {
	Name string
	Span time.Duration
	Step time.Duration
}

// Ranges lists the ranges GET /api/history serves, shortest first.
func Ranges() []Range {
	return []Range{
		{"1m", time.Minute, time.Second},
		{"15m", 15 * time.Minute, time.Second},
		{"1h", time.Hour, time.Second},
		{"24h", 24 * time.Hour, time.Minute},
	}
}

// DefaultRange is the range of a request that names none.
const DefaultRange = "1h"

// ParseRange returns the range named s, or an error that lists the valid
// ones.
func ParseRange(s string) (Range, error) {
	names := ""
	for _, r := range Ranges() {
		if r.Name == s {
			return r, nil
		}
		if names != "" {
			names += ", "
		}
		names += r.Name
	}
	return Range{}, fmt.Errorf("range %q is not one of %s", s, names)
}

// Series is the answer of GET /api/history.
type Series struct {
	Range  string `json:"range"`
	StepMs int64  `json:"stepMs"`
	// Now is when the answer was made; StartedAt when this process (its
	// history) started (unix ms).
	Now       int64 `json:"now"`
	StartedAt int64 `json:"startedAt"`
	// Points are the closed steps of the range, oldest first; steps
	// without batches are absent. The step being filled is not included.
	Points []Point `json:"points"`
}

// Series returns the steps of r up to now.
func (h *History) Series(r Range) Series {
	now := h.now().UnixMilli()
	out := Series{Range: r.Name, StepMs: r.Step.Milliseconds(), Now: now, StartedAt: h.startedAt}
	// Steps that overlap the range: from the one holding now - span.
	from := now - r.Span.Milliseconds()
	from -= from % r.Step.Milliseconds()
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &h.sec
	if r.Step == time.Minute {
		s = &h.min
	}
	out.Points = s.points(&h.names, from)
	return out
}

// Incidents returns the incidents of the last 24 hours, newest first (at
// most MaxIncidents).
func (h *History) Incidents() []Incident {
	now := h.now().UnixMilli()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inc.list(now)
}
