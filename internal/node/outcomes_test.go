package node

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/ontime-rt/ontime/internal/config"
)

// waitLines posts body (NDJSON) to base with wait=1 and returns the
// acceptance object and the outcome lines.
func waitLines(t *testing.T, base, body string) (map[string]any, []map[string]any) {
	t.Helper()
	resp, err := http.Post(base+"/api/events?wait=1", "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("wait=1: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	var acc map[string]any
	var lines []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %s: %v", sc.Text(), err)
		}
		if acc == nil {
			acc = m
			continue
		}
		lines = append(lines, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return acc, lines
}

func ndjson(n int, event string) string {
	return strings.Repeat(event+"\n", n)
}

// checkLines checks that every accepted id has exactly one outcome line and
// no line is missing, and returns the lines by id.
func checkLines(t *testing.T, acc map[string]any, lines []map[string]any) map[string]map[string]any {
	t.Helper()
	ids, _ := acc["ids"].([]any)
	if len(ids) == 0 || float64(len(ids)) != acc["accepted"] {
		t.Fatalf("acceptance %v", acc)
	}
	byID := make(map[string]map[string]any, len(lines))
	for _, l := range lines {
		if l["missing"] != nil {
			t.Fatalf("missing outcomes: %v", l["missing"])
		}
		id, _ := l["id"].(string)
		if byID[id] != nil {
			t.Fatalf("two lines for %s", id)
		}
		byID[id] = l
	}
	for _, id := range ids {
		if byID[id.(string)] == nil {
			t.Fatalf("accepted %s has no line (%d lines for %d ids)", id, len(lines), len(ids))
		}
	}
	if len(lines) != len(ids) {
		t.Fatalf("%d lines for %d ids", len(lines), len(ids))
	}
	return byID
}

// A single node: wait=1 answers every outcome, GET /api/events/{id} finds
// each, and a second post of the same id is a duplicate.
func TestWaitAndLookup(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 0; s.WorkMs = 2; s.QueueCap = 256 })})
	acc, lines := waitLines(t, tn.srv.URL, ndjson(50, `{"deadlineMs":1000}`))
	byID := checkLines(t, acc, lines)
	for id, l := range byID {
		code, body := getJSON(t, mustReq(t, http.MethodGet, tn.srv.URL+"/api/events/"+id))
		if code != http.StatusOK || body["status"] != l["status"] || body["processedAt"] != l["processedAt"] {
			t.Fatalf("lookup %s: %d %v, line %v", id, code, body, l)
		}
	}
	var one string
	for id := range byID {
		one = id
		break
	}
	resp, err := http.Post(tn.srv.URL+"/api/events", "application/json", strings.NewReader(fmt.Sprintf(`{"id":%q,"deadlineMs":100}`, one)))
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(fmt.Sprint(res["error"]), "duplicate id") {
		t.Fatalf("repeated id: %d %v", resp.StatusCode, res)
	}
	if code, _ := getJSON(t, mustReq(t, http.MethodGet, tn.srv.URL+"/api/events/00000000-0000-4000-8000-000000000001")); code != http.StatusNotFound {
		t.Fatalf("unknown id: %d", code)
	}
	if code, _ := getJSON(t, mustReq(t, http.MethodGet, tn.srv.URL+"/api/events/x")); code != http.StatusBadRequest {
		t.Fatalf("malformed id: %d", code)
	}
}

func mustReq(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// Three nodes: events posted with wait=1 to one node are processed on all
// three, and every outcome comes back to the node that took the request,
// for its wait and its lookups.
func TestClusterOutcomesReachOrigin(t *testing.T) {
	url := startNATS(t)
	ids := []string{"a", "b", "c"}
	nodes := make(map[string]*testNode, len(ids))
	for _, id := range ids {
		nodes[id] = startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 0; s.Workers = 4; s.WorkMs = 5; s.QueueCap = 512 }), NATSURL: url, NodeID: id})
	}
	// Every node runs (its bus, Merger and router subscribed) once the
	// batches merge all three.
	c := dialSSE(t, nodes["a"].srv.URL+"/api/stream", nil)
	for i := 0; ; i++ {
		if i == 100 {
			t.Fatal("three members never listed in the batches")
		}
		if members(c.nextBatch(t)) == 3 {
			break
		}
	}
	acc, lines := waitLines(t, nodes["a"].srv.URL, ndjson(300, `{"deadlineMs":3000}`))
	byID := checkLines(t, acc, lines)
	for _, id := range ids[1:] {
		if nodes[id].Snapshot().Totals.Finished() == 0 {
			t.Errorf("node %s processed none of the events", id)
		}
	}
	if n := nodes["a"].Snapshot().Totals.Received; n != 0 {
		t.Errorf("node a processed %d of the events it took; it has peers", n)
	}
	a := nodes["a"].OutcomeStats()
	routed := nodes["b"].OutcomeStats().Routed + nodes["c"].OutcomeStats().Routed
	if a.Received == 0 || a.Received != routed || a.Malformed != 0 {
		t.Fatalf("a received %+v, b and c routed %d", a, routed)
	}
	if a.Routed != 0 {
		t.Fatalf("a routed %d outcomes of its own events", a.Routed)
	}
	// Another node knows only the events it processed. (Asked first: the
	// window keeps 60 s, and on a loaded machine the lookups below take a
	// while.)
	known := 0
	for id := range byID {
		if code, _ := getJSON(t, mustReq(t, http.MethodGet, nodes["b"].srv.URL+"/api/events/"+id)); code == http.StatusOK {
			known++
		}
	}
	bFinished := nodes["b"].Snapshot().Totals.Finished()
	if uint64(known) != uint64(bFinished) {
		t.Fatalf("b answers %d lookups, processed %d events", known, bFinished)
	}
	for id := range byID {
		if code, body := getJSON(t, mustReq(t, http.MethodGet, nodes["a"].srv.URL+"/api/events/"+id)); code != http.StatusOK || body["status"] == "in-flight" {
			t.Fatalf("lookup on a of %s: %d %v", id, code, body)
		}
	}
	t.Logf("a received %d outcomes in %d+%d messages", a.Received, nodes["b"].OutcomeStats().Published, nodes["c"].OutcomeStats().Published)
}
