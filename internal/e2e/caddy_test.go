package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// docCaddyfile is the Caddyfile of docs/deployment.md with ontime's address
// replaced by upstream. The site address stays: the test's global options
// put it on its own ports.
func docCaddyfile(t *testing.T, upstream string) string {
	t.Helper()
	block := deploymentBlock(t, "internal/e2e/caddy_test.go", "caddyfile",
		[2]string{"reverse_proxy 127.0.0.1:8080", "reverse_proxy " + upstream})
	if !strings.HasPrefix(block, publicHost+" {") {
		t.Fatalf("docs/deployment.md's Caddyfile no longer starts with the site %s", publicHost)
	}
	return block
}

// caddyFront is Caddy running the doc's configuration: its HTTPS address
// and the root of the local CA that issued its certificate for publicHost.
type caddyFront struct {
	addr  string
	port  string
	roots *x509.CertPool
}

// freePort is a loopback TCP port that was free a moment ago; the process
// that binds it next fails its start if another took it meanwhile.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// startCaddy runs Debian's caddy with the doc's Caddyfile in front of
// upstream, on free loopback ports. Global options keep it offline: its
// own CA issues the certificate instead of an ACME CA on the internet, and
// that CA is not installed in the system's trust store. Its state
// (certificates, autosaved configuration) goes into a temporary
// directory. It skips the test when caddy is not installed.
func startCaddy(t *testing.T, upstream string) caddyFront {
	t.Helper()
	bin, err := exec.LookPath("caddy")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/caddy"); serr == nil {
			bin, err = "/usr/bin/caddy", nil
		}
	}
	if err != nil {
		t.Skip("caddy is not installed (apt-get install -y caddy; .ci/run installs it)")
	}
	dir := t.TempDir()
	httpsPort, httpPort := freePort(t), freePort(t)
	conf := fmt.Sprintf(`{
	admin off
	default_bind 127.0.0.1
	http_port %s
	https_port %s
	local_certs
	skip_install_trust
}

%s`, httpPort, httpsPort, docCaddyfile(t, upstream))
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", file, "--adapter", "caddyfile")
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k != "HOME" && !strings.HasPrefix(k, "XDG_") && !strings.HasPrefix(k, "CADDY") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start caddy: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // graceful: closes its listeners and connections
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	// Ready when a handshake for the public name verifies against Caddy's
	// CA: the CA and the certificate are made in the background after the
	// listener opens.
	front := caddyFront{addr: net.JoinHostPort("127.0.0.1", httpsPort), port: httpsPort}
	rootFile := filepath.Join(dir, "data", "caddy", "pki", "authorities", "local", "root.crt")
	var last error
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("caddy exited at start: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not serve %s with its CA's certificate within 15s: %v", publicHost, last)
		}
		pem, err := os.ReadFile(rootFile)
		if err != nil {
			last = err
			continue
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			last = fmt.Errorf("%s: no certificate", rootFile)
			continue
		}
		c, err := tls.Dial("tcp", front.addr, &tls.Config{ServerName: publicHost, RootCAs: roots})
		if err != nil {
			last = err
			continue
		}
		c.Close()
		front.roots = roots
		return front
	}
}

// client is a browser on the loopback address from: it resolves the public
// name to Caddy and trusts Caddy's CA.
func (f caddyFront) client(t *testing.T, from string) (*http.Client, *websocket.Dialer) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, f.addr)
	}
	tr := &http.Transport{
		DialContext:       dial,
		TLSClientConfig:   &tls.Config{ServerName: publicHost, RootCAs: f.roots},
		ForceAttemptHTTP2: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	wd := &websocket.Dialer{
		NetDialContext:   dial,
		TLSClientConfig:  &tls.Config{ServerName: publicHost, RootCAs: f.roots},
		HandshakeTimeout: 10 * time.Second,
	}
	return &http.Client{Transport: tr}, wd
}

// caddyWriteRate lets each client address one write per 100 s, so within
// the test's minute a second write from one address is refused, whatever
// the machine's load: which addresses are refused shows which client
// ontime saw.
const caddyWriteRate = 0.01

// Through Caddy configured as docs/deployment.md says, in front of ontime
// started as it says: HTTP/2 (and HTTP/3 advertised), SSE unbuffered, the
// page's own origin opens /ws, writes need the token, and ontime counts
// each client by its own address, not Caddy's nor one the client made up.
func TestBehindCaddy(t *testing.T) {
	ctx := testContext(t)
	const token = "caddy-test-token"
	cfg := baseConfig()
	cfg.Settings.TickMs = 500
	cfg.PublicURL = "https://" + publicHost
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	cfg.Token = token
	cfg.WriteRate = caddyWriteRate
	_, upstream := serveNode(t, ctx, cfg, "127.0.0.1:0")
	front := startCaddy(t, upstream)
	public := "https://" + publicHost
	client, wd := front.client(t, "127.0.0.1")

	// SSE: each batch comes through while ontime is still at most a tick
	// past it (a buffering proxy holds batches until its buffer fills).
	stream := openStream(t, ctx, client, public+"/api/stream?events=0")
	resp := stream.resp
	if resp.ProtoMajor != 2 {
		t.Fatalf("SSE through Caddy over %s, want HTTP/2", resp.Proto)
	}
	if alt := resp.Header.Get("Alt-Svc"); !strings.Contains(alt, `h3=":`+front.port+`"`) {
		t.Fatalf("Caddy's Alt-Svc %q does not offer HTTP/3 on its port %s", alt, front.port)
	}
	requireUnbuffered(t, stream.r, "http://"+upstream)

	// WebSocket from a browser-like client on the public origin.
	requireProxiedWebSocket(t, ctx, wd, public, "Caddy")

	// Writes, each from its own client address (one write per address
	// within the test, see caddyWriteRate), except where a second write
	// from one address checks that ontime counts that client.
	for _, w := range []struct {
		from, method, path, ct, body string
		header                       http.Header
		want                         int
	}{
		{"127.0.0.2", http.MethodPatch, "/api/config", "application/json", `{"rate":7}`, nil, http.StatusUnauthorized},
		{"127.0.0.3", http.MethodPost, "/api/events", "application/json", `{"payload":{}}`, nil, http.StatusUnauthorized},
		{"127.0.0.4", http.MethodPatch, "/ui/config", "application/x-www-form-urlencoded", `rate=7&token=wrong`, nil, http.StatusUnauthorized},
		{"127.0.0.5", http.MethodPatch, "/api/config", "application/json", `{"rate":7}`, http.Header{"Authorization": {"Bearer " + token}}, http.StatusOK},
		{"127.0.0.6", http.MethodPost, "/api/events", "application/json", `{"deadlineMs":2000,"payload":{}}`, http.Header{"Authorization": {"Bearer " + token}}, http.StatusAccepted},
		// Its one write is spent: ontime counted 127.0.0.6, not Caddy.
		{"127.0.0.6", http.MethodPost, "/api/events", "application/json", `{"deadlineMs":2000,"payload":{}}`, http.Header{"Authorization": {"Bearer " + token}}, http.StatusTooManyRequests},
		// Naming a spent address does not make a client that address...
		{"127.0.0.7", http.MethodPost, "/api/events", "application/json", `{"deadlineMs":2000,"payload":{}}`, http.Header{"Authorization": {"Bearer " + token}, "X-Forwarded-For": {"127.0.0.6"}}, http.StatusAccepted},
		// ...nor does naming a fresh one make a spent client fresh.
		{"127.0.0.7", http.MethodPost, "/api/events", "application/json", `{"deadlineMs":2000,"payload":{}}`, http.Header{"Authorization": {"Bearer " + token}, "X-Forwarded-For": {"127.0.0.8"}}, http.StatusTooManyRequests},
	} {
		c, _ := front.client(t, w.from)
		req, _ := http.NewRequestWithContext(ctx, w.method, public+w.path, strings.NewReader(w.body))
		req.Header.Set("Content-Type", w.ct)
		req.Header.Set("Origin", public)
		for k, v := range w.header {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != w.want {
			t.Fatalf("%s %s from %s through Caddy (headers %v): %d %s, want %d", w.method, w.path, w.from, w.header, resp.StatusCode, b, w.want)
		}
		if w.want >= 400 {
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
				t.Fatalf("%s %s from %s through Caddy: %d with body %q, want a JSON error", w.method, w.path, w.from, resp.StatusCode, b)
			}
		}
	}
	// The accepted settings write reached ontime.
	var got struct {
		Rate float64 `json:"rate"`
	}
	r, err := http.Get("http://" + upstream + "/api/config")
	if err != nil {
		t.Fatal(err)
	}
	derr := json.NewDecoder(r.Body).Decode(&got)
	r.Body.Close()
	if derr != nil || got.Rate != 7 {
		t.Fatalf("rate after the write through Caddy: %v (%v), want 7", got.Rate, derr)
	}
}

// Without a token, ontime refuses writes that came through Caddy: Caddy's
// forwarding headers mark them, although Caddy connects from loopback.
func TestBehindCaddyWithoutToken(t *testing.T) {
	ctx := testContext(t)
	cfg := baseConfig()
	cfg.PublicURL = "https://" + publicHost
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	_, upstream := serveNode(t, ctx, cfg, "127.0.0.1:0")
	front := startCaddy(t, upstream)
	public := "https://" + publicHost
	client, _ := front.client(t, "127.0.0.1")
	requireProxyRefusesWrites(t, ctx, client, public, "Caddy")
}

// What docs/deployment.md says Caddy sends upstream, seen by a recording
// upstream: Host as the client sent it (port included), and the
// X-Forwarded-* headers naming the client, the scheme and the host, in
// place of the ones the client sent.
func TestCaddyForwardedHeaders(t *testing.T) {
	ctx := testContext(t)
	var (
		mu   sync.Mutex
		seen http.Header
		host string
	)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen, host = r.Header.Clone(), r.Host
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer up.Close()
	front := startCaddy(t, strings.TrimPrefix(up.URL, "http://"))
	client, _ := front.client(t, "127.0.0.2")
	hostPort := publicHost + ":" + front.port
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+hostPort+"/api/stats", nil)
	// A client's claims, which Caddy believes of no client.
	req.Header.Set("X-Forwarded-For", "192.0.2.1")
	req.Header.Set("X-Forwarded-Proto", "http")
	req.Header.Set("X-Forwarded-Host", "evil.example")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("GET through Caddy: %s, want the upstream's 204", resp.Status)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range []struct{ name, got, want string }{
		{"Host", host, hostPort},
		{"X-Forwarded-For", seen.Get("X-Forwarded-For"), "127.0.0.2"},
		{"X-Forwarded-Proto", seen.Get("X-Forwarded-Proto"), "https"},
		{"X-Forwarded-Host", seen.Get("X-Forwarded-Host"), hostPort},
	} {
		if c.got != c.want {
			t.Errorf("%s upstream: %q, want %q (all headers: %v)", c.name, c.got, c.want, seen)
		}
	}
}
