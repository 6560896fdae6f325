package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/ontime-rt/ontime/internal/event"
)

// FailureLogEvery is the least time between two log lines about a
// processor's failed calls. A failing worker fails every call, hundreds a
// second: the first failure is logged at once, and later ones at most once
// per period, each line counting the failures since the one before.
const FailureLogEvery = 10 * time.Second

// failureLog logs a processor's failed calls at warn level, rate-limited.
// Failures are the worker's fault or the network's, so the operator needs
// to see them (an event's row says only the kind); calls that end at their
// deadline are not failures and are not logged.
type failureLog struct {
	log    *slog.Logger
	worker string // the worker's host or subject
	now    func() time.Time

	mu     sync.Mutex
	next   time.Time // when the next line may be logged
	unseen int       // failures since the last line
}

func newFailureLog(log *slog.Logger, worker string, now func() time.Time) *failureLog {
	if log == nil {
		log = slog.Default()
	}
	return &failureLog{log: log, worker: worker, now: now}
}

// record counts err, the failure of ev's call, and logs it unless a line
// was logged less than FailureLogEvery ago. A nil error, or one that the
// context ended (the deadline, a shutdown), is not a failure. The error's
// message holds what the worker answered: the status and the first bytes
// of the body for HTTP, the error code and description for NATS.
func (l *failureLog) record(ev event.Event, err error) {
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return
	}
	kind := "error" // as the pipeline counts an error that is no Failure
	if f, ok := errors.AsType[*event.Failure](err); ok {
		kind = f.Kind
	}
	now := l.now()
	l.mu.Lock()
	l.unseen++
	if now.Before(l.next) {
		l.mu.Unlock()
		return
	}
	n := l.unseen
	l.unseen, l.next = 0, now.Add(FailureLogEvery)
	l.mu.Unlock()
	l.log.Warn("worker call failed", "worker", l.worker, "kind", kind, "event", ev.ID.String(),
		"error", err.Error(), "failures", n, "logEvery", FailureLogEvery)
}
