package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/natstest"
	"github.com/ontime-rt/ontime/internal/worker"
)

// queue is the queue group the tests' workers join.
const queue = "ontime-workers"

// serve subscribes handle to subject in the tests' queue group, on its own
// connection (a worker is another process), and returns once the server
// knows the subscription.
func serve(tb testing.TB, url, subject string, handle func(*nats.Msg)) {
	tb.Helper()
	nc := natstest.Connect(tb, url)
	if _, err := nc.QueueSubscribe(subject, queue, handle); err != nil {
		tb.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		tb.Fatal(err)
	}
}

func newNATS(t *testing.T, cfg worker.NATSConfig) *worker.NATS {
	t.Helper()
	p, err := worker.NewNATS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// callNATS processes ev under its deadline, as the pipeline does.
func callNATS(p *worker.NATS, ev event.Event) ([]byte, error) {
	ctx, cancel := context.WithDeadline(context.Background(), ev.DeadlineAt())
	defer cancel()
	return p.Process(ctx, ev)
}

func TestNewNATSChecks(t *testing.T) {
	if _, err := worker.NewNATS(worker.NATSConfig{Subject: "ontime.work"}); err == nil {
		t.Error("NewNATS accepted no connection")
	}
	nc := natstest.Connect(t, natstest.Start(t))
	for _, bad := range []string{"ontime.*", "a..b", "$JS.API.x", "a b"} {
		_, err := worker.NewNATS(worker.NATSConfig{Conn: nc, Subject: bad})
		if _, ok := errors.AsType[*worker.SubjectError](err); !ok {
			t.Errorf("NewNATS(%q): %v, want a *SubjectError", bad, err)
		}
	}
	if p := newNATS(t, worker.NATSConfig{Conn: nc}); p.Subject() != worker.DefaultSubject {
		t.Errorf("default subject %q, want %s", p.Subject(), worker.DefaultSubject)
	}
}

// A worker receives the HTTP worker's body and the same Ontime-* values as
// headers, and its reply is the event's result.
func TestNATSRequestBodyAndHeaders(t *testing.T) {
	url := natstest.Start(t)
	got := make(chan delivered, 1)
	serve(t, url, "jobs.resize", func(m *nats.Msg) {
		s := delivered{id: m.Header.Get(worker.HeaderEventID), deadline: m.Header.Get(worker.HeaderDeadline), timeout: m.Header.Get(worker.HeaderTimeout), raw: string(m.Data)}
		if err := json.Unmarshal(m.Data, &s.body); err != nil {
			t.Errorf("body %q: %v", m.Data, err)
		}
		got <- s
		m.Respond([]byte(fmt.Sprintf(` {"seen": %q}`+"\n", s.id)))
	})
	p := newNATS(t, worker.NATSConfig{Conn: natstest.Connect(t, url), Subject: "jobs.resize"})

	ev := newEvent(generous, `{"sensor": "t1", "celsius": 21.5}`)
	ev.Deadline = generous + 250*time.Microsecond
	out, err := callNATS(p, ev)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"seen": %q}`, ev.ID); string(out) != want {
		t.Errorf("output %s, want %s (trimmed, as sent)", out, want)
	}
	s := <-got
	checkDelivered(t, s, ev)

	// No payload, none in the body.
	if _, err := callNATS(p, newEvent(generous, "")); err != nil {
		t.Fatal(err)
	}
	if s := <-got; strings.Contains(s.raw, "payload") {
		t.Errorf("body %s has a payload, want none", s.raw)
	}

	// The time left is the deadline minus Now at sending, rounded up, as
	// over HTTP.
	ev = newEvent(generous, "")
	sent := ev.CreatedAt.Add(700*time.Millisecond + 400*time.Microsecond)
	p = newNATS(t, worker.NATSConfig{Conn: natstest.Connect(t, url), Subject: "jobs.resize", Now: func() time.Time { return sent }})
	if _, err := callNATS(p, ev); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s.timeout != "1300" {
		t.Errorf("%s = %s, want 1300", worker.HeaderTimeout, s.timeout)
	}
}

// With no worker on the subject the call fails at once as no-worker, not
// at the deadline.
func TestNATSNoResponders(t *testing.T) {
	p := newNATS(t, worker.NATSConfig{Conn: natstest.Connect(t, natstest.Start(t))})
	// An hour: were "no responders" missed, the test would hang to its
	// own timeout rather than pass.
	_, err := callNATS(p, newEvent(time.Hour, ""))
	if kindOf(err) != worker.KindNoWorker {
		t.Fatalf("no worker: %v, want %s", err, worker.KindNoWorker)
	}
}

// A worker slower than the deadline: the call returns the deadline's error
// at the deadline (never before), and its late reply is discarded without
// disturbing the next call.
func TestNATSCancelledAtDeadline(t *testing.T) {
	url := natstest.Start(t)
	held := make(chan *nats.Msg, 1)
	serve(t, url, worker.DefaultSubject, func(m *nats.Msg) {
		if m.Header.Get(worker.HeaderEventID) == "fast" {
			m.Respond([]byte(`"fast"`))
			return
		}
		held <- m
	})
	p := newNATS(t, worker.NATSConfig{Conn: natstest.Connect(t, url)})
	ev := newEvent(short, "")
	_, err := callNATS(p, ev)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Process: %v, want the deadline's error", err)
	}
	if now := time.Now(); now.Before(ev.DeadlineAt()) {
		t.Errorf("returned %v before the deadline", ev.DeadlineAt().Sub(now))
	}
	m := <-held // the worker did get the call
	if err := m.Respond([]byte(`"too late"`)); err != nil {
		t.Fatal(err)
	}
	// The late reply goes nowhere; the next call gets its own.
	next := newEvent(generous, "")
	var out []byte
	serveID := make(chan struct{})
	go func() {
		defer close(serveID)
		m := <-held
		m.Respond([]byte(`{"id":"` + m.Header.Get(worker.HeaderEventID) + `"}`))
	}()
	out, err = callNATS(p, next)
	<-serveID
	if err != nil || string(out) != `{"id":"`+next.ID.String()+`"}` {
		t.Errorf("next call: %s, %v; want its own reply", out, err)
	}
}

// How a reply maps to an output or a failure kind.
func TestNATSReplyMapping(t *testing.T) {
	cases := []struct {
		data   string
		header nats.Header
		want   string // kind, or "out:" + output
	}{
		{`{"ok":true}`, nil, `out:{"ok":true}`},
		{" [1, 2]\n", nil, "out:[1, 2]"},
		{"", nil, "out:"},
		{"\n\t ", nil, "out:"},
		{`"text"`, nil, `out:"text"`},
		{`{"ok":true}`, nats.Header{"X-Other": {"1"}}, `out:{"ok":true}`},
		{"not json", nil, worker.KindBadResponse},
		{`{"unterminated": `, nil, worker.KindBadResponse},
		{"", nats.Header{worker.HeaderErrorCode: {"503"}, worker.HeaderError: {"overloaded"}}, "status-503"},
		{`{"partial":1}`, nats.Header{worker.HeaderErrorCode: {"400"}}, "status-400"},
		{"", nats.Header{worker.HeaderErrorCode: {"504"}}, "status-504"},
		{"", nats.Header{worker.HeaderErrorCode: {"bad_input"}}, worker.KindWorkerError},
		{"", nats.Header{worker.HeaderErrorCode: {"42"}}, worker.KindWorkerError},
		{"", nats.Header{worker.HeaderErrorCode: {"1000"}}, worker.KindWorkerError},
		{"", nats.Header{worker.HeaderErrorCode: {""}}, worker.KindWorkerError},
		{"", nats.Header{worker.HeaderError: {"no code"}}, worker.KindWorkerError},
	}
	url := natstest.Start(t)
	replies := make(chan *nats.Msg, 1)
	serve(t, url, worker.DefaultSubject, func(m *nats.Msg) {
		r := <-replies
		m.RespondMsg(r)
	})
	p := newNATS(t, worker.NATSConfig{Conn: natstest.Connect(t, url)})
	for _, c := range cases {
		replies <- &nats.Msg{Data: []byte(c.data), Header: c.header}
		out, err := callNATS(p, newEvent(generous, ""))
		got := "out:" + string(out)
		if err != nil {
			got = kindOf(err)
			if out != nil {
				t.Errorf("%q %v: output %q with an error", c.data, c.header, out)
			}
		}
		if got != c.want {
			t.Errorf("%q %v: got %s, want %s (err %v)", c.data, c.header, got, c.want, err)
		}
		if c.want == "out:" && out != nil {
			t.Errorf("%q: output %q, want nil", c.data, out)
		}
	}
	// The description is kept for logs.
	replies <- &nats.Msg{Header: nats.Header{worker.HeaderErrorCode: {"503"}, worker.HeaderError: {"database unavailable"}}}
	if _, err := callNATS(p, newEvent(generous, "")); err == nil || !strings.Contains(err.Error(), "database unavailable") {
		t.Errorf("error reply: %v, want its description", err)
	}
}

// A worker written with the NATS services framework (micro) answers
// results and errors the way the processor reads them.
func TestNATSMicroWorker(t *testing.T) {
	url := natstest.Start(t)
	nc := natstest.Connect(t, url)
	svc, err := micro.AddService(nc, micro.Config{
		Name: "resizer", Version: "1.0.0",
		Endpoint: &micro.EndpointConfig{Subject: worker.DefaultSubject, Handler: micro.HandlerFunc(func(r micro.Request) {
			var ev worker.Request
			if err := json.Unmarshal(r.Data(), &ev); err != nil {
				r.Error("400", "not an event", nil)
				return
			}
			if string(ev.Payload) == `{"fail":true}` {
				r.Error("503", "overloaded", nil)
				return
			}
			r.RespondJSON(map[string]string{"id": ev.ID})
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	p := newNATS(t, worker.NATSConfig{Conn: natstest.Connect(t, url)})
	ev := newEvent(generous, `{"fail":false}`)
	if out, err := callNATS(p, ev); err != nil || string(out) != `{"id":"`+ev.ID.String()+`"}` {
		t.Errorf("micro worker: %s, %v", out, err)
	}
	if _, err := callNATS(p, newEvent(generous, `{"fail":true}`)); kindOf(err) != "status-503" || !strings.Contains(err.Error(), "overloaded") {
		t.Errorf("micro worker's error: %v, want status-503 overloaded", err)
	}
}

func TestNATSResultSizeLimit(t *testing.T) {
	url := natstest.Start(t)
	size := make(chan int, 1)
	serve(t, url, worker.DefaultSubject, func(m *nats.Msg) {
		n := <-size
		m.Respond([]byte(`"` + strings.Repeat("a", n-2) + `"`))
	})
	p := newNATS(t, worker.NATSConfig{Conn: natstest.Connect(t, url)})
	size <- event.MaxOutput
	if out, err := callNATS(p, newEvent(generous, "")); err != nil || len(out) != event.MaxOutput {
		t.Errorf("%d bytes: output of %d bytes, err %v; want it whole", event.MaxOutput, len(out), err)
	}
	for _, n := range []int{event.MaxOutput + 1, 64 << 10} {
		size <- n
		if _, err := callNATS(p, newEvent(generous, "")); kindOf(err) != worker.KindTooLarge {
			t.Errorf("%d bytes: %v, want %s", n, err, worker.KindTooLarge)
		}
	}
}

// Workers sharing the subject as a queue group each get a share of the
// events, and every event exactly one reply.
func TestNATSQueueGroupSpreads(t *testing.T) {
	url := natstest.Start(t)
	var mu sync.Mutex
	calls := map[string]int{}
	for _, name := range []string{"a", "b"} {
		serve(t, url, worker.DefaultSubject, func(m *nats.Msg) {
			mu.Lock()
			calls[name]++
			mu.Unlock()
			m.Respond([]byte(`"` + name + `"`))
		})
	}
	p := newNATS(t, worker.NATSConfig{Conn: natstest.Connect(t, url)})
	const events = 200
	var wg sync.WaitGroup
	var answers sync.Map
	for range events {
		wg.Go(func() {
			out, err := callNATS(p, newEvent(generous, ""))
			if err != nil {
				t.Error(err)
				return
			}
			n, _ := answers.LoadOrStore(string(out), new(int))
			mu.Lock()
			*n.(*int)++
			mu.Unlock()
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	// Each gets one call in two: the chance that either gets none is 2^-199.
	if calls["a"] == 0 || calls["b"] == 0 || calls["a"]+calls["b"] != events {
		t.Errorf("calls %v, want %d spread over both workers", calls, events)
	}
	for _, name := range []string{"a", "b"} {
		if n, ok := answers.Load(`"` + name + `"`); !ok || *n.(*int) != calls[name] {
			t.Errorf("answers from %s do not match its %d calls", name, calls[name])
		}
	}
}

// A connection that is closed or draining fails calls as connect.
func TestNATSConnectionGone(t *testing.T) {
	url := natstest.Start(t)
	serve(t, url, worker.DefaultSubject, func(m *nats.Msg) { m.Respond(nil) })
	nc := natstest.Connect(t, url)
	p := newNATS(t, worker.NATSConfig{Conn: nc})
	if out, err := callNATS(p, newEvent(generous, "")); err != nil || out != nil {
		t.Fatalf("empty reply: %q, %v; want no result", out, err)
	}
	nc.Close()
	if _, err := callNATS(p, newEvent(generous, "")); kindOf(err) != worker.KindConnect {
		t.Errorf("closed connection: %v, want %s", err, worker.KindConnect)
	}
}

// An event past its deadline is not sent.
func TestNATSNoTimeLeftMakesNoCall(t *testing.T) {
	url := natstest.Start(t)
	var mu sync.Mutex
	calls := 0
	serve(t, url, worker.DefaultSubject, func(m *nats.Msg) {
		mu.Lock()
		calls++
		mu.Unlock()
		m.Respond(nil)
	})
	nc := natstest.Connect(t, url)
	ev := newEvent(time.Hour, "")
	for _, at := range []time.Duration{time.Hour, 2 * time.Hour} {
		now := ev.CreatedAt.Add(at)
		p := newNATS(t, worker.NATSConfig{Conn: nc, Now: func() time.Time { return now }})
		if _, err := p.Process(context.Background(), ev); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("at %s: %v, want the deadline's error", at, err)
		}
	}
	// A round trip through the server after the two attempts: had either
	// been sent, the worker would have seen it by now (messages on one
	// connection arrive in order, and the worker answers this one).
	if _, err := callNATS(newNATS(t, worker.NATSConfig{Conn: nc}), newEvent(generous, "")); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Errorf("worker got %d calls, want only the last one", calls)
	}
}
