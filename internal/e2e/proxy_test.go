package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// requireUnbuffered reads four batches of an SSE stream through a proxy
// and fails unless each came through while ontime (at direct) was still at
// most two ticks past it: a buffering proxy holds batches until its buffer
// fills.
func requireUnbuffered(t *testing.T, br *bufio.Reader, direct string) {
	t.Helper()
	for range 4 {
		seq := nextBatchSeq(t, br)
		now := currentSeq(t, direct)
		if now > seq+2 {
			t.Fatalf("batch %d came through when ontime was at %d: the proxy buffers the stream", seq, now)
		}
	}
}

// requireProxiedWebSocket opens /ws through the proxy (named in messages)
// as a browser on the public origin would, and fails unless its first
// message is JSON and another site's origin is refused with 403.
func requireProxiedWebSocket(t *testing.T, ctx context.Context, wd *websocket.Dialer, public, proxy string) {
	t.Helper()
	host := strings.TrimPrefix(public, "https://")
	conn, wresp, err := wd.DialContext(ctx, "wss://"+host+"/ws?events=0", http.Header{"Origin": {public}})
	if err != nil {
		status := ""
		if wresp != nil {
			b, _ := io.ReadAll(wresp.Body)
			status = wresp.Status + " " + string(b)
		}
		t.Fatalf("WebSocket through %s with Origin %s: %v %s", proxy, public, err, status)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := conn.ReadMessage(); err != nil || !json.Valid(msg) {
		t.Fatalf("WebSocket through %s: first message %q, %v", proxy, msg, err)
	}
	conn.Close()
	if _, wresp, err := wd.DialContext(ctx, "wss://"+host+"/ws", http.Header{"Origin": {"https://evil.example"}}); err == nil || wresp == nil || wresp.StatusCode != 403 {
		t.Fatalf("WebSocket from another origin through %s: %v, want 403", proxy, err)
	}
}

// requireProxyRefusesWrites sends each write route a request through the
// proxy (named in messages) at public, with the page's own Origin and no
// token, and fails unless each is refused with a JSON 403 naming the proxy:
// the proxy's forwarding headers mark the request although the proxy
// connects from loopback.
func requireProxyRefusesWrites(t *testing.T, ctx context.Context, client *http.Client, public, proxy string) {
	t.Helper()
	for _, w := range []struct{ method, path, ct, body string }{
		{http.MethodPatch, "/api/config", "application/json", `{"rate":7}`},
		{http.MethodPost, "/api/events", "application/json", `{"payload":{}}`},
		{http.MethodPatch, "/ui/config", "application/x-www-form-urlencoded", `rate=7`},
	} {
		req, _ := http.NewRequestWithContext(ctx, w.method, public+w.path, strings.NewReader(w.body))
		req.Header.Set("Content-Type", w.ct)
		req.Header.Set("Origin", public)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error string `json:"error"`
		}
		derr := json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || derr != nil || !strings.Contains(e.Error, "proxy") {
			t.Fatalf("%s %s through %s without a token: %d %q (%v), want 403 naming the proxy", w.method, w.path, proxy, resp.StatusCode, e.Error, derr)
		}
	}
}

// deploymentBlock is the fenced lang block of docs/deployment.md that
// follows the sentence "<test> runs this configuration", with the first
// string of each pair replaced by the second. Every one must be found, so
// that the test runs the configuration the doc shows.
func deploymentBlock(t *testing.T, test, lang string, replace ...[2]string) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/deployment.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(doc), test+" runs this configuration")
	if !ok {
		t.Fatalf("docs/deployment.md: the marker of the configuration %s runs is gone", test)
	}
	_, after, ok = strings.Cut(after, "```"+lang+"\n")
	block, _, ok2 := strings.Cut(after, "```")
	if !ok || !ok2 {
		t.Fatalf("docs/deployment.md: no %s block after the marker", lang)
	}
	for _, r := range replace {
		if !strings.Contains(block, r[0]) {
			t.Fatalf("docs/deployment.md's %s block no longer has %q", lang, r[0])
		}
		block = strings.ReplaceAll(block, r[0], r[1])
	}
	return block
}
