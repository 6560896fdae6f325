package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
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

// LatencyPublisher is a ClusterPublisher that also wants each cluster
// batch's merged latency histogram (a batch carries only its digest). When
// the Merger's publisher implements it, the Merger calls it instead of
// PublishCluster; the histogram is lent for the call only.
type LatencyPublisher interface {
	PublishWithLatencies(b *batch.Batch, lat *stats.Histogram)
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
	// WriteOffAfter is how long a lost node stays lost before its
	// in-flight events are counted as dropped (node-lost), and the events
	// sent to it that it never took too. A node back before then goes on
	// as if it had not been lost. Default 10s; negative: at once.
	WriteOffAfter time.Duration
	// ForgetAfter is how long a lost node (or one that left) stays in the
	// node list, and keeps the cluster degraded (lost only). Default 5m.
	ForgetAfter time.Duration
}

// maxCatchUp bounds how many ticks the Merger emits at once after it was
// held up (a stalled process, a clock step): beyond it, it skips ahead.
const maxCatchUp = 100

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
	// received counts every admission recorded through the tap; lastRecv
	// is its value at the latest Publish (under pubMu).
	received atomic.Uint64
	lastRecv uint64
	leaving  atomic.Bool
	forgets  chan forgetReq

	writeOffTicks, forgetTicks int64
	// bus, when set (AttachBus), is this node's event bus.
	bus   *EventBus
	nodes atomic.Pointer[NodeCounts] // of the latest cluster batch

	// Owned by Run.
	members      membership
	next, start  int64 // next tick index to emit; the first
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
	switch {
	case cfg.WriteOffAfter == 0:
		cfg.WriteOffAfter = 10 * time.Second
	case cfg.WriteOffAfter < 0:
		cfg.WriteOffAfter = 0
	}
	if cfg.ForgetAfter <= 0 {
		cfg.ForgetAfter = 5 * time.Minute
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
	ticks := func(d time.Duration) int64 { return int64((d + cfg.Tick - 1) / cfg.Tick) }
	return &Merger{
		nc: nc, cfg: cfg, out: out, tickMs: cfg.Tick.Milliseconds(),
		in: make(chan *partial, 256), tickHist: stats.NewHistogram(),
		merged: stats.NewHistogram(), warned: map[string]bool{},
		writeOffTicks: ticks(cfg.WriteOffAfter), forgetTicks: ticks(cfg.ForgetAfter),
		forgets: make(chan forgetReq),
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

func (t tap) Admit(ev event.Event) {
	t.next.Admit(ev)
	t.m.received.Add(1)
}

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

	counts := b.Counts.Clone()
	totals := stats.Totals{Counts: b.Totals.Clone(), InFlight: b.Totals.InFlight}
	var marks []Mark
	var busInc int64
	if bus := m.bus; bus != nil {
		// The batch counts admissions up to its cut; the marks must
		// cover exactly the events counted, so the count received is
		// read with them. Finished counts are from the cut, earlier:
		// every event they count was admitted before.
		var recv uint64
		marks = bus.Marks(func() { recv = m.received.Load() })
		busInc = bus.Incarnation()
		if fin := totals.Finished(); recv >= fin {
			totals.Received, totals.InFlight = recv, recv-fin
		}
	}

	m.pubMu.Lock()
	if m.bus != nil {
		counts.Received = totals.Received - m.lastRecv
		m.lastRecv = totals.Received
	}
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
		Counts: counts, Totals: totals, Bus: busInc, Marks: marks, Left: m.leaving.Load(),
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
		case r := <-m.forgets:
			r.reply <- m.forget(r.id)
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
		m.noteStart(m.members.adopt(p.Ledger))
	}
	queued, evicted := m.members.node(p.Node).file(p)
	if !queued || evicted {
		m.st.stale.Add(1)
	}
	if !queued {
		return
	}
	if self && m.next == 0 {
		// This node's first partial: merging starts with the next tick,
		// the first one every node merges this node into.
		m.start, m.next = p.K+1, p.K+1
	}
}

// ready reports whether tick k can be merged: the partial for k (or a later
// one) of every node that counts in k arrived, or k's deadline passed (and
// then late reports that something may be missing).
func (m *Merger) ready(k int64, nowMs int64) (ok, late bool) {
	members, missing := m.members.expecting(k)
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
	for n := range m.members.all() {
		if d := m.advance(n, k, &counts, &events); d != 0 && (lateFrom == 0 || d < lateFrom) {
			lateFrom = d
		}
	}
	if m.trace != nil {
		m.trace(k, byDeadline, lateFrom)
	}
	// A member silent for LostAfter ticks is lost; WriteOffAfter later,
	// what it had in flight is counted as dropped (see settle).
	m.members.loseSilent(k, m.cfg.LostAfter)
	m.settle(k, &counts)
	b := &batch.Batch{
		Seq:     uint64(k),
		At:      m.cfg.Now().UnixMilli(),
		TickMs:  m.tickMs,
		Counts:  counts,
		Latency: m.merged.Summary(),
		Config:  m.config,
	}
	b.Counts.DroppedBy = nonNil(b.Counts.DroppedBy)
	nodes := make([]batch.NodeStatus, 0, len(m.members.ids))
	worst := batch.OK
	// The cause names the nodes at the worst verdict ("node-b: worker
	// failing: http-500"), then the lost ones.
	var causes, lost []string
	for n := range m.members.all() {
		addTotals(&b.Totals, n.contribution())
		if n.hidden || (n.startedAt == 0 && n.seenStart == 0) {
			// Forgotten, or known only by its facts.
			continue
		}
		nodes = append(nodes, n.status(k))
		switch {
		case n.member(k):
			addHealth(&b.Health, n.health)
			if w := worse(worst, n.health.Status); w != worst {
				worst, causes = w, causes[:0]
			}
			if n.health.Status == worst && n.health.Cause != "" {
				causes = append(causes, n.id+": "+n.health.Cause)
			}
		case n.startedAt != 0 && n.lost:
			lost = append(lost, batch.CauseNodeLost+n.id)
		}
	}
	b.Totals.DroppedBy = nonNil(b.Totals.DroppedBy)
	m.route(k)
	if len(lost) > 0 {
		// Lost capacity: the cluster is at least degraded.
		worst = worse(worst, batch.Degraded)
	}
	b.Health.Status = worst
	b.Health.Cause = strings.Join(append(causes, lost...), "; ")
	b.StartedAt = m.clusterStart
	slices.SortStableFunc(events, func(a, b batch.Event) int { return cmp.Compare(a.ProcessedAt, b.ProcessedAt) })
	if len(events) > batch.MaxEvents {
		events = events[len(events)-batch.MaxEvents:]
	}
	b.Events = append(make([]batch.Event, 0, len(events)), events...)
	m.saveLedger()
	m.nodes.Store(countNodes(nodes))
	m.st.emitted.Add(1)
	b.Nodes = nodes
	if lp, ok := m.out.(LatencyPublisher); ok {
		lp.PublishWithLatencies(b, m.merged)
		return
	}
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
			m.retireRoute(n, event.NodeLost)
			addLoss(counts, n.restart(p))
			m.noteStart(p.StartedAt)
		}
		if n.lost {
			// The node is back, from the tick after its first partial
			// since.
			if p.K >= k {
				break
			}
			n.rejoin(p.K)
		}
		if k <= n.joinK || p.K > k {
			break
		}
		if p.Totals.Received >= n.cur.Received && p.Totals.Finished() >= n.cur.Finished() {
			n.cur, n.marks, n.busInc = p.Totals, p.Marks, p.Bus
		}
		if p.Left {
			n.left, n.leftK = true, p.K
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

// settle decides, in tick k, what becomes of nodes that ended: a node lost
// for WriteOffAfter (or forgotten by an operator) has its in-flight events
// written off, counted in k as dropped (node-lost), and the events this
// node sent it beyond its final mark counted here (its route retired); a
// node that left has its route retired (what it never took counted as
// bus); either is hidden from the node list ForgetAfter after it ended, or
// at once if forgotten.
func (m *Merger) settle(k int64, counts *stats.Counts) {
	for n := range m.members.all() {
		ended := n.lost || n.left
		if !ended && n.startedAt != 0 {
			n.forget = false // reporting again: nothing to forget
		}
		if n.lost && !n.writtenOff && (n.forget || k >= n.lostAt+m.writeOffTicks) {
			n.writtenOff = true
			if _, retired := n.facts[retiredKey(n.startedAt)]; !retired {
				addLoss(counts, n.cur.InFlight)
			}
			m.retireRoute(n, event.NodeLost)
		}
		if n.left {
			m.retireRoute(n, event.Bus)
		}
		since := n.lostAt
		if n.left {
			since = n.leftK
		}
		if !n.hidden && n.forget && (ended || n.startedAt == 0) {
			n.hidden = true
		}
		if !n.hidden && ended && k >= since+m.forgetTicks {
			n.hidden = true
		}
	}
}

// retireRoute retires this node's route to n's bus, once per incarnation
// (see EventBus.Retire).
func (m *Merger) retireRoute(n *nodeState, reason event.Reason) {
	bus := m.bus
	if bus == nil || n.routeRetired || n.busInc == 0 || n.id == m.cfg.NodeID {
		return
	}
	n.routeRetired = true
	bus.Retire(Peer{ID: n.id, Inc: n.busInc}, n.markFor(m.cfg.NodeID, bus.Incarnation()), reason)
}

// peerTicks is how many ticks without a partial make a peer no longer sent
// events, well before it is lost: what it is sent while it may be gone is
// counted when it is written off.
const peerTicks = 2

// route tells the bus the peers to send events to in the ticks after k:
// the nodes that reported lately, are neither lost nor leaving, and whose
// bus is known.
func (m *Merger) route(k int64) {
	bus := m.bus
	if bus == nil {
		return
	}
	var peers []Peer
	for n := range m.members.all() {
		if n.startedAt != 0 && !n.lost && !n.left && n.busInc != 0 && n.lastK >= k-peerTicks && n.id != m.cfg.NodeID {
			peers = append(peers, Peer{ID: n.id, Inc: n.busInc})
		}
	}
	bus.SetPeers(peers)
}

// AttachBus makes b this node's event bus, before Run and the first
// Publish: partials then carry its incarnation and marks (read with the
// received count, at one instant), the Merger tells it which peers to send
// events to, and it retires its routes to nodes that end (see
// EventBus.Retire). The tap (Recorder) must see every event the node
// admits.
func (m *Merger) AttachBus(b *EventBus) { m.bus = b }

// Leave makes this node's next partials say that it is leaving: call it
// once its event bus and pipeline have stopped, before the last batch, so
// that the partial that says so holds its final totals and marks.
func (m *Merger) Leave() { m.leaving.Store(true) }

// Errors of Forget.
var (
	ErrUnknownNode   = errors.New("cluster: no such node in the node list")
	ErrNodeReporting = errors.New("cluster: the node is reporting: only a lost node, or one that left, can be removed")
	errNotRunning    = errors.New("cluster: merger not running")
)

type forgetReq struct {
	id    string
	reply chan error
}

// Forget removes a lost node (or one that left) from the node list now,
// writing off what it had in flight if that was not done yet, on this
// node and, through the ledger, on every node: an operator's way of
// saying that it is gone for good. A node that reports again later is
// listed again.
func (m *Merger) Forget(ctx context.Context, id string) error {
	if !m.running.Load() {
		return errNotRunning
	}
	r := forgetReq{id: id, reply: make(chan error, 1)}
	select {
	case m.forgets <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// forget marks node id to be forgotten at the next merge. Owned by Run.
func (m *Merger) forget(id string) error {
	n := m.members.get(id)
	if n == nil || n.hidden || (n.startedAt == 0 && n.seenStart == 0) {
		return ErrUnknownNode
	}
	if !n.lost && !n.left {
		return ErrNodeReporting
	}
	n.forget = true
	n.facts.set(forgotKey(n.startedAt), stats.Totals{})
	return nil
}

// noteStart keeps the cluster's start, the earliest incarnation merged or
// learnt of; startedAt 0 is none.
func (m *Merger) noteStart(startedAt int64) {
	if startedAt != 0 && (m.clusterStart == 0 || startedAt < m.clusterStart) {
		m.clusterStart = startedAt
	}
}

// saveLedger records the ledger for the next partials of this node.
func (m *Merger) saveLedger() {
	ledger := m.members.ledger()
	m.pubMu.Lock()
	m.ledger = ledger
	m.pubMu.Unlock()
}

// addHealth adds a member's health to the cluster's: capacities (and the
// concurrency limits) add up; jitter, schedule error and call latencies are
// the worst of any node.
func addHealth(h *batch.Health, o batch.Health) {
	h.QueueDepth += o.QueueDepth
	h.QueueCap += o.QueueCap
	h.QueueBytes += o.QueueBytes
	h.QueueBytesCap += o.QueueBytesCap
	h.Workers += o.Workers
	h.Busy += o.Busy
	h.Limit += o.Limit
	h.CallP50Ms = max(h.CallP50Ms, o.CallP50Ms)
	h.CallP90Ms = max(h.CallP90Ms, o.CallP90Ms)
	h.CallP99Ms = max(h.CallP99Ms, o.CallP99Ms)
	h.CallBestMs = max(h.CallBestMs, o.CallBestMs)
	h.TickJitterMs = max(h.TickJitterMs, o.TickJitterMs)
	h.ScheduleErrorMs = max(h.ScheduleErrorMs, o.ScheduleErrorMs)
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
	// Nodes counts the node list of the latest cluster batch by status;
	// nil before the first one.
	Nodes *NodeCounts
}

// NodeCounts counts the nodes of a cluster batch's node list by status
// (batch.NodeStatus.Status).
type NodeCounts struct {
	// Joining nodes count from a later tick; Lost ones stopped reporting;
	// Left ones stopped on purpose.
	Joining, Lost, Left int
	// Members count in the tick, by their health verdict. A verdict this
	// build does not know (from a node of another version) counts as OK,
	// as it does in the cluster's health.
	OK, Degraded, Overloaded int
}

// countNodes counts nodes by status.
func countNodes(nodes []batch.NodeStatus) *NodeCounts {
	c := &NodeCounts{}
	for _, n := range nodes {
		switch n.Status {
		case batch.NodeJoining:
			c.Joining++
		case batch.NodeLost:
			c.Lost++
		case batch.NodeLeft:
			c.Left++
		case string(batch.Degraded):
			c.Degraded++
		case string(batch.Overloaded):
			c.Overloaded++
		default:
			c.OK++
		}
	}
	return c
}

// Stats returns the Merger's counters.
func (m *Merger) Stats() MergerStats {
	s := &m.st
	st := MergerStats{
		Published: s.published.Load(), PublishErrors: s.publishErrors.Load(),
		Received: s.received.Load(), Malformed: s.malformed.Load(), Stale: s.stale.Load(), Rejected: s.rejected.Load(),
		LocalDrops: s.localDrops.Load(), Emitted: s.emitted.Load(), Late: s.late.Load(), Skipped: s.skipped.Load(),
	}
	// A copy: the stored counts are shared by every caller.
	if c := m.nodes.Load(); c != nil {
		nodes := *c
		st.Nodes = &nodes
	}
	return st
}
