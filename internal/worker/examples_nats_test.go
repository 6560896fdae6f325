package worker_test

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/natstest"
	"github.com/ontime-rt/ontime/internal/worker"
)

// startNATSExample runs a documented NATS worker against url and returns
// once it has subscribed.
func startNATSExample(t *testing.T, url, name string, arg ...string) {
	t.Helper()
	got := startProcess(t, []string{"NATS_URL=" + url, "SUBJECT=" + worker.DefaultSubject}, "subscribed to ", name, arg...)
	if !strings.HasPrefix(got, worker.DefaultSubject+" on ") {
		t.Fatalf("%s: subscribed to %q, want %s on the test's server", name, got, worker.DefaultSubject)
	}
}

// checkNATSExample calls a minimal NATS worker through the processor, then
// checks that it serves events at once rather than one after the other,
// and that it gives up when its budget runs out.
func checkNATSExample(t *testing.T, lang, url string) {
	nc := natstest.Connect(t, url)
	p := newNATS(t, worker.NATSConfig{Conn: nc})
	checkEcho(t, lang, func(ev event.Event) ([]byte, error) { return callNATS(p, ev) })

	// A slow event does not hold up the next: the fast one is answered
	// while the slow one still works.
	slowCtx, stopSlow := context.WithCancel(t.Context())
	slow := make(chan error, 1)
	go func() {
		_, err := p.Process(slowCtx, newEvent(guard, `{"workMs": 60000}`))
		slow <- err
	}()
	if out, err := callNATS(p, newEvent(guard, `{"workMs": 1}`)); err != nil || !strings.Contains(string(out), `"worker":"`+lang+`"`) {
		t.Errorf("a fast event behind a slow one: %s, %v", out, err)
	}
	select {
	case err := <-slow:
		t.Errorf("the slow event ended first (%v): events are served one after the other", err)
	default:
	}
	stopSlow()
	if err := <-slow; !errors.Is(err, context.Canceled) {
		t.Errorf("slow event: %v, want cancelled", err)
	}

	// The worker gives up when its budget runs out, even if the caller
	// stays: an error reply with code 504.
	ctx, cancel := context.WithTimeout(t.Context(), guard)
	defer cancel()
	reply, err := nc.RequestMsgWithContext(ctx, &nats.Msg{
		Subject: worker.DefaultSubject,
		Header:  nats.Header{worker.HeaderTimeout: {"50"}},
		Data:    []byte(`{"id":"x","source":"test","createdAt":0,"deadlineMs":50,"payload":{"workMs":60000}}`),
	})
	if err != nil {
		t.Fatalf("call with a 50 ms budget for 60 s of work: %v", err)
	}
	if code := reply.Header.Get(worker.HeaderErrorCode); code != "504" {
		t.Errorf("50 ms budget for 60 s of work: error code %q, body %q; want 504", code, reply.Data)
	}
}

func TestExampleNATSGo(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "worker")
	build := exec.Command("go", "build", "-o", bin, "./nats-go")
	build.Dir = examples
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	url := natstest.Start(t)
	startNATSExample(t, url, bin)
	checkNATSExample(t, "go", url)
}

func TestExampleNATSNode(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed")
	}
	// nats.js is the example's one dependency; tests install nothing.
	probe := exec.Command("node", "--input-type=module", "-e", `import "nats"`)
	probe.Dir = examples
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("nats.js is not installed (npm install --prefix docs/workers): %v\n%s", err, out)
	}
	url := natstest.Start(t)
	startNATSExample(t, url, "node", filepath.Join(examples, "nats-worker.mjs"))
	checkNATSExample(t, "node", url)
}
