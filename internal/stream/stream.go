// Package stream holds what every streaming transport (SSE, WebSocket)
// shares: picking the format the client asked for, admitting it through the
// transport's client limit, capping the socket's send buffer, and running
// the stream in a goroutine of its own once the connection has been taken
// over from the HTTP server (Streams).
package stream

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"

	"github.com/ontime-rt/ontime/internal/httperr"
)

// Format picks the hub format for r: summary (batches without events) for
// ?events=0 when the transport has one, full otherwise.
func Format(r *http.Request, full, summary string) (string, error) {
	switch r.URL.Query().Get("events") {
	case "", "1", "true":
		return full, nil
	case "0", "false":
		if summary != "" {
			return summary, nil
		}
		return full, nil
	default:
		return "", errors.New("events must be 0 or 1")
	}
}

// Admit lets one client through g, or answers 503 with a Retry-After spread
// over 1-5 s (so refused clients do not all come back at once) and reports
// false. A nil gate admits everyone. Call leave when the client goes.
func Admit(w http.ResponseWriter, g *Gate, what string) (leave func(), ok bool) {
	if g == nil {
		return func() {}, true
	}
	if !g.Enter() {
		w.Header().Set("Retry-After", strconv.Itoa(1+rand.IntN(5)))
		httperr.Write(w, http.StatusServiceUnavailable, fmt.Sprintf("too many %s clients (limit %d): retry later", what, g.Max()))
		return nil, false
	}
	return g.Leave, true
}

type connKey struct{}

// ConnContext is an http.Server ConnContext hook that remembers each
// request's connection, so stream handlers can tune it.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// SendBuffer is the kernel send buffer given to stream connections. Linux
// lets an unread socket's buffer grow to 4 MiB, so a client that never reads
// would hold that much kernel memory for minutes before a write blocks long
// enough to hit its deadline. 256 KiB holds over a second of the heaviest
// stream (the page's HTML) and bounds what a stalled client costs.
const SendBuffer = 256 << 10

// Conn returns the connection r came on when the server was set up with
// ConnContext (for HTTPS, the TLS connection), else nil.
func Conn(r *http.Request) net.Conn {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	return c
}

// LimitSendBuffer caps the send buffer of r's connection to SendBuffer when
// the server was set up with ConnContext.
func LimitSendBuffer(r *http.Request) {
	LimitConnSendBuffer(Conn(r))
}

// LimitConnSendBuffer caps the send buffer of c's TCP connection, found
// under its wrappers (a TLS connection, the HTTPS listener's cork).
func LimitConnSendBuffer(c net.Conn) {
	if tc, ok := Under[*net.TCPConn](c); ok {
		_ = tc.SetWriteBuffer(SendBuffer)
	}
}

// Under finds what c is built on that has type T: c itself, or a
// connection under it, following NetConn (as *tls.Conn and the HTTPS
// listener's cork have it) a few levels down.
func Under[T any](c net.Conn) (T, bool) {
	for range 4 {
		if t, ok := c.(T); ok {
			return t, true
		}
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	var zero T
	return zero, false
}
