package ws

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newTestHubEncoders() map[string]hub.Encoder {
	return map[string]hub.Encoder{"json": func(b *batch.Batch) ([]byte, error) { return json.Marshal(b) }}
}

func newTestHub(t *testing.T) *hub.Hub {
	t.Helper()
	h, err := hub.New(hub.Config{Encoders: newTestHubEncoders()})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func readSeq(t *testing.T, c *websocket.Conn) uint64 {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var b batch.Batch
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	return b.Seq
}

// The stream runs in goroutines owned by Streams, not in the handler; a
// client that leaves ends them, and closing the hub ends the others with a
// going-away close frame.
func TestStreamsOwnConnections(t *testing.T) {
	h := newTestHub(t)
	var streams stream.Streams
	srv := httptest.NewServer(&Handler{Hub: h, Format: "json", Streams: &streams})
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	leaving, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	staying, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer staying.Close()
	// Both are subscribed before their handshake completes; the handler
	// hands the connection over just after writing it.
	if h.Subscribers() != 2 {
		t.Fatalf("%d subscribers, want 2", h.Subscribers())
	}
	for wait := time.Now().Add(10 * time.Second); streams.Len() != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatalf("%d streams, want 2", streams.Len())
		}
	}
	for seq := uint64(1); seq <= 3; seq++ {
		h.Publish(&batch.Batch{Seq: seq})
	}
	for _, c := range []*websocket.Conn{leaving, staying} {
		for want := uint64(1); want <= 3; want++ {
			if got := readSeq(t, c); got != want {
				t.Fatalf("seq %d, want %d", got, want)
			}
		}
	}

	leaving.Close()
	deadline := time.Now().Add(10 * time.Second)
	for streams.Len() > 1 {
		if time.Now().After(deadline) {
			t.Fatal("the stream of a client that left is still running")
		}
		time.Sleep(5 * time.Millisecond)
	}

	h.Close()
	_ = staying.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err = staying.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("after the hub closed: %v, want close 1001", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := streams.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
