package worker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
)

// Classify names the kind of a transport error (one that did not come from
// the caller's context): connect, tls, reset, timeout or bad-response.
//
// The order matters: a failed dial is wrapped in the same types as a
// failure later on, so the dial is recognised first; a TLS handshake can
// fail with a reset, which is then the handshake's failure. What remains
// once the connection was made and nothing broke it is a response that
// could not be read as HTTP (malformed status line, headers or chunking).
func Classify(err error) string {
	switch {
	case isDial(err):
		return KindConnect
	case isTLS(err):
		return KindTLS
	case isReset(err):
		return KindReset
	case isTimeout(err):
		return KindTimeout
	default:
		return KindBadResponse
	}
}

func isDial(err error) bool {
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return true
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH)
}

func isTLS(err error) bool {
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*tls.ECHRejectionError](err); ok {
		return true
	}
	if _, ok := errors.AsType[tls.AlertError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return true
	}
	// Alerts, sent or received, travel as *net.OpError with these ops
	// around an unexported type; crypto/tls's other handshake errors
	// are plain errors whose text starts with "tls: ", and net/http says
	// so in plain text when a worker answers TLS with plain HTTP.
	if op, ok := errors.AsType[*net.OpError](err); ok && (op.Op == "remote error" || op.Op == "local error") {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "tls: ") || strings.Contains(msg, "HTTP response to HTTPS client")
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		// net/http's errServerClosedIdle is unexported.
		strings.Contains(err.Error(), "server closed idle connection")
}

func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}
