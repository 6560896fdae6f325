package sse

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/stream"
	"github.com/ontime-rt/ontime/internal/stream/streamtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A stream quiet for the heartbeat interval (give or take its 20% jitter)
// gets a heartbeat comment; a busy one gets none.
func TestHeartbeatOnlyWhenQuiet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTestHub(t)
		var streams stream.Streams
		srv, l := streamtest.NewServer(&Handler{Hub: h, Format: "sse", Streams: &streams, Heartbeat: time.Second, Logger: quiet})
		defer srv.Close()
		defer h.Close() // ends the stream first, should the test fail
		conn, resp := pipeStream(t, l)
		defer conn.Close()
		type line struct {
			text string
			at   time.Time
		}
		lines := make(chan line, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				lines <- line{sc.Text(), time.Now()}
			}
		}()
		nextHeartbeat := func(quietSince time.Time) {
			t.Helper()
			for l := range lines {
				if strings.HasPrefix(l.text, ": heartbeat") {
					if d := l.at.Sub(quietSince); d < 800*time.Millisecond || d > 1200*time.Millisecond {
						t.Fatalf("heartbeat after %v quiet, want 0.8-1.2s", d)
					}
					return
				}
			}
			t.Fatal("the stream ended without a heartbeat")
		}

		nextHeartbeat(time.Now())
		// Busy: a batch every 100 ms for 5 s.
		for seq := uint64(1); seq <= 50; seq++ {
			h.Publish(&batch.Batch{Seq: seq})
			time.Sleep(100 * time.Millisecond)
		}
		lastBatch := time.Now().Add(-100 * time.Millisecond)
		synctest.Wait() // all that was written has been read
		heartbeats, batches := 0, 0
		for drained := false; !drained; {
			select {
			case l := <-lines:
				switch {
				case strings.HasPrefix(l.text, ": heartbeat"):
					heartbeats++
				case l.text == "event: batch":
					batches++
				}
			default:
				drained = true
			}
		}
		if batches != 50 || heartbeats > 0 {
			t.Fatalf("busy stream: %d batches, %d heartbeats; want 50 and none", batches, heartbeats)
		}
		// Quiet again: a heartbeat once the last batch is a second old.
		nextHeartbeat(lastBatch)

		h.Close()
		for range lines {
		}
		if err := streams.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

func newTestHub(t *testing.T) *hub.Hub {
	t.Helper()
	h, err := hub.New(withSSE(hub.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// withSSE gives cfg the formats of ontime's JSON stream: "json", and "sse"
// made around it.
func withSSE(cfg hub.Config) hub.Config {
	cfg.Encoders = map[string]hub.Encoder{"json": batch.JSON}
	cfg.Wraps = map[string]hub.Wrap{"sse": BatchWrap("json")}
	return cfg
}

// readIDs reads n events from r and returns their ids.
func readIDs(t *testing.T, r *bufio.Reader, n int) []string {
	t.Helper()
	var ids []string
	for len(ids) < n {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read stream: %v (ids so far %v)", err, ids)
		}
		if id, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "id: "); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// Over HTTP/1.1 the connection is taken over from the HTTP server: the
// response goes straight to the socket (no chunked framing, ended by
// closing), keeps the headers set before the handler (the security
// headers), and its goroutine ends once the client has gone.
func TestTakeOverHTTP1(t *testing.T) {
	h := newTestHub(t)
	var streams stream.Streams
	handler := &Handler{Hub: h, Format: "sse", Streams: &streams}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		handler.ServeHTTP(w, r)
	}))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, "GET /api/stream HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %s, content type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	if len(resp.TransferEncoding) != 0 || !resp.Close || resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Date") == "" {
		t.Fatalf("response head: transfer encoding %v, close %v, header %v", resp.TransferEncoding, resp.Close, resp.Header)
	}
	body := bufio.NewReader(resp.Body)
	if line, _ := body.ReadString('\n'); line != "retry: 1000\n" {
		t.Fatalf("first line %q, want the retry field", line)
	}
	if streams.Len() != 1 {
		t.Fatalf("%d streams taken over, want 1", streams.Len())
	}
	for seq := uint64(1); seq <= 3; seq++ {
		h.Publish(&batch.Batch{Seq: seq})
	}
	if ids := readIDs(t, body, 3); fmt.Sprint(ids) != "[0-1 0-2 0-3]" {
		t.Fatalf("ids %v, want [0-1 0-2 0-3]", ids)
	}

	// The client goes: the next writes fail and the stream ends.
	conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for seq := uint64(4); streams.Len() > 0; seq++ {
		if time.Now().After(deadline) {
			t.Fatal("the stream of a client that left is still running")
		}
		h.Publish(&batch.Batch{Seq: seq})
		time.Sleep(10 * time.Millisecond)
	}
	h.Close()
	if err := streams.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// Where the connection cannot be taken over (HTTP/2), or no Streams is
// given, the handler streams through the ResponseWriter.
func TestStreamThroughResponseWriter(t *testing.T) {
	for _, c := range []struct {
		name  string
		http2 bool
	}{{"http2", true}, {"no-streams", false}} {
		t.Run(c.name, func(t *testing.T) {
			h := newTestHub(t)
			var streams stream.Streams
			handler := &Handler{Hub: h, Format: "sse"}
			if c.http2 {
				handler.Streams = &streams
			}
			srv := httptest.NewUnstartedServer(handler)
			srv.EnableHTTP2 = c.http2
			if c.http2 {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if wantMajor := map[bool]int{true: 2, false: 1}[c.http2]; resp.ProtoMajor != wantMajor {
				t.Fatalf("protocol %s", resp.Proto)
			}
			if !c.http2 && fmt.Sprint(resp.TransferEncoding) != "[chunked]" {
				t.Fatalf("transfer encoding %v, want chunked", resp.TransferEncoding)
			}
			body := bufio.NewReader(resp.Body)
			if line, _ := body.ReadString('\n'); line != "retry: 1000\n" {
				t.Fatalf("first line %q, want the retry field", line)
			}
			for seq := uint64(1); seq <= 3; seq++ {
				h.Publish(&batch.Batch{Seq: seq})
			}
			if ids := readIDs(t, body, 3); fmt.Sprint(ids) != "[0-1 0-2 0-3]" {
				t.Fatalf("ids %v, want [0-1 0-2 0-3]", ids)
			}
			if streams.Len() != 0 {
				t.Fatal("a stream was taken over")
			}
			h.Close()
			if _, err := io.Copy(io.Discard, body); err != nil {
				t.Fatalf("end of stream: %v", err)
			}
		})
	}
}

// Over HTTP/2, net/http resets a stream when its write deadline passes,
// even while nothing is being written; a stream quiet for longer than its
// write timeout (a tick of several seconds) goes on, alone on its
// connection or in a cohort (whose leader tells it of the quiet). The
// quiet is real time: it happens in net/http's server, outside any
// synctest bubble.
func TestHTTP2QuietLongerThanWriteTimeout(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("%d streams", n), func(t *testing.T) {
			h := newTestHub(t)
			const timeout = 200 * time.Millisecond
			handler := &Handler{Hub: h, Format: "sse", WriteTimeout: timeout, Logger: quiet}
			srv, client, conns, _ := h2Server(t, handler)
			defer h.Close()
			streams := make([]*openStream, n)
			for i := range streams {
				streams[i] = open(t, client, srv.URL)
				if line, _ := streams[i].body.ReadString('\n'); line != "retry: 1000\n" {
					t.Fatalf("first line %q, want the retry field", line)
				}
			}
			if n > 1 {
				waitFor(t, "a cohort with its leader", func() bool { _, m, leader := handler.cohortSize(); return m == n && leader })
			}
			for seq := uint64(1); seq <= 3; seq++ {
				h.Publish(&batch.Batch{Seq: seq})
				time.Sleep(5 * timeout) // quiet: five write timeouts
			}
			for i, s := range streams {
				if ids := readIDs(t, s.body, 3); fmt.Sprint(ids) != "[0-1 0-2 0-3]" {
					t.Fatalf("stream %d: ids %v, want [0-1 0-2 0-3]", i, ids)
				}
			}
			if c := conns.Load(); c != 1 {
				t.Fatalf("%d connections, want 1", c)
			}
		})
	}
}
