package node

import (
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/ontime-rt/ontime/internal/config"
)

// docExample is a curl command of docs/api.md and the JSON shown after it.
type docExample struct {
	method, path, body string
	answer             string
}

// settingsExamples finds docs/api.md's examples of /api/config: each sh
// block whose curl command names it and that a json block follows.
func settingsExamples(t *testing.T) []docExample {
	t.Helper()
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)```sh\n(curl [^`]*?http://127\\.0\\.0\\.1:8080(/api/config[a-z/]*)[^`]*?)```\n```json\n(.*?)```")
	var out []docExample
	for _, m := range re.FindAllStringSubmatch(string(doc), -1) {
		if m[2] == "/api/config/reload" {
			continue // it needs a configuration file: cmd/ontime's TestAPIDocsReloadExamples
		}
		ex := docExample{method: http.MethodGet, path: m[2], answer: m[3]}
		if strings.Contains(m[1], "-X PATCH") {
			ex.method = http.MethodPatch
			_, body, _ := strings.Cut(m[1], "-d '")
			ex.body, _, _ = strings.Cut(body, "'")
		}
		out = append(out, ex)
	}
	return out
}

// docs/api.md's examples of GET /api/config, PATCH /api/config's error
// and GET /api/config/schema are what a server with the default settings
// answers (the schema's an excerpt: each setting shown as served).
func TestAPIDocsSettingsExamples(t *testing.T) {
	tn := startNode(t, Config{Settings: config.Defaults(), WriteRate: -1})
	examples := settingsExamples(t)
	seen := map[string]bool{}
	for _, ex := range examples {
		seen[ex.method+" "+ex.path] = true
		var doc any
		if err := json.Unmarshal([]byte(ex.answer), &doc); err != nil {
			t.Fatalf("docs/api.md's answer to %s %s is no JSON: %v", ex.method, ex.path, err)
		}
		req, _ := http.NewRequest(ex.method, tn.srv.URL+ex.path, strings.NewReader(ex.body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var served any
		err = json.NewDecoder(resp.Body).Decode(&served)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if ex.path == "/api/config/schema" {
			served = excerpt(served, doc)
		}
		if !reflect.DeepEqual(served, doc) {
			got, _ := json.Marshal(served)
			t.Errorf("%s %s %s: docs/api.md shows\n%s\nthe server answers (%s)\n%s", ex.method, ex.path, ex.body, ex.answer, resp.Status, got)
		}
	}
	for _, want := range []string{"GET /api/config", "PATCH /api/config", "GET /api/config/schema"} {
		if !seen[want] {
			t.Errorf("docs/api.md has no example of %s followed by its answer", want)
		}
	}
}

// excerpt keeps of the served schema the settings the doc's shows.
func excerpt(served, doc any) any {
	shown := map[any]bool{}
	for _, s := range doc.(map[string]any)["settings"].([]any) {
		shown[s.(map[string]any)["name"]] = true
	}
	out := served.(map[string]any)
	var kept []any
	for _, s := range out["settings"].([]any) {
		if shown[s.(map[string]any)["name"]] {
			kept = append(kept, s)
		}
	}
	out["settings"] = kept
	return out
}
