package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

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
