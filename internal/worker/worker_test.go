package worker_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// generous is the deadline of test events: long enough that a call to a
// local worker never misses it on a loaded machine, short enough that the
// tests of hanging workers end soon.
const generous = 2 * time.Second

// short is the deadline of events the tests expect to run out.
const short = 200 * time.Millisecond

// guard bounds a wait that only a bug makes long, so a broken test fails
// instead of hanging.
const guard = 20 * time.Second

func newEvent(deadline time.Duration, payload string) event.Event {
	ev := event.Event{ID: uuid.New(), Source: "ingest", CreatedAt: time.Now(), Deadline: deadline}
	if payload != "" {
		ev.Payload = []byte(payload)
	}
	return ev
}

func newHTTP(t *testing.T, cfg worker.Config) *worker.HTTP {
	t.Helper()
	h, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// call processes ev under its deadline, as the pipeline does.
func call(h *worker.HTTP, ev event.Event) ([]byte, error) {
	ctx, cancel := context.WithDeadline(context.Background(), ev.DeadlineAt())
	defer cancel()
	return h.Process(ctx, ev)
}

// kindOf is the failure kind of err, "deadline" for the deadline's error,
// "" for none.
func kindOf(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "deadline"
	}
	if f, ok := errors.AsType[*event.Failure](err); ok {
		return f.Kind
	}
	return "unclassified: " + err.Error()
}

func TestNewValidatesTheURL(t *testing.T) {
	for _, raw := range []string{"", "127.0.0.1:8090", "ftp://host/x", "http://", "http:///work", "https://:80/x", "http://[::1", "unix:///tmp/s"} {
		if _, err := worker.New(worker.Config{URL: raw}); err == nil {
			t.Errorf("New(%q) accepted it", raw)
		} else if !strings.Contains(err.Error(), "worker URL") {
			t.Errorf("New(%q): %v, want an error naming the worker URL", raw, err)
		}
	}
	if _, err := worker.New(worker.Config{URL: "http://127.0.0.1:1/work", MaxConns: -1}); err == nil {
		t.Error("New accepted MaxConns -1")
	}
	for raw, host := range map[string]string{
		"http://127.0.0.1:8090/work":      "127.0.0.1:8090",
		"https://worker.example/process":  "worker.example",
		"HTTP://user:secret@w.example:81": "w.example:81",
	} {
		h, err := worker.New(worker.Config{URL: raw})
		if err != nil {
			t.Errorf("New(%q): %v", raw, err)
			continue
		}
		if h.Host() != host {
			t.Errorf("New(%q).Host() = %q, want %q", raw, h.Host(), host)
		}
		h.Close()
	}
}

// delivered is what a worker received for one event, over HTTP or NATS.
type delivered struct {
	id, deadline, timeout string // the Ontime-* headers
	body                  worker.Request
	raw                   string
}

// checkDelivered checks what a worker received for ev, an event made with
// the payload {"sensor": "t1", "celsius": 21.5} and a deadline of
// generous plus 250µs.
func checkDelivered(t *testing.T, s delivered, ev event.Event) {
	t.Helper()
	if s.id != ev.ID.String() || s.body.ID != ev.ID.String() {
		t.Errorf("event id header %q, body %q, want %s", s.id, s.body.ID, ev.ID)
	}
	if s.body.Source != "ingest" || s.body.CreatedAt != ev.CreatedAt.UnixMilli() || s.body.DeadlineMs != 2000.25 {
		t.Errorf("body %+v, want source ingest, createdAt %d, deadlineMs 2000.25", s.body, ev.CreatedAt.UnixMilli())
	}
	if string(s.body.Payload) != `{"sensor":"t1","celsius":21.5}` {
		t.Errorf("payload %s", s.body.Payload)
	}
	if s.deadline != strconv.FormatInt(ev.DeadlineAt().UnixMilli(), 10) {
		t.Errorf("%s %q, want %d", worker.HeaderDeadline, s.deadline, ev.DeadlineAt().UnixMilli())
	}
	if ms, err := strconv.Atoi(s.timeout); err != nil || ms < 1 || ms > 2001 {
		t.Errorf("%s %q, want 1 to 2001", worker.HeaderTimeout, s.timeout)
	}
}

// TestRequestBodyAndHeaders checks everything a worker receives.
func TestRequestBodyAndHeaders(t *testing.T) {
	type seen struct {
		method, path, ctype string
		delivered
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var s seen
		s.method, s.path, s.ctype, s.raw = r.Method, r.URL.Path, r.Header.Get("Content-Type"), string(raw)
		s.id, s.deadline, s.timeout = r.Header.Get(worker.HeaderEventID), r.Header.Get(worker.HeaderDeadline), r.Header.Get(worker.HeaderTimeout)
		if err := json.Unmarshal(raw, &s.body); err != nil {
			t.Errorf("body %q: %v", raw, err)
		}
		got <- s
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"seen": %q}`+"\n", s.id)
	}))
	defer srv.Close()
	h := newHTTP(t, worker.Config{URL: srv.URL + "/work?tenant=a"})

	ev := newEvent(generous, `{"sensor": "t1", "celsius": 21.5}`)
	ev.Deadline = generous + 250*time.Microsecond // fractions of a ms travel
	out, err := call(h, ev)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"seen": %q}`, ev.ID); string(out) != want {
		t.Errorf("output %s, want %s (trimmed, as sent)", out, want)
	}
	s := <-got
	if s.method != http.MethodPost || s.path != "/work" || s.ctype != "application/json" {
		t.Errorf("got %s %s %q, want POST /work application/json", s.method, s.path, s.ctype)
	}
	checkDelivered(t, s.delivered, ev)

	// An event without a payload has none in the body.
	if _, err := call(h, newEvent(generous, "")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; strings.Contains(s.raw, "payload") {
		t.Errorf("body %s has a payload, want none", s.raw)
	}
}

// TestTimeoutMatchesDeadline checks Ontime-Timeout-Ms against the clock:
// exactly the deadline minus Now at sending.
func TestTimeoutMatchesDeadline(t *testing.T) {
	timeouts := make(chan [2]string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		timeouts <- [2]string{r.Header.Get(worker.HeaderTimeout), r.Header.Get(worker.HeaderDeadline)}
	}))
	defer srv.Close()
	ev := newEvent(generous, "")
	sent := ev.CreatedAt.Add(700*time.Millisecond + 400*time.Microsecond)
	h := newHTTP(t, worker.Config{URL: srv.URL, Now: func() time.Time { return sent }})
	if _, err := call(h, ev); err != nil {
		t.Fatal(err)
	}
	got := <-timeouts
	// 1299.6 ms left: whole milliseconds, rounded up so a worker that
	// gives up when its budget runs out does not do so before ontime.
	if got[0] != "1300" {
		t.Errorf("%s = %s, want 1300", worker.HeaderTimeout, got[0])
	}
	if got[1] != strconv.FormatInt(ev.DeadlineAt().UnixMilli(), 10) {
		t.Errorf("%s = %s, want %d", worker.HeaderDeadline, got[1], ev.DeadlineAt().UnixMilli())
	}

	// With the real clock, the header lies between the time left before
	// the call and after it.
	h = newHTTP(t, worker.Config{URL: srv.URL})
	ev = newEvent(generous, "")
	before := time.Now()
	if _, err := call(h, ev); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	ms, _ := strconv.ParseInt((<-timeouts)[0], 10, 64)
	if hi, lo := ev.DeadlineAt().Sub(before).Milliseconds()+1, ev.DeadlineAt().Sub(after).Milliseconds(); ms < lo || ms > hi {
		t.Errorf("%s = %d, want between %d and %d", worker.HeaderTimeout, ms, lo, hi)
	}

	// A context ending before the event's deadline is the deadline sent.
	h = newHTTP(t, worker.Config{URL: srv.URL, Now: func() time.Time { return sent }})
	ev = newEvent(generous, "")
	sent = ev.CreatedAt
	end := ev.CreatedAt.Add(generous / 2)
	ctx, cancel := context.WithDeadline(context.Background(), end)
	defer cancel()
	if _, err := h.Process(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if got := <-timeouts; got[0] != "1000" || got[1] != strconv.FormatInt(end.UnixMilli(), 10) {
		t.Errorf("headers %v, want 1000 and %d", got, end.UnixMilli())
	}
}

// TestNoTimeLeftMakesNoCall: an event at or past its deadline is not sent;
// one with a sliver of time left is, with a budget of 1 ms.
func TestNoTimeLeftMakesNoCall(t *testing.T) {
	var calls atomic.Int64
	timeouts := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		timeouts <- r.Header.Get(worker.HeaderTimeout)
	}))
	defer srv.Close()
	ev := newEvent(time.Hour, "")
	sliver := ev.CreatedAt.Add(time.Hour - time.Microsecond)
	if _, err := newHTTP(t, worker.Config{URL: srv.URL, Now: func() time.Time { return sliver }}).Process(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if got := <-timeouts; got != "1" {
		t.Errorf("1 µs left: %s %s, want 1", worker.HeaderTimeout, got)
	}
	calls.Store(0)
	for _, at := range []time.Duration{time.Hour, time.Hour + time.Nanosecond, 2 * time.Hour} {
		now := ev.CreatedAt.Add(at)
		h := newHTTP(t, worker.Config{URL: srv.URL, Now: func() time.Time { return now }})
		// A context without a deadline: the event's applies.
		if _, err := h.Process(context.Background(), ev); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("at %s: %v, want the deadline's error", at, err)
		}
	}
	expired := newEvent(time.Millisecond, "")
	expired.CreatedAt = time.Now().Add(-time.Second)
	if _, err := call(newHTTP(t, worker.Config{URL: srv.URL}), expired); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired event: %v, want the deadline's error", err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("worker got %d calls, want none", n)
	}
}

// TestCancelledAtDeadline: a worker that takes too long sees its request's
// context end, and the caller gets the deadline's error.
func TestCancelledAtDeadline(t *testing.T) {
	gone := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// net/http watches for the client closing the connection only
		// once the request's body has been read.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
			gone <- r.Context().Err()
		case <-time.After(guard):
			gone <- errors.New("request context still live long after the deadline")
		}
	}))
	defer srv.Close()
	h := newHTTP(t, worker.Config{URL: srv.URL})
	if _, err := call(h, newEvent(short, "")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Process: %v, want the deadline's error", err)
	}
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Errorf("worker's request context: %v, want canceled (the connection closed)", err)
	}
}

func TestStatusMapping(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   string // kind, or "out:" + output
	}{
		{200, `{"ok":true}`, `out:{"ok":true}`},
		{201, " [1, 2]\n", "out:[1, 2]"},
		{202, "", "out:"},
		{204, "", "out:"},
		{200, "\n\t ", "out:"},
		{200, `"text"`, `out:"text"`},
		{200, "not json", worker.KindBadResponse},
		{200, `{"unterminated": `, worker.KindBadResponse},
		{400, `{"error":"bad"}`, "http-400"},
		{404, "", "http-404"},
		{429, "slow down", "http-429"},
		{500, "boom", "http-500"},
		{503, "", "http-503"},
		{504, "", "http-504"},
		{302, "", "http-302"},
		{304, "", "http-304"},
	}
	for _, c := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(c.status)
			io.WriteString(w, c.body)
		}))
		h := newHTTP(t, worker.Config{URL: srv.URL})
		out, err := call(h, newEvent(generous, ""))
		got := "out:" + string(out)
		if err != nil {
			got = kindOf(err)
			if out != nil {
				t.Errorf("%d %q: output %q with an error", c.status, c.body, out)
			}
		}
		if got != c.want {
			t.Errorf("%d %q: got %s, want %s (err %v)", c.status, c.body, got, c.want, err)
		}
		if c.want == "out:" && out != nil {
			t.Errorf("%d %q: output %q, want nil", c.status, c.body, out)
		}
		h.Close()
		srv.Close()
	}
}

// TestErrorBodyInMessage: the start of a failure's body is kept for logs.
func TestErrorBodyInMessage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	_, err := call(newHTTP(t, worker.Config{URL: srv.URL}), newEvent(generous, ""))
	if kindOf(err) != "http-503" || !strings.Contains(err.Error(), "database unavailable") {
		t.Errorf("got %v, want http-503 with the body's message", err)
	}
}

func TestResultSizeLimit(t *testing.T) {
	size := make(chan int, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := <-size
		// A JSON string of n bytes in all.
		io.WriteString(w, `"`+strings.Repeat("a", n-2)+`"`)
	}))
	defer srv.Close()
	h := newHTTP(t, worker.Config{URL: srv.URL})
	size <- event.MaxOutput
	if out, err := call(h, newEvent(generous, "")); err != nil || len(out) != event.MaxOutput {
		t.Errorf("%d bytes: output of %d bytes, err %v; want it whole", event.MaxOutput, len(out), err)
	}
	size <- event.MaxOutput + 1
	if _, err := call(h, newEvent(generous, "")); kindOf(err) != worker.KindTooLarge {
		t.Errorf("%d bytes: %v, want %s", event.MaxOutput+1, err, worker.KindTooLarge)
	}
}

// connCounter counts the connections a test server accepts.
type connCounter struct{ n atomic.Int64 }

func (c *connCounter) hook(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		c.n.Add(1)
	}
}

func TestConnectionReuse(t *testing.T) {
	var conns connCounter
	var inFlight, maxInFlight atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := maxInFlight.Load(); n > m && !maxInFlight.CompareAndSwap(m, n); m = maxInFlight.Load() {
		}
		// Long enough for calls to overlap.
		time.Sleep(2 * time.Millisecond)
		switch r.URL.Query().Get("answer") {
		case "503":
			http.Error(w, "busy", http.StatusServiceUnavailable)
		default:
			io.WriteString(w, `{"ok":true}`)
		}
	}))
	srv.Config.ConnState = conns.hook
	srv.Start()
	defer srv.Close()

	// Sequential calls, successes and small failures alike, share one
	// connection.
	for _, answer := range []string{"200", "503"} {
		h := newHTTP(t, worker.Config{URL: srv.URL + "/?answer=" + answer, MaxConns: 4})
		conns.n.Store(0)
		for range 50 {
			if _, err := call(h, newEvent(generous, "")); err != nil && answer == "200" {
				t.Fatal(err)
			}
		}
		if n := conns.n.Load(); n != 1 {
			t.Errorf("50 sequential calls answered %s: %d connections, want 1", answer, n)
		}
		h.Close()
	}

	// Concurrent calls: never more connections than MaxConns.
	const maxConns, callers = 4, 32
	conns.n.Store(0)
	maxInFlight.Store(0)
	h := newHTTP(t, worker.Config{URL: srv.URL, MaxConns: maxConns})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range callers {
		wg.Go(func() {
			for range 10 {
				if _, err := call(h, newEvent(generous, "")); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d calls failed", n)
	}
	if n := conns.n.Load(); n < 1 || n > maxConns {
		t.Errorf("%d callers with MaxConns %d: %d connections", callers, maxConns, n)
	}
	if n := maxInFlight.Load(); n > maxConns {
		t.Errorf("worker saw %d calls at once, want at most %d", n, maxConns)
	}
}

// rawWorker serves each connection with fn over a plain TCP listener,
// after reading the request in full, for workers that do not speak HTTP
// properly.
func rawWorker(t *testing.T, fn func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				fn(c)
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return "http://" + ln.Addr().String() + "/work"
}

// trickle writes s a byte at a time until s is out or the peer is gone.
func trickle(w io.Writer, s string, flush func()) {
	for i := range len(s) {
		if _, err := w.Write([]byte{s[i]}); err != nil {
			return
		}
		flush()
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHostileWorkers(t *testing.T) {
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("[1,2,3,4,5,6,7,8,9]", 1000))
		io.WriteString(w, "[")
		for range 1000 { // about 19 MB, unless the client goes first
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer huge.Close()
	hangs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // or net/http never notices the close
		<-r.Context().Done()
	}))
	defer hangs.Close()
	tricklesBody := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		trickle(w, `{"result": "`+strings.Repeat("x", 200)+`"}`, func() { rc.Flush() })
	}))
	defer tricklesBody.Close()
	hijack := func(fn func(net.Conn, *bufio.ReadWriter)) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			c, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			fn(c, rw)
		}))
	}
	closesBeforeAnswer := hijack(func(net.Conn, *bufio.ReadWriter) {})
	defer closesBeforeAnswer.Close()
	closesMidBody := hijack(func(c net.Conn, rw *bufio.ReadWriter) {
		rw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"partial\": ")
		rw.Flush()
	})
	defer closesMidBody.Close()
	closesMidChunks := hijack(func(c net.Conn, rw *bufio.ReadWriter) {
		rw.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[1,2,\r\n")
		rw.Flush()
	})
	defer closesMidChunks.Close()
	resets := hijack(func(c net.Conn, _ *bufio.ReadWriter) {
		c.(*net.TCPConn).SetLinger(0) // close with RST
	})
	defer resets.Close()
	badChunks := hijack(func(c net.Conn, rw *bufio.ReadWriter) {
		rw.WriteString("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n[1]\r\n0\r\n\r\n")
		rw.Flush()
	})
	defer badChunks.Close()

	cases := []struct {
		name, url string
		deadline  time.Duration
		want      string
	}{
		{"hangs", hangs.URL, short, "deadline"},
		{"trickles its body past the deadline", tricklesBody.URL, short, "deadline"},
		{"trickles its status line past the deadline", rawWorker(t, func(c net.Conn) {
			trickle(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", func() {})
		}), short, "deadline"},
		{"answers garbage", rawWorker(t, func(c net.Conn) {
			io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\n\r\n")
		}), generous, worker.KindBadResponse},
		{"answers a malformed status", rawWorker(t, func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\n{}")
		}), generous, worker.KindBadResponse},
		{"answers bad chunking", badChunks.URL, generous, worker.KindBadResponse},
		{"answers a huge body", huge.URL, generous, worker.KindTooLarge},
		{"closes before answering", closesBeforeAnswer.URL, generous, worker.KindReset},
		{"closes mid-body", closesMidBody.URL, generous, worker.KindReset},
		{"closes mid-chunks", closesMidChunks.URL, generous, worker.KindReset},
		{"resets the connection", resets.URL, generous, worker.KindReset},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHTTP(t, worker.Config{URL: c.url})
			out, err := call(h, newEvent(c.deadline, ""))
			if got := kindOf(err); got != c.want {
				t.Errorf("got %q (err %v), want %s", got, err, c.want)
			}
			if out != nil {
				t.Errorf("output %q with a failure", out)
			}
		})
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	var targetCalls atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		targetCalls.Add(1)
		io.WriteString(w, `{"moved":true}`)
	}))
	defer target.Close()
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		srv := httptest.NewServer(http.RedirectHandler(target.URL+"/work", status))
		_, err := call(newHTTP(t, worker.Config{URL: srv.URL}), newEvent(generous, ""))
		if want := "http-" + strconv.Itoa(status); kindOf(err) != want {
			t.Errorf("redirect %d: %v, want %s", status, err, want)
		}
		srv.Close()
	}
	if n := targetCalls.Load(); n != 0 {
		t.Errorf("redirect target called %d times, want never", n)
	}
}

// freeAddr is a loopback address nothing listens on (for now).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestWorkerDown: every call to a closed port fails fast with connect, and
// the calls leave nothing running behind them.
func TestWorkerDown(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	h, err := worker.New(worker.Config{URL: "http://" + freeAddr(t) + "/work", MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	kinds := make(chan string, 2000)
	for range 16 {
		wg.Go(func() {
			for range 125 {
				_, err := call(h, newEvent(generous, ""))
				kinds <- kindOf(err)
			}
		})
	}
	wg.Wait()
	close(kinds)
	counts := map[string]int{}
	for k := range kinds {
		counts[k]++
	}
	if counts[worker.KindConnect] != 2000 {
		t.Errorf("outcomes %v, want 2000 %s", counts, worker.KindConnect)
	}
	h.Close()
	goleak.VerifyNone(t, ignore)
}

func TestUnresolvableHostIsConnect(t *testing.T) {
	h := newHTTP(t, worker.Config{URL: "http://worker.invalid/work"})
	if _, err := call(h, newEvent(generous, "")); kindOf(err) != worker.KindConnect {
		t.Errorf("got %v, want %s", err, worker.KindConnect)
	}
}

// TestWorkerComesBack: a worker that goes down and comes back on the same
// address gets calls again, through a new connection.
func TestWorkerComesBack(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"up":true}`) })
	srv := httptest.NewServer(handler)
	addr := srv.Listener.Addr().String()
	h := newHTTP(t, worker.Config{URL: srv.URL})
	if _, err := call(h, newEvent(generous, "")); err != nil {
		t.Fatal(err)
	}
	srv.Close() // closes the pooled connection too
	for i := range 3 {
		_, err := call(h, newEvent(generous, ""))
		// The first call may race the pool noticing that the worker
		// closed its idle connection: it is then written to it, and the
		// worker is gone before answering. Not resent: it was written.
		if k := kindOf(err); k != worker.KindConnect && (i > 0 || k != worker.KindReset) {
			t.Fatalf("worker down, call %d: %v, want %s", i, err, worker.KindConnect)
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	back := &http.Server{Handler: handler}
	done := make(chan struct{})
	go func() { defer close(done); back.Serve(ln) }()
	defer func() { back.Close(); <-done }()
	for range 3 {
		if out, err := call(h, newEvent(generous, "")); err != nil || string(out) != `{"up":true}` {
			t.Fatalf("worker back: %s, %v", out, err)
		}
	}
}

func TestHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"secure":true}`)
	}))
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	h := newHTTP(t, worker.Config{URL: srv.URL, TLS: &tls.Config{RootCAs: roots}})
	if out, err := call(h, newEvent(generous, "")); err != nil || string(out) != `{"secure":true}` {
		t.Errorf("trusted worker: %s, %v", out, err)
	}
	// The test certificate is not in the system's roots.
	if _, err := call(newHTTP(t, worker.Config{URL: srv.URL}), newEvent(generous, "")); kindOf(err) != worker.KindTLS {
		t.Errorf("untrusted certificate: %v, want %s", err, worker.KindTLS)
	}
	// An https URL for a worker that speaks plain HTTP.
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	u := strings.Replace(plain.URL, "http://", "https://", 1)
	if _, err := call(newHTTP(t, worker.Config{URL: u}), newEvent(generous, "")); kindOf(err) != worker.KindTLS {
		t.Errorf("https to a plain worker: %v, want %s", err, worker.KindTLS)
	}
}

// TestNoProxyFromEnvironment: HTTP_PROXY does not reroute calls. Go reads
// the proxy variables once per process, so the check runs in a fresh test
// process with them set. Go never proxies loopback addresses: the worker
// is a name that does not resolve, which through the proxy would answer
// 502 and directly fails with connect.
func TestNoProxyFromEnvironment(t *testing.T) {
	proxyURL := os.Getenv("WORKER_TEST_PROXY")
	if proxyURL == "" {
		var proxied atomic.Int64
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			proxied.Add(1)
			http.Error(w, "proxy", http.StatusBadGateway)
		}))
		defer proxy.Close()
		cmd := exec.Command(os.Args[0], "-test.run=^TestNoProxyFromEnvironment$", "-test.count=1")
		cmd.Env = append(os.Environ(), "WORKER_TEST_PROXY="+proxy.URL, "NO_PROXY=", "no_proxy=")
		for _, name := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"} {
			cmd.Env = append(cmd.Env, name+"="+proxy.URL)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("with HTTP_PROXY set: %v\n%s", err, out)
		}
		if n := proxied.Load(); n != 0 {
			t.Errorf("%d calls went through the proxy", n)
		}
		return
	}
	if got := os.Getenv("HTTP_PROXY"); got != proxyURL {
		t.Fatalf("HTTP_PROXY %q, want %q", got, proxyURL)
	}
	if _, err := call(newHTTP(t, worker.Config{URL: "http://worker.invalid/work"}), newEvent(generous, "")); kindOf(err) != worker.KindConnect {
		t.Errorf("got %v, want %s", err, worker.KindConnect)
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A worker that answers 500 with a chunked body: the call fails as
// http-500, its error carries the start of the body, and the failure is
// logged once for a burst, with the status and the body.
func TestFailureLogged(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusInternalServerError)
		w.(http.Flusher).Flush() // no Content-Length: the body is chunked
		io.WriteString(w, "database is down: "+strings.Repeat("x", 300))
	}))
	defer srv.Close()
	var logs syncBuffer
	h := newHTTP(t, worker.Config{URL: srv.URL, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for range 5 {
		_, err := call(h, newEvent(generous, ""))
		if kindOf(err) != "http-500" || !strings.Contains(err.Error(), `"database is down: xxx`) {
			t.Fatalf("error %v, want http-500 with the start of the body", err)
		}
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("log %q: want one line for 5 failures within %s", logs.String(), worker.FailureLogEvery)
	}
	for _, want := range []string{"level=WARN", `msg="worker call failed"`, "kind=http-500", "500 Internal Server Error", "database is down", "failures=1"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line %q lacks %q", lines[0], want)
		}
	}
}
