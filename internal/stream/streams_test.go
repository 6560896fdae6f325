package stream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Shutdown waits for streams that end by themselves, and refuses new ones.
func TestShutdownWaitsForStreams(t *testing.T) {
	synctest.Test(t, testShutdownWaitsForStreams)
}

func testShutdownWaitsForStreams(t *testing.T) {
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
	synctest.Wait() // Shutdown has done all it can without the stream ending
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v while a stream was running", err)
	default:
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
	synctest.Test(t, testShutdownCutsStuckStreams)
}

func testShutdownCutsStuckStreams(t *testing.T) {
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

// A stream that panics ends its own connection only: the process goes on,
// the panic is logged with its stack and counted, and the other streams
// keep running. http.ErrAbortHandler ends a stream quietly, as in net/http.
func TestPanicEndsOneStream(t *testing.T) {
	var logs bytes.Buffer
	s := Streams{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	echo, echoClient := net.Pipe()
	defer echoClient.Close()
	s.Go(echo, func(<-chan struct{}) {
		_, _ = io.Copy(echo, echo) // until the connection is closed
	})
	broken, brokenClient := net.Pipe()
	defer brokenClient.Close()
	s.Go(broken, func(<-chan struct{}) { panic("stream bug") })

	// The panicking stream's connection is closed...
	if _, err := brokenClient.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read from the panicked stream: %v, want EOF", err)
	}
	// ...after the panic was counted and logged with its stack.
	if s.Panics() != 1 {
		t.Fatalf("Panics %d, want 1", s.Panics())
	}
	for _, want := range []string{"stream panic", "stream bug", "stack=", "TestPanicEndsOneStream"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %q", logs.String(), want)
		}
	}
	// The other stream still runs.
	if _, err := echoClient.Write([]byte("x")); err != nil {
		t.Fatalf("write to the other stream: %v", err)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(echoClient, b); err != nil || b[0] != 'x' {
		t.Fatal("the other stream stopped echoing after a panic elsewhere")
	}

	aborted, abortedClient := net.Pipe()
	defer abortedClient.Close()
	s.Go(aborted, func(<-chan struct{}) { panic(http.ErrAbortHandler) })
	if _, err := abortedClient.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read from the aborted stream: %v, want EOF", err)
	}
	if s.Panics() != 1 {
		t.Fatalf("Panics %d after ErrAbortHandler, want still 1", s.Panics())
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // close the echo stream's connection at once
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown: %v", err)
	}
	if s.Len() != 0 {
		t.Fatalf("Len %d after Shutdown, want 0", s.Len())
	}
}
