package cluster

import (
	"iter"
	"slices"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/stats"
)

// maxQueue bounds the partials held per node; it is never reached unless a
// node's clock runs far ahead.
const maxQueue = 256

// membership is what a Merger knows of the nodes of the cluster: every node
// it heard of, whether it counts in a tick, and the partials it has queued.
// Which nodes count in a tick is decided by tick indices only, so that every
// Merger decides alike. The zero membership knows no node; it is owned by
// the Merger's Run.
type membership struct {
	nodes map[string]*nodeState
	ids   []string // sorted
}

// nodeState is what a Merger knows of one node.
type nodeState struct {
	id        string
	startedAt int64 // the incarnation being merged; 0 before the first
	seenStart int64 // the newest incarnation received
	joinK     int64 // the node counts in ticks after joinK
	lastK     int64 // highest index received from the newest incarnation
	queue     []*partial
	cur       stats.Totals // latest merged totals of this incarnation
	marks     []Mark       // the routes it took, as of cur
	busInc    int64        // its bus's incarnation, as of cur
	facts     facts        // what no live incarnation reports any more
	lost      bool
	lostAt    int64 // the tick it was lost in
	// writtenOff: lost long enough that its in-flight events are counted
	// as node-lost (see MergerConfig.WriteOffAfter).
	writtenOff bool
	// left: its final partial said it stopped on purpose, in tick leftK.
	left  bool
	leftK int64
	// hidden: lost or left long enough (or forgotten by an operator) to
	// be left out of the node list; forget: an operator asked for it.
	hidden, forget bool
	// routeRetired: this node's bus route to it was retired.
	routeRetired bool
	health       batch.Health
	lastSeen     int64
	skews        [16]float64
	nskew        int
}

// get returns the state of node id, or nil if it was never heard of.
func (ms *membership) get(id string) *nodeState { return ms.nodes[id] }

// node returns the state of node id, making it if needed.
func (ms *membership) node(id string) *nodeState {
	n := ms.nodes[id]
	if n == nil {
		if ms.nodes == nil {
			ms.nodes = map[string]*nodeState{}
		}
		n = &nodeState{id: id}
		ms.nodes[id] = n
		ms.ids = append(ms.ids, id)
		slices.Sort(ms.ids)
	}
	return n
}

// all yields every node, in id order: merged output must not depend on map
// order.
func (ms *membership) all() iter.Seq[*nodeState] {
	return func(yield func(*nodeState) bool) {
		for _, id := range ms.ids {
			if !yield(ms.nodes[id]) {
				return
			}
		}
	}
}

// expecting reports how many nodes will count in tick k, and whether the
// partial for k (or a later one) of any of them has yet to arrive.
func (ms *membership) expecting(k int64) (members int, missing bool) {
	for _, n := range ms.nodes {
		if n.expected(k) {
			members++
			missing = missing || n.lastK < k
		}
	}
	return members, missing
}

// loseSilent marks lost, in tick k, every member whose latest partial is
// lostAfter ticks old or older. Its in-flight events still count as in
// flight: a node cut off for a moment (a NATS restart) comes back and
// reports them; they are written off only later (see Merger.settle).
func (ms *membership) loseSilent(k int64, lostAfter int) {
	for n := range ms.all() {
		if n.member(k) && n.lastK <= k-int64(lostAfter) {
			n.lost, n.lostAt = true, k
		}
	}
}

// member reports whether n counts in tick k.
func (n *nodeState) member(k int64) bool {
	return n.startedAt != 0 && !n.lost && !n.left && k > n.joinK
}

// markFor returns how many events of the route from bus incarnation inc of
// node origin n had taken, as of its latest merged partial.
func (n *nodeState) markFor(origin string, inc int64) uint64 {
	for _, mk := range n.marks {
		if mk.Origin == origin && mk.Inc == inc {
			return mk.Seq
		}
	}
	return 0
}

// expected reports whether n will count in tick k: it is a member, or the
// partials it has queued will make it one when k is merged (see
// Merger.advance).
func (n *nodeState) expected(k int64) bool {
	if n.member(k) {
		return true
	}
	for _, p := range n.queue {
		switch {
		case p.StartedAt < n.startedAt:
			continue
		case p.StartedAt > n.startedAt:
			return (p.FirstK < p.K || p.K < k) && k > p.FirstK
		case n.lost || n.left:
			return p.K < k
		}
		return false
	}
	return false
}

// file queues p under n. A partial of an incarnation older than the newest
// received is not queued (queued is false); evicted tells that the oldest
// queued partial was dropped to make room for p.
func (n *nodeState) file(p *partial) (queued, evicted bool) {
	switch {
	case p.StartedAt < n.seenStart:
		return false, false
	case p.StartedAt > n.seenStart:
		n.seenStart, n.lastK = p.StartedAt, p.K
	default:
		n.lastK = max(n.lastK, p.K)
	}
	if len(n.queue) == maxQueue {
		evicted = true
		n.queue = append(n.queue[:0], n.queue[1:]...)
	}
	n.queue = append(n.queue, p)
	n.lastSeen = p.recvUs / 1000
	n.skews[n.nskew%len(n.skews)] = float64(p.SentAtUs-p.recvUs) / 1000
	n.nskew++
	return true, evicted
}

// restart makes p's incarnation the one n merges, counting from the tick
// after p.FirstK. The previous incarnation, if any, died with its events in
// flight: its final totals, those written off, stay as a fact. It returns
// the events written off now: none if the previous incarnation was lost
// (they were written off then) or is retired already (its fact, perhaps
// learnt from another Merger, counts them).
func (n *nodeState) restart(p *partial) (writtenOff uint64) {
	if n.startedAt != 0 {
		key := retiredKey(n.startedAt)
		if _, known := n.facts[key]; !known && !n.writtenOff && !n.left {
			writtenOff = n.cur.InFlight
		}
		n.facts.set(key, writeOff(n.cur))
	}
	n.cur, n.marks, n.lost, n.lostAt, n.writtenOff = stats.Totals{}, nil, false, 0, false
	n.left, n.leftK, n.hidden, n.forget, n.routeRetired = false, 0, false, false, false
	n.startedAt, n.joinK = p.StartedAt, p.FirstK
	return writtenOff
}

// rejoin takes back a lost n (it was cut off, not restarted), counting from
// the tick after k, that of its first partial since. Back before its
// write-off, it simply goes on: its in-flight events were still counted as
// in flight, and it reports their outcomes. Back after it, its in-flight
// events were written off as lost; their real outcomes will now be
// reported as well, so they are received a second time (see ghost), which
// keeps every total from going backwards.
func (n *nodeState) rejoin(k int64) {
	if n.writtenOff {
		n.facts.set(ghostKey(n.startedAt, n.lostAt), ghost(n.cur.InFlight))
	}
	n.lost, n.lostAt, n.joinK, n.writtenOff, n.hidden, n.forget = false, 0, k, false, false, false
}

// status is n's entry in the node list of tick k.
func (n *nodeState) status(k int64) batch.NodeStatus {
	s := batch.NodeStatus{ID: n.id, StartedAt: n.startedAt, LastSeen: n.lastSeen, SkewMs: n.skew()}
	if n.startedAt == 0 {
		// Heard of, not merged yet; or known only from another node's
		// ledger (long gone).
		s.StartedAt, s.Status = n.seenStart, batch.NodeJoining
		if n.seenStart == 0 {
			s.Status = batch.NodeLost
		}
		return s
	}
	s.Health = n.health
	switch {
	case n.left:
		s.Status = batch.NodeLeft
	case n.lost:
		s.Status = batch.NodeLost
	case !n.member(k):
		s.Status = batch.NodeJoining
	default:
		s.Status = string(n.health.Status)
	}
	return s
}

// skew is the estimate of n's clock minus ours, in ms.
func (n *nodeState) skew() float64 {
	k := min(n.nskew, len(n.skews))
	if k == 0 {
		return 0
	}
	return slices.Max(n.skews[:k])
}
