package stream

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ontime-rt/ontime/internal/httperr"
)

// A gate admits up to its limit, refuses beyond it, and admits again once
// someone leaves.
func TestGateLimit(t *testing.T) {
	g := NewGate(2)
	if g.Max() != 2 {
		t.Fatalf("Max %d, want 2", g.Max())
	}
	if !g.Enter() || !g.Enter() {
		t.Fatal("a gate of 2 refused one of the first two clients")
	}
	if g.Enter() {
		t.Fatal("a full gate admitted a third client")
	}
	if g.Clients() != 2 {
		t.Fatalf("Clients %d after a refusal, want 2", g.Clients())
	}
	g.Leave()
	if g.Clients() != 1 || !g.Enter() {
		t.Fatalf("after one left: %d clients, and the next was refused", g.Clients())
	}
	var zero Gate
	if zero.Enter() {
		t.Fatal("the zero gate admitted a client")
	}
}

// Racing clients never get more places than the gate has.
func TestGateConcurrent(t *testing.T) {
	const max, clients = 10, 200
	g := NewGate(max)
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for range clients {
		wg.Go(func() {
			if g.Enter() {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if admitted != max || g.Clients() != max {
		t.Fatalf("%d admitted, %d inside; want %d", admitted, g.Clients(), max)
	}
}

// Admit answers 503 with a Retry-After of 1-5 s and a JSON error once the
// gate is full; leave gives the place back.
func TestAdmit(t *testing.T) {
	g := NewGate(1)
	leave, ok := Admit(httptest.NewRecorder(), g, "stream")
	if !ok {
		t.Fatal("the first client was refused")
	}
	w := httptest.NewRecorder()
	if _, ok := Admit(w, g, "stream"); ok {
		t.Fatal("a full gate admitted a client")
	}
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", w.Code)
	}
	if s, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || s < 1 || s > 5 {
		t.Fatalf("Retry-After %q, want 1-5", w.Header().Get("Retry-After"))
	}
	var body httperr.Body
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || !strings.Contains(body.Error, "limit 1") {
		t.Fatalf("body %q (%v), want a JSON error naming the limit", w.Body, err)
	}
	leave()
	if g.Clients() != 0 {
		t.Fatalf("%d clients after leave, want 0", g.Clients())
	}
	if _, ok := Admit(httptest.NewRecorder(), nil, "stream"); !ok {
		t.Fatal("a nil gate refused a client")
	}
}
