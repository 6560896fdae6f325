package node

import (
	"bufio"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/history"
	"github.com/ontime-rt/ontime/internal/natstest"
	"github.com/ontime-rt/ontime/internal/stats"
)

// startNATS runs an embedded NATS server until the test ends (after the
// nodes, whose cleanups are registered later and so run first).
var startNATS = natstest.Start

func addsUp(t stats.Totals) bool {
	return t.Received == t.OnTime+t.Late+t.Dropped+t.InFlight
}

func statusOf(b *batch.Batch, id string) string {
	for _, n := range b.Nodes {
		if n.ID == id {
			return n.Status
		}
	}
	return ""
}

// members counts the nodes merged into b (neither joining nor lost).
func members(b *batch.Batch) int {
	k := 0
	for _, n := range b.Nodes {
		if n.Status != batch.NodeJoining && n.Status != batch.NodeLost {
			k++
		}
	}
	return k
}

// Three nodes share one generator's load, serve identical batches, and mark
// a stopped node lost while the merged totals still add up.
func TestCluster(t *testing.T) {
	url := startNATS(t)
	ids := []string{"a", "b", "c"}
	nodes := make(map[string]*testNode, len(ids))
	for _, id := range ids {
		cfg := Config{Settings: with(func(s *config.Settings) { s.Rate = 0; s.Workers = 4; s.WorkMs = 10; s.DeadlineMs = 200 }), NATSURL: url, NodeID: id}
		if id == "a" {
			cfg.Settings.Rate = 300 // the only generator
		}
		nodes[id] = startNode(t, cfg)
	}

	// The events of a's generator are processed by the other nodes'
	// pipelines (node-local totals), never by a's own: a node with peers
	// sends them its events.
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range ids[1:] {
		for nodes[id].Snapshot().Totals.Finished() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("node %s processed no event: the bus does not spread the load", id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	ca := dialSSE(t, nodes["a"].srv.URL+"/api/stream", nil)
	cb := dialSSE(t, nodes["b"].srv.URL+"/api/stream", nil)
	// Wait until every node is merged on both sides.
	for _, c := range []*sseClient{ca, cb} {
		for i := 0; ; i++ {
			if i == 50 {
				t.Fatal("three members never listed in the batches")
			}
			if b := c.nextBatch(t); members(b) == 3 {
				break
			}
		}
	}

	// Until a knows its peers, it sends its events to itself; from then
	// on, to its peers only: its own count stops growing. (How soon it
	// knows them after the batches list them depends on the machine's
	// load: wait until the count holds still for 500 ms, at most 10 s.)
	ownBefore := nodes["a"].Snapshot().Totals.Received
	for still, waited := time.Now(), time.Now(); time.Since(still) < 500*time.Millisecond; {
		time.Sleep(50 * time.Millisecond)
		if n := nodes["a"].Snapshot().Totals.Received; n != ownBefore {
			ownBefore, still = n, time.Now()
		}
		if time.Since(waited) > 10*time.Second {
			t.Fatalf("node a still takes its own events 10 s after its peers are listed (%d)", ownBefore)
		}
	}

	// Both clients see the same batch for the same seq. A partial that
	// misses one node's grace period but not the other's makes that tick
	// (and the next) differ by design; on a loaded machine that happens in
	// bursts (mostly in the first seconds, while the nodes' grace periods
	// settle), so differing seqs are tolerated as long as ten in a row
	// agree within 100.
	seen := map[uint64]*batch.Batch{}
	same, differ := 0, 0
	for i := 0; same < 10; i++ {
		if i == 100 {
			t.Fatalf("no ten seqs in a row the same on nodes a and b within 100 batches (%d differed)", differ)
		}
		b := ca.nextBatch(t)
		seen[b.Seq] = b
		o := cb.nextBatch(t)
		for _, x := range []*batch.Batch{b, o} {
			if len(x.Nodes) != 3 || x.TickMs != 100 {
				t.Fatalf("seq %d: nodes %+v, tick %d", x.Seq, x.Nodes, x.TickMs)
			}
			if !addsUp(x.Totals) {
				t.Fatalf("seq %d: totals %+v do not add up", x.Seq, x.Totals)
			}
		}
		if w, ok := seen[o.Seq]; ok {
			if w.StartedAt != o.StartedAt || !sameCounts(w.Totals.Counts, o.Totals.Counts) || w.Totals.InFlight != o.Totals.InFlight || !sameCounts(w.Counts, o.Counts) || w.Latency != o.Latency {
				differ++
				same = 0
				t.Logf("seq %d differs between nodes (a late partial):\n a: %+v %+v\n b: %+v %+v", o.Seq, w.Totals, w.Counts, o.Totals, o.Counts)
				continue
			}
			same++
		}
	}
	// A position read on one node resumes on another, without a reset:
	// the seq is the cluster's tick index and the epoch the tick, the same
	// on every node.
	pos := ca.nextBatch(t)
	if pos.Epoch != 100 {
		t.Fatalf("cluster batch epoch %d, want the tick (100)", pos.Epoch)
	}
	pos.Seq -= 5 // surely in b's history, whatever b's lag behind a
	rb := dialSSE(t, nodes["b"].srv.URL+"/api/stream", http.Header{"Last-Event-Id": {position(pos)}})
	if ev, err := rb.next(); err != nil || ev.name != "batch" || ev.id != fmt.Sprintf("100-%d", pos.Seq+1) {
		t.Fatalf("resume on node b after %s: first event %+v (%v), want batch 100-%d", position(pos), ev, err, pos.Seq+1)
	}
	rb.resp.Body.Close()

	// Every node works in the merged health too.
	if b := ca.nextBatch(t); b.Health.Workers != 12 {
		t.Fatalf("merged health %+v: want the workers of three nodes", b.Health)
	}

	// /metrics shows each node's share of the cluster's traffic: a
	// publishes the generated events, every node consumes some, and each
	// merges the others' partials into the batches it emits.
	for _, id := range ids {
		m := scrapeMetrics(t, nodes[id].srv.URL)
		for _, name := range []string{"ontime_cluster_events_consumed_total", "ontime_cluster_partials_published_total",
			"ontime_cluster_partials_received_total", "ontime_cluster_batches_emitted_total", "ontime_cluster_consumers"} {
			if m[name] <= 0 {
				t.Errorf("node %s: %s = %v, want > 0", id, name, m[name])
			}
		}
		if published := m["ontime_cluster_events_published_total"]; (id == "a") != (published > 0) {
			t.Errorf("node %s published %v events; only a runs a generator", id, published)
		}
		if m[`ontime_cluster_messages_malformed_total{kind="event"}`] != 0 || m[`ontime_cluster_messages_malformed_total{kind="partial"}`] != 0 {
			t.Errorf("node %s: malformed messages counted", id)
		}
	}

	// ontime_cluster_nodes counts a's node list: three members, each by
	// its health verdict, none joining or lost.
	nodeGauge(t, nodes["a"].srv.URL, 3, 0)

	if n := nodes["a"].Snapshot().Totals.Received; n != ownBefore {
		t.Errorf("node a took %d more events of its own generator after it knew its peers", n-ownBefore)
	}

	// A node stopped on purpose says so in its last partial: it is listed
	// as left, not lost, the cluster is not degraded by it, and nothing
	// it counted is lost from the totals.
	stopped := time.Now()
	nodes["c"].stop()
	for {
		b := ca.nextBatch(t)
		if !addsUp(b.Totals) {
			t.Fatalf("seq %d: totals %+v do not add up", b.Seq, b.Totals)
		}
		if st := statusOf(b, "c"); st == batch.NodeLeft {
			// The cluster may be degraded by the survivors' own load (c's
			// share now queues on b), never by c.
			if b.Health.Workers != 8 || strings.Contains(b.Health.Cause, batch.CauseNodeLost) || b.Totals.DroppedBy[event.NodeLost] != 0 {
				t.Fatalf("seq %d: health %+v, totals %+v after c left", b.Seq, b.Health, b.Totals)
			}
			break
		} else if st == batch.NodeLost {
			// c reports every tick while it drains; only a machine too
			// loaded for it to report for five ticks has it listed lost
			// until its last partial, which says it left, arrives.
			t.Logf("seq %d: c, stopping on purpose, listed as lost for now (no partial for five ticks)", b.Seq)
		}
		if time.Since(stopped) > 5*time.Second {
			t.Fatalf("node c not listed as left %v after it stopped: %+v", time.Since(stopped), b.Nodes)
		}
	}
	t.Logf("c left after %v", time.Since(stopped))
	// a's /metrics now counts two members and no node lost.
	nodeGauge(t, nodes["a"].srv.URL, 2, 0)

	// The history of a node is the cluster's: steps with the three nodes'
	// workers, and no incident for c's leaving.
	h := fetch[history.Series](t, nodes["a"].srv.URL+"/api/history?range=1m")
	workers, p50 := 0, 0.0
	for _, p := range h.Points {
		workers = max(workers, p.Workers)
		p50 = max(p50, p.P50) // from the merged histograms the Merger lends
	}
	if workers != 12 || p50 < 10 {
		t.Fatalf("history of node a: at most %d workers, p50 %v ms; want the cluster's 12 and the 10 ms work", workers, p50)
	}
	for _, i := range fetch[incidentList](t, nodes["a"].srv.URL+"/api/incidents").Incidents {
		if i.Kind == history.KindNodeLost {
			t.Fatalf("node-lost incident %+v on node a; c left on purpose", i)
		}
	}
}

// nodeGauge waits until ontime_cluster_nodes on the node at base counts
// members in ok, degraded or overloaded, lost in lost, and none joining.
// It polls: on a loaded machine a late partial can make a node lost for a
// moment.
func nodeGauge(t *testing.T, base string, members, lost float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := scrapeMetrics(t, base)
		byStatus := map[string]float64{}
		for _, s := range []string{"joining", "ok", "degraded", "overloaded", "lost"} {
			v, ok := m[`ontime_cluster_nodes{status="`+s+`"}`]
			if !ok {
				t.Fatalf("no ontime_cluster_nodes{status=%q} on %s", s, base)
			}
			byStatus[s] = v
		}
		got := byStatus["ok"] + byStatus["degraded"] + byStatus["overloaded"]
		if got == members && byStatus["lost"] == lost && byStatus["joining"] == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ontime_cluster_nodes on %s: %v; want %v members, %v lost, none joining", base, byStatus, members, lost)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sameCounts(a, b stats.Counts) bool {
	if a.Received != b.Received || a.OnTime != b.OnTime || a.Late != b.Late || a.Dropped != b.Dropped || len(a.DroppedBy) != len(b.DroppedBy) {
		return false
	}
	for r, n := range a.DroppedBy {
		if b.DroppedBy[r] != n {
			return false
		}
	}
	return true
}

// In cluster mode the tick is the cluster's: PATCH /api/config refuses to
// change it; everything else still changes.
func TestClusterRefusesTickChange(t *testing.T) {
	url := startNATS(t)
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 0 }), NATSURL: url, NodeID: "solo"})
	code, body := patch(t, tn.srv.URL+"/api/config", `{"tickMs": 200}`, "application/json")
	if code != http.StatusBadRequest {
		t.Fatalf("PATCH tickMs: %d %v, want 400", code, body)
	}
	if f, _ := body["fields"].(map[string]any); f == nil || f["tickMs"] == nil {
		t.Fatalf("PATCH tickMs: %v, want a tickMs field error", body)
	}
	if code, body := patch(t, tn.srv.URL+"/api/config", `{"workers": 2}`, "application/json"); code != http.StatusOK {
		t.Fatalf("PATCH workers: %d %v", code, body)
	}
}

// A NATS server that cannot be reached is a clear error at start.
func TestClusterConnectFailure(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // a port nothing listens on
	_, err := New(Config{NATSURL: "nats://" + addr, NodeID: "x"}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "NATS") {
		t.Fatalf("New with an unreachable NATS: %v", err)
	}
}

// scrapeMetrics reads GET /metrics as name{labels} -> value.
func scrapeMetrics(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
