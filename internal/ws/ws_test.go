package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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

// A client resuming from a position that is not a place in this stream
// (too old, another run or a bare seq, ahead) gets a "reset" message with
// the first position sent and why, then the newest batch; one within the
// history gets every batch after its position and no reset. A malformed
// position gets 400.
func TestResumeGetsReset(t *testing.T) {
	h, err := hub.New(hub.Config{History: 4, Encoders: newTestHubEncoders()})
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 10; seq++ {
		h.Publish(&batch.Batch{Seq: seq, StartedAt: 7}) // the history holds 7 to 10
	}
	var streams stream.Streams
	srv := httptest.NewServer(&Handler{Hub: h, Format: "json", Streams: &streams})
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	for _, c := range []struct {
		since string
		want  []string
	}{
		{"7-2", []string{`{"type":"reset","seq":10,"epoch":7,"reason":"too-old"}`, "batch 7-10"}},
		{"6-8", []string{`{"type":"reset","seq":10,"epoch":7,"reason":"another-run"}`, "batch 7-10"}},
		{"8", []string{`{"type":"reset","seq":10,"epoch":7,"reason":"another-run"}`, "batch 7-10"}},
		{"7-99", []string{`{"type":"reset","seq":10,"epoch":7,"reason":"future"}`, "batch 7-10"}},
		{"7-7", []string{"batch 7-8", "batch 7-9", "batch 7-10"}},
	} {
		conn, _, err := websocket.DefaultDialer.Dial(url+"?since="+c.since, nil)
		if err != nil {
			t.Fatalf("since=%s: %v", c.since, err)
		}
		var got []string
		for range c.want {
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, data, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("since=%s: read: %v", c.since, err)
			}
			var b batch.Batch
			if err := json.Unmarshal(data, &b); err == nil && b.StartedAt != 0 {
				got = append(got, fmt.Sprintf("batch %d-%d", b.Epoch, b.Seq))
			} else {
				got = append(got, string(data))
			}
		}
		conn.Close()
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("since=%s: %v, want %v", c.since, got, c.want)
		}
	}
	_, resp, err := websocket.DefaultDialer.Dial(url+"?since=7-x", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("since=7-x: %v %v, want 400", err, resp)
	}
	resp.Body.Close()
	h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := streams.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}
