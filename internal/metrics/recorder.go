package metrics

import (
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/pipeline"
)

// Status and reason label values are a closed set, so a bug or a new reason
// can never blow up the number of series: anything unknown counts as other.
const (
	statusOnTime = iota
	statusLate
	statusDropped
	statusOther
	numStatuses
)

const (
	reasonNone = iota
	reasonQueueFull
	reasonExpired
	reasonShed
	reasonShutdown
	reasonFailed
	reasonCancelled
	reasonBusUnavailable
	reasonOther
	numReasons
)

var statusLabels = [numStatuses]string{"on-time", "late", "dropped", "other"}

var reasonLabels = [numReasons]string{"none", "queue-full", "expired", "shed", "shutdown", "failed", "cancelled", "bus-unavailable", "other"}

func statusIndex(s event.Status) int {
	switch s {
	case event.OnTime:
		return statusOnTime
	case event.Late:
		return statusLate
	case event.Dropped:
		return statusDropped
	}
	return statusOther
}

func reasonIndex(r event.Reason) int {
	switch r {
	case event.ReasonNone:
		return reasonNone
	case event.QueueFull:
		return reasonQueueFull
	case event.Expired:
		return reasonExpired
	case event.Shed:
		return reasonShed
	case event.Shutdown:
		return reasonShutdown
	case event.Failed:
		return reasonFailed
	case event.Cancelled:
		return reasonCancelled
	case event.BusUnavailable:
		return reasonBusUnavailable
	}
	return reasonOther
}

// initOutcomes creates, at zero, the counters of every outcome the pipeline
// produces, so rate() and alerts see them from the first scrape instead of
// only after the first such event. The nonsensical combinations (on-time
// with queue-full, say) are left out so they do not clutter every scrape.
func (m *Metrics) initOutcomes() {
	for _, c := range [...]struct{ status, reason int }{
		{statusOnTime, reasonNone},
		{statusLate, reasonNone},
		{statusLate, reasonCancelled},
		{statusDropped, reasonQueueFull},
		{statusDropped, reasonExpired},
		{statusDropped, reasonShed},
		{statusDropped, reasonShutdown},
		{statusDropped, reasonFailed},
	} {
		m.outcome[c.status][c.reason] = m.outcomes.WithLabelValues(statusLabels[c.status], reasonLabels[c.reason])
	}
}

// Recorder returns a pipeline.Recorder that counts every admission and
// outcome, then forwards the call to next (when next is not nil), exactly
// once and on the caller's goroutine. It is safe for concurrent use and
// does not allocate.
func (m *Metrics) Recorder(next pipeline.Recorder) pipeline.Recorder {
	return &tap{m: m, next: next}
}

type tap struct {
	m    *Metrics
	next pipeline.Recorder
}

func (t *tap) Admit(ev event.Event) {
	// received before in flight, so received - finished never reads
	// negative; both are plain atomic adds.
	t.m.received.Inc()
	t.m.inFlight.Add(1)
	if t.next != nil {
		t.next.Admit(ev)
	}
}

func (t *tap) Finish(r event.Result) {
	t.m.count(r)
	if t.next != nil {
		t.next.Finish(r)
	}
}

// count records one outcome.
func (m *Metrics) count(r event.Result) {
	s, rs := statusIndex(r.Status), reasonIndex(r.Reason)
	if c := m.outcome[s][rs]; c != nil {
		c.Inc()
	} else {
		// A combination the pipeline does not produce: still counted,
		// through the slower labelled lookup, with bounded labels.
		m.outcomes.WithLabelValues(statusLabels[s], reasonLabels[rs]).Inc()
	}
	if r.Processed() {
		m.latency.Observe(r.Latency().Seconds())
	}
	m.inFlight.Add(-1)
}
