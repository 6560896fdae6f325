package sse

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/cork"
	"github.com/ontime-rt/ontime/internal/stream"
)

// h2Server serves handler over HTTPS with HTTP/2 and ConnContext, as the
// node does, on cork connections (1 ms window). It counts the connections
// and the Gathers they were given and not yet withdrawn.
func h2Server(t *testing.T, handler http.Handler) (srv *httptest.Server, client *http.Client, conns, gathers *atomic.Int32) {
	t.Helper()
	srv = httptest.NewUnstartedServer(handler)
	srv.EnableHTTP2 = true
	conns, gathers = new(atomic.Int32), new(atomic.Int32)
	srv.Listener = countingListener{Listener: cork.Listener(srv.Listener, time.Millisecond), gathers: gathers}
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		conns.Add(1)
		return stream.ConnContext(ctx, c)
	}
	srv.StartTLS() // the TLS connections are over countingConns
	t.Cleanup(srv.Close)
	return srv, srv.Client(), conns, gathers
}

// countingListener hands out its cork connections as countingConns.
type countingListener struct {
	net.Listener
	gathers *atomic.Int32
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: c.(*cork.Conn), gathers: l.gathers}, nil
}

// countingConn is a cork.Conn that counts Gathers not yet withdrawn, in a
// count shared by the listener's connections.
type countingConn struct {
	*cork.Conn
	gathers *atomic.Int32
}

func (c countingConn) Gather() {
	c.gathers.Add(1)
	c.Conn.Gather()
}

func (c countingConn) StopGathering() {
	c.gathers.Add(-1)
	c.Conn.StopGathering()
}

type openStream struct {
	body   *bufio.Reader
	cancel context.CancelFunc
	resp   *http.Response
}

func open(t *testing.T, c *http.Client, url string) *openStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
	}
	s := &openStream{body: bufio.NewReader(resp.Body), cancel: cancel, resp: resp}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return s
}

func (h *Handler) cohortSize() (cohorts, members int, leader bool) {
	h.cohorts.mu.Lock()
	defer h.cohorts.mu.Unlock()
	for _, c := range h.cohorts.m {
		c.mu.Lock()
		members += c.members
		leader = leader || c.wake != nil
		c.mu.Unlock()
	}
	return len(h.cohorts.m), members, leader
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The streams of one HTTP/2 connection wait on one leader: each frame,
// published only once the one before reached every stream (so a missed
// wake-up would hang the test), reaches them all in order; streams come
// and go, and the last to leave stops the leader. The connection gathers
// its writes while the leader runs, and only then.
func TestCohortWakesTheStreamsOfAConnection(t *testing.T) {
	h := newTestHub(t)
	defer h.Close()
	handler := &Handler{Hub: h, Format: "sse"}
	srv, client, conns, gathers := h2Server(t, handler)

	streams := make([]*openStream, 4)
	streams[0] = open(t, client, srv.URL)
	// One stream alone waits on its own subscription: no leader.
	waitFor(t, "a cohort of one", func() bool {
		n, m, _ := handler.cohortSize()
		return n == 1 && m == 1
	})
	if _, _, leader := handler.cohortSize(); leader {
		t.Fatal("a leader for a single stream")
	}
	if n := gathers.Load(); n != 0 {
		t.Fatalf("a connection with one stream gathers (%d)", n)
	}
	streams[1] = open(t, client, srv.URL)
	// The second stream starts the leader, which asks the connection to
	// gather (join does both before the member count shows 2).
	waitFor(t, "2 members and a leader", func() bool {
		n, m, leader := handler.cohortSize()
		return n == 1 && m == 2 && leader
	})
	if n := gathers.Load(); n != 1 {
		t.Fatalf("%d gathers with a leader, want 1", n)
	}
	for i := 2; i < len(streams); i++ {
		streams[i] = open(t, client, srv.URL)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 4 streams, want 1", n)
	}
	waitFor(t, "4 members and a leader", func() bool {
		n, m, leader := handler.cohortSize()
		return n == 1 && m == 4 && leader
	})
	seq := uint64(0)
	publishAndRead := func(live []*openStream) {
		t.Helper()
		for range 5 {
			seq++
			h.Publish(&batch.Batch{Seq: seq})
			for i, s := range live {
				ids := readIDs(t, s.body, 1)
				if want := "0-" + itoa(seq); ids[0] != want {
					t.Fatalf("stream %d: id %s, want %s", i, ids[0], want)
				}
			}
		}
	}
	publishAndRead(streams)

	// Three leave: the last one goes on, its leader with it.
	for _, s := range streams[:3] {
		s.cancel()
	}
	waitFor(t, "one member left", func() bool {
		n, m, leader := handler.cohortSize()
		return n == 1 && m == 1 && leader
	})
	if n := gathers.Load(); n != 1 {
		t.Fatalf("%d gathers while the leader runs, want 1", n)
	}
	publishAndRead(streams[3:])

	streams[3].cancel()
	waitFor(t, "no cohort left", func() bool {
		n, _, _ := handler.cohortSize()
		return n == 0
	})
	waitFor(t, "the gathering to stop", func() bool { return gathers.Load() == 0 })
}

// When the hub closes, every stream of a cohort ends cleanly, the leader
// with them.
func TestCohortEndsWithTheHub(t *testing.T) {
	h := newTestHub(t)
	handler := &Handler{Hub: h, Format: "sse"}
	srv, client, _, gathers := h2Server(t, handler)
	a, b := open(t, client, srv.URL), open(t, client, srv.URL)
	waitFor(t, "a leader", func() bool { _, m, leader := handler.cohortSize(); return m == 2 && leader })
	if n := gathers.Load(); n != 1 {
		t.Fatalf("%d gathers with a leader, want 1", n)
	}
	h.Publish(&batch.Batch{Seq: 1})
	readIDs(t, a.body, 1)
	readIDs(t, b.body, 1)
	h.Close()
	for _, s := range []*openStream{a, b} {
		if _, err := io.Copy(io.Discard, s.body); err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("end of stream: %v", err)
		}
	}
	waitFor(t, "no cohort left", func() bool { n, _, _ := handler.cohortSize(); return n == 0 })
	// The leader may end after the last member has left the cohort.
	waitFor(t, "the gathering to stop", func() bool { return gathers.Load() == 0 })
}

// The gatherer is found under the TLS connection, and a connection without
// one (plain TCP) has none.
func TestGathererOf(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if g := gathererOf(a); g != nil {
		t.Fatalf("gatherer %T in a plain connection", g)
	}
	var gathers atomic.Int32
	cc := countingConn{gathers: &gathers}
	if g := gathererOf(tls.Server(cc, &tls.Config{})); g != cc {
		t.Fatalf("gatherer %v under the TLS connection, want the countingConn", g)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
