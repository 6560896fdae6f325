package stream

import (
	"context"
	"net"
	"sync"
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
// The zero value is ready to use.
type Streams struct {
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closing bool
	stopped bool
	stop    chan struct{} // closed when Shutdown gives up waiting
	wg      sync.WaitGroup
}

// Go runs serve in a new goroutine that owns conn, and closes conn when
// serve returns. serve must return soon after stop is closed (closing conn
// ends its blocked writes). Go reports false, and closes conn without
// running serve, once Shutdown has begun.
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
		serve(stop)
	}()
	return true
}

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
