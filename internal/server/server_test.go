package server

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/coalescer"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/outcomes"
	"github.com/ontime-rt/ontime/internal/stream"
	"github.com/ontime-rt/ontime/internal/web"
)

type zeroStats struct{}

func (zeroStats) Snapshot() coalescer.Snapshot { return coalescer.Snapshot{} }

type fixedSettings struct{}

func (fixedSettings) Settings() config.Settings { return config.Settings{} }
func (fixedSettings) Apply(config.Patch) (config.Settings, error) {
	return config.Settings{}, errors.New("read only")
}

// /api/stats counts the streams ended by a panic.
func TestStatsCountStreamPanics(t *testing.T) {
	defer goleak.VerifyNone(t)
	h, err := hub.New(hub.Config{Encoders: map[string]hub.Encoder{FormatJSON: func(b *batch.Batch) ([]byte, error) { return json.Marshal(b) }}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	streams := stream.Streams{Logger: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(New(Config{Streams: &streams}, h, zeroStats{}, fixedSettings{}, web.NewRenderer(func() bool { return false })))
	defer srv.Close()

	panics := func() uint64 {
		t.Helper()
		resp, err := http.Get(srv.URL + "/api/stats")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Fanout struct {
				StreamPanics *uint64 `json:"streamPanics"`
			} `json:"fanout"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Fanout.StreamPanics == nil {
			t.Fatalf("stats: %v, fanout.streamPanics missing", err)
		}
		return *body.Fanout.StreamPanics
	}
	if n := panics(); n != 0 {
		t.Fatalf("streamPanics %d before any panic, want 0", n)
	}
	conn, client := net.Pipe()
	defer client.Close()
	streams.Go(conn, func(<-chan struct{}) { panic("stream bug") })
	if _, err := client.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read from the panicked stream: %v, want EOF", err)
	}
	if n := panics(); n != 1 {
		t.Fatalf("streamPanics %d after a panic, want 1", n)
	}
}

// GET /api/events/{id}: the outcome, in flight, 404 for an unknown id and
// 400 for one that is not a canonical UUID, all JSON.
func TestLookupOutcome(t *testing.T) {
	defer goleak.VerifyNone(t)
	h, err := hub.New(hub.Config{Encoders: map[string]hub.Encoder{FormatJSON: func(b *batch.Batch) ([]byte, error) { return json.Marshal(b) }}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	store := outcomes.New(outcomes.Config{})
	srv := httptest.NewServer(New(Config{Outcomes: store}, h, zeroStats{}, fixedSettings{}, web.NewRenderer(func() bool { return false })))
	defer srv.Close()
	done, running := uuid.New(), uuid.New()
	store.Claim(running, nil)
	created := time.UnixMilli(1_750_000_000_000)
	store.Finish(event.Result{Event: event.Event{ID: done, CreatedAt: created}, ProcessedAt: created.Add(40 * time.Millisecond),
		Status: event.OnTime, Output: []byte(`{"v":1}`)})
	get := func(path string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("%s: content type %q", path, ct)
		}
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return resp.StatusCode, body
	}
	code, body := get("/api/events/" + done.String())
	if code != 200 || body["status"] != "on-time" || body["latencyMs"] != 40.0 || body["processedAt"] != float64(created.UnixMilli()+40) || body["result"].(map[string]any)["v"] != 1.0 {
		t.Fatalf("finished: %d %v", code, body)
	}
	if code, body := get("/api/events/" + running.String()); code != 200 || body["status"] != "in-flight" || len(body) != 2 {
		t.Fatalf("in flight: %d %v", code, body)
	}
	if code, body := get("/api/events/" + uuid.NewString()); code != 404 || body["error"] == nil {
		t.Fatalf("unknown: %d %v", code, body)
	}
	for _, bad := range []string{"nope", strings.ReplaceAll(done.String(), "-", ""), "{" + done.String() + "}"} {
		if code, body := get("/api/events/" + bad); code != 400 || !strings.Contains(body["error"].(string), "not a UUID") {
			t.Fatalf("%s: %d %v", bad, code, body)
		}
	}
}
