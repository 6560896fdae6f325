package sse

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/stream"
	"github.com/ontime-rt/ontime/internal/stream/streamtest"
)

var quiet = slog.New(slog.DiscardHandler)

// parseEvents splits an SSE stream into its events (comments and the retry
// field left out).
func parseEvents(stream []byte) []Event {
	var events []Event
	for block := range strings.SplitSeq(string(stream), "\n\n") {
		var e Event
		var data []string
		for line := range strings.SplitSeq(block, "\n") {
			field, value, _ := strings.Cut(line, ": ")
			switch field {
			case "id":
				e.ID = value
			case "event":
				e.Name = value
			case "data":
				data = append(data, value)
			}
		}
		if e.Name != "" || data != nil {
			e.Data = []byte(strings.Join(data, "\n"))
			events = append(events, e)
		}
	}
	return events
}

// readEvents reads from r until it has n events.
func readEvents(t *testing.T, r *bufio.Reader, n int) []Event {
	t.Helper()
	var raw []byte
	for {
		line, err := r.ReadBytes('\n')
		raw = append(raw, line...)
		if err != nil {
			t.Fatalf("read stream: %v (so far %q)", err, raw)
		}
		if len(line) == 1 { // the blank line ending an event
			if events := parseEvents(raw); len(events) == n {
				return events
			}
		}
	}
}

// A client resuming from a position the history no longer holds, from
// another run of the server (another epoch, or a bare seq) or ahead of the
// newest batch gets "event: reset" with the first position sent and why,
// then the newest batch; one resuming within the history gets every batch
// after its position, and no reset. A malformed position gets 400.
func TestResumeAfterGap(t *testing.T) {
	h, err := hub.New(withSSE(hub.Config{History: 4}))
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 10; seq++ {
		h.Publish(&batch.Batch{Seq: seq, StartedAt: 7}) // the history holds 7 to 10
	}
	var streams stream.Streams
	srv := httptest.NewServer(&Handler{Hub: h, Format: "sse", Streams: &streams, Logger: quiet})
	defer srv.Close()
	for _, c := range []struct {
		name, header, query string
		want                []string // name:id or name:data of each event
	}{
		{"too-old", "7-2", "", []string{`reset:{"seq":10,"epoch":7,"reason":"too-old"}`, "batch:7-10"}},
		{"too-old-query", "", "?lastEventId=7-2", []string{`reset:{"seq":10,"epoch":7,"reason":"too-old"}`, "batch:7-10"}},
		{"other-run", "6-8", "", []string{`reset:{"seq":10,"epoch":7,"reason":"another-run"}`, "batch:7-10"}},
		{"bare-seq", "8", "", []string{`reset:{"seq":10,"epoch":7,"reason":"another-run"}`, "batch:7-10"}},
		{"future", "7-99", "", []string{`reset:{"seq":10,"epoch":7,"reason":"future"}`, "batch:7-10"}},
		{"in-history", "7-7", "", []string{"batch:7-8", "batch:7-9", "batch:7-10"}},
		{"in-history-query", "", "?lastEventId=7-8", []string{"batch:7-9", "batch:7-10"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+c.query, nil)
			if c.header != "" {
				req.Header.Set("Last-Event-ID", c.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got []string
			for _, e := range readEvents(t, bufio.NewReader(resp.Body), len(c.want)) {
				if e.Name == "reset" {
					got = append(got, "reset:"+string(e.Data))
				} else {
					got = append(got, e.Name+":"+e.ID)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("events %v, want %v", got, c.want)
			}
		})
	}
	for _, bad := range []string{"x", "7-", "-3", "7-3-1"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
		req.Header.Set("Last-Event-ID", bad)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "epoch-seq") {
			t.Errorf("Last-Event-ID %q: %s %s, want 400 naming the form", bad, resp.Status, body)
		}
	}
	h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := streams.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// pipeStream opens an SSE stream on l and returns the connection and the
// response, its head read.
func pipeStream(t *testing.T, l *streamtest.Listener) (net.Conn, *http.Response) {
	t.Helper()
	conn, err := l.Dial(t.Context(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "GET /api/stream HTTP/1.1\r\nHost: pipe\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s", resp.Status)
	}
	return conn, resp
}

// Both ways a stream is written: from a connection taken over, and through
// the ResponseWriter.
var paths = []struct {
	name     string
	takeOver bool
}{{"take-over", true}, {"response-writer", false}}

// A client that keeps falling behind (it reads, but slower than batches
// come) is disconnected once it has lagged for SlowAfter, with a final
// "event: error" saying why, and counted.
func TestTooSlowClientGetsError(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h, err := hub.New(withSSE(hub.Config{MaxLag: 2, SlowAfter: time.Second}))
				if err != nil {
					t.Fatal(err)
				}
				var streams stream.Streams
				handler := &Handler{Hub: h, Format: "sse", Heartbeat: time.Hour, WriteTimeout: time.Minute, Logger: quiet}
				if p.takeOver {
					handler.Streams = &streams
				}
				srv, l := streamtest.NewServer(handler)
				defer srv.Close()
				defer h.Close() // ends the stream first, should the test fail
				conn, resp := pipeStream(t, l)
				defer conn.Close()

				// A batch every 100 ms.
				stop := streamtest.Every(100*time.Millisecond, func(seq uint64) { h.Publish(&batch.Batch{Seq: seq}) })
				// The client reads once a second: each write waits for it
				// (a pipe holds nothing), and ten batches come meanwhile.
				var got []byte
				buf := make([]byte, 64<<10)
				for start := time.Now(); ; {
					if time.Since(start) > time.Minute {
						t.Fatalf("still streaming after a minute of lagging: %q", got)
					}
					time.Sleep(time.Second)
					n, err := resp.Body.Read(buf)
					got = append(got, buf[:n]...)
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("read: %v", err)
					}
				}
				stop()

				events := parseEvents(got)
				last := events[len(events)-1]
				if last.Name != "error" || !bytes.Contains(last.Data, []byte("client too slow")) {
					t.Fatalf("last event %s %q, want the too-slow error", last.Name, last.Data)
				}
				resets := 0
				for _, e := range events {
					if e.Name == "reset" {
						resets++
					}
				}
				if resets == 0 {
					t.Errorf("no reset among %d events: the skips were not announced", len(events))
				}
				if n := h.SlowDisconnects(); n != 1 {
					t.Fatalf("slow disconnects %d, want 1", n)
				}
				h.Close()
				if err := streams.Shutdown(t.Context()); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// A client that stops reading blocks the stream's writes; the write
// deadline ends the stream, closes the connection, and counts the client as
// too slow.
func TestWriteTimeoutDisconnects(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h, err := hub.New(withSSE(hub.Config{}))
				if err != nil {
					t.Fatal(err)
				}
				var streams stream.Streams
				handler := &Handler{Hub: h, Format: "sse", Heartbeat: time.Hour, WriteTimeout: 2 * time.Second, Logger: quiet}
				if p.takeOver {
					handler.Streams = &streams
				}
				srv, l := streamtest.NewServer(handler)
				defer srv.Close()
				defer h.Close() // ends the stream first, should the test fail
				conn, resp := pipeStream(t, l)
				defer conn.Close()

				// The client has the head and reads no more.
				h.Publish(&batch.Batch{Seq: 1})
				time.Sleep(2*time.Second + time.Millisecond)
				synctest.Wait()
				if n := h.SlowDisconnects(); n != 1 {
					t.Fatalf("slow disconnects %d after the write deadline, want 1", n)
				}
				if streams.Len() != 0 {
					t.Fatalf("%d streams still running", streams.Len())
				}
				// The connection is closed: reading ends, with nothing of
				// the blocked write.
				if b, _ := io.ReadAll(resp.Body); bytes.Contains(b, []byte("id: 1")) {
					t.Fatalf("read %q after the write timed out", b)
				}
				if _, err := conn.Read(make([]byte, 1)); err != io.EOF {
					t.Fatalf("read after the disconnect: %v, want EOF", err)
				}
				h.Close()
			})
		})
	}
}
