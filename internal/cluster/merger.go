package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/stats"
)

// ClusterPublisher receives every cluster batch, in seq order, from one
// goroutine, with the node list (also in the batch's Nodes). It must not block.
type ClusterPublisher interface {
	PublishCluster(b *batch.Batch, nodes []batch.NodeStatus)
}

// BatchPublisher is what the hub (and the coalescer's output) implements.
type BatchPublisher interface {
	Publish(b *batch.Batch)
}

// BatchesOnly adapts a BatchPublisher (the hub) to a ClusterPublisher: the
// node list travels in the batch itself (batch.Batch.Nodes).
func BatchesOnly(p BatchPublisher) ClusterPublisher { return batchesOnly{p} }

type batchesOnly struct{ p BatchPublisher }

func (b batchesOnly) PublishCluster(bt *batch.Batch, _ []batch.NodeStatus) { b.p.Publish(bt) }

// MergerConfig configures a Merger. Zero values take the defaults.
type MergerConfig struct {
	// NodeID names this node in the cluster; it must be unique and stable
	// across restarts of the same node. Required.
	NodeID string
	// Tick is the cluster's tick; every node must use the same one, and
	// the coalescer feeding the Merger too. Default 100ms.
	Tick time.Duration
	// Grace is how long, past the end of a tick, the Merger waits for a
	// missing partial before it merges without it. Default max(Tick/2,
	// 50ms): half a tick covers clock skew and transit, and the 50ms floor
	// keeps short ticks from waiting less than a scheduling hiccup.
	Grace time.Duration
	// LostAfter is how many ticks without a partial make a node lost.
	// Default 5.
	LostAfter int
	// Subject carries the partials. Default "ontime.ticks".
	Subject string
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger reports encoding and subscription trouble. Default
	// slog.Default().
	Logger *slog.Logger
}

// maxCatchUp bounds how many ticks the Merger emits at once after it was
// held up (a stalled process, a clock step): beyond it, it skips ahead.
const maxCatchUp = 100

// maxQueue bounds the partials held per node; it is never reached unless a
// node's clock runs far ahead.
const maxQueue = 256

// Merger turns this node's batches into partials for the cluster and merges
// every node's partials into one cluster batch per tick. Publish and the
// Recorder may be called from any goroutine; Run does the merging.
type Merger struct {
	nc     *nats.Conn
	cfg    MergerConfig
	out    ClusterPublisher
	tickMs int64
	in     chan *partial

	histMu   sync.Mutex
	tickHist *stats.Histogram // latencies finished since the last Publish

	pubMu  sync.Mutex
	lastK  int64 // the index of this node's latest partial
	firstK int64
	ledger map[string]ledgerEntry // as of the latest merge; read-only

	running atomic.Bool
	st      mergerCounters

	// Owned by Run.
	nodes        map[string]*nodeState
	ids          []string // sorted
	next, start  int64    // next tick index to emit; the first
	config       *config.Settings
	clusterStart int64
	merged       *stats.Histogram
	warned       map[string]bool // nodes with another tick, logged once
	// trace, when set (by tests, before Run), is told of every merge:
	// whether the deadline forced it with partials missing, and the
	// earliest tick a partial merged late was due in (0 if none).
	trace func(k int64, byDeadline bool, lateFrom int64)
}

type mergerCounters struct {
	published, publishErrors, received, malformed, stale, rejected, localDrops, emitted, late, skipped atomic.Uint64
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
	// facts are what no live incarnation reports any more, by key (see
	// retiredKey and ghostKey): keyed, so that learning a fact from
	// another Merger and deriving it here count it once.
	facts    map[string]stats.Totals
	lost     bool
	lostAt   int64 // the tick it was lost in
	health   batch.Health
	lastSeen int64
	skews    [16]float64
	nskew    int
}

// NewMerger returns a Merger publishing this node's partials on nc and
// handing cluster batches to out. It starts nothing: Run does.
func NewMerger(nc *nats.Conn, cfg MergerConfig, out ClusterPublisher) (*Merger, error) {
	if nc == nil || out == nil {
		return nil, errors.New("cluster: a NATS connection and a publisher are required")
	}
	if cfg.NodeID == "" || len(cfg.NodeID) > maxNodeID {
		return nil, fmt.Errorf("cluster: a node id of 1 to %d bytes is required", maxNodeID)
	}
	if cfg.Tick == 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	if cfg.Tick < time.Millisecond || cfg.Tick%time.Millisecond != 0 {
		return nil, errors.New("cluster: tick must be a whole number of milliseconds")
	}
	if cfg.Grace <= 0 {
		cfg.Grace = max(cfg.Tick/2, 50*time.Millisecond)
	}
	if cfg.LostAfter <= 0 {
		cfg.LostAfter = 5
	}
	if cfg.Subject == "" {
		cfg.Subject = "ontime.ticks"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Merger{
		nc: nc, cfg: cfg, out: out, tickMs: cfg.Tick.Milliseconds(),
		in: make(chan *partial, 256), tickHist: stats.NewHistogram(),
		nodes: map[string]*nodeState{}, merged: stats.NewHistogram(), warned: map[string]bool{},
	}, nil
}

// Recorder wraps the pipeline's recorder so that the Merger sees the latency
// of every processed event: a batch carries only a digest of the tick's
// latencies, and digests cannot be merged. Latencies recorded between two
// Publish calls form one tick's histogram; an event that finishes while the
// coalescer cuts its tick can land in the neighbouring tick's histogram (the
// counts are unaffected).
func (m *Merger) Recorder(next Recorder) Recorder { return tap{m: m, next: next} }

type tap struct {
	m    *Merger
	next Recorder
}

func (t tap) Admit(ev event.Event) { t.next.Admit(ev) }

func (t tap) Finish(r event.Result) {
	t.next.Finish(r)
	if r.Processed() {
		t.m.histMu.Lock()
		t.m.tickHist.Record(r.Latency())
		t.m.histMu.Unlock()
	}
}

// Publish takes this node's batch for one tick (it is the coalescer's
// Publisher), publishes it as a partial to every node and queues it for
// this node's own merge. It does not block; b is not modified or kept.
func (m *Merger) Publish(b *batch.Batch) {
	m.histMu.Lock()
	h := m.tickHist
	m.tickHist = stats.NewHistogram()
	m.histMu.Unlock()

	m.pubMu.Lock()
	k := b.At / m.tickMs
	if k <= m.lastK {
		k = m.lastK + 1
	}
	m.lastK = k
	if m.firstK == 0 {
		m.firstK = k
	}
	firstK, ledger := m.firstK, m.ledger
	m.pubMu.Unlock()

	now := m.cfg.Now().UnixMicro()
	p := &partial{
		V: partialVersion, Node: m.cfg.NodeID, K: k, FirstK: firstK, TickMs: m.tickMs,
		StartedAt: b.StartedAt, SentAtUs: now,
		Counts: b.Counts.Clone(), Totals: stats.Totals{Counts: b.Totals.Clone(), InFlight: b.Totals.InFlight},
		Events: slices.Clone(b.Events), Health: b.Health, Ledger: ledger,
		hist: h, recvUs: now, config: b.Config,
	}
	var err error
	if p.Hist, err = h.MarshalBinary(); err == nil {
		var data []byte
		if data, err = p.encode(); err == nil {
			// Core NATS: if the connection is down the partial is lost,
			// and the other nodes fold this node's next one in.
			err = m.nc.Publish(m.cfg.Subject, data)
		}
	}
	p.Hist = nil
	if err != nil {
		m.st.publishErrors.Add(1)
		m.cfg.Logger.Debug("cluster: publish partial", "k", k, "err", err)
	} else {
		m.st.published.Add(1)
	}
	select {
	case m.in <- p:
	default:
		m.st.localDrops.Add(1)
	}
}

// Run subscribes to every node's partials and merges them, handing one
// cluster batch per tick to the publisher, until ctx ends. It may run only
// once at a time.
func (m *Merger) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("cluster: merger already running")
	}
	defer m.running.Store(false)
	stop := make(chan struct{})
	defer close(stop)
	sub, err := m.nc.Subscribe(m.cfg.Subject, func(msg *nats.Msg) {
		recv := m.cfg.Now().UnixMicro()
		// Our own partials come back too (the connection must echo, for
		// the EventBus): they are skipped before their histogram is
		// decoded, Publish has queued them already.
		p, err := decodePartial(msg.Data, m.cfg.NodeID)
		if err != nil {
			m.st.malformed.Add(1)
			m.cfg.Logger.Debug("cluster: malformed partial", "err", err)
			return
		}
		if p == nil {
			return
		}
		p.recvUs = recv
		select {
		case m.in <- p:
		case <-stop:
		}
	})
	if err != nil {
		return fmt.Errorf("cluster: subscribe %s: %w", m.cfg.Subject, err)
	}
	// Unsubscribe does not wait for a handler that is blocked handing over
	// a partial: closing stop (deferred earlier, so run after) releases it.
	defer func() { _ = sub.Unsubscribe() }()
	if err := sub.SetPendingLimits(4096, 64<<20); err != nil {
		return fmt.Errorf("cluster: pending limits: %w", err)
	}
	timer := time.NewTimer(m.cfg.Tick)
	defer timer.Stop()
	for {
		m.emitReady()
		timer.Reset(m.untilDeadline())
		select {
		case <-ctx.Done():
			return nil
		case p := <-m.in:
			m.receive(p)
		case <-timer.C:
		}
	}
}

// deadline is when tick k is merged whatever is missing: its partials are
// cut between the start of tick k and the start of k+1 (at the start, when
// coalescers are aligned on wall-clock ticks), plus the grace.
func (m *Merger) deadline(k int64) int64 {
	return (k+1)*m.tickMs + m.cfg.Grace.Milliseconds()
}

// untilDeadline is how long Run may sleep before the next tick is due.
func (m *Merger) untilDeadline() time.Duration {
	if m.next == 0 {
		return m.cfg.Tick
	}
	d := time.Duration(m.deadline(m.next)-m.cfg.Now().UnixMilli()) * time.Millisecond
	return min(max(d, time.Millisecond), m.cfg.Tick)
}

// receive files a partial under its node. Nothing is merged yet: what a
// partial changes is decided when its tick is merged, by tick indices, so
// that every node decides alike whatever the arrival order.
func (m *Merger) receive(p *partial) {
	self := p.Node == m.cfg.NodeID
	if !self {
		m.st.received.Add(1)
	}
	if p.TickMs != m.tickMs {
		m.st.rejected.Add(1)
		if !m.warned[p.Node] {
			m.warned[p.Node] = true
			m.cfg.Logger.Warn("cluster: ignoring a node whose tick differs", "node", p.Node, "tickMs", p.TickMs, "want", m.tickMs)
		}
		return
	}
	if nowK := m.cfg.Now().UnixMilli() / m.tickMs; p.K > nowK+int64(m.cfg.LostAfter) {
		// A clock far ahead: its partials would wait for ticks to come.
		m.st.rejected.Add(1)
		return
	}
	if !self {
		// Facts are keyed: taking them as soon as they arrive cannot
		// count anything twice, and brings a new Merger up to date even
		// in a tick where nothing is merged.
		m.adopt(p.Ledger)
	}
	n := m.node(p.Node)
	switch {
	case p.StartedAt < n.seenStart:
		m.st.stale.Add(1)
		return
	case p.StartedAt > n.seenStart:
		n.seenStart, n.lastK = p.StartedAt, p.K
	default:
		n.lastK = max(n.lastK, p.K)
	}
	if len(n.queue) == maxQueue {
		m.st.stale.Add(1)
		n.queue = append(n.queue[:0], n.queue[1:]...)
	}
	n.queue = append(n.queue, p)
	n.lastSeen = p.recvUs / 1000
	n.skews[n.nskew%len(n.skews)] = float64(p.SentAtUs-p.recvUs) / 1000
	n.nskew++
	if self && m.next == 0 {
		// This node's first partial: merging starts with the next tick,
		// the first one every node merges this node into.
		m.start, m.next = p.K+1, p.K+1
	}
}

// node returns the state of node id, making it if needed.
func (m *Merger) node(id string) *nodeState {
	n := m.nodes[id]
	if n == nil {
		n = &nodeState{id: id}
		m.nodes[id] = n
		m.ids = append(m.ids, id)
		slices.Sort(m.ids)
	}
	return n
}

// member reports whether n counts in tick k.
func (n *nodeState) member(k int64) bool {
	return n.startedAt != 0 && !n.lost && k > n.joinK
}

// expected reports whether n will count in tick k: it is a member, or the
// partials it has queued will make it one when k is merged (see advance).
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
		case n.lost:
			return p.K < k
		}
		return false
	}
	return false
}

// ready reports whether tick k can be merged: the partial for k (or a later
// one) of every node that counts in k arrived, or k's deadline passed (and
// then late reports that something may be missing).
func (m *Merger) ready(k int64, nowMs int64) (ok, late bool) {
	members, missing := 0, false
	for _, n := range m.nodes {
		if n.expected(k) {
			members++
			missing = missing || n.lastK < k
		}
	}
	if members > 0 && !missing {
		return true, false
	}
	if nowMs >= m.deadline(k) {
		return true, true
	}
	return false, false
}

// emitReady merges every tick that is ready, in order.
func (m *Merger) emitReady() {
	if m.next == 0 {
		return
	}
	nowMs := m.cfg.Now().UnixMilli()
	if nowK := nowMs / m.tickMs; m.next < nowK-maxCatchUp {
		m.st.skipped.Add(uint64(nowK - maxCatchUp - m.next))
		m.next = nowK - maxCatchUp
	}
	for {
		ok, late := m.ready(m.next, nowMs)
		if !ok {
			return
		}
		m.emit(m.next, late)
		m.next++
	}
}

// emit merges tick k and publishes it. byDeadline tells that k's deadline
// passed with partials missing.
func (m *Merger) emit(k int64, byDeadline bool) {
	var counts stats.Counts
	m.merged.Reset()
	var events []batch.Event
	lateFrom := int64(0)
	for _, id := range m.ids {
		if d := m.advance(m.nodes[id], k, &counts, &events); d != 0 && (lateFrom == 0 || d < lateFrom) {
			lateFrom = d
		}
	}
	if m.trace != nil {
		m.trace(k, byDeadline, lateFrom)
	}
	// A member silent for LostAfter ticks is lost: what it had in flight
	// will never be reported, so it is counted as dropped now, keeping
	// received = on time + late + dropped + in flight.
	for _, id := range m.ids {
		n := m.nodes[id]
		if n.member(k) && n.lastK <= k-int64(m.cfg.LostAfter) {
			n.lost, n.lostAt = true, k
			addLoss(&counts, n.cur.InFlight)
		}
	}
	b := &batch.Batch{
		Seq:     uint64(k),
		At:      m.cfg.Now().UnixMilli(),
		TickMs:  m.tickMs,
		Counts:  counts,
		Latency: m.merged.Summary(),
		Config:  m.config,
	}
	b.Counts.DroppedBy = nonNil(b.Counts.DroppedBy)
	nodes := make([]batch.NodeStatus, 0, len(m.ids))
	worst, anyLost := batch.OK, false
	for _, id := range m.ids {
		n := m.nodes[id]
		addTotals(&b.Totals, n.contribution())
		if n.startedAt == 0 {
			// Heard of, not merged yet; or known only from another
			// node's ledger (long gone).
			status := batch.NodeJoining
			if n.seenStart == 0 {
				status = batch.NodeLost
			}
			nodes = append(nodes, batch.NodeStatus{ID: id, Status: status, StartedAt: n.seenStart, LastSeen: n.lastSeen, SkewMs: n.skew()})
			continue
		}
		ns := batch.NodeStatus{ID: id, StartedAt: n.startedAt, LastSeen: n.lastSeen, SkewMs: n.skew(), Health: n.health}
		switch {
		case n.lost:
			ns.Status, anyLost = batch.NodeLost, true
		case !n.member(k):
			ns.Status = batch.NodeJoining
		default:
			ns.Status = string(n.health.Status)
			h := &b.Health
			h.QueueDepth += n.health.QueueDepth
			h.QueueCap += n.health.QueueCap
			h.Workers += n.health.Workers
			h.Busy += n.health.Busy
			h.TickJitterMs = max(h.TickJitterMs, n.health.TickJitterMs)
			h.ScheduleErrorMs = max(h.ScheduleErrorMs, n.health.ScheduleErrorMs)
			worst = worse(worst, n.health.Status)
		}
		nodes = append(nodes, ns)
	}
	b.Totals.DroppedBy = nonNil(b.Totals.DroppedBy)
	if anyLost {
		// Lost capacity: the cluster is at least degraded.
		worst = worse(worst, batch.Degraded)
	}
	b.Health.Status = worst
	b.StartedAt = m.clusterStart
	slices.SortStableFunc(events, func(a, b batch.Event) int { return cmp.Compare(a.ProcessedAt, b.ProcessedAt) })
	if len(events) > batch.MaxEvents {
		events = events[len(events)-batch.MaxEvents:]
	}
	b.Events = append(make([]batch.Event, 0, len(events)), events...)
	m.saveLedger()
	m.st.emitted.Add(1)
	b.Nodes = nodes
	m.out.PublishCluster(b, nodes)
}

// advance merges into tick k the partials of n that are due by then. It
// returns the tick the earliest late one (due before k) was due in, or 0.
func (m *Merger) advance(n *nodeState, k int64, counts *stats.Counts, events *[]batch.Event) (lateFrom int64) {
	i := 0
	for ; i < len(n.queue); i++ {
		p := n.queue[i]
		if p.StartedAt < n.startedAt {
			m.st.stale.Add(1)
			continue
		}
		if p.StartedAt > n.startedAt {
			// A new incarnation. One that has just started (its first
			// tick) counts from the next tick, on every node alike; one
			// that ran before this node heard of it counts at once.
			if p.FirstK == p.K && p.K >= k {
				break
			}
			if n.startedAt != 0 {
				// The previous incarnation died with its events in
				// flight; its final totals, those written off, stay.
				key := retiredKey(n.startedAt)
				if _, known := n.facts[key]; !known && !n.lost {
					addLoss(counts, n.cur.InFlight)
				}
				n.setFact(key, writeOff(n.cur))
			}
			n.cur, n.lost, n.lostAt = stats.Totals{}, false, 0
			n.startedAt, n.joinK = p.StartedAt, p.FirstK
			if m.clusterStart == 0 || p.StartedAt < m.clusterStart {
				m.clusterStart = p.StartedAt
			}
		}
		if n.lost {
			// The node is back (it was cut off, not restarted), from the
			// tick after its first partial since. Its in-flight events
			// were written off as lost; their real outcomes will now be
			// reported as well, so they are received a second time, which
			// keeps every total from going backwards.
			if p.K >= k {
				break
			}
			n.setFact(ghostKey(n.startedAt, n.lostAt), ghost(n.cur.InFlight))
			n.lost, n.lostAt, n.joinK = false, 0, p.K
		}
		if k <= n.joinK || p.K > k {
			break
		}
		if p.Totals.Received >= n.cur.Received && p.Totals.Finished() >= n.cur.Finished() {
			n.cur = p.Totals
		}
		n.health = p.Health
		// A partial is merged in its own tick, or for a node's first one,
		// the tick after. A Merger that started late skips what other
		// Mergers merged before it started.
		if due := max(p.K, n.joinK+1); due >= m.start {
			if due < k {
				if lateFrom == 0 {
					lateFrom = due
				}
				m.st.late.Add(1)
			}
			counts.Add(p.Counts)
			m.merged.Merge(p.hist)
			*events = append(*events, p.Events...)
		}
		if p.config != nil {
			m.config = p.config
		}
	}
	n.queue = append(n.queue[:0], n.queue[i:]...)
	clear(n.queue[len(n.queue):cap(n.queue)])
	return lateFrom
}

// Fact keys. A retired fact holds the final totals of one incarnation (by
// its start time), in-flight events written off as node-lost; a ghost fact
// the correction for one rejoin (by incarnation and the tick it was lost
// in).
func retiredKey(startedAt int64) string { return fmt.Sprintf("retired/%d", startedAt) }

func ghostKey(startedAt, lostAt int64) string {
	return fmt.Sprintf("ghost/%d/%d", startedAt, lostAt)
}

// setFact records a fact. Two Mergers that wrote an incarnation off at
// different ticks (one heard a partial the other missed) hold different
// values: the one with more events wins, so that they converge.
func (n *nodeState) setFact(key string, t stats.Totals) {
	if old, ok := n.facts[key]; ok && !ahead(t, old) {
		return
	}
	if n.facts == nil {
		n.facts = map[string]stats.Totals{}
	}
	n.facts[key] = cloneTotals(t)
}

// ahead reports whether a accounts for more events than b.
func ahead(a, b stats.Totals) bool {
	return a.Received > b.Received || (a.Received == b.Received && a.Finished() > b.Finished())
}

// adopt takes the facts of another Merger's ledger, and the nodes it knows
// lost that this Merger never heard of. A Merger that started late (a
// restarted node) so learns the totals of incarnations that ended before it
// started; between Mergers that know the same, adopting changes nothing.
func (m *Merger) adopt(ledger map[string]ledgerEntry) {
	for id, e := range ledger {
		n := m.nodes[id]
		if n == nil {
			n = m.node(id)
			if e.Last != nil && e.StartedAt > 0 {
				n.startedAt, n.seenStart, n.lost, n.lostAt = e.StartedAt, e.StartedAt, true, e.LostAt
				n.cur = cloneTotals(*e.Last)
				if m.clusterStart == 0 || e.StartedAt < m.clusterStart {
					m.clusterStart = e.StartedAt
				}
			}
		}
		for key, f := range e.Facts {
			n.setFact(key, f)
		}
	}
}

// saveLedger records the ledger for the next partials of this node.
func (m *Merger) saveLedger() {
	var ledger map[string]ledgerEntry
	for _, id := range m.ids {
		n := m.nodes[id]
		if len(n.facts) == 0 && !n.lost {
			continue
		}
		e := ledgerEntry{Facts: make(map[string]stats.Totals, len(n.facts))}
		for key, f := range n.facts {
			e.Facts[key] = cloneTotals(f)
		}
		if n.lost {
			last := cloneTotals(n.cur)
			e.StartedAt, e.LostAt, e.Last = n.startedAt, n.lostAt, &last
		}
		if ledger == nil {
			ledger = map[string]ledgerEntry{}
		}
		ledger[id] = e
	}
	m.pubMu.Lock()
	m.ledger = ledger
	m.pubMu.Unlock()
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

// contribution is what n adds to the cluster's totals: its facts, and its
// live incarnation's totals, with what was in flight dropped if it is lost.
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
	if _, back := n.facts[ghostKey(n.startedAt, n.lostAt)]; n.lost && !back {
		c = writeOff(c)
	}
	addTotals(&t, c)
	return t
}

// skew is the estimate of n's clock minus ours, in ms.
func (n *nodeState) skew() float64 {
	k := min(n.nskew, len(n.skews))
	if k == 0 {
		return 0
	}
	return slices.Max(n.skews[:k])
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

func nonNil(m map[event.Reason]uint64) map[event.Reason]uint64 {
	if m == nil {
		return map[event.Reason]uint64{}
	}
	return m
}

// severity orders the health verdicts.
var severity = map[batch.Status]int{batch.OK: 0, batch.Degraded: 1, batch.Overloaded: 2}

func worse(a, b batch.Status) batch.Status {
	if severity[b] > severity[a] {
		return b
	}
	return a
}

// MergerStats counts what a Merger did since it was made.
type MergerStats struct {
	// Published partials of this node, and those NATS refused.
	Published, PublishErrors uint64
	// Received partials of other nodes; Malformed ones that did not decode;
	// Stale ones of an older incarnation (or beyond the queue bound);
	// Rejected ones with another tick or a clock far ahead.
	Received, Malformed, Stale, Rejected uint64
	// LocalDrops are partials of this node not queued because Run was not
	// taking them.
	LocalDrops uint64
	// Emitted cluster batches; Late partials merged into a tick after
	// their own (they missed the grace); Skipped ticks never emitted
	// because the Merger was held up for longer than 100 ticks.
	Emitted, Late, Skipped uint64
}

// Stats returns the Merger's counters.
func (m *Merger) Stats() MergerStats {
	s := &m.st
	return MergerStats{
		Published: s.published.Load(), PublishErrors: s.publishErrors.Load(),
		Received: s.received.Load(), Malformed: s.malformed.Load(), Stale: s.stale.Load(), Rejected: s.rejected.Load(),
		LocalDrops: s.localDrops.Load(), Emitted: s.emitted.Load(), Late: s.late.Load(), Skipped: s.skipped.Load(),
	}
}
