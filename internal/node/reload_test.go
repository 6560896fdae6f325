package node

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ontime-rt/ontime/internal/config"
)

// fileReload reads the configuration file at path as a server started
// with it and neither flags nor environment would: the defaults, then the
// file's live settings; the file's start-up settings other than their
// defaults take a restart.
func fileReload(path string) func() (config.Reloaded, error) {
	return func() (config.Reloaded, error) {
		f, err := config.LoadFile(path)
		if err != nil {
			return config.Reloaded{}, err
		}
		r := config.Reloaded{Settings: config.Defaults(), Where: map[string]string{}}
		for _, e := range f.Entries {
			if !e.Spec.Live {
				if reflect.ValueOf(e.Value).Convert(reflect.TypeOf(e.Spec.Default)).Interface() != e.Spec.Default {
					r.Restart = append(r.Restart, e.Spec.Flag)
				}
				continue
			}
			dst, _ := r.Settings.Addr(e.Spec.Name)
			d := reflect.ValueOf(dst).Elem()
			d.Set(reflect.ValueOf(e.Value).Convert(d.Type()))
			r.Where[e.Spec.Name] = e.Where(f)
		}
		return r, nil
	}
}

func writeConfig(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// postReload sends POST /api/config/reload with the headers given.
func postReload(t *testing.T, base string, header map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/config/reload", nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("%s: %s", resp.Status, b)
	}
	return resp.StatusCode, body
}

// A reload applies the file's live settings to the running node, undoing
// live changes made since (the file is the reference), and names the
// start-up settings the file changes, which take a restart.
func TestReloadConfigApplies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ontime.yaml")
	writeConfig(t, path, "")
	tn := startNode(t, Config{Settings: config.Defaults(), WriteRate: -1, Reload: fileReload(path)})
	writeConfig(t, path, "workers: 6\npolicy: lifo\nmax-body: 2MiB\n")
	status, body := postReload(t, tn.srv.URL, nil)
	if status != http.StatusOK || !reflect.DeepEqual(body["changed"], []any{"workers", "policy"}) || !reflect.DeepEqual(body["restart"], []any{"max-body"}) {
		t.Fatalf("reload: %d %v", status, body)
	}
	if s := tn.Settings(); s.Workers != 6 || s.Policy != config.LIFO {
		t.Fatalf("after reload: %+v", s)
	}
	if got := body["settings"].(map[string]any); got["workers"] != 6.0 || got["policy"] != "lifo" {
		t.Fatalf("answered settings: %v", got)
	}
	p, _ := config.DecodePatch(strings.NewReader(`{"rate": 50, "workers": 2}`))
	if _, err := tn.Apply(p); err != nil {
		t.Fatal(err)
	}
	status, body = postReload(t, tn.srv.URL, nil)
	if status != http.StatusOK || !reflect.DeepEqual(body["changed"], []any{"rate", "workers"}) {
		t.Fatalf("reload after a patch: %d %v", status, body)
	}
	if s := tn.Settings(); s.Rate != config.Defaults().Rate || s.Workers != 6 {
		t.Fatalf("after reload: %+v", s)
	}
	status, body = postReload(t, tn.srv.URL, nil)
	if status != http.StatusOK || !reflect.DeepEqual(body["changed"], []any{}) {
		t.Fatalf("reload of the same file: %d %v", status, body)
	}
}

// A file that does not load, or whose settings the node refuses, changes
// nothing: the answer says why, with the file's line.
func TestReloadConfigRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ontime.yaml")
	writeConfig(t, path, "")
	tn := startNode(t, Config{Settings: config.Defaults(), WriteRate: -1, Reload: fileReload(path)})
	before := tn.Settings()
	for text, want := range map[string]string{
		"workers: 9\nworkers: 0\n":             path + ":2: workers: given twice (first at line 1)",
		"policy: lilo\n":                       path + `:1: policy: want one of edf, lifo, fifo, got "lilo"`,
		"token: x\n":                           path + ":1: token: secrets are not read from the file: set ONTIME_TOKEN in the environment instead",
		"lanes: []\n":                          path + ":1: lanes: lanes are not supported yet",
		"workers: 9\nprocessor: nats\n":        path + ":2: processor: nats needs cluster mode",
		"workers: 9\nprocessor: http\n":        "--worker-url: required with processor http",
		"workers: 9\nqueue: 0\ntick: 1ms\n":    path + ":2: queue: want 1 to 1000000 events, got 0; " + path + ":3: tick: want 10 to 10000 ms, got 1ms",
		"tick: [1, 2]\nworkers: 3\nbogus: 1\n": path + ":1: tick: want a duration like 100ms or 1.5s, got a list; " + path + ":3: bogus: unknown key",
	} {
		writeConfig(t, path, text)
		status, body := postReload(t, tn.srv.URL, nil)
		msg, _ := body["error"].(string)
		if status != http.StatusUnprocessableEntity || !strings.HasPrefix(msg, "configuration not reloaded, nothing changed: ") || !strings.Contains(msg, want) {
			t.Errorf("%q: %d %v, want 422 with %q", text, status, body, want)
		}
		if s := tn.Settings(); s != before {
			t.Errorf("%q changed the settings: %+v", text, s)
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	status, body := postReload(t, tn.srv.URL, nil)
	if msg, _ := body["error"].(string); status != http.StatusUnprocessableEntity || !strings.Contains(msg, path+": cannot read the configuration file") {
		t.Errorf("missing file: %d %v", status, body)
	}
}

// Without a file there is nothing to reload; the route is a write like
// PATCH /api/config: the token when there is one, and no cross-site
// browser request.
func TestReloadConfigGuarded(t *testing.T) {
	tn := startNode(t, Config{Settings: config.Defaults(), WriteRate: -1})
	status, body := postReload(t, tn.srv.URL, nil)
	if status != http.StatusConflict || body["error"] != config.ErrNoFile.Error() {
		t.Fatalf("no file: %d %v", status, body)
	}

	path := filepath.Join(t.TempDir(), "ontime.yaml")
	writeConfig(t, path, "workers: 5\n")
	tn = startNode(t, Config{Settings: config.Defaults(), WriteRate: -1, Token: "s3cret", Reload: fileReload(path)})
	if status, body := postReload(t, tn.srv.URL, nil); status != http.StatusUnauthorized {
		t.Fatalf("no token: %d %v", status, body)
	}
	if status, body := postReload(t, tn.srv.URL, map[string]string{"Authorization": "Bearer s3cret", "Sec-Fetch-Site": "cross-site"}); status != http.StatusForbidden {
		t.Fatalf("cross-site: %d %v", status, body)
	}
	if tn.Settings().Workers != config.Defaults().Workers {
		t.Fatalf("a refused request reloaded: %+v", tn.Settings())
	}
	if status, body := postReload(t, tn.srv.URL, map[string]string{"Authorization": "Bearer s3cret"}); status != http.StatusOK || tn.Settings().Workers != 5 {
		t.Fatalf("with the token: %d %v", status, body)
	}
}
