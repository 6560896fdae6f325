package stream

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Shutdown waits for streams that end by themselves, and refuses new ones.
func TestShutdownWaitsForStreams(t *testing.T) {
	var s Streams
	end := make(chan struct{})
	server, client := net.Pipe()
	defer client.Close()
	if !s.Go(server, func(<-chan struct{}) { <-end }) {
		t.Fatal("Go refused before Shutdown")
	}
	if s.Len() != 1 {
		t.Fatalf("Len %d, want 1", s.Len())
	}
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v while a stream was running", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(end)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if s.Len() != 0 {
		t.Fatalf("Len %d after Shutdown, want 0", s.Len())
	}
	// The connection was closed when the stream ended.
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Fatal("the stream's connection is still open")
	}
	// New streams are refused, and their connection closed.
	late, lateClient := net.Pipe()
	defer lateClient.Close()
	ran := false
	if s.Go(late, func(<-chan struct{}) { ran = true }) || ran {
		t.Fatal("Go ran a stream after Shutdown")
	}
	if _, err := lateClient.Read(make([]byte, 1)); err == nil {
		t.Fatal("a refused stream's connection is still open")
	}
}

// When the context ends first, Shutdown tells streams to stop and closes
// their connections, which ends a write blocked on a client that never
// reads.
func TestShutdownCutsStuckStreams(t *testing.T) {
	var s Streams
	blocked, blockedClient := net.Pipe() // nobody reads blockedClient
	defer blockedClient.Close()
	waiting, waitingClient := net.Pipe()
	defer waitingClient.Close()
	writeErr := make(chan error, 1)
	s.Go(blocked, func(<-chan struct{}) {
		_, err := blocked.Write([]byte("never read"))
		writeErr <- err
	})
	stopped := make(chan struct{})
	s.Go(waiting, func(stop <-chan struct{}) {
		<-stop
		close(stopped)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want the context's error", err)
	}
	if err := <-writeErr; err == nil {
		t.Fatal("the blocked write succeeded")
	}
	<-stopped
	if s.Len() != 0 {
		t.Fatalf("Len %d after Shutdown, want 0", s.Len())
	}
	// A second Shutdown is harmless.
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}
