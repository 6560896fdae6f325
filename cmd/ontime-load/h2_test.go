package main

import (
	"net"
	"testing"

	"github.com/ontime-rt/ontime/internal/node"
	"github.com/ontime-rt/ontime/internal/tlscert/tlscerttest"
)

// startTLSNode serves a node over HTTPS (HTTP/2 and HTTP/1.1) with a
// certificate made for the test, and returns its URL and the certificate.
func startTLSNode(t *testing.T) (string, tlscerttest.Pair) {
	t.Helper()
	pair := tlscerttest.Write(t, t.TempDir(), 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	runNode(t, node.Config{TLSCertFile: pair.CertFile, TLSKeyFile: pair.KeyFile}, ln)
	return "https://" + ln.Addr().String(), pair
}

// With --h2, SSE clients share HTTP/2 connections, --per-conn each, and
// every one gets every batch; WebSocket clients keep a connection each.
func TestHTTP2Run(t *testing.T) {
	url, pair := startTLSNode(t)
	s, err := runLoad(t, "--url", url, "--ca", pair.CertFile, "--h2", "--per-conn", "4", "--sse", "8", "--ws", "2", "--ramp", "0", "--duration", "1s")
	if err != nil {
		t.Fatal(err)
	}
	if s.Connected != 10 || s.FailedConnects != 0 || s.Disconnects != 0 {
		t.Fatalf("connections: %+v", s)
	}
	if s.SSEProto != "h2" || s.TCPConns != 2+2 {
		t.Fatalf("protocol %q over %d connections, want h2 over 2 (SSE) + 2 (WebSocket)", s.SSEProto, s.TCPConns)
	}
	if s.DeliveredRatio == nil || *s.MinDeliveredRatio != 1 || s.Gaps != 0 {
		t.Fatalf("delivered %v min %v gaps %d, want every batch", deref(s.DeliveredRatio), deref(s.MinDeliveredRatio), s.Gaps)
	}

	// Plain HTTP/1.1 over TLS: a connection per client.
	s, err = runLoad(t, "--url", url, "--insecure", "--sse", "3", "--ws", "1", "--ramp", "0", "--duration", "1s")
	if err != nil {
		t.Fatal(err)
	}
	if s.Connected != 4 || s.SSEProto != "http/1.1" || s.TCPConns != 4 {
		t.Fatalf("HTTP/1.1 over TLS: %d clients over %d connections (%s)", s.Connected, s.TCPConns, s.SSEProto)
	}
}

func TestHTTP2Flags(t *testing.T) {
	for _, args := range [][]string{
		{"--h2"}, // http URL
		{"--url", "https://127.0.0.1:1", "--h2", "--per-conn", "0"},
		{"--url", "https://127.0.0.1:1", "--h2", "--per-conn", "251"},
		{"--url", "https://127.0.0.1:1", "--ca", "/no/such/file"},
	} {
		if _, err := runLoad(t, args...); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}
