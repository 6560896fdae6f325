package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/config"
)

// Shutdown loses nothing: with producers posting throughout, every event
// answered 202 (accepted, or dropped at submission) is counted in the last
// batch, and POST and PATCH once shutdown has begun get 503 with
// Retry-After.
func TestShutdownCountsEveryAnsweredEvent(t *testing.T) {
	tn := startNode(t, Config{WriteRate: -1, Settings: with(func(s *config.Settings) {
		s.Rate = 0
		s.TickMs = 20
		s.WorkMs = 1
		s.Workers = 2
		s.QueueCap = 32
	})})
	c := dialSSE(t, tn.srv.URL+"/api/stream", nil)
	c.nextBatch(t)

	var body strings.Builder
	for i := range 20 {
		fmt.Fprintf(&body, `{"deadlineMs": 200, "workMs": 1, "payload": {"n": %d}}`+"\n", i)
	}
	var answered atomic.Int64 // events in 202 answers: accepted + dropped
	var posts atomic.Int64
	stopWriters := make(chan struct{})
	refused := make(chan error, 5)
	var writers sync.WaitGroup
	post := func() (*http.Response, error) {
		return http.Post(tn.srv.URL+"/api/events", "application/x-ndjson", strings.NewReader(body.String()))
	}
	patchConfig := func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPatch, tn.srv.URL+"/api/config", strings.NewReader(`{"workers": 3}`))
		req.Header.Set("Content-Type", "application/json")
		return http.DefaultClient.Do(req)
	}
	for i := range 5 {
		send := post
		if i == 4 {
			send = patchConfig
		}
		writers.Go(func() {
			for {
				select {
				case <-stopWriters:
					refused <- errors.New("never refused")
					return
				default:
				}
				resp, err := send()
				if err != nil {
					refused <- err
					return
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusAccepted:
					var res struct{ Accepted, Dropped int64 }
					if err := json.Unmarshal(data, &res); err != nil {
						refused <- err
						return
					}
					answered.Add(res.Accepted + res.Dropped)
					posts.Add(1)
				case http.StatusOK:
				case http.StatusServiceUnavailable:
					var e struct{ Error string }
					if err := json.Unmarshal(data, &e); err != nil || e.Error == "" || resp.Header.Get("Retry-After") == "" {
						refused <- fmt.Errorf("503 without a JSON error or Retry-After: %q %v", data, resp.Header)
						return
					}
					refused <- nil
					return
				default:
					refused <- fmt.Errorf("%s: %s", resp.Status, data)
					return
				}
			}
		})
	}
	for posts.Load() < 20 {
		c.nextBatch(t)
	}
	tn.cancel()
	tn.cancel = nil
	<-tn.done
	var last *batch.Batch
	for {
		b, err := c.readBatch()
		if err != nil {
			break // the stream ends after the last batch
		}
		last = b
	}
	close(stopWriters)
	writers.Wait()
	for range 5 {
		if err := <-refused; err != nil {
			t.Errorf("a writer during shutdown: %v, want 503 with Retry-After", err)
		}
	}
	tn.srv.Close()
	if last == nil {
		t.Fatal("no batch after shutdown began")
	}
	if got, want := last.Totals.Received, uint64(answered.Load()); got != want || last.Totals.InFlight != 0 {
		t.Fatalf("last batch received %d (in flight %d), but %d events were answered 202: every one must count",
			got, last.Totals.InFlight, want)
	}
	if snap := tn.Snapshot().Totals; snap.Received != last.Totals.Received {
		t.Fatalf("received %d after the last batch of %d", snap.Received, last.Totals.Received)
	}
}

// Apply refuses once the node has begun to shut down, instead of changing
// a pipeline that drains.
func TestApplyRefusedAfterRun(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 0 })})
	tn.stop()
	var p config.Patch
	if err := p.Set("workers", 3); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.Apply(p); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("Apply after Run: %v, want ErrShuttingDown", err)
	}
}

// What the tick reads of the settings (every batch carries them) and of
// the generator does not wait for Apply, which holds the settings' lock
// while it reshapes the queue.
func TestTickDoesNotWaitForApply(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 100 })})
	tn.live.mu.Lock() // as Apply does, for as long as a reshape takes
	read := make(chan *config.Settings, 1)
	go func() {
		tn.generatorLateness()
		read <- tn.currentSettings()
	}()
	select {
	case s := <-read:
		if s == nil || s.Rate != 100 {
			t.Errorf("settings %+v", s)
		}
	case <-time.After(10 * time.Second):
		t.Error("the tick's reads waited for the settings' lock")
	}
	tn.live.mu.Unlock()
}
