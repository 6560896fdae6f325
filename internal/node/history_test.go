package node

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/history"
)

func fetch[T any](t *testing.T, url string) T {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v T
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return v
}

type incidentList struct {
	Incidents []history.Incident `json:"incidents"`
}

// Under overload, /api/stats gives the verdict of the batch of the same
// seq, and the history records the batches the hub published: per-second
// steps of the node's load, the restart and the overload as incidents.
func TestHistoryAndOneVerdict(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) {
		s.Rate = 400
		s.Workers = 2
		s.WorkMs = 50
		s.DeadlineMs = 100
	})})
	agreed, overloaded := 0, 0
	deadline := time.Now().Add(30 * time.Second)
	for agreed < 20 || overloaded == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d snapshots matched the latest batch's seq, %d of them overloaded", agreed, overloaded)
		}
		s := tn.Snapshot()
		b := tn.hub.LatestBatch()
		if b == nil || b.Seq != s.Seq {
			time.Sleep(7 * time.Millisecond)
			continue
		}
		if s.Health.Status != b.Health.Status || s.Health.QueueDepth != b.Health.QueueDepth {
			t.Fatalf("seq %d: /api/stats health %+v, batch health %+v", s.Seq, s.Health, b.Health)
		}
		agreed++
		if s.Health.Status == batch.Overloaded {
			overloaded++
		}
		time.Sleep(37 * time.Millisecond)
	}

	var s history.Series
	for len(s.Points) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("history has %d points", len(s.Points))
		}
		time.Sleep(100 * time.Millisecond)
		s = fetch[history.Series](t, tn.srv.URL+"/api/history?range=1m")
	}
	total := tn.Snapshot().Totals
	var received, dropped uint64
	for _, p := range s.Points {
		received += p.Received
		dropped += p.Dropped
		if p.Workers != 2 || p.QueueCap != config.Defaults().QueueCap {
			t.Fatalf("point %+v: want the node's 2 workers and queue", p)
		}
	}
	if received == 0 || received > total.Received || dropped == 0 || dropped > total.Dropped {
		t.Fatalf("history received %d dropped %d, totals %+v", received, dropped, total)
	}
	in := fetch[incidentList](t, tn.srv.URL+"/api/incidents").Incidents
	last := in[len(in)-1]
	if last.Kind != history.KindRestart || last.Start != s.StartedAt {
		t.Fatalf("oldest incident %+v, want the restart at %d", last, s.StartedAt)
	}
	var health *history.Incident
	for i := range in {
		if in[i].Kind == history.KindHealth {
			health = &in[i]
		}
	}
	if health == nil || health.Status != batch.Overloaded || len(health.TopReasons) == 0 {
		t.Fatalf("incidents %+v: want an overloaded one with its drop reasons", in)
	}
}

// The page reads the same history and incidents as GET /api/history and
// /api/incidents answer.
func TestPageHistoryMatchesTheAPI(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 200; s.TickMs = 50 })})
	for deadline := time.Now().Add(10 * time.Second); len(tn.history.Series(history.Ranges()[0]).Points) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no history after 10 s")
		}
	}
	p := pageHistory{tn.history}
	got := p.Series(history.Ranges()[0])
	want := tn.history.Series(history.Ranges()[0])
	if got.Range != "1m" || got.StepMs != 1000 || len(got.Points) < len(want.Points)-1 || len(got.Points) == 0 {
		t.Fatalf("page series %+v, api series %+v", got, want)
	}
	first, wfirst := got.Points[0], want.Points[0]
	if first.T != wfirst.T || first.Received != wfirst.Received || first.OnTime != wfirst.OnTime || first.P99 != wfirst.P99 {
		t.Fatalf("first point: page %+v, api %+v", first, wfirst)
	}
	inc := p.Incidents()
	if len(inc) == 0 || inc[len(inc)-1].Kind != "restart" {
		t.Fatalf("incidents %+v: want the restart marker", inc)
	}
}
