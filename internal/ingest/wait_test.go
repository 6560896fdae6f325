package ingest

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/outcomes"
	"github.com/ontime-rt/ontime/internal/pipeline"
)

// totals is the recorder standing for the node's totals: the final status
// of every event, and how many outcomes each got.
type totals struct {
	mu       sync.Mutex
	admitted int
	status   map[uuid.UUID]event.Status
	finishes map[uuid.UUID]int
}

func (c *totals) Admit(event.Event) { c.mu.Lock(); c.admitted++; c.mu.Unlock() }

func (c *totals) Finish(r event.Result) {
	c.mu.Lock()
	c.status[r.ID] = r.Status
	c.finishes[r.ID]++
	c.mu.Unlock()
}

func (c *totals) finished() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.finishes)
}

// both records into the totals first, then the outcome window, as the
// node chains them.
type both struct {
	t *totals
	s *outcomes.Store
}

func (b both) Admit(ev event.Event)  { b.t.Admit(ev); b.s.Admit(ev) }
func (b both) Finish(r event.Result) { b.t.Finish(r); b.s.Finish(r) }

type waitRig struct {
	store *outcomes.Store
	tot   *totals
	srv   *httptest.Server
}

// waitServer runs a real pipeline (simulated work) behind ingest, with the
// outcome window, until the test ends.
func waitServer(t *testing.T, pcfg pipeline.Config, work time.Duration) *waitRig {
	t.Helper()
	rig := &waitRig{store: outcomes.New(outcomes.Config{}), tot: &totals{status: map[uuid.UUID]event.Status{}, finishes: map[uuid.UUID]int{}}}
	p, err := pipeline.New(pcfg, pipeline.Sleep(pipeline.Work{Mean: work}), both{rig.tot, rig.store})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	h := New(Config{Logger: slog.New(slog.DiscardHandler), Outcomes: rig.store}, p)
	rig.srv = httptest.NewServer(h)
	t.Cleanup(func() {
		rig.srv.Close()
		cancel()
		<-done
	})
	return rig
}

// postWait posts body with wait=1 and returns the response, checked to be
// the NDJSON stream.
func postWait(t *testing.T, url, ct, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/api/events?wait=1", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("wait=1: %s %q %s", resp.Status, resp.Header.Get("Content-Type"), raw)
	}
	return resp
}

type outcomeLine struct {
	ID          uuid.UUID       `json:"id"`
	Status      event.Status    `json:"status"`
	Reason      event.Reason    `json:"reason"`
	LatencyMs   *float64        `json:"latencyMs"`
	ProcessedAt *int64          `json:"processedAt"`
	Result      json.RawMessage `json:"result"`
	Failure     string          `json:"failure"`
	Missing     []uuid.UUID     `json:"missing"`
}

// readWait reads the acceptance object and every line after it.
func readWait(t *testing.T, resp *http.Response) (Response, []outcomeLine) {
	t.Helper()
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() {
		t.Fatalf("no acceptance line: %v", sc.Err())
	}
	var acc Response
	dec := json.NewDecoder(strings.NewReader(sc.Text()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&acc); err != nil {
		t.Fatalf("acceptance %s: %v", sc.Text(), err)
	}
	var lines []outcomeLine
	for sc.Scan() {
		var l outcomeLine
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %s: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return acc, lines
}

// Every accepted event gets exactly one line, with the status the totals
// counted, whatever the body's framing; events sent without an id get one,
// listed in body order; drops and rejections get no line.
func TestWaitBodies(t *testing.T) {
	rig := waitServer(t, pipeline.Config{Workers: 2, QueueCap: 4}, 5*time.Millisecond)
	many := func(n int, withIDs bool) []string {
		var evs []string
		for i := range n {
			if withIDs && i%2 == 0 {
				evs = append(evs, `{"id":"`+uuid.NewString()+`","deadlineMs":300}`)
			} else {
				evs = append(evs, `{"deadlineMs":300,"workMs":3}`)
			}
		}
		return evs
	}
	for _, tc := range []struct{ name, ct, body string }{
		{"object", ctJSON, `{"deadlineMs":200}`},
		{"array", ctJSON, arr(append(many(20, true), `{"deadlineMs":0}`)...)},
		{"ndjson", ctNDJSON, lines(append(many(30, true), `{"bad":1}`)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc, got := readWait(t, postWait(t, rig.srv.URL, tc.ct, tc.body))
			if acc.Accepted == 0 || len(acc.IDs) != acc.Accepted {
				t.Fatalf("acceptance %+v: want ids for every accepted event", acc)
			}
			if tc.name != "object" && (acc.RejectedCount != 1 || acc.Dropped == 0) {
				t.Fatalf("acceptance %+v: want one rejection and drops (queue of 4)", acc)
			}
			seen := map[uuid.UUID]bool{}
			for _, l := range got {
				if l.Missing != nil {
					t.Fatalf("missing line %v: every event here finishes within its deadline", l.Missing)
				}
				if seen[l.ID] {
					t.Fatalf("two lines for %s", l.ID)
				}
				seen[l.ID] = true
				rig.tot.mu.Lock()
				want, n := rig.tot.status[l.ID], rig.tot.finishes[l.ID]
				rig.tot.mu.Unlock()
				if n != 1 || l.Status != want || l.LatencyMs == nil || l.ProcessedAt == nil {
					t.Fatalf("line %+v: totals counted %q (%d outcomes)", l, want, n)
				}
			}
			for _, id := range acc.IDs {
				if !seen[id] {
					t.Fatalf("accepted %s got no line", id)
				}
			}
			if len(got) != acc.Accepted {
				t.Fatalf("%d lines for %d accepted events", len(got), acc.Accepted)
			}
		})
	}
}

// The acceptance object's ids follow the body, with the ids sent kept
// and new ones for events that had none.
func TestWaitIDsInBodyOrder(t *testing.T) {
	rig := waitServer(t, pipeline.Config{Workers: 4, QueueCap: 64}, time.Millisecond)
	a, b := uuid.New(), uuid.New()
	body := lines(`{"id":"`+a.String()+`","deadlineMs":500}`, `{"deadlineMs":500}`, `{"id":"`+b.String()+`","deadlineMs":500}`)
	acc, got := readWait(t, postWait(t, rig.srv.URL, ctNDJSON, body))
	if len(acc.IDs) != 3 || acc.IDs[0] != a || acc.IDs[2] != b || acc.IDs[1] == uuid.Nil || acc.IDs[1] == a || acc.IDs[1] == b {
		t.Fatalf("ids %v, want [%s, new, %s]", acc.IDs, a, b)
	}
	if len(got) != 3 {
		t.Fatalf("%d lines", len(got))
	}
}

// An id seen within the window is rejected as a duplicate, alone: in
// another request, with or without wait, and in a batch.
func TestDuplicateIDs(t *testing.T) {
	rig := waitServer(t, pipeline.Config{Workers: 4, QueueCap: 64}, time.Millisecond)
	a := uuid.New()
	acc, _ := readWait(t, postWait(t, rig.srv.URL, ctJSON, `{"id":"`+a.String()+`","deadlineMs":100}`))
	if acc.Accepted != 1 {
		t.Fatalf("first post: %+v", acc)
	}
	code, res := post(t, rig.srv, ctJSON, strings.NewReader(`{"id":"`+a.String()+`","deadlineMs":100}`))
	if code != http.StatusBadRequest || !strings.Contains(res.Error, "duplicate id") {
		t.Fatalf("second post: %d %+v", code, res)
	}
	c := uuid.New()
	acc, got := readWait(t, postWait(t, rig.srv.URL, ctNDJSON, lines(`{"id":"`+a.String()+`","deadlineMs":100}`, `{"id":"`+c.String()+`","deadlineMs":100}`)))
	if acc.Accepted != 1 || acc.RejectedCount != 1 || acc.Rejected[0].Index != 0 || !strings.Contains(acc.Rejected[0].Error, "duplicate id: "+a.String()) {
		t.Fatalf("batch with a seen id: %+v", acc)
	}
	if len(got) != 1 || got[0].ID != c {
		t.Fatalf("lines %+v, want c's only", got)
	}
	rig.tot.mu.Lock()
	n := rig.tot.finishes[a]
	rig.tot.mu.Unlock()
	if n != 1 {
		t.Fatalf("the duplicated id was processed %d times", n)
	}
}

// A producer that leaves early, while its events are still being
// processed, changes nothing: every accepted event still ends once, in the
// totals and in the window, and the handler lets go of its waiter.
func TestWaitEarlyDisconnect(t *testing.T) {
	rig := waitServer(t, pipeline.Config{Workers: 2, QueueCap: 64}, 100*time.Millisecond)
	var evs []string
	for range 10 {
		evs = append(evs, `{"deadlineMs":5000}`)
	}
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rig.srv.URL+"/api/events?wait=1", strings.NewReader(lines(evs...)))
	req.Header.Set("Content-Type", ctNDJSON)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var acc Response
	if err := json.Unmarshal([]byte(line), &acc); err != nil || acc.Accepted != 10 {
		t.Fatalf("acceptance %s: %v", line, err)
	}
	// Gone while the events are queued or running (10 x 100 ms on 2 workers).
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for rig.tot.finished() < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 10 events finished", rig.tot.finished())
		}
		time.Sleep(10 * time.Millisecond)
	}
	rig.tot.mu.Lock()
	for _, id := range acc.IDs {
		if rig.tot.finishes[id] != 1 || rig.tot.status[id] != event.OnTime {
			t.Errorf("event %s: %d outcomes, %q", id, rig.tot.finishes[id], rig.tot.status[id])
		}
	}
	rig.tot.mu.Unlock()
	for _, id := range acc.IDs {
		if o, ok := rig.store.Lookup(id); !ok || !o.Final || o.Status != event.OnTime {
			t.Errorf("lookup %s after the connection: %+v %v", id, o, ok)
		}
	}
}

// never accepts every event and never finishes one: what a cluster looks
// like when the node that took the events is lost.
type never struct{}

func (never) Submit(event.Event) (bool, event.Reason) { return true, event.ReasonNone }

// Outcomes that never come end the response at the latest deadline plus
// the grace, with the ids still missing, in body order; a window that
// closes (the node stops) ends it at once the same way.
func TestWaitMissing(t *testing.T) {
	store := outcomes.New(outcomes.Config{})
	h := New(Config{Logger: slog.New(slog.DiscardHandler), Outcomes: store, WaitGrace: 50 * time.Millisecond}, never{})
	srv := httptest.NewServer(h)
	defer srv.Close()
	start := time.Now()
	acc, got := readWait(t, postWait(t, srv.URL, ctNDJSON, lines(`{"deadlineMs":20}`, `{"deadlineMs":80}`)))
	if took := time.Since(start); took < 130*time.Millisecond {
		t.Fatalf("ended after %v, before the latest deadline (80 ms) plus the grace (50 ms)", took)
	}
	if len(got) != 1 || len(got[0].Missing) != 2 || got[0].Missing[0] != acc.IDs[0] || got[0].Missing[1] != acc.IDs[1] {
		t.Fatalf("lines %+v, want one missing line with %v", got, acc.IDs)
	}

	resp := postWait(t, srv.URL, ctJSON, `{"deadlineMs":60000}`)
	r := bufio.NewReader(resp.Body)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	store.Close()
	line, err := r.ReadString('\n')
	resp.Body.Close()
	if err != nil || !strings.HasPrefix(line, `{"missing":["`) {
		t.Fatalf("after Close: %q %v", line, err)
	}
}

// wait takes 1 or 0; anything else, or wait on a server without an outcome
// window, is a 400 before the body is read.
func TestWaitParam(t *testing.T) {
	rig := waitServer(t, pipeline.Config{}, time.Millisecond)
	_, plain := serve(t, Config{}, &recorder{})
	for _, tc := range []struct {
		url, want string
	}{
		{rig.srv.URL + "/api/events?wait=yes", `wait must be 1 or 0, got \"yes\"`},
		{plain.URL + "/api/events?wait=1", "wait is not available"},
	} {
		resp, err := http.Post(tc.url, ctJSON, strings.NewReader(`{"deadlineMs":100}`))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(raw), tc.want) {
			t.Errorf("%s: %d %s", tc.url, resp.StatusCode, raw)
		}
	}
	if rig.tot.finished() != 0 {
		t.Fatal("a refused request submitted events")
	}
	// wait=0 is the plain 202.
	code, res := post(t, rig.srv, ctJSON, strings.NewReader(`{"deadlineMs":100}`))
	if code != http.StatusAccepted || res.Accepted != 1 || len(res.IDs) != 1 {
		t.Fatalf("without wait: %d %+v", code, res)
	}
}
