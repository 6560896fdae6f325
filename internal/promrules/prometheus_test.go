package promrules_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/natstest"
	"github.com/ontime-rt/ontime/internal/node"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds each test: node and Prometheus start-up, every wait and
// the shutdown all fit in it.
const testTimeout = 90 * time.Second

// pollEvery is how often the tests ask again while they wait.
const pollEvery = 100 * time.Millisecond

// rulesDir is where the rules ship, from this package's directory.
var rulesDir = filepath.Join("..", "..", "docs", "prometheus")

// tools finds Debian's prometheus and promtool, or skips the test.
func tools(t *testing.T) (prometheus, promtool string) {
	t.Helper()
	var paths [2]string
	for i, name := range []string{"prometheus", "promtool"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("no %s on PATH (%v): install it with `apt-get install prometheus` (.ci/run does)", name, err)
		}
		paths[i] = p
	}
	return paths[0], paths[1]
}

// testContext is the per-test context, bounded by testTimeout. The test's
// idle client connections are closed at its end, so that goleak sees no
// connection goroutines left.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	return ctx
}

// promtool runs promtool with args (and stdin, when not nil) and fails the
// test, with its output, unless it succeeds.
func promtool(t *testing.T, ctx context.Context, path string, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, path, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPrometheusRulesCheck runs the promtool commands of
// docs/operations.md's "Check the rules", as written there (globs
// included), from the repository's root: the rules parse and their unit
// tests (each alert firing and staying quiet) pass.
func TestPrometheusRulesCheck(t *testing.T) {
	_, tool := tools(t)
	ctx := testContext(t)
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), "## Check the rules\n\n```sh\n")
	block, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatal("docs/operations.md: no sh block under \"## Check the rules\"")
	}
	ran := 0
	for line := range strings.Lines(block) {
		if !strings.HasPrefix(line, "promtool ") {
			continue
		}
		command, _, _ := strings.Cut(line, "#")
		args := strings.Fields(command)[1:]
		// The shell's glob, expanded as sh would from the root.
		var expanded []string
		for _, a := range args {
			if !strings.ContainsAny(a, "*?[") {
				expanded = append(expanded, a)
				continue
			}
			files, err := filepath.Glob(filepath.Join("..", "..", a))
			if err != nil || len(files) == 0 {
				t.Fatalf("%s: the glob %s matches nothing (%v)", strings.TrimSpace(line), a, err)
			}
			expanded = append(expanded, files...)
		}
		out := promtool(t, ctx, tool, nil, expanded...)
		if !strings.Contains(out, "SUCCESS") {
			t.Fatalf("%s did not report success:\n%s", strings.TrimSpace(line), out)
		}
		ran++
	}
	if ran != 2 {
		t.Fatalf("docs/operations.md shows %d promtool commands, want 2 (check rules, test rules)", ran)
	}
}

// TestPrometheusScrapesNode runs a node and a real Prometheus that scrapes it
// every second with the shipped rules, and checks that the rules load and
// evaluate, that a recording rule produces its series, and that what
// Prometheus stored is what /api/stats says.
func TestPrometheusScrapesNode(t *testing.T) {
	prom, tool := tools(t)
	ctx := testContext(t)

	// One worker of 10 ms (100 events/s) against 200 events/s and a queue
	// of 8: events end on time and dropped (queue-full), so the comparison
	// covers more than one status.
	s := config.Defaults()
	s.Rate, s.DeadlineMs, s.WorkMs, s.Workers, s.QueueCap, s.TickMs = 200, 1000, 10, 1, 8, 100
	base := startNode(t, node.Config{Settings: s, ShutdownTimeout: 3 * time.Second})

	// The exposition passes Prometheus's own lint, but for known problems.
	exposition := get(t, ctx, base+"/metrics")
	lintMetrics(t, ctx, tool, exposition)
	// The queue's bytes are exported, and the failure counters exist
	// before any failure, for rate() and the alerts.
	for _, want := range []string{"\nontime_queue_bytes ", "\nontime_queue_bytes_capacity ", "\nontime_worker_failures_total{kind=\"connect\"} 0\n"} {
		if !strings.Contains(string(exposition), want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}

	rules, err := filepath.Abs(filepath.Join(rulesDir, "ontime.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	wantRules := countRules(t, rules)
	api := startPrometheus(t, ctx, prom, tool, rules, strings.TrimPrefix(base, "http://"))

	// Every rule of the file is loaded, has been evaluated and is healthy.
	waitFor(t, ctx, "every rule evaluated without error", func() (bool, string) {
		var body struct {
			Data struct {
				Groups []struct {
					Name  string `json:"name"`
					Rules []struct {
						Name, Health, LastError string
						LastEvaluation          time.Time
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := getJSON(ctx, api+"/api/v1/rules", &body); err != nil {
			return false, err.Error()
		}
		n, bad := 0, []string{}
		for _, g := range body.Data.Groups {
			for _, r := range g.Rules {
				n++
				if r.Health != "ok" || r.LastEvaluation.IsZero() {
					bad = append(bad, fmt.Sprintf("%s/%s: health %q %s", g.Name, r.Name, r.Health, r.LastError))
				}
			}
		}
		if n != wantRules {
			return false, fmt.Sprintf("%d rules loaded, the file has %d", n, wantRules)
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})

	// The target is up, under the job name the rules expect.
	waitFor(t, ctx, `up{job="ontime"} == 1`, func() (bool, string) {
		v, err := query(ctx, api, `up{job="ontime"}`)
		if err != nil || len(v) != 1 {
			return false, fmt.Sprintf("%v %v", v, err)
		}
		return v[0].Value == 1, fmt.Sprint(v)
	})

	// Recording rules produce their series from the scraped counters: on
	// time events per second, and the latency quantile from the buckets.
	for _, rec := range []string{"ontime:goodput:rate1m", "ontime:events_received:rate1m", "ontime:event_latency_seconds:p99_1m"} {
		waitFor(t, ctx, rec+" > 0", func() (bool, string) {
			v, err := query(ctx, api, rec)
			if err != nil || len(v) != 1 {
				return false, fmt.Sprintf("%v %v", v, err)
			}
			x := v[0].Value
			return x > 0 && !math.IsInf(x, 0), fmt.Sprint(v)
		})
	}

	// Stop the generator and let the pipeline drain: the totals hold still,
	// and the next scrape must read exactly them.
	patch(t, ctx, base+"/api/config", `{"rate": 0}`)
	var st statsBody
	waitFor(t, ctx, "/api/stats inFlight == 0 after rate 0", func() (bool, string) {
		if err := getJSON(ctx, base+"/api/stats", &st); err != nil {
			return false, err.Error()
		}
		return st.Totals.InFlight == 0, fmt.Sprintf("%+v", st.Totals)
	})
	if st.Totals.Received == 0 || st.Totals.OnTime == 0 || st.Totals.Dropped == 0 {
		t.Fatalf("want events on time and dropped to compare, got %+v", st.Totals)
	}

	// Wait for a scrape that began after the totals held still: what it
	// stored must be them, exactly.
	still := float64(time.Now().UnixMilli()) / 1000
	waitFor(t, ctx, "a scrape after the totals held still", func() (bool, string) {
		v, err := query(ctx, api, `timestamp(ontime_events_received_total{job="ontime"})`)
		if err != nil || len(v) != 1 {
			return false, fmt.Sprintf("%v %v", v, err)
		}
		return v[0].Value > still, fmt.Sprintf("latest scrape at %.3f, totals still since %.3f", v[0].Value, still)
	})
	v, err := query(ctx, api, `ontime_events_received_total{job="ontime"}`)
	if err != nil || len(v) != 1 {
		t.Fatalf("ontime_events_received_total: %v %v", v, err)
	}
	if v[0].Value != float64(st.Totals.Received) {
		t.Errorf("ontime_events_received_total: Prometheus has %v, /api/stats totals.received %d", v[0].Value, st.Totals.Received)
	}

	// Each outcome counter Prometheus stored matches the totals.
	v, err = query(ctx, api, `ontime_events_total{job="ontime"}`)
	if err != nil {
		t.Fatal(err)
	}
	byStatus, droppedBy := map[string]float64{}, map[string]float64{}
	for _, s := range v {
		byStatus[s.Metric["status"]] += s.Value
		if s.Metric["status"] == "dropped" {
			droppedBy[s.Metric["reason"]] += s.Value
		}
	}
	want := map[string]float64{"on-time": float64(st.Totals.OnTime), "late": float64(st.Totals.Late), "dropped": float64(st.Totals.Dropped)}
	for status, w := range want {
		if byStatus[status] != w {
			t.Errorf("ontime_events_total{status=%q}: Prometheus has %v, /api/stats %v", status, byStatus[status], w)
		}
	}
	for status, got := range byStatus {
		if _, ok := want[status]; !ok && got != 0 {
			t.Errorf("ontime_events_total{status=%q} = %v, a status /api/stats does not count", status, got)
		}
	}
	for reason, got := range droppedBy {
		if w := float64(st.Totals.DroppedBy[reason]); got != w {
			t.Errorf("ontime_events_total{status=\"dropped\",reason=%q}: Prometheus has %v, /api/stats %v", reason, got, w)
		}
	}
	for reason, n := range st.Totals.DroppedBy {
		if _, ok := droppedBy[reason]; !ok {
			t.Errorf("/api/stats dropped %d as %q, Prometheus has no such series", n, reason)
		}
	}

	// The totals really held still during the comparison.
	var after statsBody
	if err := getJSON(ctx, base+"/api/stats", &after); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after.Totals, st.Totals) {
		t.Fatalf("the totals moved while the generator was off: %+v, then %+v", st.Totals, after.Totals)
	}
	t.Logf("Prometheus and /api/stats agree: %+v", st.Totals)
}

// TestPrometheusClusterNodeLeft runs a cluster of two nodes on an embedded
// NATS server and a real Prometheus scraping both with the shipped rules.
// Both count two members in ontime_cluster_nodes; once node b stops on
// purpose, a counts it left, not lost, opens no node-lost incident, and
// OntimeClusterNodeLost stays quiet: stopping a node is no incident. (A
// node that vanishes is counted lost by internal/node's fault tests, which
// SIGKILL a node process; the alert's expression is tested by promtool
// against docs/prometheus/tests.)
func TestPrometheusClusterNodeLeft(t *testing.T) {
	prom, tool := tools(t)
	ctx := testContext(t)
	nats := natstest.Start(t)
	s := config.Defaults()
	s.Rate, s.Workers, s.TickMs = 20, 1, 100
	a, _ := startStoppableNode(t, node.Config{Settings: s, ShutdownTimeout: 3 * time.Second, NATSURL: nats, NodeID: "a"})
	b, stopB := startStoppableNode(t, node.Config{Settings: s, ShutdownTimeout: 3 * time.Second, NATSURL: nats, NodeID: "b"})
	lintMetrics(t, ctx, tool, get(t, ctx, a+"/metrics"))

	rules, err := filepath.Abs(filepath.Join(rulesDir, "ontime.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	ia, ib := strings.TrimPrefix(a, "http://"), strings.TrimPrefix(b, "http://")
	api := startPrometheus(t, ctx, prom, tool, rules, ia, ib)

	// byInstance runs q and keys its samples by instance.
	byInstance := func(q string) (map[string]float64, error) {
		v, err := query(ctx, api, q)
		out := make(map[string]float64, len(v))
		for _, s := range v {
			out[s.Metric["instance"]] = s.Value
		}
		return out, err
	}
	waitFor(t, ctx, "both nodes count two members and none lost", func() (bool, string) {
		members, err := byInstance(`ontime:cluster_members`)
		if err != nil {
			return false, err.Error()
		}
		lost, err := byInstance(`ontime_cluster_nodes{job="ontime",status="lost"}`)
		if err != nil {
			return false, err.Error()
		}
		ok := len(members) == 2 && len(lost) == 2
		for _, i := range []string{ia, ib} {
			ok = ok && members[i] == 2 && lost[i] == 0
		}
		return ok, fmt.Sprintf("members %v, lost %v", members, lost)
	})

	stopB()
	waitFor(t, ctx, "node a counts b left, not lost", func() (bool, string) {
		left, err := byInstance(`ontime_cluster_nodes{job="ontime",status="left"}`)
		if err != nil {
			return false, err.Error()
		}
		lost, err := byInstance(`ontime_cluster_nodes{job="ontime",status="lost"}`)
		if err != nil {
			return false, err.Error()
		}
		members, err := byInstance(`ontime:cluster_members`)
		if err != nil {
			return false, err.Error()
		}
		return left[ia] == 1 && lost[ia] == 0 && members[ia] == 1,
			fmt.Sprintf("left %v, lost %v, members %v", left, lost, members)
	})
	alerts, err := byInstance(`ALERTS{alertname="OntimeClusterNodeLost"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 0 {
		t.Fatalf("OntimeClusterNodeLost after a node left on purpose: %v", alerts)
	}
	var inc struct {
		Incidents []struct {
			Kind, Node string
			End        *int64
		} `json:"incidents"`
	}
	if err := getJSON(ctx, a+"/api/incidents", &inc); err != nil {
		t.Fatal(err)
	}
	for _, i := range inc.Incidents {
		if i.Kind == "node-lost" {
			t.Fatalf("a node-lost incident for a node that left on purpose: %+v", inc.Incidents)
		}
	}
}

// countRules counts the recording rules and alerts in a rules file.
func countRules(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "- record:") || strings.HasPrefix(line, "- alert:") {
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no rules in %s", path)
	}
	return n
}

// knownLint are the problems promtool check metrics finds in the exposition
// that are known and accepted: none.
var knownLint = []string{}

// lintMetrics runs promtool check metrics on an exposition and fails the
// test on any problem it reports beyond knownLint.
func lintMetrics(t *testing.T, ctx context.Context, tool string, exposition []byte) {
	t.Helper()
	cmd := exec.CommandContext(ctx, tool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("promtool check metrics: %v", err)
	}
	var problems []string
	reported := 0
	for line := range strings.Lines(string(out)) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		reported++
		if !slices.Contains(knownLint, line) {
			problems = append(problems, line)
		}
	}
	if len(problems) > 0 || (err != nil && reported == 0) {
		t.Fatalf("promtool check metrics (%v) on /metrics:\n%s", err, strings.Join(problems, "\n"))
	}
}

// statsBody is the part of GET /api/stats the test compares.
type statsBody struct {
	Totals struct {
		Received, OnTime, Late, Dropped, InFlight uint64
		DroppedBy                                 map[string]uint64
	} `json:"totals"`
}

// startNode runs a node serving on a loopback port of its own until the
// test ends, and returns its base URL.
func startNode(t *testing.T, cfg node.Config) string {
	t.Helper()
	base, _ := startStoppableNode(t, cfg)
	return base
}

// startStoppableNode is startNode, and returns as well a func that stops
// the node before the test ends (it may be called more than once).
func startStoppableNode(t *testing.T, cfg node.Config) (base string, stop func()) {
	t.Helper()
	n, err := node.New(cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatalf("node.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("node.Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("node.Run did not return within 10s of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}

// startPrometheus runs Prometheus on a free loopback port with its own
// storage, scraping the targets every second as job "ontime" and evaluating
// rules every second. It returns the base URL of its API once it is ready,
// and stops it when the test ends. A Prometheus installed as a system
// service (on :9090) is neither used nor disturbed.
func startPrometheus(t *testing.T, ctx context.Context, prom, tool, rules string, targets ...string) string {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	yml := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: ontime
    static_configs:
      - targets: [%s]
`, rules, quoteAll(targets))
	if err := os.WriteFile(conf, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	promtool(t, ctx, tool, nil, "check", "config", conf)

	// The port is chosen free, then given to Prometheus: another process
	// may take it in between, so a Prometheus that exits at start is
	// tried again on a new port.
	for attempt := 1; ; attempt++ {
		addr := freeAddr(t)
		logPath := filepath.Join(dir, fmt.Sprintf("prometheus-%d.log", attempt))
		logf, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(prom,
			"--config.file="+conf,
			"--storage.tsdb.path="+filepath.Join(dir, fmt.Sprintf("data-%d", attempt)),
			"--web.listen-address="+addr,
			"--log.level=warn",
		)
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", prom, err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait(); _ = logf.Close() }()
		stop := func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
				t.Errorf("prometheus did not stop within 10s of SIGTERM; killed")
			}
		}
		api := "http://" + addr
		ready, err := waitReady(ctx, api, exited)
		if ready {
			t.Cleanup(func() {
				stop()
				if t.Failed() {
					if b, err := os.ReadFile(logPath); err == nil {
						t.Logf("prometheus log:\n%s", b)
					}
				}
			})
			return api
		}
		stop()
		b, _ := os.ReadFile(logPath)
		if attempt == 3 || ctx.Err() != nil {
			t.Fatalf("prometheus on %s was not ready: %v\nits log:\n%s", addr, err, b)
		}
		t.Logf("prometheus on %s was not ready (%v), trying another port; its log:\n%s", addr, err, b)
	}
}

// quoteAll quotes each string and joins them with commas, for a YAML flow
// sequence.
func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// waitReady polls /-/ready until it answers 200, the process exits, or ctx
// ends.
func waitReady(ctx context.Context, api string, exited <-chan error) (bool, error) {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/-/ready", nil)
		if err != nil {
			return false, err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true, nil
			}
		}
		select {
		case err := <-exited:
			return false, fmt.Errorf("exited: %v", err)
		case <-ctx.Done():
			return false, ctx.Err()
		case <-tick.C:
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// waitFor polls cond until it holds, failing the test with cond's last
// word when ctx ends first.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() (bool, string)) {
	t.Helper()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		ok, last := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; last: %s", what, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// sample is one element of an instant vector from Prometheus's query API.
type sample struct {
	Metric map[string]string
	Value  float64
}

// query runs an instant PromQL query.
func query(ctx context.Context, api, q string) ([]sample, error) {
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := getJSON(ctx, api+"/api/v1/query?query="+url.QueryEscape(q), &body); err != nil {
		return nil, err
	}
	if body.Status != "success" || body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %s: status %q, type %q: %s", q, body.Status, body.Data.ResultType, body.Error)
	}
	out := make([]sample, 0, len(body.Data.Result))
	for _, r := range body.Data.Result {
		s, ok := r.Value[1].(string)
		if !ok {
			return nil, fmt.Errorf("query %s: value %v is not a string", q, r.Value)
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", q, err)
		}
		out = append(out, sample{Metric: r.Metric, Value: v})
	}
	return out, nil
}

// getJSON decodes the JSON answer of a GET that must be 200.
func getJSON(ctx context.Context, u string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", u, resp.Status, b)
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

func get(t *testing.T, ctx context.Context, u string) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	return b
}

func patch(t *testing.T, ctx context.Context, u, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH %s %s: %s: %s", u, body, resp.Status, b)
	}
}
