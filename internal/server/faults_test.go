package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ontime-rt/ontime/internal/outcomes"
)

// halfSent opens n connections to addr, each sending head (a request that
// announces a body of 100,000 bytes) and no body, and returns, for each, the
// status answered and whether the server then closed the connection within
// limit. A connection the server keeps is the bug.
func halfSent(t *testing.T, addr, head string, n int, limit time.Duration) (statuses []int, closed int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(limit)
	for range n {
		wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, strings.ReplaceAll(head, "\n", "\r\n")+"Content-Length: 100000\r\n\r\n"); err != nil {
				t.Error(err)
				return
			}
			_ = conn.SetReadDeadline(deadline)
			br := bufio.NewReader(conn)
			status := 0
			if resp, err := http.ReadResponse(br, nil); err == nil {
				status = resp.StatusCode
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			// Anything but the end of the stream before the deadline: held.
			_, err = br.ReadByte()
			mu.Lock()
			defer mu.Unlock()
			statuses = append(statuses, status)
			if errors.Is(err, io.EOF) {
				closed++
			}
		})
	}
	wg.Wait()
	return statuses, closed
}

// A request refused before its body is read (foreign Host 421, no token
// through a proxy 403, wrong token 401, over the rate 429, shutting down
// 503), that announces a body and never sends it, is answered and its
// connection closed within the guard's read timeout; so is one to a route
// that reads no body (404, a GET) within the body read timeout. No
// goroutine stays behind (leakCheck).
func TestHalfSentRequestsClosed(t *testing.T) {
	leakCheck(t)
	const n = 40
	const limit = 10 * time.Second // the guard's read timeout
	open, _ := frontServer(t, Config{Writes: &WriteGuard{}, BodyReadTimeout: 2 * time.Second})
	token, _ := frontServer(t, Config{Writes: &WriteGuard{Token: "s3cret"}})
	limited, _ := frontServer(t, Config{Writes: &WriteGuard{Token: "s3cret", Rate: 0.001, MaxConcurrent: 2 * n}})
	gate := &WriteGate{}
	closing, _ := frontServer(t, Config{Writes: &WriteGuard{}, Closing: gate})
	if err := gate.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, c := range []struct {
		name   string
		addr   string
		head   string
		status []int
	}{
		{"foreign Host", open.Listener.Addr().String(), "PATCH /api/config HTTP/1.1\nHost: rebind.attacker.example\nContent-Type: application/json\n", []int{421}},
		{"through a proxy, no token", open.Listener.Addr().String(), "PATCH /api/config HTTP/1.1\nHost: %s\nX-Forwarded-For: 203.0.113.7\nContent-Type: application/json\n", []int{403}},
		{"wrong token", token.Listener.Addr().String(), "PATCH /api/config HTTP/1.1\nHost: %s\nAuthorization: Bearer nope\nContent-Type: application/json\n", []int{401}},
		{"over the rate", limited.Listener.Addr().String(), "PATCH /api/config HTTP/1.1\nHost: %s\nAuthorization: Bearer nope\nContent-Type: application/json\n", []int{401, 429}},
		{"shutting down", closing.Listener.Addr().String(), "PATCH /api/config HTTP/1.1\nHost: %s\nContent-Type: application/json\n", []int{503}},
		{"no such route", open.Listener.Addr().String(), "POST /nowhere HTTP/1.1\nHost: %s\n", []int{0, 404}},
		{"method not allowed", open.Listener.Addr().String(), "POST /api/config HTTP/1.1\nHost: %s\n", []int{0, 405}},
		{"a read with a body", open.Listener.Addr().String(), "GET /api/stats HTTP/1.1\nHost: %s\n", []int{0, 200}},
	} {
		wg.Go(func() {
			head := c.head
			if strings.Contains(head, "%s") {
				head = fmt.Sprintf(head, c.addr)
			}
			statuses, closed := halfSent(t, c.addr, head, n, limit)
			if closed != n {
				t.Errorf("%s: %d of %d half-sent requests still held after %s", c.name, n-closed, n, limit)
			}
			for _, s := range statuses {
				if !slices.Contains(c.status, s) {
					t.Errorf("%s: answered %d, want one of %v", c.name, s, c.status)
					break
				}
			}
		})
	}
	wg.Wait()
}

// A refused request whose client sends the whole body at once still reads
// the answer: the rest of the body is read before the connection closes,
// rather than the connection being reset under the answer.
func TestRefusedWholeBodyReadsAnswer(t *testing.T) {
	leakCheck(t)
	srv, _ := frontServer(t, Config{Writes: &WriteGuard{}})
	body := strings.Repeat("x", 200_000)
	for range 20 {
		conn := rawRequest(t, srv, "PATCH /api/config HTTP/1.1\nHost: rebind.attacker.example\nContent-Type: application/json\nContent-Length: 200000\n", body)
		if code := readStatus(t, conn); code != http.StatusMisdirectedRequest {
			t.Fatalf("refused request with its whole body: %d, want 421", code)
		}
		conn.Close()
	}
}

// The rate limiter's table is no lever: once it is full of other
// addresses (here through a trusted proxy), a new client with the token is
// accepted, and its own rate still applies. IPv6 clients are limited per
// /64.
func TestRateTableFullValidTokenAccepted(t *testing.T) {
	leakCheck(t)
	trust, err := ParseCIDRs("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	const tracked = 200
	srv, conf := frontServer(t, Config{TrustedProxies: trust, Writes: &WriteGuard{Token: "s3cret", Rate: 0.01, MaxTracked: tracked}})
	from := func(client, token string) int {
		t.Helper()
		code, _ := send(t, http.MethodPatch, srv.URL+"/api/config", http.Header{"Authorization": {"Bearer " + token}, "X-Forwarded-For": {client}}, `{"rate":5}`)
		return code
	}
	// Fill the table, then some: each address spends its burst of 1
	// (rate 0.01/s), and the new ones keep coming.
	for i := range tracked + 50 {
		client := fmt.Sprintf("10.%d.%d.1", i/250, i%250)
		if code := from(client, "nope"); code != http.StatusUnauthorized {
			t.Fatalf("attacker %s, first wrong token: %d, want 401", client, code)
		}
		if code := from(client, "nope"); code != http.StatusTooManyRequests {
			t.Fatalf("attacker %s, second wrong token: %d, want 429 (its own rate)", client, code)
		}
	}
	if code := from("192.0.2.10", "s3cret"); code != http.StatusOK {
		t.Fatalf("a new client with the token, table full: %d, want 200", code)
	}
	if code := from("192.0.2.10", "s3cret"); code != http.StatusTooManyRequests {
		t.Fatalf("the same client again: %d, want 429 (its own rate, burst 1)", code)
	}
	if conf.count() != 1 {
		t.Fatalf("%d patches applied, want 1", conf.count())
	}

	// IPv6: one /64 is one client.
	if code := from("2001:db8:0:1::1", "s3cret"); code != http.StatusOK {
		t.Fatalf("IPv6 client: %d, want 200", code)
	}
	if code := from("2001:db8:0:1::ffff", "s3cret"); code != http.StatusTooManyRequests {
		t.Fatalf("another address of the same /64: %d, want 429", code)
	}
	if code := from("2001:db8:0:2::1", "s3cret"); code != http.StatusOK {
		t.Fatalf("another /64: %d, want 200", code)
	}
}

// The table forgets first the limiters that have refilled (as good as new),
// and it never holds more than MaxTracked.
func TestRateTableBounded(t *testing.T) {
	now := time.Unix(1_750_000_000, 0)
	g := &WriteGuard{Rate: 1, MaxTracked: 10, Now: func() time.Time { return now }}
	g.init()
	for i := range 100 {
		if ok, _ := g.allow(fmt.Sprintf("10.0.0.%d", i)); !ok {
			t.Fatalf("new address %d refused", i)
		}
		if len(g.limiters) > 10 || g.recent.Len() != len(g.limiters) {
			t.Fatalf("table of %d (list %d), want at most 10", len(g.limiters), g.recent.Len())
		}
	}
	now = now.Add(2 * time.Second) // burst 2 at 1/s: refilled
	if ok, _ := g.allow("10.0.1.1"); !ok || len(g.limiters) != 1 {
		t.Fatalf("after every limiter refilled: %v, table of %d, want 1", ok, len(g.limiters))
	}
}

// Every route but /healthz refuses a Host that is not one of the server's
// own names (DNS rebinding) with a JSON 421, reads included; the listen
// address, localhost, the hostname and the public URL's host are answered.
func TestForeignHostReadsRefused(t *testing.T) {
	leakCheck(t)
	pub, err := ParsePublicURL("https://ontime.example.com")
	if err != nil {
		t.Fatal(err)
	}
	store := outcomes.New(outcomes.Config{})
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ontime_up 1\n") })
	srv, _ := frontServer(t, Config{PublicURL: pub, Hostnames: []string{"Ontime-1"}, Outcomes: store, Metrics: metrics,
		Static: fstest.MapFS{"style.css": {Data: []byte("body{}")}}})
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	id := uuid.NewString()
	reads := []string{"/api/stream", "/ui/stream", "/api/events/" + id, "/metrics", "/api/stats", "/api/config",
		"/", "/app/", "/static/style.css", "/ui/events/" + id, "/ws"}
	get := func(path, host string) (int, string) {
		t.Helper()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel() // ends the streams once their head is read
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Content-Type")
	}
	for _, host := range []string{"rebind.attacker.example:" + port, "attacker.example", "127.0.0.2:" + port, "ontime-1:1"} {
		for _, path := range reads {
			if code, ct := get(path, host); code != http.StatusMisdirectedRequest || ct != "application/json; charset=utf-8" {
				t.Errorf("GET %s with Host %s: %d %s, want 421 JSON", path, host, code, ct)
			}
		}
		if code, _ := get("/healthz", host); code != http.StatusOK {
			t.Errorf("GET /healthz with Host %s: %d, want 200", host, code)
		}
	}
	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "ontime-1:" + port, "ontime.example.com"} {
		for _, path := range reads {
			if code, _ := get(path, host); code == http.StatusMisdirectedRequest {
				t.Errorf("GET %s with own Host %s: 421", path, host)
			}
		}
	}
	// The WebSocket with the public origin, through a proxy that forwards
	// Host.
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	c, resp, err := (&websocket.Dialer{}).Dial(wsURL, http.Header{"Host": {"ontime.example.com"}, "Origin": {"https://ontime.example.com"}})
	if err != nil {
		t.Fatalf("/ws with the public URL's Host and Origin: %v %v", resp, err)
	}
	c.Close()
}

// A server with a public URL or trusted proxies is meant to be reached
// through a proxy; a proxy that adds no forwarding header (a bare
// proxy_pass) makes its requests look local, so without a token every
// write is refused, with a 403 that says why.
func TestProxiedServerWritesNeedToken(t *testing.T) {
	leakCheck(t)
	pub, err := ParsePublicURL("https://ontime.example.com")
	if err != nil {
		t.Fatal(err)
	}
	trust, err := ParseCIDRs("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"public URL":    {PublicURL: pub, Writes: &WriteGuard{}},
		"trusted proxy": {TrustedProxies: trust, Writes: &WriteGuard{}},
	} {
		srv, conf := frontServer(t, cfg)
		// What nginx's bare proxy_pass sends: Host the upstream's address,
		// from loopback, no forwarding header.
		code, msg := send(t, http.MethodPatch, srv.URL+"/api/config", nil, `{"rate":5}`)
		if code != http.StatusForbidden || !strings.Contains(msg, "--token") || !strings.Contains(msg, "proxy") {
			t.Errorf("%s, no token: write from loopback: %d %q, want 403 naming the proxy and --token", name, code, msg)
		}
		if conf.count() != 0 {
			t.Errorf("%s: a write was applied without a token", name)
		}
	}
	srv, conf := frontServer(t, Config{PublicURL: pub, Writes: &WriteGuard{Token: "s3cret"}})
	if code, msg := send(t, http.MethodPatch, srv.URL+"/api/config", http.Header{"Authorization": {"Bearer s3cret"}}, `{"rate":5}`); code != http.StatusOK || conf.count() != 1 {
		t.Fatalf("public URL, with the token: %d %q, want 200", code, msg)
	}
}
