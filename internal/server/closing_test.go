package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/web"
)

// Once the gate closes, POST and PATCH get 503 JSON with Retry-After while
// reads go on; Close waits for the write already past the gate.
func TestWriteGateRefusesWritesAtShutdown(t *testing.T) {
	h, err := hub.New(hub.Config{Encoders: map[string]hub.Encoder{FormatJSON: func(b *batch.Batch) ([]byte, error) { return json.Marshal(b) }}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	entered, release := make(chan struct{}), make(chan struct{})
	ingest := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		w.WriteHeader(http.StatusAccepted)
	})
	gate := &WriteGate{RetryAfter: 3 * time.Second}
	srv := httptest.NewServer(New(Config{Closing: gate, Ingest: ingest}, h, zeroStats{}, fixedSettings{}, web.NewRenderer(func() bool { return false })))
	defer srv.Close()

	inflight := make(chan int, 1)
	go func() {
		resp, err := http.Post(srv.URL+"/api/events", "application/json", strings.NewReader(`{"deadlineMs":100}`))
		if err != nil {
			inflight <- 0
			return
		}
		resp.Body.Close()
		inflight <- resp.StatusCode
	}()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- gate.Close(context.Background()) }()
	for !gate.isClosed() {
		time.Sleep(time.Millisecond) // Close's goroutine closes it
	}
	// Close returns only once the write past the gate ends; until then,
	// and after, every new write is refused.
	for _, req := range []struct{ method, path, ct string }{
		{http.MethodPost, "/api/events", "application/json"},
		{http.MethodPatch, "/api/config", "application/json"},
		{http.MethodPatch, "/ui/config", "application/x-www-form-urlencoded"},
	} {
		r, _ := http.NewRequest(req.method, srv.URL+req.path, strings.NewReader(`{}`))
		r.Header.Set("Content-Type", req.ct)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "3" || body.Error == "" {
			t.Errorf("%s %s during shutdown: %s, Retry-After %q, error %q; want 503, 3 and a message",
				req.method, req.path, resp.Status, resp.Header.Get("Retry-After"), body.Error)
		}
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v with a write still running", err)
	default:
	}
	resp, err := http.Get(srv.URL + "/api/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /api/stats during shutdown: %s", resp.Status)
	}
	close(release)
	if code := <-inflight; code != http.StatusAccepted {
		t.Errorf("the write past the gate got %d, want 202", code)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// Close gives up on a write that outlasts its context.
func TestWriteGateCloseIsBounded(t *testing.T) {
	g := &WriteGate{}
	if !g.enter() {
		t.Fatal("an open gate refused a write")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close: %v, want the context's error", err)
	}
	g.leave()
	if err := g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g.enter() {
		t.Fatal("a closed gate let a write in")
	}
}

// isClosed tells whether Close has begun.
func (g *WriteGate) isClosed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}
