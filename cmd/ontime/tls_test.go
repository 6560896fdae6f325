package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/tlscert/tlscerttest"
)

func TestParseFrontDoorFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", "cert.pem"}, "--tls-cert: give both the certificate and its key"},
		{[]string{"--tls-key", "key.pem"}, "--tls-cert: give both the certificate and its key"},
		{[]string{"--public-url", "ontime.example.com"}, "--public-url"},
		{[]string{"--public-url", "https://ontime.example.com/sub/"}, "--public-url"},
		{[]string{"--trust-proxy", "10.0.0.0/33"}, "--trust-proxy"},
		{[]string{"--trust-proxy", "proxy.local"}, "--trust-proxy"},
	} {
		_, err := parse(append([]string{"ontime"}, c.args...), env(nil), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parse(%v) = %v, want an error naming %s", c.args, err, c.want)
		}
	}
	o, err := parse([]string{"ontime", "--trust-proxy", "127.0.0.1, 10.0.0.0/8"}, env(map[string]string{"ONTIME_PUBLIC_URL": "https://ontime.example.com"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.node.TrustedProxies) != 2 || o.node.TrustedProxies[0].String() != "127.0.0.1/32" || o.node.PublicURL != "https://ontime.example.com" {
		t.Fatalf("proxies %v, public URL %q", o.node.TrustedProxies, o.node.PublicURL)
	}
}

// With a certificate, run serves HTTPS, prints https URLs, says what is
// open to whom, and reloads the pair on SIGHUP.
func TestRunServesTLSAndReloadsOnSIGHUP(t *testing.T) {
	pair := tlscerttest.Write(t, t.TempDir(), 1)
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"ontime", "--addr", "127.0.0.1:0", "--rate", "0", "--tls-cert", pair.CertFile, "--tls-key", pair.KeyFile}, env(nil), out)
	}()
	base := pageURL(t, out, "https")
	if !strings.Contains(out.String(), "access: reads") || !strings.Contains(out.String(), "clients on this machine only") {
		t.Errorf("no access line: %s", out.String())
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tlscerttest.Pool(pair)}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("%s, want HTTP/2", resp.Proto)
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "tls: certificate reloaded"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload the certificate: %s", out.String())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
