package node

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/event"
)

// A node with the http processor sends every event to the worker: answers
// reach the batches as results, failures are dropped with their kind and
// counted in /api/stats, and the limit and call latency are in health.
func TestHTTPWorker(t *testing.T) {
	var calls, failing atomic.Int64
	w := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var ev struct {
			ID         string  `json:"id"`
			DeadlineMs float64 `json:"deadlineMs"`
		}
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || r.Header.Get("Ontime-Event-Id") != ev.ID {
			http.Error(rw, "bad call", http.StatusBadRequest)
			return
		}
		if failing.Load() == 1 {
			http.Error(rw, "overloaded", http.StatusServiceUnavailable)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write([]byte(`{"echo":"` + ev.ID + `"}`))
	}))
	defer w.Close()

	tn := startNode(t, Config{Settings: with(func(s *config.Settings) {
		s.Rate, s.TickMs, s.DeadlineMs = 200, 50, 500
		s.Processor, s.WorkerURL, s.Concurrency = config.HTTP, w.URL+"/work", config.DefaultConcurrency(config.HTTP)
	})})
	c := dialSSE(t, tn.srv.URL+"/api/stream", nil)
	var answered *batch.Event
	var b *batch.Batch
	for i := 0; answered == nil; i++ {
		if i == 200 {
			t.Fatal("no event with a result in 200 batches")
		}
		b = c.nextBatch(t)
		for _, e := range b.Events {
			if e.Status == event.OnTime && e.Result != nil {
				answered = &e
				break
			}
		}
	}
	if string(answered.Result) != `{"echo":"`+answered.ID+`"}` {
		t.Fatalf("event %s has result %s, want its echo", answered.ID, answered.Result)
	}
	if b.Config == nil || b.Config.Processor != "http" || b.Config.WorkerURL != w.URL+"/work" || b.Config.Concurrency != "adaptive" {
		t.Fatalf("batch config %+v", b.Config)
	}
	// The controller learns the worker's best latency once a window of
	// calls has completed.
	for i := 0; b.Health.CallBestMs == 0 && i < 100; i++ {
		b = c.nextBatch(t)
	}
	if h := b.Health; h.Limit < 1 || h.Limit > h.Workers || h.CallP50Ms <= 0 || h.CallBestMs <= 0 || h.CallP99Ms < h.CallP50Ms {
		t.Fatalf("health %+v: want a limit in [1, workers] and call latencies", h)
	}

	// The worker fails: events are dropped as failed, kind http-503.
	failing.Store(1)
	var failed *batch.Event
	for i := 0; failed == nil; i++ {
		if i == 200 {
			t.Fatal("no failed event in 200 batches")
		}
		for _, e := range c.nextBatch(t).Events {
			if e.Status == event.Dropped && e.Reason == event.Failed {
				failed = &e
				break
			}
		}
	}
	if failed.Failure != "http-503" || failed.Result != nil {
		t.Fatalf("failed event %+v: want failure http-503 and no result", failed)
	}
	req, _ := http.NewRequest(http.MethodGet, tn.srv.URL+"/api/stats", nil)
	_, stats := getJSON(t, req)
	by, _ := stats["totals"].(map[string]any)["failedBy"].(map[string]any)
	if by["http-503"] == nil || by["http-503"].(float64) < 1 {
		t.Fatalf("/api/stats totals: %v, want failedBy http-503", stats["totals"])
	}

	// Back to simulated work, live: the worker is no longer called, and
	// the concurrency stays what it was (a patch changes what it names).
	code, got := patch(t, tn.srv.URL+"/api/config", `{"processor": "sleep", "workMs": 5}`, "application/json")
	if code != http.StatusOK || got["concurrency"] != "adaptive" {
		t.Fatalf("PATCH to sleep: %d %v", code, got)
	}
	tn.stop()
	tot := tn.Snapshot().Totals
	if tot.InFlight != 0 || tot.Received != tot.OnTime+tot.Late+tot.Dropped || tot.FailedBy["http-503"] != tot.DroppedBy[event.Failed] {
		t.Fatalf("totals %+v: every event once, every failure with its kind", tot)
	}
	if calls.Load() == 0 || calls.Load() > int64(tot.Received) {
		t.Fatalf("%d calls for %d events", calls.Load(), tot.Received)
	}
}

// Switching to http live needs a worker URL; the refusal names it and
// changes nothing.
func TestHTTPWorkerNeedsURL(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 0 })})
	code, got := patch(t, tn.srv.URL+"/api/config", `{"processor": "http"}`, "application/json")
	fields, _ := got["fields"].(map[string]any)
	if code != http.StatusBadRequest || !strings.Contains(str(fields["workerUrl"]), "required with processor http") {
		t.Fatalf("PATCH http without URL: %d %v", code, got)
	}
	if s := tn.Settings(); s.Processor != "sleep" || s.Concurrency != "fixed" {
		t.Fatalf("a refused PATCH changed the settings: %+v", s)
	}
}

func str(v any) string { s, _ := v.(string); return s }
