package server

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/coalescer"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/hub"
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
