package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

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

var statusLabels = [numStatuses]string{"on-time", "late", "dropped", "other"}

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

// reasonLabel is the label value of a known reason: the empty reason is
// "none", so the label always says something.
func reasonLabel(r event.Reason) string {
	if r == event.ReasonNone {
		return "none"
	}
	return string(r)
}

// reasonIndex is r's index in m.reasons, or len(m.reasons) (the "other"
// label) for a reason this build does not know. A scan of a few short
// strings: cheaper than hashing one for a map.
func (m *Metrics) reasonIndex(r event.Reason) int {
	for i, k := range m.reasons {
		if k == r {
			return i
		}
	}
	return len(m.reasons)
}

// initReasons takes the reason labels from the event package's list, plus
// "other" last, and sizes the outcome cache for them.
func (m *Metrics) initReasons() {
	m.reasons = event.Reasons()
	m.reasonLabels = make([]string, 0, len(m.reasons)+1)
	for _, r := range m.reasons {
		m.reasonLabels = append(m.reasonLabels, reasonLabel(r))
	}
	m.reasonLabels = append(m.reasonLabels, "other")
	for s := range m.outcome {
		m.outcome[s] = make([]prometheus.Counter, len(m.reasonLabels))
	}
}

// initOutcomes creates, at zero, the counters of every outcome the pipeline
// produces, so rate() and alerts see them from the first scrape instead of
// only after the first such event. The nonsensical combinations (on-time
// with queue-full, say) are left out so they do not clutter every scrape.
func (m *Metrics) initOutcomes() {
	for _, c := range [...]struct {
		status event.Status
		reason event.Reason
	}{
		{event.OnTime, event.ReasonNone},
		{event.Late, event.ReasonNone},
		{event.Late, event.Cancelled},
		{event.Dropped, event.QueueFull},
		{event.Dropped, event.Expired},
		{event.Dropped, event.Shed},
		{event.Dropped, event.Shutdown},
		{event.Dropped, event.Failed},
	} {
		s, r := statusIndex(c.status), m.reasonIndex(c.reason)
		m.outcome[s][r] = m.outcomes.WithLabelValues(statusLabels[s], m.reasonLabels[r])
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
	s, rs := statusIndex(r.Status), m.reasonIndex(r.Reason)
	if c := m.outcome[s][rs]; c != nil {
		c.Inc()
	} else {
		// A combination the pipeline does not produce: still counted,
		// through the slower labelled lookup, with bounded labels.
		m.outcomes.WithLabelValues(statusLabels[s], m.reasonLabels[rs]).Inc()
	}
	if r.Reason == event.Failed {
		m.failures.WithLabelValues(failureLabel(r.Failure)).Inc()
	}
	if r.Processed() {
		m.latency.Observe(r.Latency().Seconds())
	}
	m.inFlight.Add(-1)
}

// KnownFailureKinds are the kinds of failure whose counters exist from the
// start, at zero, so that rate() and alerts see them before the first
// failure: the fixed words the processors report (package worker's Kind
// constants; a test keeps the two lists equal), "error" (a failure that
// names no kind) and "other" (a label failureLabel refuses). The statuses
// ("http-NNN", "status-NNN") are an open set of a few hundred: each appears
// with its first failure.
var KnownFailureKinds = []string{
	"connect", "reset", "tls", "bad-response", "result-too-large", "timeout", // HTTP
	"no-worker", "worker-error", // NATS
	"error", "other",
}

// initFailures creates the counters of the known kinds at zero.
func (m *Metrics) initFailures() {
	for _, k := range KnownFailureKinds {
		m.failures.WithLabelValues(k)
	}
}

// failureLabel bounds the kind label: "http-" or "status-" and a status
// code, or a short lower-case word; anything else (a processor's bug) is
// "other".
func failureLabel(kind string) string {
	for _, prefix := range [...]string{"http-", "status-"} {
		code, ok := strings.CutPrefix(kind, prefix)
		if !ok {
			continue
		}
		if len(code) != 3 {
			return "other"
		}
		for _, c := range code {
			if c < '0' || c > '9' {
				return "other"
			}
		}
		return kind
	}
	if kind == "" || len(kind) > 20 {
		return "other"
	}
	for _, c := range kind {
		if (c < 'a' || c > 'z') && c != '-' {
			return "other"
		}
	}
	return kind
}
