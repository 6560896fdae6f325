package worker_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/ingest"
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
// directly with a budget too short for the work it is asked, and checks
// that its answer arrives in one piece.
func checkExample(t *testing.T, lang, url string) {
	h := newHTTP(t, worker.Config{URL: url})
	checkEcho(t, lang, func(ev event.Event) ([]byte, error) { return call(h, ev) })
	checkOnePiece(t, url)

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

// checkOnePiece sends calls over one plain TCP connection and checks that
// the first read of each returns the whole answer, headers and body. A
// worker that writes them separately with Nagle's algorithm on holds the
// body until the headers are acknowledged, which the caller delays by up
// to 40 ms on every call (docs/workers.md, "Send each answer at once").
// An answer of a few hundred bytes sent in one write arrives whole over
// loopback. The first calls of a connection are acknowledged at once
// (Linux's quick-ACK mode), so it takes many calls to see the delay.
func checkOnePiece(t *testing.T, workerURL string) {
	t.Helper()
	u, err := url.Parse(workerURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialTimeout("tcp", u.Host, guard)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(guard))
	buf := make([]byte, 64<<10)
	for i := range 40 {
		body := fmt.Sprintf(`{"id":"one-piece-%d","source":"test","createdAt":0,"deadlineMs":1000,"payload":{"sensor":"t1"}}`, i)
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%s: 1000\r\nContent-Length: %d\r\n\r\n%s",
			u.Path, u.Host, worker.HeaderTimeout, len(body), body)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("call %d: reading the answer: %v", i, err)
		}
		first := buf[:n]
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(first)), nil)
		if err != nil {
			t.Fatalf("call %d: the first read %q is not the start of an answer: %v", i, first, err)
		}
		got, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(got), fmt.Sprintf(`"one-piece-%d"`, i)) {
			t.Fatalf("call %d: the first read holds %q: status %d, body %q (%v); want the whole 200 answer in one piece", i, first, resp.StatusCode, got, err)
		}
	}
}

// quickStart is the shell block of docs/workers.md that starts the Python
// worker, points ontime at it and posts an event.
func quickStart(t *testing.T) (workerLine, ontimeLine, curlLine string) {
	t.Helper()
	doc, err := os.ReadFile("../../docs/workers.md")
	if err != nil {
		t.Fatal(err)
	}
	const start = "```sh\nADDR=127.0.0.1:8092 python3 docs/workers/worker.py &\n"
	_, after, ok := strings.Cut(string(doc), start)
	block, _, ok2 := strings.Cut(after, "```")
	lines := strings.Split(strings.TrimSpace(block), "\n")
	if !ok || !ok2 || len(lines) != 2 {
		t.Fatalf("docs/workers.md: no block starting %q with two lines after it", start)
	}
	return strings.TrimSuffix(strings.TrimPrefix(start, "```sh\n"), "\n"), lines[0], lines[1]
}

// TestDocWorkerQuickStart runs docs/workers.md's three lines: the Python
// worker on the documented address (any free port here), ontime with the
// documented flags pointing at it, and the documented curl command, sent to
// ontime's real ingest handler, whose event the HTTP processor takes to the
// worker. The curl must be accepted and the worker's answer be the event's
// result.
func TestDocWorkerQuickStart(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	workerLine, ontimeLine, curlLine := quickStart(t)
	const docAddr = "127.0.0.1:8092"
	if want := "ADDR=" + docAddr + " python3 docs/workers/worker.py &"; workerLine != want {
		t.Fatalf("worker line %q, want %q", workerLine, want)
	}
	if want := "bin/ontime --processor http --worker-url http://" + docAddr + "/work"; ontimeLine != want {
		t.Fatalf("ontime line %q, want %q (make build puts the server in bin/ontime)", ontimeLine, want)
	}
	workerURL := startExample(t, "python3", filepath.Join(examples, "worker.py"))

	h := newHTTP(t, worker.Config{URL: workerURL})
	results := make(chan []byte, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := submitFunc(func(ev event.Event) {
		go func() {
			ctx, stop := context.WithDeadline(ctx, ev.DeadlineAt())
			defer stop()
			out, err := h.Process(ctx, ev)
			if err != nil {
				out = []byte("error: " + err.Error())
			}
			results <- out
		}()
	})
	mux := http.NewServeMux()
	mux.Handle("/api/events", ingest.New(ingest.Config{}, sub))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	const docServer = "localhost:8080/api/events"
	if !strings.HasPrefix(curlLine, "curl ") || !strings.Contains(curlLine, docServer) {
		t.Fatalf("curl line %q does not post to %s", curlLine, docServer)
	}
	cmd := exec.Command("sh", "-c", strings.Replace(curlLine, docServer, srv.URL+"/api/events", 1)+" -w ' %{http_code}'")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	text := strings.TrimSpace(string(out))
	i := strings.LastIndexByte(text, ' ')
	body, code := text[:i+1], text[i+1:]
	if n, _ := strconv.Atoi(code); n != http.StatusAccepted {
		t.Fatalf("the documented curl: %s, want 202", out)
	}
	var ack ingest.Response
	if err := json.Unmarshal([]byte(body), &ack); err != nil || ack.Accepted != 1 {
		t.Fatalf("the documented curl's answer %s: %+v, %v", out, ack, err)
	}
	select {
	case got := <-results:
		if !strings.Contains(string(got), `"worker":"python"`) {
			t.Errorf("the event's result %s, want the Python worker's answer", got)
		}
	case <-time.After(guard):
		t.Fatal("the posted event never reached the worker")
	}
}

// submitFunc submits every event it is given.
type submitFunc func(event.Event)

func (f submitFunc) Submit(ev event.Event) (bool, event.Reason) {
	f(ev)
	return true, event.ReasonNone
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
