package sse

import (
	"bufio"
	"context"
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
	"github.com/ontime-rt/ontime/internal/stream"
)

// h2Server serves handler over HTTPS with HTTP/2 and ConnContext, as the
// node does.
func h2Server(t *testing.T, handler http.Handler) (*httptest.Server, *http.Client, *atomic.Int32) {
	t.Helper()
	srv := httptest.NewUnstartedServer(handler)
	srv.EnableHTTP2 = true
	var conns atomic.Int32
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		conns.Add(1)
		return stream.ConnContext(ctx, c)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, srv.Client(), &conns
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
// and go, and the last to leave stops the leader.
func TestCohortWakesTheStreamsOfAConnection(t *testing.T) {
	h := newTestHub(t)
	defer h.Close()
	handler := &Handler{Hub: h, Format: "sse"}
	srv, client, conns := h2Server(t, handler)

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
	for i := 1; i < len(streams); i++ {
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
	publishAndRead(streams[3:])

	streams[3].cancel()
	waitFor(t, "no cohort left", func() bool {
		n, _, _ := handler.cohortSize()
		return n == 0
	})
}

// When the hub closes, every stream of a cohort ends cleanly, the leader
// with them.
func TestCohortEndsWithTheHub(t *testing.T) {
	h := newTestHub(t)
	handler := &Handler{Hub: h, Format: "sse"}
	srv, client, _ := h2Server(t, handler)
	a, b := open(t, client, srv.URL), open(t, client, srv.URL)
	waitFor(t, "a leader", func() bool { _, m, leader := handler.cohortSize(); return m == 2 && leader })
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
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
