package main

import (
	"bytes"
	"encoding/json"
	"net"
	"strconv"
	"testing"

	"github.com/ontime-rt/ontime/internal/node"
)

// halfsent against a node: every refused, half-sent write is answered and
// closed within the limit, and the node's goroutines come back.
func TestHalfSent(t *testing.T) {
	const n = 60
	for _, c := range []struct {
		kind   string
		cfg    node.Config
		answer []string
	}{
		{"host", node.Config{}, []string{"421"}},
		{"proxy", node.Config{}, []string{"403", "429"}},
		{"token", node.Config{Token: "s3cret", WriteRate: 1}, []string{"401", "429"}},
	} {
		t.Run(c.kind, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			runNode(t, c.cfg, ln)
			var stdout, stderr bytes.Buffer
			if err := run(t.Context(), []string{"ontime-load", halfSentCommand, "--url", "http://" + ln.Addr().String(), "--n", strconv.Itoa(n), "--kind", c.kind}, &stdout, &stderr); err != nil {
				t.Fatalf("%v\n%s", err, stderr.String())
			}
			var s halfSentSummary
			if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
				t.Fatalf("summary %q: %v", stdout.String(), err)
			}
			answered := 0
			for _, a := range c.answer {
				answered += s.Answers[a]
			}
			if s.Closed != n || s.ClosedInLimit != n || s.Held != 0 || answered != n {
				t.Fatalf("summary %+v: want all %d answered %v and closed within the limit", s, n, c.answer)
			}
			if s.GoroutinesBefore <= 0 || s.GoroutinesAfter > s.GoroutinesBefore+5 {
				t.Fatalf("goroutines %d before, %d after", s.GoroutinesBefore, s.GoroutinesAfter)
			}
		})
	}
}
