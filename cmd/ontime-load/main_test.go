package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/node"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startNode runs a node with a fast tick behind a real HTTP server until the
// test ends, and returns the server's URL.
func startNode(t *testing.T) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	// Registered before the node's cleanup, so it runs after it: stopping
	// the node closes the hub, which ends every stream; then the HTTP
	// server has nothing left to wait for.
	t.Cleanup(srv.Close)
	srv.Config.Handler = runNode(t, node.Config{}, nil).Handler()
	srv.Start()
	return srv.URL
}

// runNode runs a node with a fast tick, and cfg's other fields, on ln (nil:
// serving nothing itself) until the test ends.
func runNode(t *testing.T, cfg node.Config, ln net.Listener) *node.Node {
	t.Helper()
	cfg.Settings = config.Defaults()
	cfg.Settings.Rate, cfg.Settings.TickMs = 100, 20
	n, err := node.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node.Run: %v", err)
		}
	})
	return n
}

// runLoad runs the command and decodes its summary.
func runLoad(t *testing.T, args ...string) (summary, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), append([]string{"ontime-load"}, args...), &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	var s summary
	if stdout.Len() == 0 {
		return s, err
	}
	out := stdout.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("summary is not one line: %q", out)
	}
	t.Logf("summary: %s", out)
	if jerr := json.Unmarshal(stdout.Bytes(), &s); jerr != nil {
		t.Fatalf("summary is not JSON: %v: %q", jerr, out)
	}
	return s, err
}

func TestNormalRun(t *testing.T) {
	url := startNode(t)
	// --pid names this test process: any live process will do to exercise
	// the /proc sampling.
	s, err := runLoad(t, "--url", url, "--sse", "5", "--ws", "5", "--slow", "2", "--ramp", "0",
		"--duration", "1s", "--pid", strconv.Itoa(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	if s.Mode != "normal" || s.Connected != 10 || s.SlowConnected != 2 || s.FailedConnects != 0 || s.Disconnects != 0 {
		t.Fatalf("connections: %+v", s)
	}
	if s.TickMs != 20 {
		t.Errorf("tickMs %d, want 20", s.TickMs)
	}
	// Wall-clock ratios: loose bounds, the machine may be busy.
	if s.ReceivedRatio == nil || *s.ReceivedRatio < 0.9 || *s.MinReceivedRatio < 0.8 || *s.MinPerClient == 0 {
		t.Errorf("received: ratio %v min %v minPerClient %v", deref(s.ReceivedRatio), deref(s.MinReceivedRatio), deref(s.MinPerClient))
	}
	if s.BatchesMade == nil || *s.BatchesMade < *s.MinPerClient || *s.BatchesMade > s.BatchesReceived {
		t.Errorf("batches made %v, min per client %v", deref(s.BatchesMade), deref(s.MinPerClient))
	}
	if s.Gaps != 0 || s.Missed != 0 || s.Backwards != 0 {
		t.Errorf("gaps %d missed %d backwards %d, want none", s.Gaps, s.Missed, s.Backwards)
	}
	// Counted in seq, every reading client got every batch of the span.
	if s.SpanBatches == nil || s.DeliveredRatio == nil || s.MinDeliveredRatio == nil ||
		*s.SpanBatches < 10 || *s.DeliveredRatio != 1 || *s.MinDeliveredRatio != 1 {
		t.Errorf("delivered: span %v ratio %v min %v, want every batch", deref(s.SpanBatches), deref(s.DeliveredRatio), deref(s.MinDeliveredRatio))
	}
	if s.LagMs.Count != s.BatchesReceived || s.LagMs.Max < s.LagMs.P99 || s.LagMs.P99 < s.LagMs.P50 {
		t.Errorf("lag %+v for %d batches", s.LagMs, s.BatchesReceived)
	}
	if s.Server == nil || s.Server.RSSStartKiB <= 0 || s.Server.RSSPeakKiB < s.Server.RSSEndKiB || s.Server.CPUSeconds < 0 {
		t.Errorf("server %+v", s.Server)
	}
	if s.Churn != nil {
		t.Errorf("churn section in normal mode: %+v", s.Churn)
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestChurn(t *testing.T) {
	url := startNode(t)
	start := time.Now()
	s, err := runLoad(t, "--url", url, "--mode", "churn", "--sse", "2", "--ws", "2", "--cycles", "24", "--duration", "20s")
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("24 cycles took %s: the run should end when they are done", took)
	}
	if s.Churn == nil || s.Churn.Cycles+s.Churn.Errors != 24 || s.Churn.Errors != 0 {
		t.Fatalf("churn %+v, want 24 cycles without errors", s.Churn)
	}
	if s.Connected != 4 || s.BatchesReceived < 24*churnBatches {
		t.Errorf("connected %d, batches %d", s.Connected, s.BatchesReceived)
	}
	// Every cycle resumes after the last seq it saw: nothing is lost
	// between connections.
	if s.Gaps != 0 || s.Missed != 0 || s.Backwards != 0 {
		t.Errorf("gaps %d missed %d backwards %d across reconnections", s.Gaps, s.Missed, s.Backwards)
	}
	if s.ReceivedRatio != nil {
		t.Errorf("received ratio %v in churn mode", *s.ReceivedRatio)
	}
}

func TestNeverRead(t *testing.T) {
	url := startNode(t)
	s, err := runLoad(t, "--url", url, "--mode", "never-read", "--sse", "3", "--ws", "3", "--duration", "300ms")
	if err != nil {
		t.Fatal(err)
	}
	if s.Connected != 6 || s.FailedConnects != 0 || s.BatchesReceived != 0 {
		t.Fatalf("%+v", s)
	}
}

func TestNoServer(t *testing.T) {
	// A port nobody listens on: take one and give it back.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, err := runLoad(t, "--url", "http://"+addr, "--sse", "1", "--ws", "1", "--duration", "100ms")
	if err == nil || !strings.Contains(err.Error(), "no client could connect") {
		t.Fatalf("err %v, want no client could connect", err)
	}
	if s.FailedConnects != 2 || s.FirstError == "" || s.Connected != 0 {
		t.Fatalf("summary %+v", s)
	}
}

func TestInterrupt(t *testing.T) {
	url := startNode(t)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	var stdout bytes.Buffer
	start := time.Now()
	if err := run(ctx, []string{"ontime-load", "--url", url, "--sse", "2", "--ws", "2", "--duration", "1m"}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("interrupted run took %s", took)
	}
	var s summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil || !s.Interrupted || s.Connected != 4 {
		t.Fatalf("summary %q (%v)", stdout.String(), err)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--sse", "-1"},
		{"--ws", "-5"},
		{"--slow", "-1"},
		{"--sse", "200000"},
		{"--sse", "0", "--ws", "0"},
		{"--mode", "sometimes"},
		{"--url", "ftp://127.0.0.1"},
		{"--url", "http://"},
		{"--url", "127.0.0.1:8080"},
		{"--url", "http://127.0.0.1:8080/?x=1"},
		{"--url", "http://[::1"},
		{"--duration", "0s"},
		{"--duration", "-1s"},
		{"--ramp", "-1"},
		{"--cycles", "10"},
		{"--mode", "churn", "--cycles", "-1"},
		{"--mode", "never-read", "--slow", "3"},
		{"--pid", "-2"},
		{"--no-such-flag"},
		{"--sse", "ten"},
		{"extra"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(t.Context(), append([]string{"ontime-load"}, args...), &stdout, &stderr)
		var usage usageError
		if !errors.As(err, &usage) {
			t.Errorf("%q: err %v, want a usage error", args, err)
			continue
		}
		if stdout.Len() != 0 {
			t.Errorf("%q: wrote %q to stdout", args, stdout.String())
		}
	}
	var stderr bytes.Buffer
	if err := run(t.Context(), []string{"ontime-load", "-h"}, io.Discard, &stderr); !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "--sse") && !strings.Contains(stderr.String(), "-sse") {
		t.Errorf("-h: %v, %q", err, stderr.String())
	}
	// A --pid that names no process fails before any client connects.
	if _, err := runLoad(t, "--pid", "999999999", "--duration", "1s"); err == nil || !strings.Contains(err.Error(), "--pid") {
		t.Errorf("--pid of no process: %v", err)
	}
}

func TestURLs(t *testing.T) {
	o, err := parse([]string{"x", "--url", "https://example.com/ontime/"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := o.streamURL(), "https://example.com/ontime/api/stream?events=0"; got != want {
		t.Errorf("stream URL %q, want %q", got, want)
	}
	if got, want := o.wsURL(), "wss://example.com/ontime/ws?events=0"; got != want {
		t.Errorf("ws URL %q, want %q", got, want)
	}
	o, err = parse([]string{"x", "--events"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := o.wsURL(), "ws://127.0.0.1:8080/ws"; got != want {
		t.Errorf("ws URL with events %q, want %q", got, want)
	}
	if got, want := hostPort(o.base), "127.0.0.1:8080"; got != want {
		t.Errorf("hostPort %q", got)
	}
}

func TestLayoutInterleaves(t *testing.T) {
	cs := layout(options{sse: 4, ws: 2, slow: 3, mode: modeNormal})
	var got strings.Builder
	for i := range cs {
		switch c := &cs[i]; {
		case c.slow:
			got.WriteString("x")
		case c.kind == kindWS:
			got.WriteString("W")
		default:
			got.WriteString("S")
		}
	}
	// 4 SSE, 2 WS and 3 slow, spread evenly.
	if g := got.String(); strings.Count(g, "S") != 4 || strings.Count(g, "W") != 2 || strings.Count(g, "x") != 3 || strings.Contains(g, "SS") || strings.Contains(g, "xx") {
		t.Errorf("layout %q", g)
	}
}
