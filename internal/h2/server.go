// Package h2 serves HTTP/2 over TLS for an http.Server.
package h2

import (
	"log/slog"
	"net/http"
	"time"
)

// Server serves the HTTP/2 connections of an http.Server (see Configure).
// The zero value is ready to use; its fields' defaults are given with
// them.
type Server struct {
	// MaxConcurrentStreams bounds the streams a client may have open at
	// once on one connection, and so the handlers it runs at once; a
	// stream beyond it is refused (RST_STREAM REFUSED_STREAM). Default 250.
	MaxConcurrentStreams uint32
	// MaxHeaderListSize bounds a request's header list (decoded, as
	// HTTP/2 counts it); a larger one is answered 431. Default: the
	// http.Server's MaxHeaderBytes, else 1 MiB.
	MaxHeaderListSize uint32
	// StreamWindow is the request body a stream may send before the
	// handler reads it (its flow-control window), and so the most a
	// stream's body buffers. Default 1 MiB.
	StreamWindow int32
	// WriteTimeout bounds each write to the connection: a client that
	// does not read for this long has its connection closed. Default 10 s.
	WriteTimeout time.Duration
	// IdleTimeout closes a connection that has had no open stream for
	// this long. Default: the http.Server's IdleTimeout, else 120 s.
	IdleTimeout time.Duration
	// Logger receives what goes wrong on connections. Default: slog.Default().
	Logger *slog.Logger
}

// Configure makes hs hand the connections whose TLS handshake chose "h2"
// to s, and makes hs.Shutdown send them GOAWAY and wait for their streams
// to end. hs.TLSConfig must be set; "h2" is added to its NextProtos.
func (s *Server) Configure(hs *http.Server) error {
	panic("not yet")
}
