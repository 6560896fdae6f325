package node

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/natstest"
	"github.com/ontime-rt/ontime/internal/worker"
)

// natsWorker subscribes a worker to subject in a queue group on its own
// connection: it answers each event with {"echo": id, "by": name}.
func natsWorker(t *testing.T, url, subject, name string, calls *atomic.Int64) *nats.Subscription {
	t.Helper()
	nc := natstest.Connect(t, url)
	sub, err := nc.QueueSubscribe(subject, "ontime-workers", func(m *nats.Msg) {
		calls.Add(1)
		var ev worker.Request
		if err := json.Unmarshal(m.Data, &ev); err != nil || m.Header.Get(worker.HeaderEventID) != ev.ID || m.Header.Get(worker.HeaderTimeout) == "" {
			m.RespondMsg(&nats.Msg{Header: nats.Header{worker.HeaderErrorCode: {"400"}}})
			return
		}
		m.Respond([]byte(`{"echo":"` + ev.ID + `","by":"` + name + `"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return sub
}

// nextEvent reads batches until one has an event that match accepts.
func nextEvent(t *testing.T, c *sseClient, what string, match func(batch.Event) bool) (batch.Event, *batch.Batch) {
	t.Helper()
	for range 200 {
		b := c.nextBatch(t)
		for _, e := range b.Events {
			if match(e) {
				return e, b
			}
		}
	}
	t.Fatalf("no %s in 200 batches", what)
	return batch.Event{}, nil
}

// A node in cluster mode with the nats processor sends every event as a
// request to the workers on its subject: answers reach the batches as
// results, the limit adapts, "no responders" fails events as no-worker,
// and the subject changes live.
func TestNATSWorker(t *testing.T) {
	url := startNATS(t)
	var calls atomic.Int64
	sub := natsWorker(t, url, "ontime.work", "w1", &calls)

	tn := startNode(t, Config{NATSURL: url, NodeID: "solo", Settings: with(func(s *config.Settings) {
		s.Rate, s.TickMs, s.DeadlineMs = 200, 50, 500
		s.Processor, s.Concurrency = config.NATS, config.DefaultConcurrency(config.NATS)
	})})
	c := dialSSE(t, tn.srv.URL+"/api/stream", nil)
	answered, b := nextEvent(t, c, "event with a result", func(e batch.Event) bool { return e.Status == event.OnTime && e.Result != nil })
	if want := `{"echo":"` + answered.ID + `","by":"w1"}`; string(answered.Result) != want {
		t.Fatalf("event %s has result %s, want %s", answered.ID, answered.Result, want)
	}
	if b.Config == nil || b.Config.Processor != "nats" || b.Config.WorkerSubject != "ontime.work" || b.Config.Concurrency != "adaptive" {
		t.Fatalf("batch config %+v", b.Config)
	}
	for i := 0; b.Health.CallBestMs == 0 && i < 100; i++ {
		b = c.nextBatch(t)
	}
	if h := b.Health; h.Limit < 1 || h.Limit > h.Workers || h.CallP50Ms <= 0 || h.CallBestMs <= 0 || h.CallP99Ms < h.CallP50Ms {
		t.Fatalf("health %+v: want a limit in [1, workers] and call latencies", h)
	}

	// The worker leaves: no responders, each event dropped as failed,
	// kind no-worker.
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	failed, _ := nextEvent(t, c, "failed event", func(e batch.Event) bool { return e.Status == event.Dropped && e.Reason == event.Failed })
	if failed.Failure != worker.KindNoWorker || failed.Result != nil {
		t.Fatalf("failed event %+v: want failure no-worker and no result", failed)
	}

	// Another subject, live: its worker answers.
	var other atomic.Int64
	natsWorker(t, url, "jobs.resize", "w2", &other)
	code, got := patch(t, tn.srv.URL+"/api/config", `{"workerSubject": "jobs.resize"}`, "application/json")
	if code != http.StatusOK || got["workerSubject"] != "jobs.resize" {
		t.Fatalf("PATCH workerSubject: %d %v", code, got)
	}
	nextEvent(t, c, "result from the new subject", func(e batch.Event) bool {
		return e.Status == event.OnTime && strings.HasSuffix(string(e.Result), `"by":"w2"}`)
	})
	// A subject that is no subject is refused, naming the field.
	code, got = patch(t, tn.srv.URL+"/api/config", `{"workerSubject": "jobs.*"}`, "application/json")
	if fields, _ := got["fields"].(map[string]any); code != http.StatusBadRequest || !strings.Contains(str(fields["workerSubject"]), "no wildcards") {
		t.Fatalf("PATCH a wildcard subject: %d %v", code, got)
	}

	tn.stop()
	tot := tn.Snapshot().Totals
	if tot.InFlight != 0 || tot.Received != tot.OnTime+tot.Late+tot.Dropped || tot.FailedBy[worker.KindNoWorker] < 1 || tot.FailedBy[worker.KindNoWorker] > tot.DroppedBy[event.Failed] {
		t.Fatalf("totals %+v: every event once, every failure with its kind", tot)
	}
	if n := calls.Load() + other.Load(); n == 0 || n > int64(tot.Received) {
		t.Fatalf("%d calls for %d events", n, tot.Received)
	}
}

// Without NATS there is no nats processor: New refuses it, and so does a
// PATCH, naming the processor and changing nothing.
func TestNATSWorkerNeedsCluster(t *testing.T) {
	_, err := New(Config{Settings: with(func(s *config.Settings) { s.Processor = config.NATS })}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "processor: nats needs cluster mode") {
		t.Fatalf("New with nats and no --nats: %v", err)
	}
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 0 })})
	code, got := patch(t, tn.srv.URL+"/api/config", `{"processor": "nats"}`, "application/json")
	fields, _ := got["fields"].(map[string]any)
	if code != http.StatusBadRequest || !strings.Contains(str(fields["processor"]), "--nats") {
		t.Fatalf("PATCH nats on a single node: %d %v", code, got)
	}
	if s := tn.Settings(); s.Processor != "sleep" || s.Concurrency != "fixed" {
		t.Fatalf("a refused PATCH changed the settings: %+v", s)
	}
}
