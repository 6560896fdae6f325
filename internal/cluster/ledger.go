package cluster

import (
	"fmt"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/stats"
)

// facts are what no live incarnation of a node reports any more, by key
// (see retiredKey and ghostKey): keyed, so that learning a fact from another
// Merger and deriving it here count it once.
type facts map[string]stats.Totals

// Fact keys. A retired fact holds the final totals of one incarnation (by
// its start time), in-flight events written off as node-lost; a ghost fact
// the correction for one rejoin (by incarnation and the tick it was lost
// in).
func retiredKey(startedAt int64) string { return fmt.Sprintf("retired/%d", startedAt) }

func ghostKey(startedAt, lostAt int64) string {
	return fmt.Sprintf("ghost/%d/%d", startedAt, lostAt)
}

// forgotKey marks an incarnation an operator removed from the node list
// (Merger.Forget); its value is zero and adds nothing to the totals.
func forgotKey(startedAt int64) string { return fmt.Sprintf("forgot/%d", startedAt) }

// set records a fact. Two Mergers that wrote an incarnation off at
// different ticks (one heard a partial the other missed) hold different
// values: the one with more events wins, so that they converge.
func (f *facts) set(key string, t stats.Totals) {
	if old, ok := (*f)[key]; ok && !ahead(t, old) {
		return
	}
	if *f == nil {
		*f = facts{}
	}
	(*f)[key] = cloneTotals(t)
}

// ahead reports whether a accounts for more events than b.
func ahead(a, b stats.Totals) bool {
	return a.Received > b.Received || (a.Received == b.Received && a.Finished() > b.Finished())
}

// adopt takes the facts of another Merger's ledger, and the nodes it knows
// lost that this Merger never heard of. A Merger that started late (a
// restarted node) so learns the totals of incarnations that ended before it
// started; between Mergers that know the same, adopting changes nothing. It
// returns the earliest start of the incarnations it learnt of, or 0.
func (ms *membership) adopt(ledger map[string]ledgerEntry) (earliest int64) {
	for id, e := range ledger {
		n := ms.get(id)
		if n == nil {
			n = ms.node(id)
			if e.Last != nil && e.StartedAt > 0 {
				n.startedAt, n.seenStart, n.lost, n.lostAt = e.StartedAt, e.StartedAt, true, e.LostAt
				n.writtenOff = e.WrittenOff
				n.cur = cloneTotals(*e.Last)
				if earliest == 0 || e.StartedAt < earliest {
					earliest = e.StartedAt
				}
			}
		}
		for key, f := range e.Facts {
			n.facts.set(key, f)
		}
		if _, ok := n.facts[forgotKey(n.startedAt)]; ok && n.startedAt != 0 {
			n.forget = true
		}
	}
	return earliest
}

// ledger is the record of every node with facts or lost, for this node's
// next partials; nil if there is none. It shares nothing with ms.
func (ms *membership) ledger() map[string]ledgerEntry {
	var ledger map[string]ledgerEntry
	for n := range ms.all() {
		if len(n.facts) == 0 && !n.lost {
			continue
		}
		e := ledgerEntry{Facts: make(map[string]stats.Totals, len(n.facts))}
		for key, f := range n.facts {
			e.Facts[key] = cloneTotals(f)
		}
		if n.lost {
			last := cloneTotals(n.cur)
			e.StartedAt, e.LostAt, e.Last, e.WrittenOff = n.startedAt, n.lostAt, &last, n.writtenOff
		}
		if ledger == nil {
			ledger = map[string]ledgerEntry{}
		}
		ledger[n.id] = e
	}
	return ledger
}

// contribution is what n adds to the cluster's totals: its facts, and its
// live incarnation's totals, with what was in flight dropped if it was
// written off (or, should a node that left have any, if it left).
// An incarnation another Merger has retired already counts by its fact; a
// loss another Merger has seen the rejoin of counts by its ghost.
func (n *nodeState) contribution() stats.Totals {
	var t stats.Totals
	for _, f := range n.facts {
		addTotals(&t, f)
	}
	if n.startedAt == 0 {
		return t
	}
	if _, retired := n.facts[retiredKey(n.startedAt)]; retired {
		return t
	}
	c := n.cur
	if _, back := n.facts[ghostKey(n.startedAt, n.lostAt)]; (n.lost && n.writtenOff && !back) || n.left {
		c = writeOff(c)
	}
	addTotals(&t, c)
	return t
}

func cloneTotals(t stats.Totals) stats.Totals {
	return stats.Totals{Counts: t.Counts.Clone(), InFlight: t.InFlight}
}

// writeOff returns t with its in-flight events dropped as node-lost.
func writeOff(t stats.Totals) stats.Totals {
	t = cloneTotals(t)
	addLoss(&t.Counts, t.InFlight)
	t.InFlight = 0
	return t
}

// ghost is the correction that keeps the totals from going backwards when a
// node that was lost comes back: the in-flight events written off stay
// dropped (node-lost), and are received once more, in flight again, for the
// outcomes the node will report.
func ghost(inFlight uint64) stats.Totals {
	var t stats.Totals
	t.Received = inFlight
	addLoss(&t.Counts, inFlight)
	return t
}

func addLoss(c *stats.Counts, n uint64) {
	c.Dropped += n
	addReason(c, event.NodeLost, n)
}

func addReason(c *stats.Counts, r event.Reason, n uint64) {
	if n == 0 {
		return
	}
	if c.DroppedBy == nil {
		c.DroppedBy = map[event.Reason]uint64{}
	}
	c.DroppedBy[r] += n
}

func addTotals(t *stats.Totals, o stats.Totals) {
	t.Counts.Add(o.Counts)
	t.InFlight += o.InFlight
}
