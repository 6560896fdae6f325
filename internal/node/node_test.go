package node

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/config"
)

func TestMain(m *testing.M) {
	if runChild() { // a NATS server or a node for the cluster fault tests
		return
	}
	goleak.VerifyTestMain(m)
}

// with returns the default settings changed by set.
func with(set func(s *config.Settings)) config.Settings {
	s := config.Defaults()
	set(&s)
	return s
}

// testNode runs a node behind a real HTTP server until the test ends.
type testNode struct {
	*Node
	srv    *httptest.Server
	cancel context.CancelFunc
	done   chan error
}

func startNode(t *testing.T, cfg Config) *testNode {
	t.Helper()
	n, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &testNode{Node: n, srv: httptest.NewServer(n.Handler()), cancel: cancel, done: make(chan error, 1)}
	go func() { tn.done <- n.Run(ctx, nil) }()
	t.Cleanup(tn.stop)
	return tn
}

// stop shuts the node down (ending every stream) and then the HTTP server.
func (tn *testNode) stop() {
	if tn.cancel == nil {
		return
	}
	tn.cancel()
	tn.cancel = nil
	<-tn.done
	tn.srv.Close()
}

// sseClient reads batches from /api/stream.
type sseClient struct {
	resp *http.Response
	r    *bufio.Reader
}

func dialSSE(t *testing.T, url string, header http.Header) *sseClient {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sseClient{resp: resp, r: bufio.NewReader(resp.Body)}
}

type sseEvent struct {
	id, name, data string
}

// next returns the next event, skipping comments and retry fields.
func (c *sseClient) next() (sseEvent, error) {
	var ev sseEvent
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.name != "" || ev.data != "" {
				return ev, nil
			}
		case strings.HasPrefix(line, ":"), strings.HasPrefix(line, "retry:"):
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.name = line[7:]
		case strings.HasPrefix(line, "data: "):
			if ev.data != "" {
				ev.data += "\n"
			}
			ev.data += line[6:]
		}
	}
}

// readBatch returns the next batch event. It does not touch testing.T,
// so any goroutine may call it.
func (c *sseClient) readBatch() (*batch.Batch, error) {
	for {
		ev, err := c.next()
		if err != nil {
			return nil, fmt.Errorf("sse: %w", err)
		}
		if ev.name != "batch" {
			continue
		}
		var b batch.Batch
		if err := json.Unmarshal([]byte(ev.data), &b); err != nil {
			return nil, fmt.Errorf("sse batch: %w in %q", err, ev.data)
		}
		if ev.id != position(&b) || b.Epoch == 0 {
			return nil, fmt.Errorf("sse id %q for epoch %d seq %d", ev.id, b.Epoch, b.Seq)
		}
		return &b, nil
	}
}

// nextBatch is readBatch for the test's own goroutine: it fails the test.
func (c *sseClient) nextBatch(t *testing.T) *batch.Batch {
	t.Helper()
	b, err := c.readBatch()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// position is the batch's stream position, "<epoch>-<seq>".
func position(b *batch.Batch) string { return fmt.Sprintf("%d-%d", b.Epoch, b.Seq) }

func dialWS(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.DialContext(t.Context(), url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", url, err, resp)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readWS returns the next batch message. It does not touch testing.T, so
// any goroutine may call it.
func readWS(c *websocket.Conn) (*batch.Batch, error) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	kind, data, err := c.ReadMessage()
	if err != nil {
		return nil, fmt.Errorf("ws read: %w", err)
	}
	if kind != websocket.TextMessage {
		return nil, fmt.Errorf("ws message kind %d, want text", kind)
	}
	var b batch.Batch
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("ws batch: %w", err)
	}
	return &b, nil
}

// nextWS is readWS for the test's own goroutine: it fails the test.
func nextWS(t *testing.T, c *websocket.Conn) *batch.Batch {
	t.Helper()
	b, err := readWS(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws" }

// Two SSE and two WebSocket clients at once each receive every batch, with
// contiguous seq, alongside clients that never read.
func TestEveryClientGetsEveryBatch(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 200; s.TickMs = 20 })})

	// Clients that connect and never read a byte.
	for range 3 {
		conn, err := net.Dial("tcp", tn.srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	stalledWS := dialWS(t, wsURL(tn.srv))
	_ = stalledWS

	const want = 40
	// Dialled here, where a failure may end the test; read concurrently,
	// where it may not (FailNow must run on the test's goroutine).
	var reads []func() (*batch.Batch, error)
	for i := range 4 {
		if i < 2 {
			reads = append(reads, dialSSE(t, tn.srv.URL+"/api/stream", nil).readBatch)
		} else {
			c := dialWS(t, wsURL(tn.srv))
			reads = append(reads, func() (*batch.Batch, error) { return readWS(c) })
		}
	}
	var wg sync.WaitGroup
	results := make([][]uint64, len(reads))
	for i, read := range reads {
		wg.Go(func() {
			for len(results[i]) < want {
				b, err := read()
				if err != nil {
					t.Errorf("client %d: %v", i, err)
					return
				}
				results[i] = append(results[i], b.Seq)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, seqs := range results {
		for j := 1; j < len(seqs); j++ {
			if seqs[j] != seqs[j-1]+1 {
				t.Fatalf("client %d: seq %d followed by %d", i, seqs[j-1], seqs[j])
			}
		}
	}
}

func TestBatchesCarryTheContract(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) {
		s.Rate = 500
		s.Workers = 1
		s.QueueCap = 4
		s.WorkMs = 20
		s.DeadlineMs = 30
	})})
	c := dialSSE(t, tn.srv.URL+"/api/stream", nil)
	var sawDrop bool
	for range 30 {
		b := c.nextBatch(t)
		if b.TickMs != 100 || b.StartedAt == 0 || b.At < b.StartedAt {
			t.Fatalf("batch header %+v", b)
		}
		if b.Health.QueueCap != 4 || b.Health.Workers != 1 {
			t.Fatalf("health %+v", b.Health)
		}
		tot := b.Totals
		if tot.Received != tot.OnTime+tot.Late+tot.Dropped+tot.InFlight {
			t.Fatalf("totals %+v break conservation", tot)
		}
		if len(b.Events) > batch.MaxEvents {
			t.Fatalf("%d events in a batch", len(b.Events))
		}
		for _, e := range b.Events {
			if e.ID == "" || e.Source != "generator" || e.DeadlineMs != 30 || e.ProcessedAt < e.CreatedAt {
				t.Fatalf("event %+v", e)
			}
			if e.Status == "dropped" {
				sawDrop = true
				if e.Reason == "" {
					t.Fatalf("dropped event without a reason: %+v", e)
				}
			}
		}
	}
	if !sawDrop {
		t.Fatal("500/s against a capacity of 50/s dropped nothing")
	}
}

// Conservation over an overloaded run: after shutdown nothing is in flight,
// and the last batch a client received agrees with the final state.
func TestConservationAcrossShutdown(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) {
		s.Rate = 2000
		s.Workers = 2
		s.QueueCap = 16
		s.WorkMs = 10
		s.DeadlineMs = 50
	})})
	c := dialSSE(t, tn.srv.URL+"/api/stream", nil)
	for range 10 {
		c.nextBatch(t)
	}
	tn.cancel()
	tn.cancel = nil
	<-tn.done
	var last *batch.Batch
	for {
		ev, err := c.next()
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatalf("stream ended with %v, want a clean end at shutdown", err)
		}
		if ev.name == "batch" {
			last = new(batch.Batch)
			if err := json.Unmarshal([]byte(ev.data), last); err != nil {
				t.Fatal(err)
			}
		}
	}
	tn.srv.Close()
	snap := tn.Snapshot()
	if last == nil {
		t.Fatal("no batch after shutdown began")
	}
	tot := snap.Totals
	if tot.InFlight != 0 || tot.Received == 0 || tot.Received != tot.OnTime+tot.Late+tot.Dropped {
		t.Fatalf("final totals %+v: want every received event finished", tot)
	}
	if last.Totals.Received != tot.Received || last.Totals.Dropped != tot.Dropped || last.Totals.InFlight != 0 {
		t.Fatalf("last batch totals %+v differ from final %+v", last.Totals, tot)
	}
	if tot.Dropped == 0 {
		t.Fatalf("totals %+v: an overloaded run must drop", tot)
	}
}

func TestResumeWithLastEventID(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.TickMs = 10 })})
	c := dialSSE(t, tn.srv.URL+"/api/stream", nil)
	b := c.nextBatch(t)
	c.resp.Body.Close()
	// Batches go by while disconnected: the resume must replay them.
	for deadline := time.Now().Add(10 * time.Second); tn.Snapshot().Seq < b.Seq+3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no batch after %d in 10 s", b.Seq)
		}
	}
	for _, variant := range []struct {
		url    string
		header http.Header
	}{
		{tn.srv.URL + "/api/stream", http.Header{"Last-Event-Id": {position(b)}}},
		{tn.srv.URL + "/api/stream?lastEventId=" + position(b), nil},
	} {
		r := dialSSE(t, variant.url, variant.header)
		if got := r.nextBatch(t).Seq; got != b.Seq+1 {
			t.Fatalf("resumed after %d at %d, want %d", b.Seq, got, b.Seq+1)
		}
	}
	if b.Epoch != b.StartedAt {
		t.Fatalf("a single node's epoch %d is not its start %d", b.Epoch, b.StartedAt)
	}
	w := dialWS(t, wsURL(tn.srv)+"?since="+position(b))
	if got := nextWS(t, w).Seq; got != b.Seq+1 {
		t.Fatalf("ws resumed after %d at %d, want %d", b.Seq, got, b.Seq+1)
	}
}

func getJSON(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: content type %q", req.Method, req.URL, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return resp.StatusCode, body
}

// Bad requests get a clear 4xx with a JSON error, and the server goes on.
func TestBadRequestsGetJSONErrors(t *testing.T) {
	tn := startNode(t, Config{AllowedOrigins: []string{"https://allowed.example"}})
	mk := func(method, path string, h http.Header) *http.Request {
		req, _ := http.NewRequest(method, tn.srv.URL+path, nil)
		for k, v := range h {
			req.Header[k] = v
		}
		return req
	}
	cases := []struct {
		req  *http.Request
		code int
	}{
		{mk("GET", "/ws", nil), http.StatusUpgradeRequired},
		{mk("GET", "/api/stream", http.Header{"Last-Event-Id": {"abc"}}), http.StatusBadRequest},
		{mk("GET", "/api/stream?lastEventId=-1", nil), http.StatusBadRequest},
		{mk("GET", "/nope", nil), http.StatusNotFound},
		{mk("POST", "/api/stats", nil), http.StatusMethodNotAllowed},
	}
	for _, c := range cases {
		code, body := getJSON(t, c.req)
		if code != c.code || body["error"] == "" || body["error"] == nil {
			t.Errorf("%s %s: %d %v, want %d with an error message", c.req.Method, c.req.URL.Path, code, body, c.code)
		}
	}
	// WebSocket origins: same-origin and the allow-list pass, others get 403.
	for origin, want := range map[string]int{
		tn.srv.URL:                 http.StatusSwitchingProtocols,
		"https://allowed.example":  http.StatusSwitchingProtocols,
		"https://attacker.example": http.StatusForbidden,
	} {
		c, resp, err := websocket.DefaultDialer.Dial(wsURL(tn.srv), http.Header{"Origin": {origin}})
		if resp == nil || resp.StatusCode != want {
			t.Errorf("origin %s: %v %v, want %d", origin, resp, err, want)
		}
		if c != nil {
			c.Close()
		}
	}
	code, body := getJSON(t, mk("GET", "/healthz", nil))
	if code != http.StatusOK || body["status"] != "ok" {
		t.Fatalf("healthz after bad requests: %d %v", code, body)
	}
	code, body = getJSON(t, mk("GET", "/api/stats", nil))
	if code != http.StatusOK || body["totals"] == nil || body["health"] == nil {
		t.Fatalf("stats: %d %v", code, body)
	}
}

func TestPages(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.TickMs = 10 })})
	c := dialSSE(t, tn.srv.URL+"/api/stream", nil)
	c.nextBatch(t)
	resp, err := http.Get(tn.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`sse-connect="/ui/stream"`, `data-testid="total-received"`, "/static/vendor/htmx-2.0.11.min.js"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("page CSP %q", csp)
	}
	for _, path := range []string{"/static/style.css", "/static/vendor/htmx-2.0.11.min.js", "/static/vendor/htmx-ext-sse-2.2.4.min.js"} {
		resp, err := http.Get(tn.srv.URL + path)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %v %v", path, resp.Status, err)
		}
		resp.Body.Close()
	}
	// The fragment stream: stats and rows rendered as HTML, one pair per tick.
	ui := dialSSE(t, tn.srv.URL+"/ui/stream", nil)
	names := map[string]string{}
	for len(names) < 2 {
		ev, err := ui.next()
		if err != nil {
			t.Fatal(err)
		}
		names[ev.name] = ev.data
	}
	if !strings.Contains(names["stats"], `data-testid="total-received"`) {
		t.Errorf("stats fragment: %q", names["stats"])
	}
}

// ?events=0 asks for batches without events, on both transports.
func TestSummaryVariant(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 200; s.TickMs = 20 })})
	c := dialSSE(t, tn.srv.URL+"/api/stream?events=0", nil)
	w := dialWS(t, wsURL(tn.srv)+"?events=0")
	for range 5 {
		ev, err := c.next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.name != "batch" {
			continue
		}
		if strings.Contains(ev.data, `"events"`) || !strings.Contains(ev.data, `"totals"`) {
			t.Fatalf("summary batch: %s", ev.data)
		}
	}
	_ = w.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := w.ReadMessage()
	if err != nil || strings.Contains(string(data), `"events"`) || !strings.Contains(string(data), `"totals"`) {
		t.Fatalf("ws summary batch: %s %v", data, err)
	}
	req, _ := http.NewRequest(http.MethodGet, tn.srv.URL+"/api/stream?events=maybe", nil)
	if code, _ := getJSON(t, req); code != http.StatusBadRequest {
		t.Fatalf("events=maybe: %d, want 400", code)
	}
}

// Beyond --max-clients a transport answers 503 with Retry-After, and the
// stats count the clients of each transport.
func TestMaxClients(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.TickMs = 20 }), MaxClients: 2})
	dialSSE(t, tn.srv.URL+"/api/stream", nil)
	dialSSE(t, tn.srv.URL+"/api/stream", nil)
	dialWS(t, wsURL(tn.srv))
	resp, err := http.Get(tn.srv.URL + "/api/stream")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third SSE client: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	dialWS(t, wsURL(tn.srv))
	_, wresp, err := websocket.DefaultDialer.Dial(wsURL(tn.srv), nil)
	if err == nil || wresp == nil || wresp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third WebSocket client: %v %v", wresp, err)
	}
	req, _ := http.NewRequest(http.MethodGet, tn.srv.URL+"/api/stats", nil)
	_, body := getJSON(t, req)
	clients, _ := body["clients"].(map[string]any)
	if clients["sse"] != 2.0 || clients["ws"] != 2.0 {
		t.Fatalf("clients %v, want 2 SSE and 2 WebSocket", body["clients"])
	}
}

func patch(t *testing.T, url, body, contentType string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPatch, url, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	return getJSON(t, req)
}

// PATCH /api/config changes the running node; the change shows in the next
// batches, and conservation holds across it.
func TestLiveConfig(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 100; s.TickMs = 20 })})
	req, _ := http.NewRequest(http.MethodGet, tn.srv.URL+"/api/config", nil)
	code, got := getJSON(t, req)
	if code != http.StatusOK || got["rate"] != 100.0 || got["policy"] != "edf" || got["workers"] != 4.0 {
		t.Fatalf("GET /api/config: %d %v", code, got)
	}
	code, got = patch(t, tn.srv.URL+"/api/config", `{"rate": 400, "workers": 2, "queueCap": 8, "policy": "lifo", "workMs": 20, "tickMs": 50}`, "application/json")
	if code != http.StatusOK || got["rate"] != 400.0 || got["workers"] != 2.0 || got["tickMs"] != 50.0 || got["deadlineMs"] != 100.0 {
		t.Fatalf("PATCH: %d %v", code, got)
	}
	c := dialSSE(t, tn.srv.URL+"/api/stream", nil)
	var b *batch.Batch
	for b = c.nextBatch(t); b.TickMs != 50; b = c.nextBatch(t) {
	}
	if b.Config == nil || b.Config.Rate != 400 || b.Config.Policy != "lifo" || b.Health.Workers != 2 || b.Health.QueueCap != 8 {
		t.Fatalf("batch after the change: config %+v health %+v", b.Config, b.Health)
	}
	// Invalid changes: 400 naming each field, nothing changes.
	code, got = patch(t, tn.srv.URL+"/api/config", `{"rate": -5, "policy": "random", "workers": 0}`, "application/json")
	fields, _ := got["fields"].(map[string]any)
	if code != http.StatusBadRequest || fields["rate"] == nil || fields["policy"] == nil || fields["workers"] == nil {
		t.Fatalf("invalid PATCH: %d %v", code, got)
	}
	// Members that are no setting, null or of the wrong type: each named,
	// in JSON's words, with the range errors of the others, and nothing
	// changes.
	code, got = patch(t, tn.srv.URL+"/api/config", `{"rate": null, "colour": "red", "workers": "2", "tickMs": 1.5}`, "application/json")
	fields, _ = got["fields"].(map[string]any)
	if code != http.StatusBadRequest || len(fields) != 4 || fields["tickMs"] != "want 10 to 10000 ms, got 1.5" ||
		fields["rate"] != "null is not a value; omit the field to keep the setting" ||
		!strings.Contains(fmt.Sprint(fields["colour"]), "unknown setting (known: rate, deadlineMs,") ||
		fields["workers"] != "want an integer, got a string" {
		t.Fatalf("PATCH with null, unknown and mistyped fields: %d %v", code, got)
	}
	if s := tn.Settings(); s.Rate != 400 || s.Workers != 2 || s.TickMs != 50 {
		t.Fatalf("a refused PATCH changed the settings: %+v", s)
	}
	for _, bad := range []string{`{"rate": "fast"}`, `{"colour": "red"}`, `{"rate": 1} {}`, `{`, ``, `null`, `[]`} {
		if code, got := patch(t, tn.srv.URL+"/api/config", bad, "application/json"); code != http.StatusBadRequest || got["error"] == "" {
			t.Errorf("PATCH %q: %d %v, want 400", bad, code, got)
		}
	}
	if code, _ := patch(t, tn.srv.URL+"/api/config", `{"rate": 1}`, "text/plain"); code != http.StatusUnsupportedMediaType {
		t.Errorf("PATCH as text/plain: %d, want 415", code)
	}
	code, got = patch(t, tn.srv.URL+"/api/config", `{"rate": 0}`, "application/json")
	if code != http.StatusOK || got["rate"] != 0.0 || got["workers"] != 2.0 {
		t.Fatalf("turning the generator off: %d %v", code, got)
	}
	tn.stop()
	tot := tn.Snapshot().Totals
	if tot.InFlight != 0 || tot.Received != tot.OnTime+tot.Late+tot.Dropped {
		t.Fatalf("totals after live changes: %+v", tot)
	}
}

func patchWith(t *testing.T, url, body string, header http.Header) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPatch, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	return getJSON(t, req)
}

// Writes need the token when one is set; a refused write changes nothing.
func TestWritesNeedTheToken(t *testing.T) {
	tn := startNode(t, Config{Token: "s3cret", WriteRate: -1})
	url := tn.srv.URL + "/api/config"
	for _, h := range []http.Header{nil, {"Authorization": {"Bearer wrong"}}, {"Authorization": {"s3cret"}}} {
		code, body := patchWith(t, url, `{"rate": 7}`, h)
		if code != http.StatusUnauthorized || body["error"] == nil {
			t.Fatalf("PATCH with %v: %d %v, want 401", h, code, body)
		}
	}
	if tn.Settings().Rate == 7 {
		t.Fatal("a refused write changed the rate")
	}
	code, body := patchWith(t, url, `{"rate": 7}`, http.Header{"Authorization": {"Bearer s3cret"}})
	if code != http.StatusOK || body["rate"] != 7.0 {
		t.Fatalf("PATCH with the token: %d %v", code, body)
	}
	// Reads stay open.
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if code, _ := getJSON(t, req); code != http.StatusOK {
		t.Fatalf("GET /api/config: %d", code)
	}
}

// Exposed without a token: writes are refused with an explanation.
func TestExposedWithoutTokenRefusesWrites(t *testing.T) {
	tn := startNode(t, Config{Exposed: true})
	code, body := patchWith(t, tn.srv.URL+"/api/config", `{"rate": 7}`, nil)
	if code != http.StatusForbidden || !strings.Contains(fmt.Sprint(body["error"]), "--token") {
		t.Fatalf("exposed write: %d %v, want 403 naming --token", code, body)
	}
}

// Writes beyond the per-address rate get 429 with Retry-After.
func TestWriteRateLimit(t *testing.T) {
	tn := startNode(t, Config{WriteRate: 1}) // burst of 2
	var codes []int
	for range 4 {
		code, _ := patchWith(t, tn.srv.URL+"/api/config", `{"rate": 30}`, nil)
		codes = append(codes, code)
	}
	if codes[0] != http.StatusOK || codes[1] != http.StatusOK || codes[3] != http.StatusTooManyRequests {
		t.Fatalf("status codes %v, want 200 200 ... 429", codes)
	}
}

// /metrics counts the same events as /api/stats once the node has stopped.
func TestMetricsAgreeWithStats(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) {
		s.Rate = 500
		s.Workers = 1
		s.QueueCap = 4
		s.WorkMs = 20
		s.DeadlineMs = 30
		s.TickMs = 20
	})})
	c := dialSSE(t, tn.srv.URL+"/api/stream", nil)
	for range 10 {
		c.nextBatch(t)
	}
	if resp, err := http.Get(tn.srv.URL + "/healthz"); err == nil {
		resp.Body.Close()
	}
	tn.cancel()
	tn.cancel = nil
	<-tn.done
	resp, err := http.Get(tn.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tot := tn.Snapshot().Totals
	for _, want := range []string{
		fmt.Sprintf("ontime_events_received_total %d", tot.Received),
		fmt.Sprintf(`ontime_events_total{reason="none",status="on-time"} %d`, tot.OnTime),
		fmt.Sprintf(`ontime_events_total{reason="shed",status="dropped"} %d`, tot.DroppedBy["shed"]),
		"ontime_event_latency_seconds_bucket",
		`ontime_http_request_duration_seconds_count{code="200",method="GET",route="/healthz"} 1`,
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	tn.srv.Close()
}

// Events posted to /api/events go through the same pipeline: they show in
// the batches with their payload, and the counters stay exact.
func TestIngestFlowsThrough(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 0; s.TickMs = 20; s.WorkMs = 1 })})
	c := dialSSE(t, tn.srv.URL+"/api/stream", nil)
	var nd strings.Builder
	for i := range 100 {
		fmt.Fprintf(&nd, `{"deadlineMs": %d, "workMs": 1, "payload": {"n": %d}}`+"\n", 50+i, i)
	}
	nd.WriteString(`{"deadlineMs": 0}` + "\n") // rejected: changes no counter
	resp, err := http.Post(tn.srv.URL+"/api/events", "application/x-ndjson", strings.NewReader(nd.String()))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Accepted, Dropped int
		Rejected          []struct{ Index int }
	}
	_ = json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || res.Accepted+res.Dropped != 100 || len(res.Rejected) != 1 || res.Rejected[0].Index != 100 {
		t.Fatalf("POST /api/events: %s %+v", resp.Status, res)
	}
	// A batch shows at most 50 events, so follow the totals to the end.
	var seen int
	for b := c.nextBatch(t); b.Totals.Finished() < 100; b = c.nextBatch(t) {
		for _, e := range b.Events {
			if e.Source != "ingest" || len(e.Payload) == 0 {
				t.Fatalf("event %+v: want an ingested event with its payload", e)
			}
			seen++
		}
	}
	if seen == 0 {
		t.Fatal("no ingested event in the batches")
	}
	tn.stop()
	if tot := tn.Snapshot().Totals; tot.Received != 100 || tot.InFlight != 0 {
		t.Fatalf("totals %+v, want exactly the 100 valid events", tot)
	}
}

// Hostile writes get their 4xx while the streams go on: an SSE client sees
// contiguous batches throughout, and the counters stay exact.
func TestHostileWritesDoNotDisturbStreams(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 0; s.TickMs = 20 }), WriteRate: -1})
	c := dialSSE(t, tn.srv.URL+"/api/stream", nil)
	first := c.nextBatch(t)
	hostile := []struct {
		ct, body string
		want     int
	}{
		{"application/json", `{"deadlineMs": NaN}`, http.StatusBadRequest},
		{"application/json", `{"deadlineMs": 1e400}`, http.StatusBadRequest},
		{"application/json", `[{"deadlineMs": 10}, {"deadlineMs": `, http.StatusBadRequest},
		{"application/json", `{"deadlineMs": -5}`, http.StatusBadRequest},
		{"application/json", `{"deadlineMs": 10, "extra": 1}`, http.StatusBadRequest},
		{"application/json", "{\"deadlineMs\": 10, \"id\": \"\xff\"}", http.StatusBadRequest},
		{"application/json", strings.Repeat("[", 100000), http.StatusBadRequest},
		{"text/plain", `{"deadlineMs": 10}`, http.StatusUnsupportedMediaType},
		{"application/json", `{"deadlineMs": 10, "payload": "` + strings.Repeat("x", 2<<20) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, h := range hostile {
		resp, err := http.Post(tn.srv.URL+"/api/events", h.ct, strings.NewReader(h.body))
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != h.want || body["error"] == nil {
			t.Errorf("%s %.40q: %d %v, want %d with an error", h.ct, h.body, resp.StatusCode, body["error"], h.want)
		}
	}
	// The stream went on without a gap.
	prev := first.Seq
	for range 10 {
		b := c.nextBatch(t)
		if b.Seq != prev+1 {
			t.Fatalf("seq %d after %d", b.Seq, prev)
		}
		prev = b.Seq
	}
	// With the generator off, exactly one event was counted: the truncated
	// array's first, submitted (streaming) before its syntax error.
	tn.stop()
	tot := tn.Snapshot().Totals
	if tot.Received != 1 || tot.InFlight != 0 || tot.Received != tot.OnTime+tot.Late+tot.Dropped {
		t.Fatalf("totals %+v, want exactly the one valid event", tot)
	}
}

// New refuses a configuration out of its limits, naming each field.
func TestNewRefusesInvalidConfig(t *testing.T) {
	_, err := New(Config{
		Settings:       with(func(s *config.Settings) { s.Workers = 0 }),
		MaxBody:        -1,
		AllowedOrigins: []string{"example.com"},
	}, slog.New(slog.DiscardHandler))
	for _, field := range []string{"workers", "maxBody", "allowedOrigins"} {
		if err == nil || !strings.Contains(err.Error(), field+":") {
			t.Errorf("New: %v, want an error naming %s", err, field)
		}
	}
}

// A client that read a node's stream up to seq ~50 and comes back, with
// its position, to the node restarted (a new run, already past that seq)
// gets a reset, then the new run's newest batch, not seq 51 of the new
// run: over SSE (header and query) and WebSocket. A bare seq, as servers
// before epochs sent, gets the same.
func TestResumeAcrossRestartGetsReset(t *testing.T) {
	cfg := Config{Settings: with(func(s *config.Settings) { s.TickMs = 10 })}
	first := startNode(t, cfg)
	c := dialSSE(t, first.srv.URL+"/api/stream", nil)
	var last *batch.Batch
	for last == nil || last.Seq < 50 {
		last = c.nextBatch(t)
	}
	c.resp.Body.Close()
	first.stop()

	second := startNode(t, cfg)
	for deadline := time.Now().Add(20 * time.Second); second.Snapshot().Seq < last.Seq+10; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the new run did not reach seq %d in 20 s", last.Seq+10)
		}
	}
	checkReset := func(name string, ev sseEvent, next *batch.Batch) {
		t.Helper()
		var reset struct {
			Type   string `json:"type"`
			Seq    uint64 `json:"seq"`
			Epoch  int64  `json:"epoch"`
			Reason string `json:"reason"`
		}
		if ev.name != "reset" || json.Unmarshal([]byte(ev.data), &reset) != nil {
			t.Fatalf("%s: first event %+v, want a reset", name, ev)
		}
		if reset.Reason != "another-run" || reset.Seq != next.Seq || reset.Epoch != next.Epoch {
			t.Fatalf("%s: reset %+v before batch %s", name, reset, position(next))
		}
		if next.Epoch == last.Epoch || next.StartedAt == last.StartedAt || next.Seq <= last.Seq+1 {
			t.Fatalf("%s: after the reset, batch %s of the run started at %d, want the new run's newest (old position %s)", name, position(next), next.StartedAt, position(last))
		}
	}
	for _, v := range []struct {
		name, url string
		header    http.Header
	}{
		{"Last-Event-ID", second.srv.URL + "/api/stream", http.Header{"Last-Event-Id": {position(last)}}},
		{"lastEventId", second.srv.URL + "/api/stream?lastEventId=" + position(last), nil},
		{"bare seq", second.srv.URL + "/api/stream", http.Header{"Last-Event-Id": {strconv.FormatUint(last.Seq, 10)}}},
	} {
		r := dialSSE(t, v.url, v.header)
		ev, err := r.next()
		if err != nil {
			t.Fatal(err)
		}
		checkReset(v.name, ev, r.nextBatch(t))
		r.resp.Body.Close()
	}

	w := dialWS(t, wsURL(second.srv)+"?since="+position(last))
	_ = w.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, data, err := w.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var typ struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(data, &typ) != nil || typ.Type != "reset" {
		t.Fatalf("ws: first message %.200s, want a reset", data)
	}
	checkReset("ws", sseEvent{name: "reset", data: string(data)}, nextWS(t, w))
}
