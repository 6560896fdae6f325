// Package cluster holds the building blocks that let several ontime nodes
// act as one: an EventBus that spreads events over every node's workers, and
// a Merger that turns every node's per-tick batch into one cluster batch that
// is the same on every node.
//
// # Why core NATS, not JetStream
//
// ontime's events have firm deadlines: a result that comes after the deadline
// is worth nothing. Core NATS delivers at most once, with no storage and no
// redelivery, which is that contract: an event is either handed to a
// worker promptly or lost. JetStream would persist and replay events after a
// node failure or a consumer stall, that is, deliver them after their
// deadline, paying for disk and acknowledgements to produce late results.
// What core NATS does not give, knowing what it lost, the bus gets from
// numbering its routes (below): every accepted event is counted once, by
// the node that took it or, if none did, by one of its route's ends. The
// same holds for tick summaries: a partial that misses its tick is folded
// into the next one; it is never replayed.
//
// # Events: EventBus
//
// Every node's generator and ingest submit into EventBus.Submit, which
// publishes the event, in a compact binary encoding, to one node: the next
// of its peers in turn (the nodes its Merger sees reporting), or itself when
// it has none. A node consumes the subject named after its id ("ontime.events."
// + OutcomeToken(id)) and submits what it gets to its local pipeline. Events
// are counted in the totals of the node that admits them.
//
// Every event travels on a route, from one incarnation of a node's bus to one
// incarnation of another's, and is numbered on it. A receiver admits a
// route's events in order; a number that skips tells it how many NATS lost
// (a slow consumer's drops, a NATS server that died with them), which it
// counts as dropped (event.Bus); the sender's marker, sent every 100 ms with
// the route's count, finds a loss at the end of a burst. Every partial
// carries its node's marks (how far it took each route into it), read with
// its received count at one instant. When a destination ends (written off
// after it was lost, left, or restarted), each sender counts the events it
// sent beyond the destination's final mark (event.NodeLost, or event.Bus
// if it left), and never sends to that incarnation again. A node does not
// send its events to itself while it has peers: an event it took and
// processed itself would die with it, unknown to anyone, if it were killed.
// Each event carries a reply subject on which NATS answers (503, no
// responders) when nobody takes it: a killed peer is skipped within a round
// trip.
//
// Ingest answers a request once the NATS server has its events (EventBus.
// Confirmed: one flush per request, shared by concurrent requests), so that
// a node killed after its 202 has handed them on.
//
// Every event carries its origin, the node that published it. The node that
// processes an event of another origin sends its final outcome back there
// with an OutcomeRouter, batched per origin for 1 ms on
// "ontime.outcomes.<token of the origin>", so that the node that took an
// event can tell its producer what became of it.
//
// # Tick summaries: Merger
//
// Ticks are aligned on wall-clock boundaries: the tick index of a batch cut
// at unix millisecond t is k = floor(t / tickMs), and the cluster batch of
// tick k has seq k on every node. Every node's Merger is the coalescer's
// Publisher: it turns each local batch into a partial (the tick's counts, the
// node's totals, the tick's latency histogram, newest events, health, start
// time and wall clock) and publishes it on "ontime.ticks". Every Merger
// subscribes to that subject, and for each k, once every live node's partial
// arrived (or a grace period passed), merges them into one batch for the hub.
// The decisions that change totals (a node joins, is lost, is written off,
// rejoins, restarts, leaves) are taken on tick indices carried by the partials, not on arrival times, so
// every Merger that received the same partials in time produces the same
// batches. A partial that misses its tick's merge on one node (it came after
// the grace) but not on another is merged into the next tick there: the two
// differ on those ticks' counts, then agree again. Every partial also carries
// its Merger's ledger (the totals of incarnations no longer running, as
// keyed facts) so that a Merger that starts late, on a restarted node,
// learns what it did not see.
//
// The wire format of a partial is JSON, readable with `nats sub ontime.ticks`:
// a few hundred bytes plus the tick's newest events (about 9 KB with 50
// generated events), ten per second per node at the default tick. The
// latency histogram travels in HdrHistogram's compressed V2 encoding, the
// format every HdrHistogram implementation reads.
//
// # Connections
//
// A bus and a Merger can share one connection. It must echo (no NoEcho
// option): a node consumes its own events too. Its ReconnectBufSize bounds
// what Submit buffers while the connection is re-established; events held
// longer than their deadline are dropped as expired by the consuming
// pipeline, so a small buffer (say 256 KiB) loses nothing of value. Node ids
// must be unique and the tick must be the same on every node.
//
// Peers on the NATS account are trusted: anyone who can publish on these
// subjects can inject events and summaries. Protect the account with NATS
// authentication.
package cluster
