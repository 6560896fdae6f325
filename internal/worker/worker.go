// Package worker calls a user's worker over HTTP to process an event under
// its deadline: one POST per event, the event as JSON in the body, the
// deadline in headers, and the request cancelled when the deadline passes.
//
// The worker's answer becomes the event's output when it is a 2xx with a
// body of at most event.MaxOutput bytes of JSON; everything else is an
// *event.Failure whose Kind says what went wrong ("http-503", "connect",
// "reset", "tls", "bad-response", "result-too-large"), or the context's
// error when the deadline ended the call. The contract workers implement is
// in docs/workers.md.
//
// The processor bounds nothing but its connection pool: the caller (the
// pipeline) decides how many calls run at once.
package worker

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	json "github.com/go-json-experiment/json/v1"

	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/stats"
)

// Headers sent with every call.
const (
	// HeaderEventID carries the event's id, for logs and idempotency.
	HeaderEventID = "Ontime-Event-Id"
	// HeaderDeadline is the absolute deadline, in Unix milliseconds.
	HeaderDeadline = "Ontime-Deadline"
	// HeaderTimeout is the time left when the request was sent, in whole
	// milliseconds rounded up (at least 1): a worker whose clock is skewed
	// against ontime's still knows its budget, as with gRPC's
	// grpc-timeout. Rounded up, like gRPC's, so that a worker giving up
	// when it runs out never does so before ontime's deadline: the call
	// ends as ontime's cancellation, not as the worker's answer.
	HeaderTimeout = "Ontime-Timeout-Ms"
)

// Failure kinds, besides "http-NNN" for a status outside 2xx.
const (
	// KindConnect: no connection could be made (refused, unreachable, DNS).
	KindConnect = "connect"
	// KindReset: the connection was reset or closed before a full response.
	KindReset = "reset"
	// KindTLS: the TLS handshake failed (certificate, protocol).
	KindTLS = "tls"
	// KindBadResponse: the response was not valid HTTP (its headers over
	// 64 KiB among them), or a 2xx body was not JSON.
	KindBadResponse = "bad-response"
	// KindTooLarge: a 2xx body longer than event.MaxOutput.
	KindTooLarge = "result-too-large"
	// KindTimeout: a network timeout other than the event's deadline
	// (the deadline itself is reported as context.DeadlineExceeded).
	KindTimeout = "timeout"
)

// DefaultMaxConns is the connection pool's size when Config.MaxConns is 0.
const DefaultMaxConns = 64

// errorBodyLimit bounds how much of a non-2xx body is read: enough to keep
// a short message for the log and to finish reading a small body so its
// connection goes back to the pool.
const errorBodyLimit = event.MaxOutput

// maxResponseHeaderBytes bounds a worker's response headers, as ontime's
// server bounds its clients' request headers.
const maxResponseHeaderBytes = 64 << 10

// errorSnippet is how much of a non-2xx body goes into the error.
const errorSnippet = 200

// Config configures an HTTP processor.
type Config struct {
	// URL is the worker's endpoint: http or https, with a host.
	URL string
	// MaxConns sizes the keep-alive pool: at most this many connections
	// to the worker, all of which may stay idle between calls. Calls
	// beyond it wait for a connection (under their deadline). Default
	// DefaultMaxConns.
	MaxConns int
	// Now is the clock the time left is computed with. Default time.Now.
	// The request's cancellation follows the context's deadline, which
	// follows the runtime clock: Now must agree with it.
	Now func() time.Time
	// TLS configures https workers (roots, client certificates). Default:
	// the system's roots.
	TLS *tls.Config
	// Logger receives failed calls, at warn level, at most one line per
	// FailureLogEvery. Default slog.Default().
	Logger *slog.Logger
}

// Request is the body of a call: the event, as batches show it.
type Request struct {
	// ID is the event's id (a UUID).
	ID string `json:"id"`
	// Source is where the event came from ("generator", "ingest", ...).
	Source string `json:"source"`
	// CreatedAt is the event's creation time, in Unix milliseconds.
	CreatedAt int64 `json:"createdAt"`
	// DeadlineMs is the event's deadline counted from CreatedAt.
	DeadlineMs float64 `json:"deadlineMs"`
	// Payload is the producer's JSON; absent for generated events.
	Payload json.RawMessage `json:"payload,omitempty"`
}

// HTTP is a processor that sends each event to a worker over HTTP. It is
// safe for concurrent use.
type HTTP struct {
	url       string
	host      string
	now       func() time.Time
	client    *http.Client
	transport *http.Transport
	failures  *failureLog
	// bufs holds the buffers answers are read into: one answer's worth
	// (event.MaxOutput and a byte to tell a larger one), so reading costs
	// no allocation beyond the result kept.
	bufs sync.Pool
}

// New checks cfg and returns a processor for its worker. No connection is
// made until the first call.
func New(cfg Config) (*HTTP, error) {
	u, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.MaxConns < 0 {
		return nil, fmt.Errorf("worker: MaxConns %d: want 0 (default %d) or more", cfg.MaxConns, DefaultMaxConns)
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var protocols http.Protocols
	// HTTP/1.1 only: one call per connection, so the pool's size is the
	// number of calls on the wire, and a cancelled call closes its
	// connection, which is how the worker learns it.
	protocols.SetHTTP1(true)
	t := &http.Transport{
		// Not from the environment: a worker is addressed directly, and
		// HTTP_PROXY set for other tools must not reroute (or break) it.
		Proxy:               nil,
		MaxConnsPerHost:     cfg.MaxConns,
		MaxIdleConnsPerHost: cfg.MaxConns,
		MaxIdleConns:        cfg.MaxConns,
		IdleConnTimeout:     90 * time.Second,
		Protocols:           &protocols,
		// Go's default is 10 MB of headers per response: a worker sending
		// that much would cost more than the answer's 4 KiB bound saves.
		// A breach fails the call as bad-response.
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
		// The event's deadline bounds dialling, the handshake and the
		// wait for the response: no other timeouts.
	}
	if cfg.TLS != nil {
		t.TLSClientConfig = cfg.TLS.Clone()
	}
	return &HTTP{
		url:       u.String(),
		host:      u.Host,
		now:       cfg.Now,
		transport: t,
		failures:  newFailureLog(cfg.Logger, u.Host, cfg.Now),
		client: &http.Client{
			Transport: t,
			// Redirects are not followed: the worker's answer is its
			// status, and a redirect is a misconfigured URL.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// ParseURL checks a worker URL: http or https, with a host (package
// config's check of the setting).
func ParseURL(raw string) (*url.URL, error) { return config.ParseWorkerURL(raw) }

// Host is the worker's host (and port, if the URL has one), fit to show.
func (h *HTTP) Host() string { return h.host }

// Close closes the idle connections to the worker. Calls still running
// finish; the processor stays usable.
func (h *HTTP) Close() { h.transport.CloseIdleConnections() }

// Process sends ev to the worker and returns its output: nil for an empty
// answer, else JSON of at most event.MaxOutput bytes. The call ends at the
// earlier of ctx's deadline and the event's; when the deadline ends it the
// error satisfies errors.Is(err, context.DeadlineExceeded), and a call
// with no time left is not made at all. Any other failure
// is an *event.Failure. Calls are never retried (Go's transport resends
// only a request none of which was written, on a kept-alive connection
// the worker had closed). Failures are logged (see Config.Logger).
func (h *HTTP) Process(ctx context.Context, ev event.Event) ([]byte, error) {
	out, err := h.call(ctx, ev)
	h.failures.record(ev, err)
	return out, err
}

// call is Process without the log.
func (h *HTTP) call(ctx context.Context, ev event.Event) ([]byte, error) {
	ctx, cancel, deadline, leftMs, err := budget(ctx, ev, h.now)
	if err != nil {
		return nil, fmt.Errorf("worker %s: %w", h.host, err)
	}
	defer cancel()
	body, err := encode(ev)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("worker %s: %w", h.host, err)
	}
	req.Header = http.Header{
		"Content-Type": {"application/json"},
		"User-Agent":   {"ontime"},
		HeaderEventID:  {ev.ID.String()},
		HeaderDeadline: {strconv.FormatInt(deadline.UnixMilli(), 10)},
		HeaderTimeout:  {strconv.FormatInt(leftMs, 10)},
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, h.status(resp)
	}
	buf, _ := h.bufs.Get().(*[event.MaxOutput + 1]byte)
	if buf == nil {
		buf = new([event.MaxOutput + 1]byte)
	}
	defer h.bufs.Put(buf)
	n := 0
	for n < len(buf) {
		m, err := resp.Body.Read(buf[n:])
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, h.fail(ctx, err)
		}
	}
	if n > event.MaxOutput {
		return nil, &event.Failure{Kind: KindTooLarge, Err: fmt.Errorf("worker %s answered more than %d bytes", h.host, event.MaxOutput)}
	}
	out := bytes.TrimSpace(buf[:n])
	if len(out) == 0 {
		return nil, nil
	}
	if !json.Valid(out) {
		return nil, &event.Failure{Kind: KindBadResponse, Err: fmt.Errorf("worker %s answered %d with a body that is not JSON: %q", h.host, resp.StatusCode, snippet(out))}
	}
	return bytes.Clone(out), nil
}

// budget bounds a call: ctx ending at the earlier of its own deadline and
// the event's, that deadline, and the time left until it in whole
// milliseconds rounded up (HeaderTimeout). With no time left it returns an
// error wrapping context.DeadlineExceeded, and the call is not to be made.
// cancel is to be called when the call ends.
func budget(ctx context.Context, ev event.Event, now func() time.Time) (_ context.Context, cancel context.CancelFunc, deadline time.Time, leftMs int64, err error) {
	deadline = ev.DeadlineAt()
	cancel = func() {}
	if d, ok := ctx.Deadline(); ok && !d.After(deadline) {
		deadline = d
	} else {
		ctx, cancel = context.WithDeadline(ctx, deadline)
	}
	left := deadline.Sub(now())
	if left <= 0 {
		cancel()
		return nil, nil, deadline, 0, fmt.Errorf("no time left to call: %w", context.DeadlineExceeded)
	}
	if err := ctx.Err(); err != nil {
		cancel()
		return nil, nil, deadline, 0, err
	}
	return ctx, cancel, deadline, int64((left + time.Millisecond - 1) / time.Millisecond), nil
}

// encode is the body of a call for ev: its Request as JSON.
func encode(ev event.Event) ([]byte, error) {
	body, err := json.Marshal(Request{
		ID:         ev.ID.String(),
		Source:     ev.Source,
		CreatedAt:  ev.CreatedAt.UnixMilli(),
		DeadlineMs: stats.Millis(ev.Deadline),
		Payload:    ev.Payload,
	})
	if err != nil {
		// Payloads are validated at ingest: this is a bug upstream.
		return nil, &event.Failure{Kind: "bad-request", Err: fmt.Errorf("encoding the event: %w", err)}
	}
	return body, nil
}

// status is the failure of a response outside 2xx, with the start of its
// body. A body of at most errorBodyLimit bytes, declared so or chunked, is
// read to its end so the connection can be reused; a larger one is read
// no further than that (a chunked one) or not at all (one declared larger).
func (h *HTTP) status(resp *http.Response) error {
	kind := "http-" + strconv.Itoa(resp.StatusCode)
	var msg []byte
	if resp.ContentLength <= errorBodyLimit {
		// A read error only loses the message: the status is the outcome.
		msg, _ = io.ReadAll(io.LimitReader(resp.Body, errorBodyLimit))
	}
	err := fmt.Errorf("worker %s answered %s", h.host, resp.Status)
	if msg = bytes.TrimSpace(msg); len(msg) > 0 {
		err = fmt.Errorf("%w: %q", err, snippet(msg))
	}
	return &event.Failure{Kind: kind, Err: err}
}

// fail turns a transport error into the deadline's error when the context
// ended (tearing down the connection causes errors of its own, which are
// not the worker's fault), or a classified Failure.
func (h *HTTP) fail(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("worker %s: %w", h.host, cerr)
	}
	return &event.Failure{Kind: Classify(err), Err: fmt.Errorf("worker %s: %w", h.host, unwrapURL(err))}
}

// unwrapURL drops the *url.Error around a client error: it repeats the
// method and URL, which the message already names by host.
func unwrapURL(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// snippet shortens b for an error message.
func snippet(b []byte) []byte {
	if len(b) > errorSnippet {
		return b[:errorSnippet]
	}
	return b
}
