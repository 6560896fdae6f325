package demoworker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// guard bounds waits that only a bug makes long.
const guard = 20 * time.Second

// defaults are the settings of ontime-worker with no flags.
func defaults() Config {
	return Config{Capacity: Capacity{Slots: 8, ServiceMs: 20, Dist: Fixed}, Queue: 1024}
}

// start serves a worker with o on a test server; it returns the worker,
// its URL and its /work processor.
func start(t *testing.T, o Config, now func() time.Time) (*Worker, string, *worker.HTTP) {
	t.Helper()
	o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	o.Now = now
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	h, err := worker.New(worker.Config{URL: srv.URL + "/work"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return s, srv.URL, h
}

func newEvent(deadline time.Duration, payload string) event.Event {
	ev := event.Event{ID: uuid.New(), Source: "test", CreatedAt: time.Now(), Deadline: deadline}
	if payload != "" {
		ev.Payload = []byte(payload)
	}
	return ev
}

func process(ctx context.Context, h *worker.HTTP, ev event.Event) ([]byte, error) {
	ctx, cancel := context.WithDeadline(ctx, ev.DeadlineAt())
	defer cancel()
	return h.Process(ctx, ev)
}

// waitFor polls cond until it holds, failing the test after guard.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(guard); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("still waiting for %s after %s", what, guard)
		}
	}
}

func failureKind(err error) string {
	if f, ok := errors.AsType[*event.Failure](err); ok {
		return f.Kind
	}
	return fmt.Sprint(err)
}

func TestServesThroughTheHTTPProcessor(t *testing.T) {
	o := defaults()
	o.Capacity.ServiceMs = 1
	s, _, h := start(t, o, time.Now)
	ev := newEvent(10*time.Second, "")
	out, err := process(t.Context(), h, ev)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Worker   string
		ID       string
		Slot     *int
		WaitedMs *float64
		ServedMs float64
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	if got.Worker != "demo" || got.ID != ev.ID.String() || got.Slot == nil || *got.Slot != 0 || got.WaitedMs == nil || got.ServedMs != 1 {
		t.Errorf("output %s, want worker demo, the event's id, slot 0, waitedMs and servedMs 1", out)
	}
	if st := s.Stats(); st.Received != 1 || st.Served != 1 || st.Busy != 0 || st.Slots != 8 {
		t.Errorf("stats %+v", st)
	}
}

func TestResultModes(t *testing.T) {
	o := defaults()
	o.Capacity.ServiceMs = 0
	o.Result = ResultEcho
	_, _, h := start(t, o, time.Now)
	ev := newEvent(10*time.Second, `{"sensor":"t1"}`)
	out, err := process(t.Context(), h, ev)
	if want := fmt.Sprintf(`{"id":%q,"payload":{"sensor":"t1"},"worker":"demo"}`, ev.ID); err != nil || string(out) != want {
		t.Errorf("echo: %s, %v; want %s", out, err, want)
	}
	o.Result = ResultEmpty
	_, _, h = start(t, o, time.Now)
	if out, err := process(t.Context(), h, newEvent(10*time.Second, "")); err != nil || out != nil {
		t.Errorf("empty: %q, %v; want no output", out, err)
	}
}

// post sends body to url with headers, returning status and body.
func post(t *testing.T, method, url, body string, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestNoTimeLeftIsCounted(t *testing.T) {
	now := time.Now()
	o := defaults()
	o.Capacity.ServiceMs = 0
	s, url, _ := start(t, o, func() time.Time { return now })
	body := `{"id":"x","source":"test","createdAt":0,"deadlineMs":100}`
	cases := []map[string]string{
		{worker.HeaderTimeout: "0", worker.HeaderDeadline: strconv.FormatInt(now.Add(time.Second).UnixMilli(), 10)},
		{worker.HeaderTimeout: "-3"},
		// Time left by ontime's count, but past the deadline by this clock.
		{worker.HeaderTimeout: "50", worker.HeaderDeadline: strconv.FormatInt(now.Add(-time.Millisecond).UnixMilli(), 10)},
	}
	for i, headers := range cases {
		if status, msg := post(t, http.MethodPost, url+"/work", body, headers); status != http.StatusGatewayTimeout || !strings.Contains(msg, "no time left") {
			t.Errorf("case %d: %d %s, want 504 no time left", i, status, msg)
		}
	}
	// With time left, and with no deadline headers at all: served.
	for _, headers := range []map[string]string{
		{worker.HeaderTimeout: "5000", worker.HeaderDeadline: strconv.FormatInt(now.Add(5*time.Second).UnixMilli(), 10)},
		nil,
	} {
		if status, msg := post(t, http.MethodPost, url+"/work", body, headers); status != http.StatusOK {
			t.Errorf("%v: %d %s, want 200", headers, status, msg)
		}
	}
	if st := s.Stats(); st.NoTimeLeft != 3 || st.Served != 2 || st.Received != 5 {
		t.Errorf("stats %+v, want noTimeLeft 3, served 2, received 5", st)
	}
}

func TestBadRequests(t *testing.T) {
	s, url, _ := start(t, defaults(), time.Now)
	for _, c := range []struct {
		body    string
		headers map[string]string
	}{
		{"not json", nil},
		{`{"id": 5}`, nil},
		{strings.Repeat(" ", maxEventBody+1) + "{}", nil},
		{`{"id":"x"}`, map[string]string{worker.HeaderTimeout: "soon"}},
		{`{"id":"x"}`, map[string]string{worker.HeaderDeadline: "2026-01-01"}},
	} {
		status, msg := post(t, http.MethodPost, url+"/work", c.body, c.headers)
		var e struct{ Error string }
		if status != http.StatusBadRequest || json.Unmarshal([]byte(msg), &e) != nil || e.Error == "" {
			t.Errorf("%.20q %v: %d %s, want 400 with a JSON error", c.body, c.headers, status, msg)
		}
	}
	if st := s.Stats(); st.BadRequest != 5 {
		t.Errorf("badRequest %d, want 5", st.BadRequest)
	}
	if status, _ := post(t, http.MethodGet, url+"/nowhere", "", nil); status != http.StatusNotFound {
		t.Errorf("unknown route: %d, want 404", status)
	}
}

func TestFailRate(t *testing.T) {
	o := defaults()
	o.Capacity.FailRate = 1
	s, _, h := start(t, o, time.Now)
	for range 3 {
		if _, err := process(t.Context(), h, newEvent(10*time.Second, "")); failureKind(err) != "http-503" {
			t.Errorf("got %v, want http-503", err)
		}
	}
	if st := s.Stats(); st.Failed != 3 || st.Served != 0 {
		t.Errorf("stats %+v, want failed 3", st)
	}
}

// TestDeadlineCancelsAndFreesTheSlot: ontime cancels a call at its
// deadline; the worker sees it go and frees the slot at once.
func TestDeadlineCancelsAndFreesTheSlot(t *testing.T) {
	o := defaults()
	o.Capacity = Capacity{Slots: 1, ServiceMs: MaxServiceMs, Dist: Fixed}
	s, url, h := start(t, o, time.Now)
	if _, err := process(t.Context(), h, newEvent(200*time.Millisecond, "")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the deadline's error", err)
	}
	waitFor(t, "the slot to free", func() bool { st := s.Stats(); return st.Cancelled == 1 && st.Busy == 0 })
	if status, msg := post(t, http.MethodPatch, url+"/config", `{"serviceMs": 0}`, nil); status != http.StatusOK {
		t.Fatalf("PATCH: %d %s", status, msg)
	}
	if _, err := process(t.Context(), h, newEvent(10*time.Second, "")); err != nil {
		t.Errorf("after the slot freed: %v", err)
	}
}

// TestBudgetRunsOut: a caller that stays past its Ontime-Timeout-Ms (and
// the grace) is answered 504, and the slot is freed.
func TestBudgetRunsOut(t *testing.T) {
	o := defaults()
	o.Capacity = Capacity{Slots: 1, ServiceMs: MaxServiceMs, Dist: Fixed}
	s, url, _ := start(t, o, time.Now)
	status, body := post(t, http.MethodPost, url+"/work", `{"id":"x"}`, map[string]string{worker.HeaderTimeout: "10"})
	if status != http.StatusGatewayTimeout || !strings.Contains(body, "Ontime-Timeout-Ms ran out") {
		t.Errorf("got %d %s, want 504 Ontime-Timeout-Ms ran out", status, body)
	}
	if st := s.Stats(); st.Cancelled != 1 || st.Busy != 0 {
		t.Errorf("stats %+v, want cancelled 1 and the slot free", st)
	}
}

// TestQueueFullOverHTTP: with the slot busy and the FIFO full, a call is
// answered 503 at once.
func TestQueueFullOverHTTP(t *testing.T) {
	o := defaults()
	o.Capacity = Capacity{Slots: 1, ServiceMs: MaxServiceMs, Dist: Fixed}
	o.Queue = 1
	s, _, h := start(t, o, time.Now)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() { process(ctx, h, newEvent(time.Minute, "")) })
		waitFor(t, "the call to arrive", func() bool {
			st := s.Stats()
			return st.Received == int64(i+1) && st.Busy+st.Queued == i+1
		})
	}
	if st := s.Stats(); st.Busy != 1 || st.Queued != 1 {
		t.Fatalf("stats %+v, want one busy and one queued", st)
	}
	if _, err := process(t.Context(), h, newEvent(time.Minute, "")); failureKind(err) != "http-503" {
		t.Errorf("third call: %v, want http-503", err)
	}
	cancel()
	wg.Wait()
	waitFor(t, "both calls to leave", func() bool { st := s.Stats(); return st.Cancelled == 2 && st.Busy == 0 && st.Queued == 0 })
	if st := s.Stats(); st.QueueFull != 1 {
		t.Errorf("queueFull %d, want 1", st.QueueFull)
	}
}

func TestPatchConfig(t *testing.T) {
	s, url, _ := start(t, defaults(), time.Now)
	status, body := post(t, http.MethodPatch, url+"/config", `{"slots": 3, "failRate": 0.25, "dist": "exp"}`, nil)
	if want := `{"slots":3,"serviceMs":20,"dist":"exp","failRate":0.25}`; status != http.StatusOK || strings.TrimSpace(body) != want {
		t.Errorf("PATCH: %d %s, want 200 %s", status, body, want)
	}
	if c := s.Capacity(); c.Slots != 3 || c.ServiceMs != 20 || c.Dist != Exponential || c.FailRate != 0.25 {
		t.Errorf("capacity %+v", c)
	}
	if status, body := post(t, http.MethodGet, url+"/stats", "", nil); status != http.StatusOK || !strings.Contains(body, `"slots":3`) {
		t.Errorf("GET /stats: %d %s", status, body)
	}
	for _, bad := range []string{
		``, `not json`, `[1]`, `{"slots": 0}`, `{"slots": 100001}`, `{"slots": 2.5}`, `{"serviceMs": -1}`,
		`{"failRate": 1.5}`, `{"dist": "normal"}`, `{"workers": 3}`, `{"slots": 2} {"slots": 3}`,
	} {
		status, body := post(t, http.MethodPatch, url+"/config", bad, nil)
		var e struct{ Error string }
		if status != http.StatusBadRequest || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("PATCH %s: %d %s, want 400 with a JSON error", bad, status, body)
		}
	}
	if c := s.Capacity(); c.Slots != 3 || c.FailRate != 0.25 {
		t.Errorf("a refused PATCH changed the capacity: %+v", c)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Capacity: Capacity{Slots: 0}}, "slots 0"},
		{Config{Capacity: Capacity{Slots: 1, ServiceMs: -1}}, "serviceMs -1"},
		{Config{Capacity: Capacity{Slots: 1, Dist: "normal"}}, "dist"},
		{Config{Capacity: Capacity{Slots: 1, FailRate: 2}}, "failRate 2"},
		{Config{Capacity: Capacity{Slots: 1}, Queue: -1}, "queue -1"},
		{Config{Capacity: Capacity{Slots: 1}, Result: "xml"}, "result"},
	} {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error mentioning %q", c.cfg, err, c.want)
		}
	}
	w, err := New(Config{Capacity: Capacity{Slots: 2, ServiceMs: 5}})
	if err != nil {
		t.Fatal(err)
	}
	if c := w.Capacity(); c.Dist != Fixed || c.PerSecond() != 400 {
		t.Errorf("capacity %+v (%g/s), want dist fixed by default and 400/s", c, c.PerSecond())
	}
	if err := w.SetCapacity(Capacity{Slots: 0}); err == nil {
		t.Error("SetCapacity accepted 0 slots")
	}
}
