package stream

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// Streams owns the goroutines of stream connections taken over from the
// HTTP server.
//
// A stream handler that hijacks its connection (SSE over HTTP/1.x, every
// WebSocket) hands it to a fresh goroutine and returns, so the server's
// per-connection state (its read and write buffers, the handler's deep stack,
// the background reader) is let go for the stream's whole life: a stream
// then costs a small goroutine and a socket. http.Server.Shutdown no longer
// tracks such connections, so Streams does: Shutdown waits for them to end
// (they end when the hub closes) and closes those that do not in time.
//
// Nor does net/http recover such a stream's panics any more: Streams does,
// so that one broken stream ends its own connection, not the process.
//
// The zero value is ready to use.
type Streams struct {
	// Logger reports stream panics. Default slog.Default().
	Logger *slog.Logger

	panics atomic.Uint64

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closing bool
	stopped bool
	stop    chan struct{} // closed when Shutdown gives up waiting
	wg      sync.WaitGroup
}

// Go runs serve in a new goroutine that owns conn, and closes conn when
// serve returns, or panics: a panic is logged with its stack and counted
// (Panics), and ends that stream only. serve must return soon after stop is
// closed (closing conn ends its blocked writes). Go reports false, and
// closes conn without running serve, once Shutdown has begun.
func (s *Streams) Go(conn net.Conn, serve func(stop <-chan struct{})) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = conn.Close()
		return false
	}
	if s.conns == nil {
		s.conns = make(map[net.Conn]struct{})
	}
	if s.stop == nil {
		s.stop = make(chan struct{})
	}
	s.conns[conn] = struct{}{}
	stop := s.stop
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer func() {
			_ = conn.Close()
			s.mu.Lock()
			delete(s.conns, conn)
			s.mu.Unlock()
		}()
		defer s.recoverPanic(conn)
		serve(stop)
	}()
	return true
}

// recoverPanic, deferred by a stream's goroutine, stops a panic there from
// taking the process down, as net/http does for its handlers (and, like
// net/http, ends the stream quietly for http.ErrAbortHandler).
func (s *Streams) recoverPanic(conn net.Conn) {
	v := recover()
	if v == nil {
		return
	}
	if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
		return
	}
	s.panics.Add(1)
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Error("stream panic: connection closed", "remote", conn.RemoteAddr().String(), "panic", v, "stack", string(debug.Stack()))
}

// Panics is the number of streams ended by a panic since start.
func (s *Streams) Panics() uint64 { return s.panics.Load() }

// Len is the number of streams running.
func (s *Streams) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Shutdown refuses new streams and waits for the running ones to end. When
// ctx ends first, it tells them to stop, closes their connections, waits for
// their goroutines, and returns ctx's error.
func (s *Streams) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	if s.stop == nil {
		s.stop = make(chan struct{})
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	if !s.stopped {
		s.stopped = true
		close(s.stop)
	}
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}
