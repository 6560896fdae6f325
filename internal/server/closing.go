package server

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// WriteGate stops the writes (every request but GET, HEAD and OPTIONS) when
// a shutdown begins, before anything else stops: a write then refused is
// answered 503 with Retry-After, and one already past the gate is waited
// for, so that every event answered "accepted" is submitted before the
// pipeline drains and counted in the final batch. The zero value is open.
type WriteGate struct {
	// RetryAfter is the Retry-After of a refused write: about how long a
	// restart takes. Default 5s.
	RetryAfter time.Duration

	mu     sync.Mutex
	closed bool
	active int           // writes past the gate
	idle   chan struct{} // closed when active drops to 0 once closed
}

// Wrap passes reads through and writes while the gate is open.
func (g *WriteGate) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		if !g.enter() {
			retry := g.RetryAfter
			if retry <= 0 {
				retry = 5 * time.Second
			}
			w.Header().Set("Retry-After", strconv.Itoa(int(retry.Round(time.Second)/time.Second)))
			refuse(w, r, http.StatusServiceUnavailable, "the server is shutting down: writes are no longer taken")
			return
		}
		defer g.leave()
		next.ServeHTTP(w, r)
	})
}

func (g *WriteGate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.active++
	return true
}

func (g *WriteGate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.active--
	if g.closed && g.active == 0 {
		close(g.idle)
	}
}

// Close refuses every write from now on and waits for those past the gate
// to finish, until ctx ends (then it returns ctx's error: a write still
// running may submit events after the final batch).
func (g *WriteGate) Close(ctx context.Context) error {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		g.idle = make(chan struct{})
		if g.active == 0 {
			close(g.idle)
		}
	}
	idle := g.idle
	g.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
