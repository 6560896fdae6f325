package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/demoworker"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// guard bounds waits that only a bug makes long.
const guard = 20 * time.Second

// waitFor polls cond until it holds, failing the test after guard.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(guard); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("still waiting for %s after %s", what, guard)
		}
	}
}

func TestParseFlags(t *testing.T) {
	env := map[string]string{"ONTIME_WORKER_SLOTS": "4", "ONTIME_WORKER_SERVICE": "50ms"}
	o, err := parse([]string{"ontime-worker", "--slots", "16", "--dist", "uniform"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c := o.worker.Capacity; c.Slots != 16 || c.ServiceMs != 50 || c.Dist != demoworker.Uniform {
		t.Errorf("options %+v: want slots 16 (the flag wins), serviceMs 50 (env), dist uniform", o.worker.Capacity)
	}
	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--slots", "0"}, "", "--slots 0"},
		{[]string{"--service", "-1ms"}, "", "--service"},
		{[]string{"--dist", "normal"}, "", "--dist"},
		{[]string{"--fail-rate", "2"}, "", "--fail-rate 2"},
		{[]string{"--queue", "-1"}, "", "--queue -1"},
		{[]string{"--result", "xml"}, "", "--result"},
		{[]string{"--addr", "8090"}, "", "--addr"},
		{[]string{"extra"}, "", "unexpected arguments"},
		{[]string{"--slots", "many"}, "", "invalid value"},
		{nil, "lots", "ONTIME_WORKER_SLOTS"},
	} {
		var out bytes.Buffer
		_, err := parse(append([]string{"ontime-worker"}, c.args...), func(k string) string {
			if k == "ONTIME_WORKER_SLOTS" {
				return c.env
			}
			return ""
		}, &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %s: %v, want an error mentioning %q", c.args, c.env, err, c.want)
		}
	}
	if err := run(t.Context(), []string{"ontime-worker", "--fail-rate", "-1"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("run accepted --fail-rate -1")
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRun starts the command, calls it, and stops it with its context.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"ontime-worker", "--addr", "127.0.0.1:0", "--service", "1ms", "--report", "10ms"}, func(string) string { return "" }, &out)
	}()
	var url string
	waitFor(t, "the serving log line", func() bool {
		_, rest, ok := strings.Cut(out.String(), "url=")
		url, _, _ = strings.Cut(rest, " ")
		return ok
	})
	h, err := worker.New(worker.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ev := event.Event{ID: uuid.New(), Source: "test", CreatedAt: time.Now(), Deadline: 10 * time.Second}
	ctx, cancelCall := context.WithDeadline(t.Context(), ev.DeadlineAt())
	_, err = h.Process(ctx, ev)
	cancelCall()
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a summary", func() bool { return strings.Contains(out.String(), "summary") })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if !strings.Contains(out.String(), "received=1 served=1") {
		t.Errorf("log %s: want the final counts", out.String())
	}
}
