package history

import (
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/stats"
)

// step is a run of ticks (100 ms each) with one verdict and, per tick,
// these counts.
type step struct {
	ticks  int
	status batch.Status
	counts stats.Counts
}

// play feeds h the steps, the first tick at t0 (tick k at t0 + k*100ms,
// so that second i holds ticks 10i to 10i+9), and returns when the last
// tick was.
func play(h *History, steps ...step) time.Time {
	at := t0.Add(-100 * time.Millisecond)
	for _, s := range steps {
		for range s.ticks {
			at = at.Add(100 * time.Millisecond)
			h.Publish(&batch.Batch{At: at.UnixMilli(), Counts: s.counts.Clone(), Health: batch.Health{Status: s.status}})
		}
	}
	return at
}

func ok(ticks int) step { return step{ticks, batch.OK, stats.Counts{OnTime: 10}} }

func drops(ticks int, by map[event.Reason]uint64) step {
	c := stats.Counts{OnTime: 5, DroppedBy: by}
	for _, n := range by {
		c.Dropped += n
	}
	return step{ticks, batch.Overloaded, c}
}

func health(in []Incident) []Incident {
	var out []Incident
	for _, i := range in {
		if i.Kind == KindHealth {
			out = append(out, i)
		}
	}
	return out
}

func after(d time.Duration) int64 { return t0.Add(d).UnixMilli() }

// The process's start is the first incident, a restart marker.
func TestRestartMarker(t *testing.T) {
	c := &clock{t0}
	h, _ := newHistory(t, c)
	in := h.Incidents()
	if len(in) != 1 || in[0].Kind != KindRestart || in[0].Start != t0.UnixMilli() || in[0].End == nil || *in[0].End != in[0].Start || in[0].Node != "" {
		t.Fatalf("incidents at start %+v", in)
	}
}

// Verdicts that flap back to ok for less than Settle continue one incident;
// its status is the worst reached, its end the return to ok that lasted,
// and its reasons the most frequent drops over all of it.
func TestHealthIncidentSuppressesFlapping(t *testing.T) {
	c := &clock{t0}
	h, _ := newHistory(t, c)
	c.t = play(h,
		ok(10), // 0-1 s
		step{5, batch.Degraded, stats.Counts{OnTime: 5, Late: 5}}, // 1.0-1.5 s: opens
		ok(20), // 2 s of ok: not enough
		drops(10, map[event.Reason]uint64{event.Shed: 3, event.Expired: 2, event.QueueFull: 1, event.Failed: 4}), // 3.5-4.5 s
		ok(29), // 2.9 s of ok
		drops(1, map[event.Reason]uint64{event.Shed: 10}), // 7.4-7.5 s
		ok(40), // back for good at 7.5 s (+0.1: the first ok batch)
	)
	in := health(h.Incidents())
	if len(in) != 1 {
		t.Fatalf("%d health incidents, want 1: %+v", len(in), in)
	}
	i := in[0]
	if i.Status != batch.Overloaded || i.Start != after(time.Second) || i.End == nil || *i.End != after(7500*time.Millisecond) {
		t.Fatalf("incident %+v (end %v), want overloaded from +1 s to +7.5 s", i, i.End)
	}
	// shed 3x10+10, failed 4x10 (ties by name), expired 2x10; queue-full
	// (10) is fourth.
	want := []ReasonCount{{"failed", 40}, {"shed", 40}, {"expired", 20}}
	if len(i.TopReasons) != 3 || i.TopReasons[0] != want[0] || i.TopReasons[1] != want[1] || i.TopReasons[2] != want[2] {
		t.Fatalf("top reasons %+v, want %+v", i.TopReasons, want)
	}
	// The worst seconds: 3 and 4, five ticks of drops (5 on time, 10
	// dropped) and five ok (10 on time): 50 of 125. Second 1 missed 25 of
	// 100, second 7 10 of 105.
	if i.WorstMissRate != 0.4 {
		t.Fatalf("worst miss rate %v", i.WorstMissRate)
	}
}

// The worst miss rate is that of the worst one-second step of the incident,
// from exact counts.
func TestWorstMissRate(t *testing.T) {
	c := &clock{t0}
	h, _ := newHistory(t, c)
	c.t = play(h,
		ok(10),
		step{10, batch.Degraded, stats.Counts{OnTime: 9, Late: 1}},                                                                     // second 1: 10 %
		step{10, batch.Overloaded, stats.Counts{OnTime: 1, Late: 1, Dropped: 2, DroppedBy: map[event.Reason]uint64{event.Expired: 2}}}, // second 2: 75 %
		ok(50),
	)
	in := health(h.Incidents())
	if len(in) != 1 || in[0].WorstMissRate != 0.75 || in[0].Status != batch.Overloaded {
		t.Fatalf("incidents %+v, want one overloaded with worst miss rate 0.75", in)
	}
	if r := in[0].TopReasons; len(r) != 1 || r[0] != (ReasonCount{"expired", 20}) {
		t.Fatalf("top reasons %+v", r)
	}
}

// An open incident has no end; two episodes Settle apart are two
// incidents, newest first.
func TestOpenIncidentAndOrder(t *testing.T) {
	c := &clock{t0}
	h, _ := newHistory(t, c)
	c.t = play(h,
		step{5, batch.Degraded, stats.Counts{Late: 1}},
		ok(35),
		step{3, batch.Degraded, stats.Counts{Late: 1}},
		ok(5),
	)
	in := h.Incidents()
	if len(in) != 3 || in[0].Kind != KindHealth || in[1].Kind != KindHealth || in[2].Kind != KindRestart {
		t.Fatalf("incidents %+v", in)
	}
	if in[0].End != nil || in[0].Start != after(4000*time.Millisecond) || in[0].Status != batch.Degraded {
		t.Fatalf("the open incident %+v", in[0])
	}
	if in[1].End == nil || *in[1].End != after(500*time.Millisecond) || in[1].ID >= in[0].ID {
		t.Fatalf("the closed incident %+v", in[1])
	}
	if len(in[0].TopReasons) != 0 || in[0].TopReasons == nil {
		t.Fatalf("no drops: top reasons %#v, want []", in[0].TopReasons)
	}
}

// Incidents are listed for IncidentAge after they end, at most
// MaxIncidents of them.
func TestIncidentsAreBounded(t *testing.T) {
	c := &clock{t0}
	h, _ := newHistory(t, c)
	var steps []step
	for range MaxIncidents + 10 {
		steps = append(steps, step{1, batch.Degraded, stats.Counts{Late: 1}}, ok(31))
	}
	c.t = play(h, steps...)
	in := h.Incidents()
	if len(in) != MaxIncidents || in[0].ID != MaxIncidents+11 || in[len(in)-1].ID != 12 {
		t.Fatalf("%d incidents, ids %d..%d", len(in), in[0].ID, in[len(in)-1].ID)
	}
	c.t = c.t.Add(IncidentAge - 10*time.Second)
	if n := len(h.Incidents()); n == 0 || n == MaxIncidents {
		t.Fatalf("%d incidents a day later: some must have aged out, not all", n)
	}
	c.t = c.t.Add(time.Hour)
	if n := len(h.Incidents()); n != 0 {
		t.Fatalf("%d incidents older than a day listed", n)
	}
}

// In a cluster, nodes lost, back and restarted are incidents, from the
// batches' node lists.
func TestNodeIncidents(t *testing.T) {
	c := &clock{t0}
	h, _ := newHistory(t, c)
	at := func(s int) int64 { return after(time.Duration(s) * time.Second) }
	pub := func(s int, nodes ...batch.NodeStatus) {
		h.Publish(&batch.Batch{At: at(s), Health: batch.Health{Status: batch.OK}, Nodes: nodes})
	}
	node := func(id, status string, started int64) batch.NodeStatus {
		return batch.NodeStatus{ID: id, Status: status, StartedAt: started}
	}
	a, b := at(-100), at(-50)
	pub(1, node("a", "ok", a), node("b", "joining", b))
	pub(2, node("a", "ok", a), node("b", "ok", b))
	pub(3, node("a", "ok", a), node("b", batch.NodeLost, b))
	pub(4, node("a", "ok", a), node("b", batch.NodeLost, b))
	c.t = t0.Add(4 * time.Second)
	in := h.Incidents()
	if len(in) != 2 || in[0].Kind != KindNodeLost || in[0].Node != "b" || in[0].Start != at(3) || in[0].End != nil {
		t.Fatalf("after b is lost: %+v", in)
	}
	pub(5, node("a", "ok", a), node("b", "ok", b))
	pub(6, node("a", "ok", a), node("b", batch.NodeLost, b))
	pub(7, node("a", "ok", a), node("b", "joining", at(7))) // restarted
	pub(8, node("a", "ok", a), node("b", "ok", at(7)))
	c.t = t0.Add(8 * time.Second)
	in = h.Incidents()
	var kinds []string
	for _, i := range in {
		kinds = append(kinds, i.Kind+":"+i.Node)
	}
	// Newest first by start: b's restart (its new start, 7 s), lost at 6,
	// rejoined at 5, lost at 3, this process's start.
	want := []string{"restart:b", "node-lost:b", "node-rejoined:b", "node-lost:b", "restart:"}
	if len(kinds) != len(want) {
		t.Fatalf("incidents %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("incidents %v, want %v", kinds, want)
		}
	}
	if in[0].Start != at(7) || *in[0].End != at(7) {
		t.Fatalf("restart %+v", in[0])
	}
	if *in[1].End != at(7) || *in[3].End != at(5) || in[2].Start != at(5) || *in[2].End != at(5) {
		t.Fatalf("lost/rejoined times: %+v", in)
	}
	// A node that leaves the list ends its loss.
	pub(9, node("a", "ok", a), node("b", batch.NodeLost, at(7)))
	pub(10, node("a", "ok", a))
	c.t = t0.Add(10 * time.Second)
	if i := h.Incidents()[0]; i.Kind != KindNodeLost || i.End == nil || *i.End != at(10) {
		t.Fatalf("loss of a node gone from the list %+v", i)
	}
}
