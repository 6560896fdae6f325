package cluster

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/stats"
)

// collector is a ClusterPublisher that keeps every cluster batch.
type collector struct {
	mu   sync.Mutex
	outs []output
}

type output struct {
	b     *batch.Batch
	nodes []batch.NodeStatus
}

func (c *collector) PublishCluster(b *batch.Batch, nodes []batch.NodeStatus) {
	c.mu.Lock()
	c.outs = append(c.outs, output{b, nodes})
	c.mu.Unlock()
}

func (c *collector) all() []output {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]output(nil), c.outs...)
}

func (c *collector) last() (output, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.outs) == 0 {
		return output{}, false
	}
	return c.outs[len(c.outs)-1], true
}

// statusOf is the status of node id in o's node list.
func statusOf(o output, id string) string {
	for _, n := range o.nodes {
		if n.ID == id {
			return n.Status
		}
	}
	return ""
}

type nopRecorder struct{}

func (nopRecorder) Admit(event.Event)   {}
func (nopRecorder) Finish(event.Result) {}

// sim plays one node's coalescer: each tick it admits and finishes a few
// events with known latencies, feeds the outcomes through the Merger's
// recorder and publishes the batch, as the coalescer would.
type sim struct {
	id        string
	startedAt int64
	m         *Merger
	rec       Recorder
	rng       *rand.Rand
	totals    stats.Counts
	inFlight  int
	lastK     int64
	// join marks the next partial as a joining one: it is merged in the
	// tick after its own.
	join bool
	// sent are the totals of each partial, by tick index.
	sent map[int64]stats.Totals
}

func newSim(id string, seed uint64, startedAt int64, m *Merger) *sim {
	return &sim{id: id, startedAt: startedAt, m: m, rec: m.Recorder(nopRecorder{}), rng: rand.New(rand.NewPCG(seed, seed)), join: true, sent: map[int64]stats.Totals{}}
}

// samples are the latencies of the processed events, by the tick they are
// merged in.
type samples struct {
	mu sync.Mutex
	by map[int64][]time.Duration
}

func (s *sim) tick(now time.Time, ref *samples) {
	var c stats.Counts
	r := 5 + s.rng.IntN(10)
	c.Received = uint64(r)
	s.inFlight += r
	finish := max(s.inFlight-(2+s.rng.IntN(4)), 0) // keep a few in flight
	k := max(now.UnixMilli()/s.m.tickMs, s.lastK+1)
	s.lastK = k
	due := k
	if s.join {
		due, s.join = k+1, false
	}
	var events []batch.Event
	var lat []time.Duration
	for i := range finish {
		res := event.Result{Event: event.Event{ID: uuid.New(), Source: s.id, Deadline: 100 * time.Millisecond}, ProcessedAt: now.Add(time.Duration(i) * time.Microsecond)}
		var d time.Duration
		switch x := s.rng.IntN(10); {
		case x < 7:
			d = time.Duration(1+s.rng.IntN(90_000)) * time.Microsecond
			res.Status = event.OnTime
		case x < 9:
			d = time.Duration(100_000+s.rng.IntN(300_000)) * time.Microsecond
			res.Status = event.Late
		default:
			res.Status, res.Reason = event.Dropped, []event.Reason{event.QueueFull, event.Expired}[s.rng.IntN(2)]
		}
		res.CreatedAt = res.ProcessedAt.Add(-d)
		s.rec.Finish(res)
		c.Finish(res)
		if res.Processed() {
			lat = append(lat, d)
		}
		events = append(events, batch.EventOf(res))
	}
	s.inFlight -= finish
	s.totals.Add(c)
	s.sent[k] = stats.TotalsOf(s.totals, s.totals.Received)
	ref.mu.Lock()
	ref.by[due] = append(ref.by[due], lat...)
	ref.mu.Unlock()
	s.m.Publish(&batch.Batch{
		At: now.UnixMilli(), StartedAt: s.startedAt, TickMs: s.m.tickMs,
		Counts: c, Totals: stats.TotalsOf(s.totals, s.totals.Received),
		Health: batch.Health{QueueDepth: 1, QueueCap: 64, Workers: 4, Busy: 2, Status: batch.OK},
		Events: events[max(len(events)-batch.MaxEvents, 0):],
	})
}

// mergerNode is one node of the test cluster: a Merger on its own
// connection, running until stopped.
type mergerNode struct {
	m      *Merger
	out    *collector
	cancel context.CancelFunc
	done   chan error
}

// disturbed records the ticks whose merge depended on timing: a partial
// that arrived after its tick was merged may have been merged in time by
// another node's Merger, so the two differ on the ticks from the one it was
// due in to the one it was merged in (and agree again after).
type disturbed struct {
	mu    sync.Mutex
	ticks map[uint64]bool
}

func (d *disturbed) trace(k int64, _ bool, lateFrom int64) {
	if lateFrom == 0 {
		return
	}
	d.mu.Lock()
	for s := lateFrom; s <= k; s++ {
		d.ticks[uint64(s)] = true
	}
	d.mu.Unlock()
}

func (d *disturbed) has(seq uint64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ticks[seq]
}

func startMerger(t *testing.T, url, id string, tick time.Duration, dist *disturbed) *mergerNode {
	t.Helper()
	out := &collector{}
	nc := connect(t, url)
	// Two ticks of grace: on a busy machine fewer partials come late.
	m, err := NewMerger(nc, MergerConfig{NodeID: id, Tick: tick, Grace: 2 * tick, WriteOffAfter: -1}, out)
	if err != nil {
		t.Fatal(err)
	}
	m.trace = dist.trace
	ctx, cancel := context.WithCancel(context.Background())
	n := &mergerNode{m: m, out: out, cancel: cancel, done: make(chan error, 1)}
	go func() { n.done <- m.Run(ctx) }()
	// Run subscribes asynchronously: wait until the server has the
	// subscription, so that no partial published from now on is missed.
	waitFor(t, 5*time.Second, "merger subscription", func() bool { return nc.NumSubscriptions() == 1 })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	return n
}

func (n *mergerNode) stop() {
	if n.cancel != nil {
		n.cancel()
		<-n.done
		n.cancel = nil
	}
}

// driver ticks the sims on wall-clock tick boundaries, as aligned
// coalescers would.
type driver struct {
	mu   sync.Mutex
	sims map[string]*sim // the nodes publishing now
	ref  *samples
	tick time.Duration
	// lastK is the tick index of each node's latest partial.
	lastK map[string]int64
	// ticked are the tick indices the driver published partials for.
	ticked map[int64]bool
}

func (d *driver) set(id string, s *sim) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s == nil {
		delete(d.sims, id)
		return
	}
	d.sims[id] = s
}

func (d *driver) last(id string) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastK[id]
}

func (d *driver) run(ctx context.Context) {
	for {
		next := time.Now().Truncate(d.tick).Add(d.tick + time.Millisecond)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
		now := time.Now()
		d.mu.Lock()
		for id, s := range d.sims {
			s.tick(now, d.ref)
			d.lastK[id] = s.lastK
			d.ticked[s.lastK] = true
		}
		d.mu.Unlock()
	}
}

// waitSeq waits until the merger's output reaches seq.
func waitSeq(t *testing.T, n *mergerNode, seq uint64) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("seq %d", seq), func() bool {
		o, ok := n.out.last()
		return ok && o.b.Seq >= seq
	})
}

// Three nodes: every Merger emits the same seqs with the same counts and
// totals; merged percentiles are those of all the samples; a node that
// stops publishing is lost after LostAfter ticks with its in-flight events
// dropped as node-lost; it rejoins; a restarted node is a new incarnation
// whose predecessor's totals stay; totals never go backwards and always
// add up.
func TestMergersAgree(t *testing.T) {
	const tick = 50 * time.Millisecond
	url := startServer(t)
	ids := []string{"a", "b", "c"}
	nodes := map[string]*mergerNode{}
	dist := &disturbed{ticks: map[uint64]bool{}}
	for _, id := range ids {
		nodes[id] = startMerger(t, url, id, tick, dist)
	}
	ref := &samples{by: map[int64][]time.Duration{}}
	d := &driver{sims: map[string]*sim{}, ref: ref, tick: tick, lastK: map[string]int64{}, ticked: map[int64]bool{}}
	start := time.Now().UnixMilli()
	for i, id := range ids {
		d.set(id, newSim(id, uint64(i+1), start, nodes[id].m))
	}
	ctx, cancel := context.WithCancel(context.Background())
	driverDone := make(chan struct{})
	go func() { d.run(ctx); close(driverDone) }()
	defer func() { cancel(); <-driverDone }()

	// Phase 1: all three report.
	k0 := time.Now().UnixMilli()/tick.Milliseconds() + 25
	for _, id := range ids {
		waitSeq(t, nodes[id], uint64(k0))
	}

	// Phase 2: c stops publishing (its Merger keeps merging) and is lost.
	d.mu.Lock()
	cSim := d.sims["c"]
	d.mu.Unlock()
	d.set("c", nil)
	lostInFlight := uint64(cSim.inFlight)
	cLast := d.last("c")
	lostAt := uint64(cLast + 5)
	for _, id := range ids {
		waitFor(t, 3*time.Second, id+" to see c lost", func() bool {
			o, ok := nodes[id].out.last()
			return ok && o.b.Seq >= lostAt+2
		})
	}
	// Checked at the end, once every late partial is known.
	lossChecks := nodeOutputs(nodes)
	checkLoss := func() {
		for id, outs := range lossChecks {
			for _, o := range outs {
				if dist.has(o.b.Seq) || o.b.Seq < lostAt-2 || o.b.Seq > lostAt+2 {
					continue
				}
				if lost := statusOf(o, "c") == batch.NodeLost; lost != (o.b.Seq >= lostAt) {
					t.Errorf("%s: seq %d: c lost = %v; c's last partial was %d, so it is lost from %d", id, o.b.Seq, lost, cLast, lostAt)
				}
				if got, want := o.b.Counts.DroppedBy[event.NodeLost], lostInFlight; o.b.Seq == lostAt && got != want {
					t.Errorf("%s: seq %d: node-lost drops %d, want c's %d in flight", id, o.b.Seq, got, want)
				}
			}
		}
	}

	// Phase 3: c publishes again: it rejoins the tick after its first
	// partial.
	cSim.join = true
	d.set("c", cSim)
	var back uint64
	waitFor(t, 3*time.Second, "c's return", func() bool {
		back = uint64(d.last("c"))
		return back > uint64(cLast)
	})
	for _, id := range ids {
		waitSeq(t, nodes[id], back+3)
	}
	rejoinChecks := nodeOutputs(nodes)
	checkRejoin := func() {
		for id, outs := range rejoinChecks {
			for _, o := range outs {
				if o.b.Seq > back && !dist.has(o.b.Seq) && statusOf(o, "c") != "ok" {
					t.Errorf("%s: seq %d: c is %q after it came back at %d", id, o.b.Seq, statusOf(o, "c"), back)
				}
			}
		}
	}

	// Phase 4: c restarts: a new incarnation with its own Merger, before
	// it would be lost.
	d.set("c", nil)
	cStop := uint64(d.last("c"))
	restartInFlight := uint64(cSim.inFlight)
	nodes["c"].stop()
	old := nodes["c"]
	restarted := time.Now().UnixMilli()
	nodes["c"] = startMerger(t, url, "c", tick, dist)
	c2 := newSim("c", 99, restarted, nodes["c"].m)
	d.set("c", c2)
	var c2First uint64
	waitFor(t, 3*time.Second, "the new c's first partial", func() bool {
		c2First = uint64(d.last("c"))
		return c2First > cStop
	})
	for _, id := range ids {
		waitSeq(t, nodes[id], c2First+8)
	}
	cancel()
	<-driverDone

	// On failure, show each Merger's seqs (last 3 digits), tick and total
	// received, and c's status.
	defer func() {
		if !t.Failed() {
			return
		}
		for _, name := range []string{"a", "b", "c1", "c2"} {
			line := name + ":"
			for _, o := range map[string][]output{"a": nodes["a"].out.all(), "b": nodes["b"].out.all(), "c1": old.out.all(), "c2": nodes["c"].out.all()}[name] {
				line += fmt.Sprintf(" %d:%d/%d/%s", o.b.Seq%1000, o.b.Counts.Received, o.b.Totals.Received, statusOf(o, "c"))
			}
			t.Log(line)
		}
		t.Logf("c: last %d, back %d, stop %d, c2 first %d", cLast%1000, back%1000, cStop%1000, c2First%1000)
		for _, id := range ids {
			t.Logf("%s: %+v", id, nodes[id].m.Stats())
		}
	}()

	// A tick the driver missed (the machine stalled it for a whole tick)
	// is merged at its deadline, as is the next, and whether a partial
	// made it into the next depends on timing.
	for k := range byNodeRange(nodes["a"].out.all()) {
		if !d.ticked[k] {
			dist.ticks[uint64(k)], dist.ticks[uint64(k+1)] = true, true
		}
	}

	// Every Merger emits consecutive seqs; totals never go backwards and
	// always add up.
	byNode := map[string]map[uint64]output{}
	check := func(name string, outs []output) {
		seen := map[uint64]output{}
		var prev *batch.Batch
		for _, o := range outs {
			b := o.b
			if prev != nil {
				if b.Seq != prev.Seq+1 {
					t.Fatalf("%s: seq %d after %d", name, b.Seq, prev.Seq)
				}
				p, c := prev.Totals, b.Totals
				if c.Received < p.Received || c.OnTime < p.OnTime || c.Late < p.Late || c.Dropped < p.Dropped {
					t.Fatalf("%s: seq %d: totals went backwards: %+v -> %+v", name, b.Seq, p, c)
				}
			}
			if b.Totals.Received != b.Totals.OnTime+b.Totals.Late+b.Totals.Dropped+b.Totals.InFlight {
				t.Fatalf("%s: seq %d: totals do not add up: %+v", name, b.Seq, b.Totals)
			}
			var byReason uint64
			for _, n := range b.Totals.DroppedBy {
				byReason += n
			}
			if byReason != b.Totals.Dropped {
				t.Fatalf("%s: seq %d: droppedBy sums to %d, dropped %d", name, b.Seq, byReason, b.Totals.Dropped)
			}
			seen[b.Seq] = o
			prev = b
		}
		byNode[name] = seen
	}
	check("a", nodes["a"].out.all())
	check("b", nodes["b"].out.all())
	check("c1", old.out.all())
	check("c2", nodes["c"].out.all())

	// The Mergers agree on every tick they all merged (the restarted c
	// from its second tick: its first lacks what the others merged before
	// it started).
	c2Start := uint64(c2First + 1)
	compared, latChecked, skipped := 0, 0, 0
	for seq, a := range byNode["a"] {
		if dist.has(seq) {
			skipped++
			continue
		}
		for _, other := range []string{"b", "c1", "c2"} {
			o, ok := byNode[other][seq]
			if !ok || (other == "c2" && seq <= c2Start) {
				continue
			}
			if !sameCounts(a.b.Counts, o.b.Counts) || !sameCounts(a.b.Totals.Counts, o.b.Totals.Counts) || a.b.Totals.InFlight != o.b.Totals.InFlight || a.b.Latency != o.b.Latency {
				t.Errorf("seq %d: a and %s differ:\n a: %+v %+v %+v\n %s: %+v %+v %+v", seq, other, a.b.Counts, a.b.Totals, a.b.Latency, other, o.b.Counts, o.b.Totals, o.b.Latency)
			}
			if len(a.b.Events) != len(o.b.Events) {
				t.Errorf("seq %d: a has %d events, %s %d", seq, len(a.b.Events), other, len(o.b.Events))
			}
			compared++
		}
		// Merged percentiles are those of one histogram of all the
		// tick's latencies.
		want := stats.NewHistogram()
		ref.mu.Lock()
		for _, l := range ref.by[int64(seq)] {
			want.Record(l)
		}
		ref.mu.Unlock()
		w, g := want.Summary(), a.b.Latency
		if g.Count != w.Count {
			t.Errorf("seq %d: %d latencies merged, %d recorded", seq, g.Count, w.Count)
			continue
		}
		for _, q := range [][2]float64{{g.P50, w.P50}, {g.P90, w.P90}, {g.P99, w.P99}, {g.Max, w.Max}} {
			if math.Abs(q[0]-q[1]) > 0.01*q[1]+0.001 {
				t.Errorf("seq %d: merged %+v, single histogram %+v", seq, g, w)
			}
		}
		latChecked++
	}
	t.Logf("a emitted %d, c1 %d, c2 %d", len(byNode["a"]), len(byNode["c1"]), len(byNode["c2"]))
	t.Logf("%d ticks not compared: a partial came late or the driver missed a tick (the machine is busy)", skipped)
	if compared < 15 || latChecked < 5 {
		t.Fatalf("only %d comparisons and %d latency checks (%d ticks skipped)", compared, latChecked, skipped)
	}

	// c's first incarnation's totals stayed when the second took over.
	// The exact account at one tick after the restart: every node's latest
	// totals, c's first incarnation with its in-flight events dropped as
	// node-lost, and the events in flight when c was lost received again
	// (they were written off, then c reported them).
	lastA := byNode["a"][uint64(c2First+5)].b
	var want stats.Totals
	for _, sm := range []*sim{d.sims["a"], d.sims["b"], cSim, c2} {
		var latest int64
		for k := range sm.sent {
			if k <= int64(lastA.Seq) && k > latest {
				latest = k
			}
		}
		addTotals(&want, sm.sent[latest])
	}
	want.Received += lostInFlight
	want.Dropped += lostInFlight + restartInFlight
	want.InFlight -= restartInFlight
	addReason(&want.Counts, event.NodeLost, lostInFlight+restartInFlight)
	if dist.has(lastA.Seq) {
		t.Logf("seq %d disturbed: exact account not checked", lastA.Seq)
	} else if !sameCounts(want.Counts, lastA.Totals.Counts) || want.InFlight != lastA.Totals.InFlight {
		t.Errorf("seq %d: totals %+v, want %+v", lastA.Seq, lastA.Totals, want)
	}
	if lostInFlight == 0 || restartInFlight == 0 {
		t.Errorf("nothing in flight when c stopped (%d, %d): the test proves less", lostInFlight, restartInFlight)
	}
	if o := byNode["a"][c2Start]; !dist.has(c2Start) && o.b.Counts.DroppedBy[event.NodeLost] != restartInFlight {
		t.Errorf("seq %d: c's restart dropped %d as node-lost, want %d", c2Start, o.b.Counts.DroppedBy[event.NodeLost], restartInFlight)
	}
	for seq := c2Start; seq < c2Start+5; seq++ {
		if o := byNode["a"][seq]; statusOf(o, "c") == batch.NodeLost {
			t.Errorf("seq %d: the restarted c is lost", seq)
		}
	}
	checkLoss()
	checkRejoin()
	if lastA.Totals.DroppedBy[event.NodeLost] == 0 {
		t.Fatal("no node-lost drops in the totals")
	}
	for _, id := range []string{"a", "b", "c"} {
		s := nodes[id].m.Stats()
		t.Logf("%s: %+v", id, s)
		if s.Malformed != 0 || s.Rejected != 0 || s.LocalDrops != 0 || s.Skipped != 0 {
			t.Errorf("%s: unexpected stats %+v", id, s)
		}
	}
	t.Logf("%d ticks compared across mergers, %d latency digests checked; final totals %+v", compared, latChecked, lastA.Totals)
}

// nodeOutputs collects each node's outputs so far.
func nodeOutputs(nodes map[string]*mergerNode) map[string][]output {
	out := map[string][]output{}
	for id, n := range nodes {
		out[id] = n.out.all()
	}
	return out
}

// byNodeRange lists the tick indices of outs.
func byNodeRange(outs []output) map[int64]bool {
	ks := map[int64]bool{}
	for _, o := range outs {
		ks[int64(o.b.Seq)] = true
	}
	return ks
}

func sameCounts(a, b stats.Counts) bool {
	a.DroppedBy, b.DroppedBy = nonEmpty(a.DroppedBy), nonEmpty(b.DroppedBy)
	return a.Received == b.Received && a.OnTime == b.OnTime && a.Late == b.Late && a.Dropped == b.Dropped && maps.Equal(a.DroppedBy, b.DroppedBy)
}

func nonEmpty(m map[event.Reason]uint64) map[event.Reason]uint64 {
	out := map[event.Reason]uint64{}
	for r, n := range m {
		if n != 0 {
			out[r] = n
		}
	}
	return out
}

var _ = nats.DefaultURL
