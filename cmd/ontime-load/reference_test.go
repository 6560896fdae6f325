package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// startReference serves the reference stream with period on a free port
// until the test ends, and returns its URL.
func startReference(t *testing.T, period time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveReference(ctx, ln, period, true) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("reference server: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func TestReferenceServer(t *testing.T) {
	url := startReference(t, 100*time.Millisecond)
	s, err := runLoad(t, "--url", url, "--sse", "3", "--ws", "3", "--ramp", "0", "--duration", "1s")
	if err != nil {
		t.Fatal(err)
	}
	if s.Connected != 6 || s.FailedConnects != 0 || s.Disconnects != 0 {
		t.Fatalf("connections: %+v", s)
	}
	if s.TickMs != 100 {
		t.Errorf("tickMs %d, want 100", s.TickMs)
	}
	if s.Gaps != 0 || s.Missed != 0 || s.Backwards != 0 {
		t.Errorf("gaps %d missed %d backwards %d, want none", s.Gaps, s.Missed, s.Backwards)
	}
	// Wall-clock ratio: a loose bound, the machine may be busy.
	if s.ReceivedRatio == nil || *s.ReceivedRatio < 0.8 || *s.MinPerClient == 0 {
		t.Errorf("received: ratio %v min per client %v", deref(s.ReceivedRatio), deref(s.MinPerClient))
	}
	// --pprof serves the profiles the benchmark reads.
	resp, err := http.Get(url + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(body, []byte("goroutine profile:")) {
		t.Errorf("pprof: %s: %.80q", resp.Status, body)
	}
}

func TestReferenceBatch(t *testing.T) {
	tk := buildTick(7, 1700000000123, 1700000000000, 100)
	var b, tmpl map[string]any
	if err := json.Unmarshal(tk.json, &b); err != nil {
		t.Fatalf("batch is not JSON: %v: %s", err, tk.json)
	}
	if err := json.Unmarshal([]byte(referenceTemplate), &tmpl); err != nil {
		t.Fatal(err)
	}
	if b["seq"] != 7.0 || b["at"] != 1700000000123.0 || b["startedAt"] != 1700000000000.0 || b["tickMs"] != 100.0 {
		t.Errorf("head of %s", tk.json)
	}
	for k := range tmpl {
		if _, ok := b[k]; !ok {
			t.Errorf("batch lacks the template's %q", k)
		}
	}
	h, err := scanHead(tk.json, allFields)
	if err != nil || h.seq != 7 || h.at != 1700000000123 || h.tickMs != 100 || h.epoch != 1700000000000 {
		t.Errorf("scanHead: %+v, %v", h, err)
	}
	want := "id: 1700000000000-7\nevent: batch\ndata: " + string(tk.json) + "\n\n"
	if string(tk.sse) != want {
		t.Errorf("SSE event %q, want %q", tk.sse, want)
	}
}

func TestReferenceFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--addr", "nowhere"},
		{"--tick", "0s"},
		{"--tick", "2m"},
		{"--sse", "5"}, // a load flag is not a server flag
		{"extra"},
	} {
		var stderr bytes.Buffer
		err := run(t.Context(), append([]string{"ontime-load", referenceCommand}, args...), io.Discard, &stderr)
		var usage usageError
		if !errors.As(err, &usage) {
			t.Errorf("%q: err %v, want a usage error", args, err)
		}
	}
	var stderr bytes.Buffer
	if err := run(t.Context(), []string{"ontime-load", referenceCommand, "-h"}, io.Discard, &stderr); !errors.Is(err, flag.ErrHelp) || !bytes.Contains(stderr.Bytes(), []byte("-tick")) {
		t.Errorf("-h: %v, %q", err, stderr.String())
	}
}
