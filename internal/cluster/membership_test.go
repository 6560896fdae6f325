package cluster

import (
	"slices"
	"testing"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/stats"
)

// A node counts from the tick after its incarnation's first; the partials
// it queued tell a Merger, before they are merged, which ticks it will
// count in.
func TestMembershipJoin(t *testing.T) {
	var ms membership
	n := ms.node("b")
	if ms.node("b") != n || ms.get("b") != n || ms.get("x") != nil {
		t.Fatal("node does not return the one state per id")
	}
	ms.node("a")
	ms.node("c")
	var ids []string
	for n := range ms.all() {
		ids = append(ids, n.id)
	}
	if !slices.Equal(ids, []string{"a", "b", "c"}) {
		t.Fatalf("all yields %v, want id order", ids)
	}

	// b's first partial, of tick 10: it counts from 11.
	if queued, _ := n.file(mkPartial("b", 10, 10, 5, totalsOf(1, 0, 0))); !queued {
		t.Fatal("first partial not queued")
	}
	if n.member(11) || n.expected(10) || !n.expected(11) {
		t.Fatalf("queued join: member(11) %v, expected(10) %v, expected(11) %v", n.member(11), n.expected(10), n.expected(11))
	}
	if got := n.status(10); got.Status != batch.NodeJoining || got.StartedAt != 5 {
		t.Fatalf("heard of, not merged: %+v", got)
	}
	n.restart(n.queue[0])
	n.queue = nil
	if n.member(10) || !n.member(11) {
		t.Fatalf("after restart: member(10) %v, member(11) %v", n.member(10), n.member(11))
	}
	// A node that ran before this Merger heard of it counts at once.
	late := ms.node("c")
	late.file(mkPartial("c", 20, 12, 3, totalsOf(0, 0, 0)))
	if !late.expected(20) || late.expected(12) {
		t.Fatalf("running node: expected(20) %v, expected(12) %v", late.expected(20), late.expected(12))
	}
	// Only c has a queued partial for 20, and b has none: b is missing.
	if members, missing := ms.expecting(20); members != 2 || !missing {
		t.Fatalf("expecting(20) = %d, %v; want b and c, b missing", members, missing)
	}
}

// The skew is estimated from what a partial says of the sender's clock; a
// partial of an older incarnation is refused; the queue bound drops the
// oldest partial.
func TestMembershipFile(t *testing.T) {
	var n nodeState
	p := mkPartial("b", 10, 10, 5, totalsOf(0, 0, 0))
	p.SentAtUs, p.recvUs = 7_000, 2_000
	if queued, evicted := n.file(p); !queued || evicted || n.lastK != 10 || n.seenStart != 5 || n.lastSeen != 2 {
		t.Fatalf("file: %v %v, %+v", queued, evicted, n)
	}
	if n.skew() != 5 {
		t.Fatalf("skew %v, want 5 ms", n.skew())
	}
	if queued, _ := n.file(mkPartial("b", 11, 3, 4, totalsOf(0, 0, 0))); queued || len(n.queue) != 1 {
		t.Fatalf("older incarnation queued (%d queued)", len(n.queue))
	}
	if n.file(mkPartial("b", 9, 9, 6, totalsOf(0, 0, 0))); n.lastK != 9 || n.seenStart != 6 {
		t.Fatalf("a newer incarnation restarts lastK: %d, %d", n.lastK, n.seenStart)
	}
	for k := int64(10); len(n.queue) < maxQueue; k++ {
		n.file(mkPartial("b", k, 9, 6, totalsOf(0, 0, 0)))
	}
	first := n.queue[0]
	if _, evicted := n.file(mkPartial("b", 1000, 9, 6, totalsOf(0, 0, 0))); !evicted || len(n.queue) != maxQueue || n.queue[0] == first {
		t.Fatalf("queue bound: evicted %v, %d queued", evicted, len(n.queue))
	}
}

// A silent member is lost, its in-flight events still in flight: back before
// its write-off it simply goes on, with no correction. Written off, its
// in-flight events are dropped (node-lost), and if it comes back after that
// they are received again (a ghost fact). A restart retires the previous
// incarnation, writing off what it had in flight unless that was done.
func TestMembershipLossRejoinRestart(t *testing.T) {
	var ms membership
	a, b := ms.node("a"), ms.node("b")
	for _, n := range []*nodeState{a, b} {
		n.restart(mkPartial(n.id, 10, 10, 1, totalsOf(0, 0, 0)))
		n.lastK = 12
	}
	a.cur, b.cur = totalsOf(10, 6, 0), totalsOf(8, 1, 0) // 4 and 7 in flight
	a.lastK = 14
	ms.loseSilent(17, 5)
	if !b.lost || b.lostAt != 17 || a.lost {
		t.Fatalf("loseSilent(17): a lost %v, b lost %v at %d", a.lost, b.lost, b.lostAt)
	}
	if s := b.status(18); s.Status != batch.NodeLost {
		t.Fatalf("lost node's status %+v", s)
	}
	if c := b.contribution(); c.InFlight != 7 || c.Dropped != 0 || c.Received != 8 {
		t.Fatalf("lost node's contribution before its write-off %+v", c)
	}
	// Back before the write-off: no correction at all.
	b.rejoin(19)
	b.cur = totalsOf(9, 9, 0)
	if c := b.contribution(); c.Received != 9 || c.OnTime != 9 || c.Dropped != 0 || len(b.facts) != 0 {
		t.Fatalf("node back before its write-off: contribution %+v, facts %v", c, b.facts)
	}

	b.lastK = 19
	b.cur = totalsOf(16, 9, 0) // 7 in flight
	ms.loseSilent(24, 5)
	b.writtenOff = true
	lost := b.contribution()
	if lost.InFlight != 0 || lost.DroppedBy[event.NodeLost] != 7 || lost.Received != 16 {
		t.Fatalf("written-off node's contribution %+v", lost)
	}
	b.rejoin(30)
	b.cur = totalsOf(17, 17, 0) // its 7 finished after all, and one more came
	if b.lost || b.member(30) || !b.member(31) {
		t.Fatalf("after rejoin: lost %v, member(30) %v, member(31) %v", b.lost, b.member(30), b.member(31))
	}
	back := b.contribution()
	if back.Received != 17+7 || back.OnTime != 17 || back.DroppedBy[event.NodeLost] != 7 || back.InFlight != 0 {
		t.Fatalf("node back after its write-off: contribution %+v", back)
	}

	// b restarts while live: its 1 in flight is written off.
	b.cur = totalsOf(18, 17, 0)
	if got := b.restart(mkPartial("b", 40, 40, 2, totalsOf(0, 0, 0))); got != 1 {
		t.Fatalf("restart wrote off %d, want 1", got)
	}
	if _, ok := b.facts[retiredKey(1)]; !ok || b.startedAt != 2 || b.joinK != 40 {
		t.Fatalf("after restart: facts %v, startedAt %d, joinK %d", b.facts, b.startedAt, b.joinK)
	}
	// a restarts while lost, not written off yet: its 4 are written off
	// now; once written off, a restart writes off nothing more.
	ms.loseSilent(50, 5)
	if !a.lost {
		t.Fatal("a not lost")
	}
	if got := a.restart(mkPartial("a", 51, 51, 3, totalsOf(0, 0, 0))); got != 4 {
		t.Fatalf("restart of a lost node wrote off %d, want 4", got)
	}
	a.cur = totalsOf(3, 1, 0)
	a.lastK = 52
	ms.loseSilent(60, 5)
	a.writtenOff = true
	if got := a.restart(mkPartial("a", 61, 61, 4, totalsOf(0, 0, 0))); got != 0 {
		t.Fatalf("restart of a written-off node wrote off %d", got)
	}
}

// The ledger carries what a Merger knows beyond the live incarnations; a
// Merger that adopts it accounts for the same totals, and adopting it again
// changes nothing.
func TestLedgerAdopt(t *testing.T) {
	var ms membership
	b := ms.node("b")
	b.restart(mkPartial("b", 10, 10, 7, totalsOf(0, 0, 0)))
	b.cur = totalsOf(5, 2, 1)
	b.restart(mkPartial("b", 20, 20, 9, totalsOf(0, 0, 0))) // retires incarnation 7
	b.cur = totalsOf(4, 1, 0)
	b.lastK = 20
	ms.loseSilent(25, 5)
	live := ms.node("a") // nothing to record
	live.restart(mkPartial("a", 10, 10, 3, totalsOf(0, 0, 0)))

	ledger := ms.ledger()
	if len(ledger) != 1 || ledger["b"].StartedAt != 9 || ledger["b"].LostAt != 25 || len(ledger["b"].Facts) != 1 {
		t.Fatalf("ledger %+v", ledger)
	}
	var other membership
	if got := other.adopt(ledger); got != 9 {
		t.Fatalf("adopt returned start %d, want 9", got)
	}
	want := b.contribution()
	got := other.get("b").contribution()
	if !sameCounts(got.Counts, want.Counts) || got.InFlight != want.InFlight || other.get("b").status(26).Status != batch.NodeLost {
		t.Fatalf("adopted contribution %+v, want %+v", got, want)
	}
	if other.adopt(ledger); !sameCounts(other.get("b").contribution().Counts, want.Counts) {
		t.Fatal("adopting the same ledger twice changed the totals")
	}
	// The ledger shares no map with its membership.
	ledger["b"].Facts[retiredKey(7)] = totalsOf(100, 100, 0)
	if b.facts[retiredKey(7)].Received == 100 {
		t.Fatal("ledger aliases the facts")
	}
}

// Two Mergers that wrote one incarnation off at different ticks converge on
// the fact with more events.
func TestFactsConverge(t *testing.T) {
	var f facts
	f.set("retired/1", totalsOf(5, 3, 1))
	f.set("retired/1", totalsOf(4, 4, 0))
	if f["retired/1"].Received != 5 {
		t.Fatalf("a fact with fewer events replaced one with more: %+v", f["retired/1"])
	}
	f.set("retired/1", totalsOf(5, 5, 0))
	if f["retired/1"].OnTime != 5 {
		t.Fatalf("a fact with more finished events was not taken: %+v", f["retired/1"])
	}
	in := totalsOf(6, 0, 1)
	f.set("retired/1", in)
	in.DroppedBy[event.QueueFull] = 99
	if f["retired/1"].DroppedBy[event.QueueFull] != 1 {
		t.Fatal("set keeps the caller's map")
	}
	if w := writeOff(stats.TotalsOf(stats.Counts{Received: 3, OnTime: 1}, 3)); w.InFlight != 0 || w.Dropped != 2 || w.DroppedBy[event.NodeLost] != 2 {
		t.Fatalf("writeOff %+v", w)
	}
}
