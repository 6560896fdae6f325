package ws

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/stream"
	"github.com/ontime-rt/ontime/internal/stream/streamtest"
)

var quiet = slog.New(slog.DiscardHandler)

// pipeDial opens a WebSocket on l.
func pipeDial(t *testing.T, l *streamtest.Listener) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{NetDialContext: l.Dial}
	c, _, err := d.Dial("ws://pipe/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A client that keeps falling behind (it reads, but slower than batches
// come) is closed with 1008 and a reason once it has lagged for SlowAfter,
// and counted.
func TestTooSlowClientClosed1008(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := hub.New(hub.Config{MaxLag: 2, SlowAfter: time.Second, Encoders: newTestHubEncoders()})
		if err != nil {
			t.Fatal(err)
		}
		var streams stream.Streams
		srv, l := streamtest.NewServer(&Handler{Hub: h, Format: "json", Streams: &streams, WriteTimeout: time.Minute, PingInterval: time.Hour, Logger: quiet})
		defer srv.Close()
		defer h.Close() // ends the stream first, should the test fail
		c := pipeDial(t, l)
		defer c.Close()

		// A batch every 100 ms.
		stop := streamtest.Every(100*time.Millisecond, func(seq uint64) { h.Publish(&batch.Batch{Seq: seq}) })
		// The client reads a message a second: each write waits for it (a
		// pipe holds nothing), and ten batches come meanwhile.
		messages := 0
		for start := time.Now(); ; messages++ {
			if time.Since(start) > time.Minute {
				t.Fatalf("still streaming after a minute of lagging (%d messages)", messages)
			}
			time.Sleep(time.Second)
			if _, _, err = c.ReadMessage(); err != nil {
				break
			}
		}
		stop()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, "too slow") {
			t.Fatalf("after %d messages: %v, want close 1008 saying too slow", messages, err)
		}
		if n := h.SlowDisconnects(); n != 1 {
			t.Fatalf("slow disconnects %d, want 1", n)
		}
		h.Close()
		if err := streams.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

// A client that stops reading blocks the stream's writes; the write
// deadline ends the stream, closes the connection, and counts the client as
// too slow.
func TestWriteTimeoutDisconnects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := hub.New(hub.Config{Encoders: newTestHubEncoders()})
		if err != nil {
			t.Fatal(err)
		}
		var streams stream.Streams
		srv, l := streamtest.NewServer(&Handler{Hub: h, Format: "json", Streams: &streams, WriteTimeout: 2 * time.Second, Logger: quiet})
		defer srv.Close()
		defer h.Close() // ends the stream first, should the test fail
		c := pipeDial(t, l)
		defer c.Close()

		// The client has the handshake and reads no more.
		h.Publish(&batch.Batch{Seq: 1})
		time.Sleep(2*time.Second + time.Millisecond)
		synctest.Wait()
		if n := h.SlowDisconnects(); n != 1 {
			t.Fatalf("slow disconnects %d after the write deadline, want 1", n)
		}
		if streams.Len() != 0 {
			t.Fatalf("%d streams still running", streams.Len())
		}
		// The connection is closed, without a close frame (the server
		// could not write one).
		if _, err := c.NetConn().Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("read after the disconnect: %v, want EOF", err)
		}
		h.Close()
	})
}
