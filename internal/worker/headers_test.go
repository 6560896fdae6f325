package worker_test

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ontime-rt/ontime/internal/worker"
)

// A worker's response headers are bounded to 64 KiB: a worker sending
// megabytes of them fails the call as bad-response after ontime has read
// about the bound, instead of costing up to Go's 10 MB per call. Headers
// within the bound are fine.
func TestHugeResponseHeaders(t *testing.T) {
	var sent atomic.Int64
	huge := rawWorker(t, func(c net.Conn) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
		line := "X-Junk: " + strings.Repeat("j", 1000) + "\r\n"
		for range 9500 { // about 9.5 MB, unless ontime stops reading first
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
			sent.Add(int64(len(line)))
		}
		io.WriteString(c, "Content-Length: 2\r\n\r\n{}")
	})
	out, err := call(newHTTP(t, worker.Config{URL: huge}), newEvent(generous, ""))
	if got := kindOf(err); got != worker.KindBadResponse || out != nil {
		t.Fatalf("9.5 MB of headers: %q %q (err %v), want %s", out, got, err, worker.KindBadResponse)
	}
	// What the worker got out before ontime closed: the bound plus what the
	// socket buffers held, far from the 9.5 MB it tried.
	if n := sent.Load(); n > 8<<20 {
		t.Fatalf("the worker wrote %d bytes of headers: ontime kept reading", n)
	}

	within := rawWorker(t, func(c net.Conn) {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
		for i := range 30 {
			fmt.Fprintf(c, "X-Fine-%d: %s\r\n", i, strings.Repeat("f", 1000))
		}
		io.WriteString(c, "Content-Length: 8\r\n\r\n{\"ok\":1}")
	})
	out, err = call(newHTTP(t, worker.Config{URL: within}), newEvent(generous, ""))
	if err != nil || string(out) != `{"ok":1}` {
		t.Fatalf("30 KiB of headers: %q %v, want the answer", out, err)
	}
}
