package stream

import (
	"crypto/tls"
	"net"
	"syscall"
	"testing"
)

// sendBuffer reads the kernel's send buffer size of c.
func sendBuffer(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		size, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	}); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return size
}

// The send buffer of a stream over TLS is capped too: the cap finds the
// TCP connection under the TLS one.
func TestLimitConnSendBufferUnderTLS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	tcp := server.(*net.TCPConn)
	if err := tcp.SetWriteBuffer(4 * SendBuffer); err != nil {
		t.Fatal(err)
	}
	before := sendBuffer(t, tcp)

	LimitConnSendBuffer(tls.Server(server, &tls.Config{}))

	// Linux doubles what is set, for its bookkeeping.
	if got := sendBuffer(t, tcp); got > 2*SendBuffer || got >= before {
		t.Fatalf("send buffer %d after the cap (was %d), want at most %d", got, before, 2*SendBuffer)
	}
}
