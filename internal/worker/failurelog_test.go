package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/event"
)

// logLines decodes the JSON lines a slog.JSONHandler wrote.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// A burst of failures logs its first at once, then one line per
// FailureLogEvery counting the failures since the line before; calls that
// their context ended are no failures.
func TestFailureLogRateLimited(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1_800_000_000, 0)
	l := newFailureLog(slog.New(slog.NewJSONHandler(&buf, nil)), "w:1", func() time.Time { return now })
	ev := event.Event{ID: uuid.New()}
	fail := func(i int) error {
		return &event.Failure{Kind: "http-500", Err: fmt.Errorf("worker w:1 answered 500 Internal Server Error: %q", fmt.Sprint("boom ", i))}
	}

	l.record(ev, nil)
	l.record(ev, fmt.Errorf("worker w:1: %w", context.DeadlineExceeded))
	l.record(ev, context.Canceled)
	for i := range 100 { // 100 failures within 1 s
		l.record(ev, fail(i))
		now = now.Add(10 * time.Millisecond)
	}
	lines := logLines(t, &buf)
	if len(lines) != 1 {
		t.Fatalf("%d lines for a burst within the period, want 1: %v", len(lines), lines)
	}
	first := lines[0]
	if first["level"] != "WARN" || first["msg"] != "worker call failed" || first["kind"] != "http-500" ||
		first["worker"] != "w:1" || first["failures"] != 1.0 || !strings.Contains(first["error"].(string), `500 Internal Server Error: "boom 0"`) {
		t.Errorf("first line %v: want the first failure, its status and body", first)
	}

	now = now.Add(FailureLogEvery) // the period has passed: the next failure is logged
	l.record(ev, errors.New("worker w:1: some client error"))
	lines = logLines(t, &buf)
	if len(lines) != 2 {
		t.Fatalf("%d lines after the period, want 2", len(lines))
	}
	if second := lines[1]; second["failures"] != 100.0 || second["kind"] != "error" {
		t.Errorf("second line %v: want the 99 unlogged failures and this one counted (100), kind error", second)
	}
}
