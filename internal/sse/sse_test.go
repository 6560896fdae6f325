package sse

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/hub"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A quiet stream gets heartbeat comments; a busy one does not need them.
func TestHeartbeatOnlyWhenQuiet(t *testing.T) {
	h, err := hub.New(hub.Config{Encoders: map[string]hub.Encoder{"sse": EncodeBatch}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(&Handler{Hub: h, Format: "sse", Heartbeat: 200 * time.Millisecond})
	defer srv.Close()
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	// Quiet: a heartbeat comes.
	for l := range lines {
		if strings.HasPrefix(l, ": heartbeat") {
			break
		}
	}
	// Busy: batches every 5 ms for 600 ms, no heartbeat among them.
	done := time.After(600 * time.Millisecond)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	seq := uint64(0)
	heartbeats, batches := 0, 0
	for busy := true; busy; {
		select {
		case <-done:
			busy = false
		case <-tick.C:
			seq++
			h.Publish(&batch.Batch{Seq: seq})
		case l := <-lines:
			switch {
			case strings.HasPrefix(l, ": heartbeat"):
				heartbeats++
			case l == "event: batch":
				batches++
			}
		}
	}
	if batches == 0 || heartbeats > 0 {
		t.Fatalf("busy stream: %d batches, %d heartbeats; want batches and no heartbeat", batches, heartbeats)
	}
	cancel()
	for range lines {
	}
}
