package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/history"
)

// The cluster's faults under load, with real processes: this test binary
// runs as a NATS server or as an ontime node in a child process (runChild),
// which the test kills with SIGKILL. `make test` runs each fault once,
// briefly; the flags below make the same tests the measurement of the
// target (docs/deployment.md has the figures and the command).
var (
	faultRuns     = flag.Int("cluster.runs", 1, "runs of each cluster fault test")
	faultLoad     = flag.Duration("cluster.load", 4*time.Second, "how long each cluster fault test posts events")
	faultRate     = flag.Int("cluster.rate", 200, "events posted per second in the cluster fault tests")
	faultOutage   = flag.Duration("cluster.outage", 1500*time.Millisecond, "how long NATS stays down in the NATS restart test")
	faultWriteOff = flag.Duration("cluster.writeoff", 3*time.Second, "the nodes' WriteOffAfter in the cluster fault tests")
)

// childEnv names the child a test binary is to run as: "nats" or "node".
const childEnv = "ONTIME_TEST_CHILD"

// runChild runs this test binary as the child childEnv names, if any, and
// reports whether it did (the process then has nothing else to do).
func runChild() bool {
	kind := os.Getenv(childEnv)
	if kind == "" {
		return false
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var err error
	switch kind {
	case "nats":
		err = childNATS(ctx)
	case "node":
		err = childNode(ctx)
	default:
		err = fmt.Errorf("unknown child %q", kind)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	return true
}

// childNATS runs a NATS server on ONTIME_TEST_PORT until ctx ends.
func childNATS(ctx context.Context) error {
	port, err := strconv.Atoi(os.Getenv("ONTIME_TEST_PORT"))
	if err != nil {
		return err
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		return err
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		return errors.New("nats-server not ready")
	}
	fmt.Println("ready")
	<-ctx.Done()
	s.Shutdown()
	s.WaitForShutdown()
	return nil
}

// childNode runs a cluster node on a free loopback port (printed as
// "addr=host:port") until ctx ends.
func childNode(ctx context.Context) error {
	writeOff, err := time.ParseDuration(os.Getenv("ONTIME_TEST_WRITEOFF"))
	if err != nil {
		return err
	}
	n, err := New(Config{
		Settings: with(func(s *config.Settings) {
			s.Rate, s.Workers, s.WorkMs, s.DeadlineMs, s.QueueCap = 0, 16, 2, 500, 4096
		}),
		NATSURL: os.Getenv("ONTIME_TEST_NATS"), NodeID: os.Getenv("ONTIME_TEST_NODE"),
		WriteRate: -1, WriteOffAfter: writeOff,
	}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("addr=%s\n", ln.Addr())
	return n.Run(ctx, ln)
}

// child is a child process of the test.
type child struct {
	cmd    *exec.Cmd
	line   string // its first line of output
	done   chan struct{}
	stderr *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startChild starts this test binary as a child of kind with env, and
// waits for its first line. It is stopped (SIGTERM, then SIGKILL) when the
// test ends; its standard error is logged if the test failed.
func startChild(t *testing.T, kind string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"="+kind), env...)
	c := &child{cmd: cmd, done: make(chan struct{}), stderr: &lockedBuffer{}}
	cmd.Stderr = c.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		line, _ := r.ReadString('\n')
		first <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, r)
		_ = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			t.Logf("%s child %v stderr:\n%s", kind, env, c.stderr)
		}
	})
	select {
	case c.line = <-first:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s child did not start", kind)
	}
	if c.line == "" {
		<-c.done
		t.Fatalf("%s child failed: %s", kind, c.stderr)
	}
	return c
}

// kill ends the child with SIGKILL and waits for it.
func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// stop ends the child with SIGTERM, or SIGKILL after 10 s.
func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.kill()
	}
}

// freePort returns a loopback port free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// faultCluster is a NATS server and two nodes, each its own process.
type faultCluster struct {
	port        int
	nats        *child
	nodes       map[string]*child
	urls        map[string]string
	natsURL     string
	writeOffEnv string
}

func startFaultCluster(t *testing.T) *faultCluster {
	t.Helper()
	fc := &faultCluster{port: freePort(t), nodes: map[string]*child{}, urls: map[string]string{},
		writeOffEnv: "ONTIME_TEST_WRITEOFF=" + faultWriteOff.String()}
	fc.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", fc.port)
	fc.startNATS(t)
	for _, id := range []string{"a", "b"} {
		c := startChild(t, "node", "ONTIME_TEST_NATS="+fc.natsURL, "ONTIME_TEST_NODE="+id, fc.writeOffEnv)
		fc.nodes[id] = c
		fc.urls[id] = "http://" + strings.TrimPrefix(c.line, "addr=")
	}
	return fc
}

// waitMembers waits until node a's batches list both nodes as members.
func (fc *faultCluster) waitMembers(t *testing.T) {
	t.Helper()
	c := dialSSE(t, fc.urls["a"]+"/api/stream", nil)
	defer c.resp.Body.Close()
	for b := c.nextBatch(t); listed(b) < 2; b = c.nextBatch(t) {
	}
}

func (fc *faultCluster) startNATS(t *testing.T) {
	fc.nats = startChild(t, "nats", "ONTIME_TEST_PORT="+strconv.Itoa(fc.port))
}

// load posts single events at a rate, each to the next of the targets,
// and counts the answers.
type load struct {
	targets atomic.Pointer[[]string]
	// events answered 202 (accepted, or dropped with a reason: counted
	// either way), requests refused before they reached a node
	// (connection refused), answered otherwise, and unanswered (the node
	// died with the request in flight: its event may or may not have
	// been taken).
	answered, refused, other, unanswered atomic.Int64
	sent                                 int64
	mu                                   sync.Mutex
	otherBy                              map[int]int // answered otherwise, by status
}

func (l *load) setTargets(urls ...string) { l.targets.Store(&urls) }

// run posts rate events per second for d, and returns once every request
// has its answer.
func (l *load) run(rate int, d time.Duration) {
	// Connections come from 64 loopback addresses: the server bounds the
	// writes in progress per client address, and this is many clients.
	var conns atomic.Uint32
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		i := conns.Add(1)
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i%64))}}
		return d.DialContext(ctx, network, addr)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512, DialContext: dial}}
	defer client.CloseIdleConnections()
	sem := make(chan struct{}, 2000)
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	for i := int64(0); ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d {
			break
		}
		time.Sleep(time.Until(at))
		targets := *l.targets.Load()
		url := targets[int(i)%len(targets)]
		sem <- struct{}{}
		l.sent++
		wg.Go(func() {
			defer func() { <-sem }()
			l.post(client, url)
		})
	}
	wg.Wait()
}

func (l *load) post(client *http.Client, url string) {
	resp, err := client.Post(url+"/api/events", "application/json", strings.NewReader(`{"deadlineMs":500}`))
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			l.refused.Add(1)
		} else {
			l.unanswered.Add(1)
		}
		return
	}
	defer resp.Body.Close()
	var body struct{ Accepted, Dropped int64 }
	if resp.StatusCode != http.StatusAccepted || json.NewDecoder(resp.Body).Decode(&body) != nil {
		l.other.Add(1)
		l.mu.Lock()
		if l.otherBy == nil {
			l.otherBy = map[int]int{}
		}
		l.otherBy[resp.StatusCode]++
		l.mu.Unlock()
		return
	}
	l.answered.Add(body.Accepted + body.Dropped)
}

// settle reads c's batches until the cluster's totals have nothing in
// flight and have not changed for 2 s, none before not (unix ms), and
// returns the last batch.
func settle(t *testing.T, c *sseClient, members int, notBefore time.Time) *batch.Batch {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last *batch.Batch
	stable := time.Now()
	for {
		b := c.nextBatch(t)
		if last == nil || b.Totals.Received != last.Totals.Received || b.Totals.Finished() != last.Totals.Finished() {
			stable = time.Now()
		}
		last = b
		if b.Totals.InFlight == 0 && time.Since(stable) > 2*time.Second && time.Now().After(notBefore) && listed(b) == members {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster's totals did not settle: %+v, nodes %+v", b.Totals, b.Nodes)
		}
	}
}

// listed counts the members of b's node list that report (not lost or
// left).
func listed(b *batch.Batch) int {
	n := 0
	for _, s := range b.Nodes {
		if s.Status != batch.NodeLost && s.Status != batch.NodeLeft && s.Status != batch.NodeJoining {
			n++
		}
	}
	return n
}

// checkTotals checks that the settled totals count every event answered
// 202 exactly once: received is the 202s, plus at most the requests left
// unanswered by a node killed while serving them (it may have taken their
// events before it died). It logs the run's figures.
func checkTotals(t *testing.T, name string, run int, l *load, b *batch.Batch) {
	t.Helper()
	tot := b.Totals
	extra := int64(tot.Received) - l.answered.Load()
	l.mu.Lock()
	otherBy := fmt.Sprint(l.otherBy)
	l.mu.Unlock()
	t.Logf("%s run %d: sent %d, answered 202 %d, refused %d, other %d %s, unanswered %d; merged received %d = on-time %d + late %d + dropped %d %v + in flight %d; received - 202s = %d",
		name, run, l.sent, l.answered.Load(), l.refused.Load(), l.other.Load(), otherBy, l.unanswered.Load(),
		tot.Received, tot.OnTime, tot.Late, tot.Dropped, tot.DroppedBy, tot.InFlight, extra)
	if !addsUp(tot) || tot.InFlight != 0 {
		t.Errorf("%s run %d: totals %+v do not add up, or still in flight", name, run, tot)
	}
	if extra < 0 || extra > l.unanswered.Load() {
		t.Errorf("%s run %d: merged received %d, %d events answered 202 and %d requests unanswered: an accepted event is missing or counted twice",
			name, run, tot.Received, l.answered.Load(), l.unanswered.Load())
	}
	for r := range tot.DroppedBy {
		switch r {
		case event.NodeLost, event.Bus, event.BusUnavailable, event.Expired, event.QueueFull, event.Shed:
		default:
			t.Errorf("%s run %d: %d events dropped for %q", name, run, tot.DroppedBy[r], r)
		}
	}
}

// startFaultLoad starts a fault cluster, waits until its nodes are
// members, and posts the fault load to both nodes; done is closed once the
// load has ended.
func startFaultLoad(t *testing.T) (*faultCluster, *load, <-chan struct{}) {
	t.Helper()
	fc := startFaultCluster(t)
	fc.waitMembers(t)
	l := &load{}
	l.setTargets(fc.urls["a"], fc.urls["b"])
	done := make(chan struct{})
	go func() { l.run(*faultRate, *faultLoad); close(done) }()
	return fc, l, done
}

// A node killed (SIGKILL) under load: every event answered 202, by either
// node, is counted once in the merged totals, those the killed node held
// or was sent as node-lost once it is written off.
func TestClusterNodeKilledUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes under load")
	}
	for run := range *faultRuns {
		fc, l, done := startFaultLoad(t)
		time.Sleep(*faultLoad / 2)
		l.setTargets(fc.urls["a"]) // what a load balancer does, a moment late
		fc.nodes["b"].kill()
		killed := time.Now()
		<-done
		// A stream is opened only now: one left unread under load would be
		// cut as a slow client.
		c := dialSSE(t, fc.urls["a"]+"/api/stream", nil)
		b := settle(t, c, 1, killed.Add(*faultWriteOff+time.Second))
		if statusOf(b, "b") != batch.NodeLost {
			t.Errorf("run %d: killed node b listed as %q", run, statusOf(b, "b"))
		}
		checkTotals(t, "node SIGKILL", run, l, b)
		if run == 0 {
			forgetKilled(t, fc.urls["a"], c)
		}
		c.resp.Body.Close()
		fc.nodes["a"].stop()
		fc.nats.stop()
	}
}

// forgetKilled removes the killed node b from the node list on node a
// (DELETE /api/cluster/nodes/b): it is no longer listed, the cluster is no
// longer degraded by it, and its node-lost incident ends. Only a node that
// ended can be removed.
func forgetKilled(t *testing.T, base string, c *sseClient) {
	t.Helper()
	del := func(id string) int {
		resp, err := http.DefaultClient.Do(mustReq(t, http.MethodDelete, base+"/api/cluster/nodes/"+id))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := del("a"); code != http.StatusConflict {
		t.Errorf("DELETE of a reporting node: %d, want 409", code)
	}
	if code := del("nobody"); code != http.StatusNotFound {
		t.Errorf("DELETE of an unknown node: %d, want 404", code)
	}
	if code := del("b"); code != http.StatusNoContent {
		t.Fatalf("DELETE of the lost node: %d, want 204", code)
	}
	for i := 0; ; i++ {
		b := c.nextBatch(t)
		if statusOf(b, "b") == "" {
			if b.Health.Status == batch.Degraded && len(b.Nodes) == 1 && b.Nodes[0].Status == string(batch.OK) {
				t.Fatalf("seq %d: degraded with b forgotten: %+v", b.Seq, b.Health)
			}
			break
		}
		if i == 50 {
			t.Fatalf("b still listed 50 batches after its DELETE: %+v", b.Nodes)
		}
	}
	if code := del("b"); code != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", code)
	}
	for _, i := range fetch[incidentList](t, base+"/api/incidents").Incidents {
		if i.Kind == history.KindNodeLost && i.Node == "b" && i.End == nil {
			t.Errorf("b's node-lost incident still open after its DELETE: %+v", i)
		}
	}
}

// NATS killed (SIGKILL) under load and restarted after an outage shorter
// than the write-off: the nodes are lost to each other for a while and come
// back; every event answered 202 is counted once, what NATS lost on its
// route as bus, and nothing is written off.
func TestClusterNATSRestartedUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes under load")
	}
	for run := range *faultRuns {
		fc, l, done := startFaultLoad(t)
		time.Sleep(*faultLoad / 3)
		fc.nats.kill()
		time.Sleep(*faultOutage)
		fc.startNATS(t)
		<-done
		c := dialSSE(t, fc.urls["a"]+"/api/stream", nil)
		b := settle(t, c, 2, time.Now())
		if n := b.Totals.DroppedBy[event.NodeLost]; n != 0 {
			t.Errorf("run %d: %d events written off as node-lost after an outage shorter than the write-off", run, n)
		}
		checkTotals(t, "NATS restart", run, l, b)
		c.resp.Body.Close()
		for _, n := range fc.nodes {
			n.stop()
		}
		fc.nats.stop()
	}
}
