package cluster

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/stats"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *fakeClock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

const unitTick = 100 * time.Millisecond

// unitMerger is a Merger driven by hand: no Run, a fake clock, partials
// handed to receive directly. A lost node is written off at once, unless
// set changes the configuration.
func unitMerger(t *testing.T, id string, clock *fakeClock, set ...func(*MergerConfig)) (*Merger, *collector) {
	t.Helper()
	out := &collector{}
	cfg := MergerConfig{NodeID: id, Tick: unitTick, Now: clock.Now, Logger: slog.New(slog.DiscardHandler), WriteOffAfter: -1}
	for _, f := range set {
		f(&cfg)
	}
	m, err := NewMerger(connect(t, startServer(t)), cfg, out)
	if err != nil {
		t.Fatal(err)
	}
	return m, out
}

// totalsOf builds conserving totals.
func totalsOf(received, onTime, dropped uint64) stats.Totals {
	c := stats.Counts{Received: received, OnTime: onTime, Dropped: dropped}
	if dropped > 0 {
		c.DroppedBy = map[event.Reason]uint64{event.QueueFull: dropped}
	}
	return stats.TotalsOf(c, c.Received)
}

func mkPartial(node string, k, firstK, startedAt int64, tot stats.Totals) *partial {
	return &partial{
		V: partialVersion, Node: node, K: k, FirstK: firstK, TickMs: unitTick.Milliseconds(), StartedAt: startedAt,
		Totals: tot, Health: batch.Health{Workers: 2, QueueCap: 10, Status: batch.OK}, hist: stats.NewHistogram(),
	}
}

// step merges what is ready at clock time k*tick + off.
func step(m *Merger, clock *fakeClock, k int64, off time.Duration) {
	clock.Set(time.UnixMilli(k * unitTick.Milliseconds()).Add(off))
	m.emitReady()
}

// A single node's Merger passes its batches through with seq = tick index,
// as soon as its own partial is in, even with NATS down.
func TestMergerSingleNode(t *testing.T) {
	clock := &fakeClock{}
	m, out := unitMerger(t, "solo", clock)
	m.nc.Close() // partials cannot be published: merging goes on
	const k0 = 17_000_000_000
	rec := m.Recorder(nopRecorder{})
	var totals stats.Counts
	for i := range int64(5) {
		k := k0 + i
		clock.Set(time.UnixMilli(k*unitTick.Milliseconds() + 2))
		now := clock.Now()
		r := event.Result{Event: event.Event{CreatedAt: now.Add(-time.Duration(i+1) * 10 * time.Millisecond)}, ProcessedAt: now, Status: event.OnTime}
		rec.Finish(r)
		c := stats.Counts{Received: 2}
		c.Finish(r)
		totals.Add(c)
		m.Publish(&batch.Batch{At: now.UnixMilli(), StartedAt: 42, TickMs: 100, Counts: c, Totals: stats.TotalsOf(totals, totals.Received),
			Health: batch.Health{Workers: 4, QueueCap: 64, Status: batch.Degraded, Cause: batch.CauseLate}, Events: []batch.Event{batch.EventOf(r)}})
		m.receive(<-m.in)
		m.emitReady()
	}
	outs := out.all()
	if len(outs) != 4 {
		t.Fatalf("%d batches, want 4 (the first tick is the join tick)", len(outs))
	}
	for i, o := range outs {
		b := o.b
		if b.Seq != uint64(k0+1+int64(i)) {
			t.Fatalf("batch %d: seq %d", i, b.Seq)
		}
		if i > 0 && (b.Counts.Received != 2 || b.Counts.OnTime != 1 || b.Latency.Count != 1 || len(b.Events) != 1) {
			t.Fatalf("batch %d: %+v", i, b)
		}
		if b.Health.Status != batch.Degraded || b.Health.Cause != "solo: late events" || b.Health.Workers != 4 || b.StartedAt != 42 || len(o.nodes) != 1 || o.nodes[0].Status != "degraded" {
			t.Fatalf("batch %d: health %+v, nodes %+v", i, b.Health, o.nodes)
		}
	}
	// The first merged tick holds the join tick's partial too.
	if b := outs[0].b; b.Counts.Received != 4 || b.Latency.Count != 2 || b.Latency.Max != 20 {
		t.Fatalf("first batch %+v", b)
	}
	if last := outs[3].b; last.Totals.Received != 10 || last.Totals.OnTime != 5 || last.Totals.InFlight != 5 {
		t.Fatalf("totals %+v", last.Totals)
	}
	if s := m.Stats(); s.PublishErrors != 5 || s.Emitted != 4 {
		t.Fatalf("stats %+v", s)
	}
}

// Loss, rejoin, restart and ledger adoption, tick by tick.
func TestMergerLifecycle(t *testing.T) {
	clock := &fakeClock{}
	m, out := unitMerger(t, "a", clock)
	const k0 = 17_000_000_000
	// a and b start together; a's partials are its own.
	bTot := totalsOf(10, 5, 1) // 4 in flight
	for k := int64(k0); k < k0+3; k++ {
		step(m, clock, k, 0)
		m.receive(mkPartial("a", k, k0, 1, totalsOf(uint64(k-k0+1), 0, 0)))
		p := mkPartial("b", k, k0, 2, bTot)
		p.SentAtUs, p.recvUs = clock.Now().UnixMicro()+30_000, clock.Now().UnixMicro() // b's clock 30ms ahead
		m.receive(p)
		step(m, clock, k, time.Millisecond)
	}
	last := func() output { o, _ := out.last(); return o }
	if o := last(); o.b.Seq != k0+2 || statusOf(o, "b") != "ok" || o.nodes[1].SkewMs != 30 {
		t.Fatalf("seq %d, nodes %+v", o.b.Seq, o.nodes)
	}
	// b goes silent after k0+2: each tick waits for the deadline, and
	// at k0+2+5 b is lost.
	for k := int64(k0 + 3); k <= k0+8; k++ {
		m.receive(mkPartial("a", k, k0, 1, totalsOf(uint64(k-k0+1), 0, 0)))
		step(m, clock, k, time.Millisecond)
		if o := last(); (o.b.Seq == uint64(k)) != (k > k0+7) {
			// Until b is lost, a tick waits for it; after, not.
			t.Fatalf("tick %d: merged at once = %v", k, o.b.Seq == uint64(k))
		}
		step(m, clock, k+1, 50*time.Millisecond) // the deadline: end of tick + grace
		o := last()
		if o.b.Seq != uint64(k) {
			t.Fatalf("tick %d not merged at its deadline (last %d)", k, o.b.Seq)
		}
		lost := statusOf(o, "b") == batch.NodeLost
		if lost != (k >= k0+7) {
			t.Fatalf("tick %d: b lost = %v", k, lost)
		}
		if k == k0+7 {
			if o.b.Counts.DroppedBy[event.NodeLost] != 4 || o.b.Totals.DroppedBy[event.NodeLost] != 4 || o.b.Totals.InFlight != uint64(k-k0+1) || o.b.Health.Status != batch.Degraded || o.b.Health.Cause != "node lost: b" {
				t.Fatalf("loss tick: %+v %+v %+v", o.b.Counts, o.b.Totals, o.b.Health)
			}
		}
	}
	// A new Merger (a restarted node "c") learns from a's ledger that b
	// was lost, with its last totals.
	m.saveLedger()
	clockC := &fakeClock{}
	mc, outC := unitMerger(t, "c", clockC)
	k := int64(k0 + 9)
	step(mc, clockC, k, 0)
	pa := mkPartial("a", k, k0, 1, totalsOf(uint64(k-k0+1), 0, 0))
	pa.Ledger = m.ledger
	mc.receive(pa)
	mc.receive(mkPartial("c", k, k, 3, totalsOf(0, 0, 0)))
	step(mc, clockC, k, time.Millisecond)
	k++
	pa = mkPartial("a", k, k0, 1, totalsOf(uint64(k-k0+1), 0, 0))
	pa.Ledger = m.ledger
	mc.receive(pa)
	mc.receive(mkPartial("c", k, k-1, 3, totalsOf(1, 1, 0)))
	step(mc, clockC, k, time.Millisecond)
	o, ok := outC.last()
	if !ok || o.b.Seq != uint64(k) {
		t.Fatalf("c merged nothing at %d", k)
	}
	if statusOf(o, "b") != batch.NodeLost || o.b.Totals.Received != uint64(k-k0+1)+10+1 || o.b.Totals.DroppedBy[event.NodeLost] != 4 {
		t.Fatalf("c's view: nodes %+v totals %+v", o.nodes, o.b.Totals)
	}

	// Back at a: b comes back (same incarnation) with 2 more received and
	// everything finished; it counts from the tick after.
	k = k0 + 9
	m.receive(mkPartial("a", k, k0, 1, totalsOf(uint64(k-k0+1), 0, 0)))
	m.receive(mkPartial("b", k, k0, 2, totalsOf(12, 11, 1)))
	step(m, clock, k, time.Millisecond)
	if o := last(); o.b.Seq != uint64(k) || statusOf(o, "b") != batch.NodeLost {
		t.Fatalf("tick %d: %d, b %q", k, o.b.Seq, statusOf(o, "b"))
	}
	k++
	m.receive(mkPartial("a", k, k0, 1, totalsOf(uint64(k-k0+1), 0, 0)))
	m.receive(mkPartial("b", k, k0, 2, totalsOf(13, 12, 1)))
	step(m, clock, k, time.Millisecond)
	o = last()
	if o.b.Seq != uint64(k) || statusOf(o, "b") != "ok" {
		t.Fatalf("tick %d: %d, b %q", k, o.b.Seq, statusOf(o, "b"))
	}
	// b's 4 written-off events stay dropped and are received again.
	if tot := o.b.Totals; tot.Received != uint64(k-k0+1)+13+4 || tot.DroppedBy[event.NodeLost] != 4 || tot.Dropped != 1+4 || tot.InFlight != uint64(k-k0+1) {
		t.Fatalf("after rejoin: %+v", tot)
	}
	// b restarts: a new incarnation, merged from the tick after its first.
	k++
	m.receive(mkPartial("a", k, k0, 1, totalsOf(uint64(k-k0+1), 0, 0)))
	m.receive(mkPartial("b", k, k, 5, totalsOf(3, 0, 0)))
	step(m, clock, k, time.Millisecond)
	if o := last(); o.b.Seq != uint64(k) || o.b.Totals.Received != uint64(k-k0+1)+13+4 {
		t.Fatalf("join tick %d: %+v", k, o.b.Totals)
	}
	k++
	m.receive(mkPartial("a", k, k0, 1, totalsOf(uint64(k-k0+1), 0, 0)))
	m.receive(mkPartial("b", k, k-1, 5, totalsOf(5, 1, 0)))
	step(m, clock, k, time.Millisecond)
	o = last()
	if tot := o.b.Totals; o.b.Seq != uint64(k) || tot.Received != uint64(k-k0+1)+13+4+5 || tot.DroppedBy[event.NodeLost] != 4 || tot.InFlight != uint64(k-k0+1)+4 {
		t.Fatalf("after restart: %+v", tot)
	}
	if o.nodes[1].StartedAt != 5 || o.nodes[1].Status != "ok" {
		t.Fatalf("nodes %+v", o.nodes)
	}
	// An old-incarnation partial now is stale.
	m.receive(mkPartial("b", k+1, k0, 2, totalsOf(13, 12, 1)))
	if m.Stats().Stale != 1 {
		t.Fatalf("stats %+v", m.Stats())
	}
}

func TestPartialRejects(t *testing.T) {
	good := mkPartial("n", 10, 9, 1, totalsOf(5, 3, 1))
	good.Hist, _ = stats.NewHistogram().MarshalBinary()
	data, err := good.encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodePartial(data, ""); err != nil {
		t.Fatalf("good partial: %v", err)
	}
	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		out, _ := json.Marshal(m)
		return out
	}
	bad := map[string][]byte{
		"json":      []byte("{"),
		"version":   mutate(func(m map[string]any) { m["v"] = 2 }),
		"node":      mutate(func(m map[string]any) { m["node"] = strings.Repeat("n", maxNodeID+1) }),
		"tick":      mutate(func(m map[string]any) { m["tickMs"] = 0 }),
		"firstK":    mutate(func(m map[string]any) { m["firstK"] = 11 }),
		"totals":    mutate(func(m map[string]any) { m["totals"].(map[string]any)["inFlight"] = 7 }),
		"histogram": mutate(func(m map[string]any) { m["hist"] = "AAAA" }),
		"ledger": mutate(func(m map[string]any) {
			m["ledger"] = map[string]any{"x": map[string]any{"facts": map[string]any{"retired/1": map[string]any{"received": 1}}}}
		}),
	}
	for name, d := range bad {
		if _, err := decodePartial(d, ""); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Another tick, or a clock far ahead, are refused on receipt.
	clock := &fakeClock{t: time.UnixMilli(10 * unitTick.Milliseconds())}
	m, _ := unitMerger(t, "a", clock)
	p := mkPartial("x", 10, 10, 1, totalsOf(0, 0, 0))
	p.TickMs = 50
	m.receive(p)
	m.receive(mkPartial("y", 100, 100, 1, totalsOf(0, 0, 0)))
	if s := m.Stats(); s.Rejected != 2 || len(m.members.nodes) != 0 {
		t.Fatalf("stats %+v, nodes %v", s, m.members.ids)
	}
}

func TestNewMergerValidates(t *testing.T) {
	nc := connect(t, startServer(t))
	out := &collector{}
	for name, c := range map[string]MergerConfig{
		"no id":      {},
		"long id":    {NodeID: strings.Repeat("x", maxNodeID+1)},
		"tick < 1ms": {NodeID: "a", Tick: time.Microsecond},
		"tick 1.5ms": {NodeID: "a", Tick: 1500 * time.Microsecond},
	} {
		if _, err := NewMerger(nc, c, out); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewMerger(nil, MergerConfig{NodeID: "a"}, out); err == nil {
		t.Error("nil connection accepted")
	}
	m, err := NewMerger(nc, MergerConfig{NodeID: "a", Tick: 20 * time.Millisecond}, BatchesOnly(&hubStub{}))
	if err != nil {
		t.Fatal(err)
	}
	if m.cfg.Grace != 50*time.Millisecond || m.cfg.LostAfter != 5 || m.cfg.Subject != "ontime.ticks" {
		t.Fatalf("defaults %+v", m.cfg)
	}
}

type hubStub struct{ n int }

func (h *hubStub) Publish(*batch.Batch) { h.n++ }

// A node that leaves says so in its last partial: it is listed as left,
// degrades nothing, and is hidden ForgetAfter later. A lost node keeps its
// in-flight events in flight until its write-off; an operator's Forget
// writes it off and hides it at the next merge, and only a node that ended
// can be forgotten.
func TestMergerLeaveWriteOffForget(t *testing.T) {
	clock := &fakeClock{}
	m, out := unitMerger(t, "a", clock, func(c *MergerConfig) {
		c.WriteOffAfter, c.ForgetAfter = 3*unitTick, 6*unitTick
	})
	const k0 = 17_000_000_000
	last := func() output { o, _ := out.last(); return o }
	bTot := totalsOf(10, 5, 1) // 4 in flight
	for k := int64(k0); k < k0+3; k++ {
		step(m, clock, k, 0)
		m.receive(mkPartial("a", k, k0, 1, totalsOf(0, 0, 0)))
		m.receive(mkPartial("b", k, k0, 2, bTot))
		pc := mkPartial("c", k, k0, 3, totalsOf(6, 6, 0))
		pc.Left = k == k0+2 // c's final partial
		m.receive(pc)
		step(m, clock, k, time.Millisecond)
	}
	if o := last(); statusOf(o, "c") != batch.NodeLeft || o.b.Health.Status != batch.OK || o.b.Health.Workers != 4 {
		t.Fatalf("after c left: nodes %+v, health %+v", o.nodes, o.b.Health)
	}
	if err := m.forget("a"); !errors.Is(err, ErrNodeReporting) {
		t.Fatalf("forget of a reporting node: %v", err)
	}
	if err := m.forget("nobody"); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("forget of an unknown node: %v", err)
	}
	for k := int64(k0 + 3); k <= k0+9; k++ {
		m.receive(mkPartial("a", k, k0, 1, totalsOf(0, 0, 0)))
		step(m, clock, k+1, 50*time.Millisecond)
		o := last()
		if o.b.Seq != uint64(k) {
			t.Fatalf("tick %d not merged", k)
		}
		tot := o.b.Totals
		switch {
		case k < k0+7:
			if statusOf(o, "b") != "ok" || tot.InFlight != 4 {
				t.Fatalf("tick %d: b %q, totals %+v", k, statusOf(o, "b"), tot)
			}
		case k == k0+7:
			// Lost: degraded, its 4 still in flight.
			if statusOf(o, "b") != batch.NodeLost || tot.InFlight != 4 || tot.Dropped != 1 || o.b.Health.Status != batch.Degraded {
				t.Fatalf("loss tick: b %q, totals %+v, health %+v", statusOf(o, "b"), tot, o.b.Health)
			}
			if err := m.forget("b"); err != nil {
				t.Fatalf("forget of a lost node: %v", err)
			}
		default:
			// Forgotten: written off (in the tick's counts once, and in
			// the totals), hidden, no longer degrading the cluster.
			if statusOf(o, "b") != "" || tot.InFlight != 0 || tot.DroppedBy[event.NodeLost] != 4 || o.b.Health.Status != batch.OK {
				t.Fatalf("tick %d after forget: nodes %+v, totals %+v, health %+v", k, o.nodes, tot, o.b.Health)
			}
			if n := o.b.Counts.DroppedBy[event.NodeLost]; n != map[bool]uint64{true: 4, false: 0}[k == k0+8] {
				t.Fatalf("tick %d: %d written off in the tick", k, n)
			}
		}
		if hidden := statusOf(o, "c") == ""; hidden != (k >= k0+8) {
			t.Fatalf("tick %d: c listed %q", k, statusOf(o, "c"))
		}
		if tot.Received != 16 || !addsUp(tot) {
			t.Fatalf("tick %d: totals %+v", k, tot)
		}
	}
	if _, ok := m.members.get("b").facts[forgotKey(2)]; !ok {
		t.Fatal("no forgot fact in the ledger for the other nodes")
	}
}
