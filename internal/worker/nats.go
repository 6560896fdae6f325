package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	json "github.com/go-json-experiment/json/v1"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/event"
)

// Failure kinds of the NATS processor, besides KindConnect (the connection
// is closed or draining, or its reconnect buffer is full),
// KindBadResponse and KindTooLarge.
const (
	// KindNoWorker: no worker listens on the subject (NATS's "no
	// responders").
	KindNoWorker = "no-worker"
	// KindWorkerError: the worker answered an error whose code is not a
	// status number (see HeaderErrorCode).
	KindWorkerError = "worker-error"
)

// Reply headers by which a NATS worker answers an error, those of the NATS
// services convention (the micro package's Request.Error sets them). A
// code that is a number from 100 to 999 makes the failure's kind
// "status-NNN" (a worker may use HTTP's numbers: 503 overloaded, 400 bad
// input); any other code is KindWorkerError, so that what a worker sends
// cannot grow the set of kinds counted in metrics without bound.
const (
	// HeaderErrorCode is the error's code.
	HeaderErrorCode = micro.ErrorCodeHeader
	// HeaderError is the error's description, kept in the failure's
	// message.
	HeaderError = micro.ErrorHeader
)

// DefaultSubject is the subject events are sent on when none is named.
const DefaultSubject = config.DefaultSubject

// MaxSubject bounds a worker subject's length in bytes.
const MaxSubject = config.MaxWorkerSubject

// NATSConfig configures a NATS processor.
type NATSConfig struct {
	// Conn is the connection requests go out on. The processor does not
	// own it: closing it is the caller's business, and calls made once it
	// is closed or draining fail as KindConnect.
	Conn *nats.Conn
	// Subject is where each event is sent; workers subscribe to it in a
	// queue group. Checked by CheckSubject. Default DefaultSubject.
	Subject string
	// Now is the clock the time left is computed with. Default time.Now.
	// The request's end follows the context's deadline, which follows the
	// runtime clock: Now must agree with it.
	Now func() time.Time
	// Logger receives failed calls, at warn level, at most one line per
	// FailureLogEvery. Default slog.Default().
	Logger *slog.Logger
}

// NATS is a processor that sends each event to a worker by NATS
// request/reply: the same body and headers as the HTTP processor's, on a
// subject that workers in any language share as a queue group, so each
// event reaches one of them. It is safe for concurrent use.
//
// NATS has no way to tell a worker that its caller gave up: at the
// deadline the call ends on ontime's side and a later reply is discarded.
// Workers learn their budget from HeaderTimeout.
type NATS struct {
	nc       *nats.Conn
	subject  string
	now      func() time.Time
	failures *failureLog
}

// NewNATS checks cfg and returns a processor that sends events on its
// subject.
func NewNATS(cfg NATSConfig) (*NATS, error) {
	if cfg.Conn == nil {
		return nil, errors.New("worker: a NATS connection is required")
	}
	if cfg.Subject == "" {
		cfg.Subject = DefaultSubject
	}
	if err := CheckSubject(cfg.Subject); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &NATS{nc: cfg.Conn, subject: cfg.Subject, now: cfg.Now, failures: newFailureLog(cfg.Logger, cfg.Subject, cfg.Now)}, nil
}

// SubjectError says why a worker subject cannot be used.
type SubjectError = config.SubjectError

// CheckSubject says with a *SubjectError what is wrong with a worker
// subject, if anything: package config's check of the setting.
func CheckSubject(s string) error { return config.CheckSubject(s) }

// Subject is the subject events are sent on.
func (n *NATS) Subject() string { return n.subject }

// Process sends ev to a worker and returns its reply: nil for an empty
// one, else JSON of at most event.MaxOutput bytes. The call ends at the
// earlier of ctx's deadline and the event's; when the deadline ends it the
// error satisfies errors.Is(err, context.DeadlineExceeded), and a call
// with no time left is not made at all. Any other failure is an
// *event.Failure. Calls are never retried. Failures are logged (see
// NATSConfig.Logger).
func (n *NATS) Process(ctx context.Context, ev event.Event) ([]byte, error) {
	out, err := n.call(ctx, ev)
	n.failures.record(ev, err)
	return out, err
}

// call is Process without the log.
func (n *NATS) call(ctx context.Context, ev event.Event) ([]byte, error) {
	ctx, cancel, deadline, leftMs, err := budget(ctx, ev, n.now)
	if err != nil {
		return nil, fmt.Errorf("worker %s: %w", n.subject, err)
	}
	defer cancel()
	body, err := encode(ev)
	if err != nil {
		return nil, err
	}
	id := ev.ID.String()
	msg := &nats.Msg{
		Subject: n.subject,
		Header: nats.Header{
			HeaderEventID:  {id},
			HeaderDeadline: {strconv.FormatInt(deadline.UnixMilli(), 10)},
			HeaderTimeout:  {strconv.FormatInt(leftMs, 10)},
		},
		Data: body,
	}
	reply, err := n.nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		return nil, n.fail(ctx, err)
	}
	if code, ok := errorCode(reply.Header); ok {
		return nil, n.workerError(code, reply)
	}
	if len(reply.Data) > event.MaxOutput {
		return nil, &event.Failure{Kind: KindTooLarge, Err: fmt.Errorf("worker on %s answered %d bytes, more than %d", n.subject, len(reply.Data), event.MaxOutput)}
	}
	out := bytes.TrimSpace(reply.Data)
	if len(out) == 0 {
		return nil, nil
	}
	if !json.Valid(out) {
		return nil, &event.Failure{Kind: KindBadResponse, Err: fmt.Errorf("worker on %s answered with a body that is not JSON: %q", n.subject, snippet(out))}
	}
	// The reply's buffer is the message's own: nothing else holds it.
	return out, nil
}

// errorCode is the worker's error code, if its reply is an error: the
// code header, or "" when only a description came.
func errorCode(h nats.Header) (string, bool) {
	if h == nil {
		return "", false
	}
	if code, ok := h[HeaderErrorCode]; ok && len(code) > 0 {
		return code[0], true
	}
	if _, ok := h[HeaderError]; ok {
		return "", true
	}
	return "", false
}

// workerError is the failure of a reply that says the worker failed.
func (n *NATS) workerError(code string, reply *nats.Msg) error {
	kind := KindWorkerError
	if c, err := strconv.Atoi(code); err == nil && c >= 100 && c <= 999 {
		kind = "status-" + strconv.Itoa(c)
	}
	err := fmt.Errorf("worker on %s answered error %q", n.subject, snippet([]byte(code)))
	if desc := strings.TrimSpace(reply.Header.Get(HeaderError)); desc != "" {
		err = fmt.Errorf("%w: %q", err, snippet([]byte(desc)))
	}
	return &event.Failure{Kind: kind, Err: err}
}

// fail turns a request's error into the deadline's when the context ended,
// or a classified Failure.
func (n *NATS) fail(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("worker %s: %w", n.subject, cerr)
	}
	err = fmt.Errorf("worker %s: %w", n.subject, err)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return &event.Failure{Kind: KindNoWorker, Err: err}
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrReconnectBufExceeded),
		errors.Is(err, nats.ErrInvalidConnection):
		return &event.Failure{Kind: KindConnect, Err: err}
	}
	// Anything else (a server's max payload smaller than the event, say)
	// is counted as the pipeline's generic "error".
	return err
}
