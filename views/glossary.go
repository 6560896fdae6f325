package views

// Explanation is one status, verdict or reason and what it means, in one
// sentence. The React dashboard says the same (frontend-react/src/glossary.ts).
type Explanation struct {
	Key, Label, Text string
}

// Statuses are the event statuses, in the legend's order.
var Statuses = []Explanation{
	{"on-time", "on time", "Processed and finished before its deadline."},
	{"late", "late", "Processed, but finished after its deadline."},
	{"dropped", "dropped", "Never processed to the end; the reason says why."},
}

// Verdicts are the health verdicts.
var Verdicts = []Explanation{
	{"ok", "ok", "Everything finished was on time and the queue is short."},
	{"degraded", "degraded", "Events were late or failed (a failing worker), were dropped while a worker was free, or the queue is at least half full. The cause beside the badge says which."},
	{"overloaded", "overloaded", "Events were dropped for want of capacity while every worker was busy, or the queue is at least 90 % full."},
}

// Reasons are the drop (and late) reasons, in the legend's order.
var Reasons = []Explanation{
	{"queue-full", "queue-full", "The queue in front of the workers was full when the event arrived."},
	{"expired", "expired", "Its deadline passed while it waited in the queue; it was never started."},
	{"shed", "shed", "With more events waiting than free workers, it was less likely to finish in time than the others, so it was not started."},
	{"shutdown", "shutdown", "The server stopped before the event could finish."},
	{"failed", "failed", "The processor failed; the kind of failure (such as http-503 or connect) follows."},
	{"cancelled", "cancelled", "A late event whose processing was cancelled at its deadline."},
	{"bus-unavailable", "bus-unavailable", "Cluster: the event could not be handed to NATS (connection down, buffer full)."},
	{"node-lost", "node-lost", "Cluster: it was on a node that stopped reporting, or sent to it and never taken."},
	{"bus", "bus", "Cluster: it was published on the event bus but no node took it in (at most once)."},
}

// NodeStatuses are a cluster node's statuses besides the verdicts.
var NodeStatuses = []Explanation{
	{"joining", "joining", "Its first report arrived; it counts from the next tick on."},
	{"lost", "lost", "It has not reported for a few ticks; after 10 s, its work is counted as node-lost."},
	{"left", "left", "It stopped on purpose and said so; nothing of it is lost."},
}

// Explain returns the sentence for a status, verdict or reason; "" when
// unknown.
func Explain(key string) string {
	for _, list := range [][]Explanation{Statuses, Verdicts, Reasons, NodeStatuses} {
		for _, e := range list {
			if e.Key == key {
				return e.Text
			}
		}
	}
	return ""
}

// withCause appends a verdict's cause to its explanation, for a badge's
// title: "... Cause: worker failing: http-500".
func withCause(text, cause string) string {
	if cause == "" {
		return text
	}
	return text + " Cause: " + cause + "."
}
