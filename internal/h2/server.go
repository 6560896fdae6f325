// Package h2 serves HTTP/2 over TLS for an http.Server.
//
// It exists for event streams. Go's HTTP/2 server (net/http's, and x/net's
// it is made from) runs every frame of a connection through one serving
// goroutine: a handler's Flush hands its frame over and waits until that
// goroutine has written it, and the connection's buffer is then flushed by
// a goroutine started for it. Streams that send a small frame ten times a
// second pay those hand-offs on every frame: 1.4 to 2.1 times the CPU per
// delivered frame of the same streams over HTTP/1.1, from eight streams
// per connection down to one (docs/benchmarks.md).
//
// Here a handler frames its own data: Write and Flush append DATA frames
// to the connection's outgoing buffer under the connection's lock, as
// long as the flow-control windows allow, and return; the connection's
// one writer goroutine sends everything appended since its last write in
// one write. A frame costs the handler no wait and the connection one
// wake-up of its writer, shared by every frame that arrives meanwhile.
//
// Reading, flow control and the protocol's rules (RFC 9113) are kept to
// what a server needs: frames are parsed and HPACK decoded by
// golang.org/x/net/http2's Framer (the code net/http uses), requests are
// served by the http.Server's handler, and conformance is checked with
// h2spec in the tests. Not supported: server push (never needed: clients
// may not push), request trailers (read and dropped), the CONNECT method
// (405), priorities (accepted and ignored, as RFC 9113 allows). Response
// trailers are sent as net/http sends them.
package h2

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Server serves the HTTP/2 connections of an http.Server (see Configure).
// The zero value is ready to use; its fields' defaults are given with
// them.
type Server struct {
	// MaxConcurrentStreams bounds the streams a client may have open at
	// once on one connection, and so the handlers it runs at once; a
	// stream beyond it is refused (RST_STREAM REFUSED_STREAM), which a
	// client may retry. Default 250.
	MaxConcurrentStreams uint32
	// MaxHeaderListSize bounds a request's header list (decoded, as
	// HTTP/2 counts it); a larger one is answered 431. A single field
	// larger than it, or a header block far beyond it (a CONTINUATION
	// flood), ends the connection (GOAWAY COMPRESSION_ERROR or
	// PROTOCOL_ERROR), as in Go's server. Default: the http.Server's
	// MaxHeaderBytes, else 1 MiB.
	MaxHeaderListSize uint32
	// StreamWindow is the request body a stream may send before the
	// handler reads it (its flow-control window), and so the most a
	// stream's body buffers. A connection's window is four times it.
	// Below 65535, a stream whose client sends before acknowledging the
	// server's SETTINGS may be reset (FLOW_CONTROL_ERROR), as RFC 9113
	// (6.9.3) allows. Default 1 MiB.
	StreamWindow int32
	// WriteTimeout bounds each write to the connection: a client that
	// reads nothing for this long has its connection closed. It also
	// bounds a handler's wait for flow-control window or buffer room when
	// the handler set no write deadline of its own: a stream that cannot
	// send for this long is reset. Default 10 s.
	WriteTimeout time.Duration
	// IdleTimeout closes a connection that has had no open stream for
	// this long. Default: the http.Server's IdleTimeout, else 120 s.
	IdleTimeout time.Duration
	// Logger receives what goes wrong on connections (at debug level what
	// a misbehaving client causes). Default: slog.Default().
	Logger *slog.Logger

	mu           sync.Mutex
	conns        map[*conn]struct{}
	shuttingDown bool
}

// Configure makes hs hand the connections whose TLS handshake chose "h2"
// to s, and makes hs.Shutdown send them GOAWAY and wait for their streams
// to end. hs.TLSConfig must be set; "h2" is put first in its NextProtos.
func (s *Server) Configure(hs *http.Server) error {
	if hs.TLSConfig == nil {
		return errors.New("h2: the http.Server has no TLSConfig")
	}
	if !slices.Contains(hs.TLSConfig.NextProtos, "h2") {
		hs.TLSConfig.NextProtos = append([]string{"h2"}, hs.TLSConfig.NextProtos...)
	}
	if !slices.Contains(hs.TLSConfig.NextProtos, "http/1.1") {
		hs.TLSConfig.NextProtos = append(hs.TLSConfig.NextProtos, "http/1.1")
	}
	if hs.TLSNextProto == nil {
		hs.TLSNextProto = make(map[string]func(*http.Server, *tls.Conn, http.Handler))
	}
	hs.TLSNextProto["h2"] = s.serve
	hs.RegisterOnShutdown(s.shutdown)
	return nil
}

// serve is the http.Server's TLSNextProto hook: it serves c until the
// connection ends and every handler of it has returned (http.Server
// counts the connection as active until then, so Shutdown waits for it).
func (s *Server) serve(hs *http.Server, c *tls.Conn, h http.Handler) {
	cn := newConn(s, hs, c, h)
	s.mu.Lock()
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
	}
	s.conns[cn] = struct{}{}
	down := s.shuttingDown
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, cn)
		s.mu.Unlock()
	}()
	if down {
		cn.startGracefulShutdown()
	}
	cn.serve()
}

// shutdown sends GOAWAY on every connection; each closes once its open
// streams have ended.
func (s *Server) shutdown() {
	s.mu.Lock()
	s.shuttingDown = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.startGracefulShutdown()
	}
}

func (s *Server) maxStreams() uint32 {
	if s.MaxConcurrentStreams > 0 {
		return s.MaxConcurrentStreams
	}
	return 250
}

func (s *Server) maxHeaderListSize(hs *http.Server) uint32 {
	switch {
	case s.MaxHeaderListSize > 0:
		return s.MaxHeaderListSize
	case hs.MaxHeaderBytes > 0:
		return uint32(hs.MaxHeaderBytes)
	}
	return 1 << 20
}

func (s *Server) streamWindow() int32 {
	if s.StreamWindow > 0 {
		return s.StreamWindow
	}
	return 1 << 20
}

func (s *Server) writeTimeout() time.Duration {
	if s.WriteTimeout > 0 {
		return s.WriteTimeout
	}
	return 10 * time.Second
}

func (s *Server) idleTimeout(hs *http.Server) time.Duration {
	switch {
	case s.IdleTimeout > 0:
		return s.IdleTimeout
	case hs.IdleTimeout > 0:
		return hs.IdleTimeout
	}
	return 120 * time.Second
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}
