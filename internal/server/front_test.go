package server

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/web"
)

// leakCheck checks for leaked goroutines after every other cleanup.
func leakCheck(t *testing.T) {
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		goleak.VerifyNone(t)
	})
}

// applied is a Configurator that accepts every patch and counts them.
type applied struct {
	mu sync.Mutex
	n  int
}

func (a *applied) Settings() config.Settings { return config.Defaults() }
func (a *applied) Apply(config.Patch) (config.Settings, error) {
	a.mu.Lock()
	a.n++
	a.mu.Unlock()
	return config.Defaults(), nil
}

func (a *applied) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// frontServer serves the router with cfg on loopback.
func frontServer(t *testing.T, cfg Config) (*httptest.Server, *applied) {
	t.Helper()
	h, err := hub.New(hub.Config{Encoders: map[string]hub.Encoder{
		FormatJSON:        func(b *batch.Batch) ([]byte, error) { return json.Marshal(b) },
		FormatJSONSummary: func(b *batch.Batch) ([]byte, error) { return json.Marshal(b) },
	}})
	if err != nil {
		t.Fatal(err)
	}
	conf := &applied{}
	srv := httptest.NewServer(New(cfg, h, zeroStats{}, conf, web.NewRenderer(func() bool { return false })))
	t.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	return srv, conf
}

// send makes a request and returns its status and JSON error, if any.
func send(t *testing.T, method, url string, header http.Header, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &e)
	return resp.StatusCode, e.Error
}

// Without a token, a write that came through a proxy (any of its headers)
// is refused with a JSON 403; the same write straight from loopback is
// applied.
func TestWritesThroughProxyNeedToken(t *testing.T) {
	leakCheck(t)
	srv, conf := frontServer(t, Config{Writes: &WriteGuard{}})
	for _, h := range []http.Header{
		{"X-Forwarded-For": {"203.0.113.7"}},
		{"X-Real-Ip": {"203.0.113.7"}},
		{"Forwarded": {"for=203.0.113.7;proto=https"}},
	} {
		code, msg := send(t, http.MethodPatch, srv.URL+"/api/config", h, `{"rate":5}`)
		if code != http.StatusForbidden || !strings.Contains(msg, "proxy") {
			t.Errorf("PATCH with %v: %d %q, want 403 naming the proxy", h, code, msg)
		}
	}
	if conf.count() != 0 {
		t.Fatalf("%d patches applied through a proxy without a token", conf.count())
	}
	if code, msg := send(t, http.MethodPatch, srv.URL+"/api/config", nil, `{"rate":5}`); code != http.StatusOK {
		t.Fatalf("PATCH from loopback without proxy headers: %d %q, want 200", code, msg)
	}
}

// Headers of a trusted proxy name the client: rate limits count per real
// client, not per proxy. Headers from an untrusted peer are not believed.
func TestTrustedProxyRateLimitsPerClient(t *testing.T) {
	leakCheck(t)
	trust, err := ParseCIDRs("127.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := frontServer(t, Config{TrustedProxies: trust, Writes: &WriteGuard{Token: "s3cret", Rate: 1}})
	auth := func(client string) http.Header {
		return http.Header{"Authorization": {"Bearer s3cret"}, "X-Forwarded-For": {"198.51.100.9, " + client}}
	}
	// Burst 2 per client.
	for i, want := range []int{200, 200, 429} {
		if code, msg := send(t, http.MethodPatch, srv.URL+"/api/config", auth("203.0.113.1"), `{"rate":5}`); code != want {
			t.Fatalf("client A write %d: %d %q, want %d", i, code, msg, want)
		}
	}
	if code, msg := send(t, http.MethodPatch, srv.URL+"/api/config", auth("203.0.113.2"), `{"rate":5}`); code != 200 {
		t.Fatalf("client B behind the same proxy: %d %q, want 200 (its own bucket)", code, msg)
	}

	// Not trusted: everyone behind the peer shares its bucket.
	srv2, _ := frontServer(t, Config{Writes: &WriteGuard{Token: "s3cret", Rate: 1}})
	codes := []int{}
	for _, c := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
		code, _ := send(t, http.MethodPatch, srv2.URL+"/api/config", auth(c), `{"rate":5}`)
		codes = append(codes, code)
	}
	if codes[2] != 429 {
		t.Fatalf("untrusted peer's forwarded addresses were believed: %v", codes)
	}
}

func TestForwardedClient(t *testing.T) {
	trust := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, c := range []struct {
		h    http.Header
		want string
	}{
		{http.Header{"X-Forwarded-For": {"1.2.3.4"}}, "1.2.3.4"},
		{http.Header{"X-Forwarded-For": {"6.6.6.6, 1.2.3.4, 10.0.0.2"}}, "1.2.3.4"}, // spoofed left part ignored
		{http.Header{"X-Forwarded-For": {"6.6.6.6", "1.2.3.4"}}, "1.2.3.4"},
		{http.Header{"Forwarded": {`for=1.2.3.4;proto=https, for="[2001:db8::1]:443"`}}, "2001:db8::1"},
		{http.Header{"X-Real-Ip": {"1.2.3.4"}}, "1.2.3.4"},
		{http.Header{"X-Forwarded-For": {"10.0.0.3, 10.0.0.2"}}, "10.0.0.3"},
		{http.Header{"X-Forwarded-For": {"junk"}}, ""},
	} {
		a, ok := forwardedClient(c.h, trust)
		got := ""
		if ok {
			got = a.String()
		}
		if got != c.want {
			t.Errorf("%v: %q, want %q", c.h, got, c.want)
		}
	}
}

// Refused requests count against the rate limit: wrong tokens cannot be
// tried without limit.
func TestRateLimitCountsRefusedWrites(t *testing.T) {
	leakCheck(t)
	srv, _ := frontServer(t, Config{Writes: &WriteGuard{Token: "s3cret", Rate: 1}})
	wrong := http.Header{"Authorization": {"Bearer nope"}}
	for i, want := range []int{401, 401, 429, 429} {
		if code, msg := send(t, http.MethodPatch, srv.URL+"/api/config", wrong, `{}`); code != want {
			t.Fatalf("wrong token %d: %d %q, want %d", i, code, msg, want)
		}
	}
}

// rawRequest writes a request head and part of its body on a new
// connection and returns the connection, for bodies that never finish.
func rawRequest(t *testing.T, srv *httptest.Server, head string, partial string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, strings.ReplaceAll(head, "\n", "\r\n")+"\r\n"+partial); err != nil {
		t.Fatal(err)
	}
	return conn
}

// readStatus reads the response's status, failing after a generous bound
// (a hang is the bug).
func readStatus(t *testing.T, conn net.Conn) int {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A settings body dripped slowly is cut by the read deadline: the request
// is answered (400) instead of holding the connection.
func TestSlowDripBodyCutByDeadline(t *testing.T) {
	leakCheck(t)
	srv, conf := frontServer(t, Config{Writes: &WriteGuard{ReadTimeout: 200 * time.Millisecond}})
	host := srv.Listener.Addr().String()
	conn := rawRequest(t, srv, "PATCH /api/config HTTP/1.1\nHost: "+host+"\nContent-Type: application/json\nContent-Length: 100\n", `{"ra`)
	if code := readStatus(t, conn); code != http.StatusBadRequest {
		t.Fatalf("dripped PATCH: %d, want 400 once the deadline passed", code)
	}
	// The form of the page with a token: the guard reads it under the
	// deadline too.
	srv2, _ := frontServer(t, Config{Writes: &WriteGuard{Token: "s3cret", ReadTimeout: 200 * time.Millisecond}})
	host = srv2.Listener.Addr().String()
	conn = rawRequest(t, srv2, "PATCH /ui/config HTTP/1.1\nHost: "+host+"\nContent-Type: application/x-www-form-urlencoded\nContent-Length: 100\n", `token=s3`)
	if code := readStatus(t, conn); code != http.StatusUnauthorized {
		t.Fatalf("dripped form: %d, want 401 once the deadline passed", code)
	}
	if conf.count() != 0 {
		t.Fatal("a cut body was applied")
	}
}

// A wrong bearer token is refused without reading the body.
func TestTokenBeforeBody(t *testing.T) {
	leakCheck(t)
	srv, _ := frontServer(t, Config{Writes: &WriteGuard{Token: "s3cret", ReadTimeout: time.Hour}})
	host := srv.Listener.Addr().String()
	conn := rawRequest(t, srv, "PATCH /ui/config HTTP/1.1\nHost: "+host+"\nAuthorization: Bearer nope\nContent-Type: application/x-www-form-urlencoded\nContent-Length: 100\n", `token=s3`)
	if code := readStatus(t, conn); code != http.StatusUnauthorized {
		t.Fatalf("wrong header token with an unfinished form: %d, want 401 at once", code)
	}
}

// At most MaxConcurrent writes in progress per address; the next gets 429.
func TestConcurrentWritesCapped(t *testing.T) {
	leakCheck(t)
	srv, _ := frontServer(t, Config{Writes: &WriteGuard{MaxConcurrent: 3, ReadTimeout: time.Hour}})
	host := srv.Listener.Addr().String()
	for range 3 {
		rawRequest(t, srv, "PATCH /api/config HTTP/1.1\nHost: "+host+"\nContent-Type: application/json\nContent-Length: 100\n", `{`)
	}
	// The held requests reach the guard in their own time: try until the
	// cap shows (every try before it completes and frees its place), for
	// at most 30 s (a count of tries ran out on a loaded machine).
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		code, msg := send(t, http.MethodPatch, srv.URL+"/api/config", nil, `{"rate":5}`)
		if code == http.StatusTooManyRequests {
			if !strings.Contains(msg, "at most 3") {
				t.Fatalf("429 without saying why: %q", msg)
			}
			break
		}
		if code != http.StatusOK || time.Now().After(deadline) {
			t.Fatalf("try %d: %d %q", i, code, msg)
		}
	}
}

// A request whose Host is not the server's own name (DNS rebinding) is
// refused on every route that writes and on /ws; the listen address,
// localhost and the public URL's host are accepted.
func TestForeignHostRefused(t *testing.T) {
	leakCheck(t)
	pub, err := ParsePublicURL("https://Ontime.Example.com/")
	if err != nil {
		t.Fatal(err)
	}
	srv, conf := frontServer(t, Config{PublicURL: pub, Writes: &WriteGuard{Token: "s3cret"}})
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, path := range []string{"/api/config", "/ui/config"} {
		ct := "application/json"
		if path == "/ui/config" {
			ct = "application/x-www-form-urlencoded"
		}
		for _, host := range []string{"rebind.attacker.example:" + port, "attacker.example", "127.0.0.2:" + port} {
			req, _ := http.NewRequest(http.MethodPatch, srv.URL+path, strings.NewReader(`{"rate":5}`))
			req.Host = host
			req.Header.Set("Content-Type", ct)
			req.Header.Set("Authorization", "Bearer s3cret")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMisdirectedRequest || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
				t.Errorf("PATCH %s with Host %s: %d %s, want 421 JSON", path, host, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
	}
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "ontime.example.com", "ONTIME.example.com:443"} {
		req, _ := http.NewRequest(http.MethodPatch, srv.URL+"/api/config", strings.NewReader(`{"rate":5}`))
		req.Host = host
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("PATCH with own Host %s: %d, want 200", host, resp.StatusCode)
		}
	}
	if conf.count() != 4 {
		t.Fatalf("%d patches applied, want the 4 with the server's own Host", conf.count())
	}

	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	d := websocket.Dialer{}
	_, resp, err := d.Dial(wsURL, http.Header{"Host": {"rebind.attacker.example:" + port}, "Origin": {"http://rebind.attacker.example:" + port}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("/ws with a foreign Host and Origin: %v %v, want 421", resp, err)
	}
	// Behind a proxy that forwards Host, the public origin opens /ws.
	c, resp, err := d.Dial(wsURL, http.Header{"Host": {"ontime.example.com"}, "Origin": {"https://ontime.example.com"}})
	if err != nil {
		t.Fatalf("/ws with the public URL's Host and Origin: %v %v", resp, err)
	}
	c.Close()
	// A proxy that does not forward Host: the public origin is still ours.
	c, resp, err = d.Dial(wsURL, http.Header{"Origin": {"https://ontime.example.com"}})
	if err != nil {
		t.Fatalf("/ws with the public origin, Host the listen address: %v %v", resp, err)
	}
	c.Close()
}

func TestParsePublicURL(t *testing.T) {
	for raw, want := range map[string]string{
		"https://Example.com/":     "https://example.com",
		"https://example.com:443":  "https://example.com",
		"http://example.com:8080":  "http://example.com:8080",
		"http://[::1]:8080":        "http://[::1]:8080",
		"ftp://example.com":        "",
		"https://example.com/path": "",
		"example.com":              "",
		"https://example.com:0":    "",
	} {
		u, err := ParsePublicURL(raw)
		got := ""
		if err == nil {
			got = u.String()
		}
		if got != want {
			t.Errorf("%q: %q (%v), want %q", raw, got, err, want)
		}
	}
}

// /static/ serves files only: no directory listings, GET and HEAD only,
// every refusal in JSON.
func TestStaticFilesOnly(t *testing.T) {
	leakCheck(t)
	files := fstest.MapFS{"style.css": {Data: []byte("body{}")}, "vendor/htmx.min.js": {Data: []byte("//")}}
	srv, _ := frontServer(t, Config{Static: files})
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/static/style.css", 200},
		{"HEAD", "/static/vendor/htmx.min.js", 200},
		{"GET", "/static/", 404},
		{"GET", "/static/vendor/", 404},
		{"GET", "/static/vendor", 404},
		{"GET", "/static/nope.css", 404},
		{"PUT", "/static/style.css", 405},
		{"DELETE", "/static/style.css", 405},
		{"TRACE", "/static/", 405},
		{"POST", "/static/vendor/", 405},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: %d, want %d (%s)", c.method, c.path, resp.StatusCode, c.want, body)
			continue
		}
		if c.want != 200 && c.method != "HEAD" && !json.Valid(body) {
			t.Errorf("%s %s: %d without a JSON error: %q", c.method, c.path, c.want, body)
		}
	}
}
