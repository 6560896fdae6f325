package worker_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/worker"
)

// examples is where docs/workers.md's minimal workers live.
const examples = "../../docs/workers"

// startExample runs a documented worker on a free port and returns its URL
// once it listens. The process is killed when the test ends.
func startExample(t *testing.T, name string, arg ...string) string {
	t.Helper()
	return startProcess(t, []string{"ADDR=127.0.0.1:0"}, "listening on ", name, arg...)
}

// startProcess runs a documented worker with env added to its environment
// and returns the rest of its first line once that line starts with ready.
// The process is killed when the test ends.
func startProcess(t *testing.T, env []string, ready, name string, arg ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed", name)
	}
	cmd := exec.Command(name, arg...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1) // the first line; later ones are dropped
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-drained
		cmd.Wait()
	})
	select {
	case line, ok := <-lines:
		rest, found := strings.CutPrefix(line, ready)
		if !ok || !found {
			t.Fatalf("%s %v: first line %q, want %s...", name, arg, line, ready)
		}
		return rest
	case <-time.After(guard):
		t.Fatalf("%s %v did not start within %s", name, arg, guard)
		return ""
	}
}

// checkEcho has a minimal worker process an event with a payload and one
// without, and checks each answer names the worker, the event and the
// payload's compact size.
func checkEcho(t *testing.T, lang string, process func(event.Event) ([]byte, error)) {
	t.Helper()
	ev := newEvent(guard, `{"sensor": "t1", "workMs": 5}`)
	out, err := process(ev)
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	var got struct {
		Worker       string
		ID           string
		PayloadBytes int
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	compact := len(`{"sensor":"t1","workMs":5}`)
	if got.Worker != lang || got.ID != ev.ID.String() || got.PayloadBytes != compact {
		t.Errorf("output %s, want worker %s, id %s, payloadBytes %d", out, lang, ev.ID, compact)
	}
	// Without a payload.
	if out, err := process(newEvent(guard, "")); err != nil || !strings.Contains(string(out), `"payloadBytes":0`) {
		t.Errorf("no payload: %s, %v", out, err)
	}
}

// checkExample calls a minimal worker through the HTTP processor and
// directly with a budget too short for the work it is asked.
func checkExample(t *testing.T, lang, url string) {
	h := newHTTP(t, worker.Config{URL: url})
	checkEcho(t, lang, func(ev event.Event) ([]byte, error) { return call(h, ev) })

	// The worker gives up when its budget runs out, even if the caller
	// stays.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url,
		strings.NewReader(`{"id":"x","source":"test","createdAt":0,"deadlineMs":50,"payload":{"workMs":60000}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(worker.HeaderTimeout, "50")
	client := &http.Client{Timeout: guard}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("call with a 50 ms budget for 60 s of work: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	client.CloseIdleConnections()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("50 ms budget for 60 s of work: %s, want 504", resp.Status)
	}
}

func TestExampleGo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	bin := filepath.Join(t.TempDir(), "worker")
	build := exec.Command("go", "build", "-o", bin, "./go")
	build.Dir = examples
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	checkExample(t, "go", startExample(t, bin))
}

func TestExamplePython(t *testing.T) {
	checkExample(t, "python", startExample(t, "python3", filepath.Join(examples, "worker.py")))
}

func TestExampleNode(t *testing.T) {
	checkExample(t, "node", startExample(t, "node", filepath.Join(examples, "worker.mjs")))
}
