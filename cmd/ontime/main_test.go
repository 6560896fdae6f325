package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestParseDefaultsEnvAndFlags(t *testing.T) {
	o, err := parse([]string{"ontime"}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.addr != "127.0.0.1:8080" || o.node.Settings != config.Defaults() {
		t.Fatalf("defaults: %+v", o)
	}
	o, err = parse([]string{"ontime", "--workers", "7"}, env(map[string]string{
		"ONTIME_RATE": "400", "ONTIME_WORKERS": "2", "ONTIME_ALLOWED_ORIGINS": "https://a.example, https://b.example",
	}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.node.Settings.Policy != "edf" || o.node.Settings.WorkDist != "fixed" {
		t.Fatalf("default policy %q and work distribution %q", o.node.Settings.Policy, o.node.Settings.WorkDist)
	}
	if o.node.Outcomes != 100_000 {
		t.Fatalf("default outcome window %d", o.node.Outcomes)
	}
	if o.node.Settings.Rate != 400 || o.node.Settings.Workers != 7 || len(o.node.AllowedOrigins) != 2 || o.node.AllowedOrigins[1] != "https://b.example" {
		t.Fatalf("env then flags: %+v", o.node)
	}
}

// The outcome window is sized by --outcomes or ONTIME_OUTCOMES.
func TestParseOutcomes(t *testing.T) {
	o, err := parse([]string{"ontime"}, env(map[string]string{"ONTIME_OUTCOMES": "5000"}), &bytes.Buffer{})
	if err != nil || o.node.Outcomes != 5000 {
		t.Fatalf("ONTIME_OUTCOMES=5000: %d, %v", o.node.Outcomes, err)
	}
	o, err = parse([]string{"ontime", "--outcomes", "250"}, env(map[string]string{"ONTIME_OUTCOMES": "5000"}), &bytes.Buffer{})
	if err != nil || o.node.Outcomes != 250 {
		t.Fatalf("--outcomes 250: %d, %v", o.node.Outcomes, err)
	}
}

// The queue's byte budget is a size with a binary unit, 64 MiB by default.
func TestParseQueueBytes(t *testing.T) {
	o, err := parse([]string{"ontime"}, env(nil), &bytes.Buffer{})
	if err != nil || o.node.QueueBytes != 64<<20 {
		t.Fatalf("default: %d, %v", o.node.QueueBytes, err)
	}
	for v, want := range map[string]int64{"262144": 256 << 10, "512KiB": 512 << 10, "2GiB": 2 << 30} {
		o, err = parse([]string{"ontime", "--queue-bytes", v}, env(map[string]string{"ONTIME_QUEUE_BYTES": "1MiB"}), &bytes.Buffer{})
		if err != nil || o.node.QueueBytes != want {
			t.Errorf("--queue-bytes %s: %d, %v; want %d", v, o.node.QueueBytes, err, want)
		}
	}
	o, err = parse([]string{"ontime"}, env(map[string]string{"ONTIME_QUEUE_BYTES": "1MiB"}), &bytes.Buffer{})
	if err != nil || o.node.QueueBytes != 1<<20 {
		t.Fatalf("ONTIME_QUEUE_BYTES=1MiB: %d, %v", o.node.QueueBytes, err)
	}
}

// Durations are Go durations on the command line and milliseconds in the
// settings.
func TestParseDurations(t *testing.T) {
	o, err := parse([]string{"ontime", "--deadline", "1.5s", "--work", "250us", "--tick", "20ms"}, env(map[string]string{"ONTIME_WORK": "1s"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if s := o.node.Settings; s.DeadlineMs != 1500 || s.WorkMs != 0.25 || s.TickMs != 20 {
		t.Fatalf("durations as ms: %+v", s)
	}
}

func TestParseRefusesBadValues(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--rate", "-1"}, nil, "--rate"},
		{[]string{"--rate", "NaN"}, nil, "--rate"},
		{[]string{"--deadline", "0s"}, nil, "--deadline 0s: want 1 to 60000 ms"},
		{[]string{"--workers", "0"}, nil, "--workers 0: want 1 to 10000"},
		{[]string{"--max-body", "0"}, nil, "--max-body 0: want 1 to"},
		{[]string{"--history-bytes", "1000"}, nil, "--history-bytes 1000: want 1048576 to"},
		{[]string{"--max-clients", "0"}, nil, "--max-clients 0: want 1 to"},
		{[]string{"--outcomes", "0"}, nil, "--outcomes 0: want 1 to 10000000 events"},
		{[]string{"--queue-bytes", "1KiB"}, nil, "--queue-bytes 1KiB: want 65536 to"},
		{[]string{"--queue-bytes", "lots"}, nil, "invalid value"},
		{nil, map[string]string{"ONTIME_OUTCOMES": "many"}, "ONTIME_OUTCOMES"},
		{[]string{"--write-rate", "-1"}, nil, "--write-rate"},
		{[]string{"--node-id", strings.Repeat("x", 129)}, nil, "--node-id"},
		{[]string{"--nats", "nats://127.0.0.1:4222", "--tick", "10.5ms"}, nil, "--tick 10.5ms: want a whole number of milliseconds"},
		{[]string{"--queue", "0"}, nil, "--queue"},
		{[]string{"--tick", "1ms"}, nil, "--tick"},
		{[]string{"--addr", "nonsense"}, nil, "--addr"},
		{[]string{"--allowed-origins", "example.com"}, nil, "--allowed-origins"},
		{[]string{"--work", "fast"}, nil, "invalid value"},
		{[]string{"extra"}, nil, "unexpected arguments"},
		{[]string{"--policy", "random"}, nil, "--policy random: want one of edf"},
		{[]string{"--work-dist", "normal"}, nil, "--work-dist"},
		{[]string{"--processor", "gpu"}, nil, "--processor"},
		{[]string{"--arrivals", "bursty"}, nil, "--arrivals"},
		{[]string{"--processor", "http"}, nil, "--worker-url : want a worker URL"},
		{[]string{"--processor", "http", "--worker-url", "localhost:8090"}, nil, "--worker-url localhost:8090: want an http:// or https:// URL"},
		{[]string{"--concurrency", "elastic"}, nil, "--concurrency elastic: want one of fixed, adaptive"},
		{[]string{"--processor", "nats"}, nil, "--processor nats: nats needs cluster mode (--nats URL)"},
		{[]string{"--nats", "nats://127.0.0.1:4222", "--processor", "nats", "--worker-subject", "ontime.*"}, nil, "--worker-subject ontime.*: want a NATS subject without wildcards"},
		{[]string{"--worker-subject", "$SYS.work"}, nil, "--worker-subject $SYS.work: want a NATS subject"},
		{nil, map[string]string{"ONTIME_DEADLINE": "soon"}, "ONTIME_DEADLINE"},
	}
	for _, c := range cases {
		_, err := parse(append([]string{"ontime"}, c.args...), env(c.env), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parse(%v, %v) = %v, want an error naming %s", c.args, c.env, err, c.want)
		}
	}
	// Every bad value is named at once.
	_, err := parse([]string{"ontime", "--workers", "0", "--policy", "random", "--tick", "1ms"}, env(nil), &bytes.Buffer{})
	for _, want := range []string{"--workers 0:", "--policy random:", "--tick 1ms:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parse with three bad values: %v, want %q", err, want)
		}
	}
	var help bytes.Buffer
	if _, err := parse([]string{"ontime", "-h"}, env(nil), &help); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "ONTIME_") {
		t.Errorf("-h: %v, usage %q", err, help.String())
	}
}

// syncBuffer is an io.Writer safe for the server's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run serves on the address it is given, prints where, and returns cleanly
// when its context ends.
func TestRunServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"ontime", "--addr", "127.0.0.1:0", "--rate", "50"}, env(nil), out) }()

	base := pageURL(t, out, "http")
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(out.String(), "ontime stopped") {
		t.Fatalf("no stop log: %s", out.String())
	}
}

func TestRunReportsListenErrors(t *testing.T) {
	err := run(context.Background(), []string{"ontime", "--addr", "256.0.0.1:1"}, env(nil), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("run on a bad address: %v", err)
	}
}

func TestClusterFlags(t *testing.T) {
	o, err := parse([]string{"ontime", "--node-id", "n1"}, env(map[string]string{"ONTIME_NATS": "nats://10.0.0.1:4222", "ONTIME_NODE_ID": "from-env"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o.node.NATSURL != "nats://10.0.0.1:4222" || o.node.NodeID != "n1" {
		t.Fatalf("cluster flags: %q %q", o.node.NATSURL, o.node.NodeID)
	}
	if o, _ := parse([]string{"ontime"}, env(nil), &bytes.Buffer{}); o.node.NATSURL != "" {
		t.Fatalf("single node by default, got --nats %q", o.node.NATSURL)
	}
	// The default id is host:port, from the address actually listened on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // nothing listens there any more
	if id := defaultNodeID(ln.Addr()); !strings.HasSuffix(id, ":"+strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)) {
		t.Fatalf("default node id %q", id)
	}
	// An unreachable NATS server is a clear error at start.
	err = run(context.Background(), []string{"ontime", "--addr", "127.0.0.1:0", "--nats", "nats://" + ln.Addr().String()}, env(nil), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "NATS") {
		t.Fatalf("run with an unreachable NATS: %v", err)
	}
}

// An address on every interface is printed as one a browser can open.
func TestBrowsable(t *testing.T) {
	for _, c := range []struct {
		ip         net.IP
		want       string
		everywhere bool
	}{
		{net.IPv4zero, "127.0.0.1:8080", true},
		{net.IPv6unspecified, "127.0.0.1:8080", true},
		{net.IPv4(127, 0, 0, 1), "127.0.0.1:8080", false},
		{net.IPv6loopback, "[::1]:8080", false},
		{net.IPv4(192, 0, 2, 7), "192.0.2.7:8080", false},
	} {
		got, everywhere := browsable(&net.TCPAddr{IP: c.ip, Port: 8080})
		if got != c.want || everywhere != c.everywhere {
			t.Errorf("browsable(%s) = %q, %v; want %q, %v", c.ip, got, everywhere, c.want, c.everywhere)
		}
	}
}

// --version prints the build's version and commit and returns without
// serving, whatever else is on the command line.
func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"ontime", "--version", "--workers", "0"}, env(nil), &out); err != nil {
		t.Fatalf("--version: %v", err)
	}
	if !strings.HasPrefix(out.String(), "ontime ") || strings.Contains(out.String(), "serving") {
		t.Fatalf("--version printed %q", out.String())
	}
	info := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	if got, want := version(info), "ontime v1.2.3 (commit abc123, 2026-01-02T03:04:05Z, modified) go1.26.0"; got != want {
		t.Fatalf("version = %q, want %q", got, want)
	}
}

// --processor http takes its worker from --worker-url (or the environment)
// and adapts its concurrency unless told otherwise.
func TestParseWorker(t *testing.T) {
	o, err := parse([]string{"ontime", "--processor", "http"}, env(map[string]string{"ONTIME_WORKER_URL": "http://127.0.0.1:8090/work"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if s := o.node.Settings; s.WorkerURL != "http://127.0.0.1:8090/work" || s.Concurrency != "adaptive" {
		t.Fatalf("worker %q, concurrency %q; want the env's URL, adaptive", s.WorkerURL, s.Concurrency)
	}
	o, err = parse([]string{"ontime", "--processor", "http", "--worker-url", "http://w/", "--concurrency", "fixed"}, env(nil), &bytes.Buffer{})
	if err != nil || o.node.Settings.Concurrency != "fixed" {
		t.Fatalf("--concurrency fixed: %q, %v", o.node.Settings.Concurrency, err)
	}
	if o, _ := parse([]string{"ontime"}, env(nil), &bytes.Buffer{}); o.node.Settings.Concurrency != "fixed" {
		t.Fatalf("simulated work's concurrency %q, want fixed", o.node.Settings.Concurrency)
	}
}

// --processor nats sends on --worker-subject (default ontime.work, or the
// environment's) and adapts its concurrency; it needs --nats.
func TestParseNATSWorker(t *testing.T) {
	o, err := parse([]string{"ontime", "--nats", "nats://127.0.0.1:4222", "--processor", "nats"}, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if s := o.node.Settings; s.WorkerSubject != "ontime.work" || s.Concurrency != "adaptive" {
		t.Fatalf("subject %q, concurrency %q; want ontime.work, adaptive", s.WorkerSubject, s.Concurrency)
	}
	o, err = parse([]string{"ontime", "--nats", "nats://127.0.0.1:4222", "--processor", "nats"}, env(map[string]string{"ONTIME_WORKER_SUBJECT": "jobs.resize"}), &bytes.Buffer{})
	if err != nil || o.node.Settings.WorkerSubject != "jobs.resize" {
		t.Fatalf("ONTIME_WORKER_SUBJECT: %q, %v", o.node.Settings.WorkerSubject, err)
	}
}

// pageURL waits, at most 10 s, for run to print its page URL with scheme
// (http or https) to out, and returns it without its final slash.
func pageURL(t *testing.T, out *syncBuffer, scheme string) string {
	t.Helper()
	pageRe := regexp.MustCompile(`page:\s+(` + scheme + `://\S+)/`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := pageRe.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
	}
	t.Fatalf("run printed no %s page URL: %s", scheme, out.String())
	return ""
}
