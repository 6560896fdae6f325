package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ontime-rt/ontime/internal/tlscert/tlscerttest"
)

// publicHost is the name users type in docs/deployment.md's configuration.
const publicHost = "ontime.example.com"

// docNginxConfig is the nginx block of docs/deployment.md with the
// deployment's addresses and files replaced by the test's. Every one must
// be found, so that the test runs the configuration the doc shows.
func docNginxConfig(t *testing.T, upstream, listen, cert, key string) string {
	t.Helper()
	return deploymentBlock(t, "internal/e2e/nginx_test.go", "nginx",
		[2]string{"server 127.0.0.1:8080;", "server " + upstream + ";"},
		[2]string{"listen 443 ssl http2;", "listen " + listen + " ssl http2;"},
		[2]string{"/etc/ssl/ontime/fullchain.pem", cert},
		[2]string{"/etc/ssl/ontime/privkey.pem", key},
	)
}

// startNginx runs Debian's nginx in the foreground with the doc's
// configuration, on a free loopback port, as the test's user. It skips
// the test when nginx is not installed.
func startNginx(t *testing.T, upstream string) (addr string) {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		t.Skip("nginx is not installed (apt-get install -y nginx; .ci/run installs it)")
	}
	dir := t.TempDir()
	pair := tlscerttest.Write(t, dir, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close() // nginx binds it next; another process taking it first fails the start below
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
%[2]s
}
`, dir, docNginxConfig(t, upstream, addr, pair.CertFile, pair.KeyFile))
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// As root nginx would switch its workers to "nobody", who cannot
		// read the test's files.
		conf = "user root;\n" + conf
		if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr")
	cmd.Stdout, cmd.Stderr = t.Output(), t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT) // graceful: ends the workers too
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-exited:
			t.Fatalf("nginx exited at start: %v", err)
		default:
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatal("nginx did not listen within 15s")
		}
	}
}

// Through nginx configured as docs/deployment.md says: SSE arrives
// unbuffered, the page's own origin opens /ws, and writes without a token
// are refused, although ontime listens on loopback.
func TestBehindNginx(t *testing.T) {
	ctx := testContext(t)
	cfg := baseConfig()
	cfg.Settings.TickMs = 500
	cfg.PublicURL = "https://" + publicHost
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	_, upstream := serveNode(t, ctx, cfg, "127.0.0.1:0")
	front := startNginx(t, upstream)

	// Browsers resolve the public name to the proxy.
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, front)
	}
	tlsConf := &tls.Config{ServerName: publicHost, InsecureSkipVerify: true} // the proxy is under test, not its certificate
	tr := &http.Transport{DialContext: dial, TLSClientConfig: tlsConf, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	public := "https://" + publicHost

	// SSE: each batch comes through while ontime is still at most a tick
	// past it (a buffering proxy holds batches until its buffer fills).
	stream := openStream(t, ctx, client, public+"/api/stream?events=0")
	resp := stream.resp
	t.Logf("SSE through nginx over %s", resp.Proto)
	requireUnbuffered(t, stream.r, "http://"+upstream)

	// WebSocket from a browser-like client on the public origin.
	wd := &websocket.Dialer{NetDialContext: dial, TLSClientConfig: &tls.Config{ServerName: publicHost, InsecureSkipVerify: true}, HandshakeTimeout: 10 * time.Second}
	requireProxiedWebSocket(t, ctx, wd, public, "nginx")

	// Writes through the proxy without a token: refused with a JSON 403.
	requireProxyRefusesWrites(t, ctx, client, public, "nginx")
}

// nextBatchSeq reads the stream up to the next batch and returns its seq.
func nextBatchSeq(t *testing.T, br *bufio.Reader) uint64 {
	t.Helper()
	batch := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("SSE: %v", err)
		}
		switch {
		case line == "event: batch\n":
			batch = true
		case batch && strings.HasPrefix(line, "data: "):
			var b struct {
				Seq uint64 `json:"seq"`
			}
			if err := json.Unmarshal([]byte(line[len("data: "):]), &b); err != nil {
				t.Fatalf("SSE batch: %v", err)
			}
			return b.Seq
		case line == "\n":
			batch = false
		}
	}
}

// currentSeq is the seq of the newest batch, asked of ontime directly.
func currentSeq(t *testing.T, base string) uint64 {
	t.Helper()
	resp, err := http.Get(base + "/api/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s.Seq
}
