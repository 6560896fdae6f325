package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/tlscert/tlscerttest"
)

// configFile writes text to ontime.yaml in a fresh directory and returns
// its path.
func configFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ontime.yaml")
	rewrite(t, path, text)
	return path
}

func rewrite(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The defaults, then the file, then the environment, then the command
// line: each wins over those before it, setting by setting. The file is
// named by --config or ONTIME_CONFIG, the flag winning.
func TestConfigFilePrecedence(t *testing.T) {
	path := configFile(t, "workers: 8\npolicy: lifo\ntick: 250ms\nqueue-bytes: 1MiB\nrate: 30\n")
	o, err := parse([]string{"ontime", "--config", path, "--policy", "fifo", "--rate", "40"},
		env(map[string]string{"ONTIME_WORKERS": "6", "ONTIME_RATE": "35"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	s := o.node.Settings
	if s.Workers != 6 || s.Policy != config.FIFO || s.TickMs != 250 || s.Rate != 40 || o.node.QueueBytes != 1<<20 || s.DeadlineMs != config.Defaults().DeadlineMs {
		t.Fatalf("workers %d (env), policy %s (flag), tick %g (file), rate %g (flag), queue-bytes %d (file), deadline %g (default)",
			s.Workers, s.Policy, s.TickMs, s.Rate, o.node.QueueBytes, s.DeadlineMs)
	}
	want := map[string]string{"workers": "ONTIME_WORKERS", "policy": "--policy", "tickMs": path + ":3", "queueBytes": path + ":4", "rate": "--rate"}
	for name, where := range want {
		if o.where[name] != where {
			t.Errorf("%s set by %q, want %q", name, o.where[name], where)
		}
	}
	if _, ok := o.where["deadlineMs"]; ok {
		t.Errorf("deadline set by %q, want its default", o.where["deadlineMs"])
	}
	// ONTIME_CONFIG names the file; --config wins over it.
	other := configFile(t, "workers: 3\n")
	o, err = parse([]string{"ontime"}, env(map[string]string{"ONTIME_CONFIG": path}), &bytes.Buffer{})
	if err != nil || o.node.Settings.Workers != 8 {
		t.Fatalf("ONTIME_CONFIG: workers %d, %v", o.node.Settings.Workers, err)
	}
	o, err = parse([]string{"ontime", "--config", other}, env(map[string]string{"ONTIME_CONFIG": path}), &bytes.Buffer{})
	if err != nil || o.node.Settings.Workers != 3 {
		t.Fatalf("--config over ONTIME_CONFIG: workers %d, %v", o.node.Settings.Workers, err)
	}
}

// A processor set in the file brings the worker's defaults, as on the
// command line; an explicit setting anywhere keeps its value.
func TestConfigFileWorkerDefaults(t *testing.T) {
	path := configFile(t, "processor: http\nworker-url: http://127.0.0.1:8090/work\n")
	o, err := parse([]string{"ontime", "--config", path}, env(nil), &bytes.Buffer{})
	if s := o.node.Settings; err != nil || s.Rate != 0 || s.Concurrency != config.ConcurrencyAdaptive {
		t.Fatalf("rate %g, concurrency %s, %v; want 0, adaptive", s.Rate, s.Concurrency, err)
	}
	path = configFile(t, "processor: http\nworker-url: http://127.0.0.1:8090/work\nconcurrency: fixed\nrate: 5\n")
	o, err = parse([]string{"ontime", "--config", path}, env(nil), &bytes.Buffer{})
	if s := o.node.Settings; err != nil || s.Rate != 5 || s.Concurrency != config.ConcurrencyFixed {
		t.Fatalf("rate %g, concurrency %s, %v; want 5, fixed", s.Rate, s.Concurrency, err)
	}
}

// A bad file is refused at start with its path, the line and the key, and
// so is a value the other settings make wrong, or that only the command
// line's checks know, when the file set it; the environment's are named by
// their variable.
func TestConfigFileRefusedAtStart(t *testing.T) {
	for _, c := range []struct {
		text string
		env  map[string]string
		args []string
		want string // after the path, or the whole message when it starts with ONTIME_ or --
	}{
		{"workers: 0\n", nil, nil, ":1: workers: want 1 to 10000, got 0"},
		{"tick: 100ms\nworkers: many\n", nil, nil, `:2: workers: want a whole number like 8, got "many"`},
		{"wrokers: 8\n", nil, nil, ":1: wrokers: unknown key (known: rate, "},
		{"token: hunter2\n", nil, nil, ":1: token: secrets are not read from the file: set ONTIME_TOKEN in the environment instead"},
		{"policy: edf\npolicy: lifo\n", nil, nil, ":2: policy: given twice (first at line 1)"},
		{"lanes:\n  - name: fraud\n", nil, nil, ":1: lanes: lanes are not supported yet"},
		{"rate: 5\nprocessor: http\n", nil, nil, "--worker-url : want a worker URL like http://127.0.0.1:8090/work"},
		{"processor: http\nworker-url: http://u:p@w/work\n", nil, nil, ":2: worker-url: credentials in the URL"},
		{"worker-url: http://u:p@w/work\n", nil, []string{"--processor", "http"}, ":1: worker-url: credentials in the URL"},
		{"addr: nonsense\n", nil, nil, `:1: addr: "nonsense": want host:port`},
		{"trust-proxy: proxy.local\n", nil, nil, ":1: trust-proxy: "},
		{"tls-cert: cert.pem\n", nil, nil, ":1: tls-cert: give both the certificate and its key"},
		{"nats: nats://127.0.0.1:4222\ntick: 10.5ms\n", nil, nil, ":2: tick: want a whole number of milliseconds in cluster mode, got 10.5ms"},
		{"", map[string]string{"ONTIME_WORKERS": "0"}, nil, "ONTIME_WORKERS=0: want 1 to 10000"},
		{"workers: 2\n", nil, []string{"--workers", "0"}, "--workers 0: want 1 to 10000"},
	} {
		path := configFile(t, c.text)
		_, err := parse(append([]string{"ontime", "--config", path}, c.args...), env(c.env), &bytes.Buffer{})
		want := c.want
		if strings.HasPrefix(want, ":") {
			want = path + want
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q %v %v: %v, want %q", c.text, c.env, c.args, err, want)
		}
	}
	_, err := parse([]string{"ontime", "--config", "/nonexistent/ontime.yaml"}, env(nil), &bytes.Buffer{})
	if err == nil || err.Error() != "/nonexistent/ontime.yaml: cannot read the configuration file: no such file or directory" {
		t.Errorf("missing file: %v", err)
	}
}

// A value the command line refuses for its range or choices, the file
// refuses too, in the same words, for every setting.
func TestConfigFileRefusesAsTheFlags(t *testing.T) {
	for _, sp := range config.Specs() {
		_, bad, _, ok := inRange(sp)
		if !ok {
			continue
		}
		path := configFile(t, "# "+sp.Name+"\n"+sp.Flag+": \""+bad+"\"\n")
		_, flagErr := parse([]string{"ontime", "--" + sp.Flag, bad}, env(nil), &bytes.Buffer{})
		_, fileErr := parse([]string{"ontime", "--config", path}, env(nil), &bytes.Buffer{})
		if flagErr == nil || fileErr == nil || !strings.Contains(flagErr.Error(), sp.Want()) ||
			!strings.Contains(fileErr.Error(), path+":2: "+sp.Flag+": "+sp.Want()+", got ") {
			t.Errorf("%s %s: flag %v; file %v", sp.Flag, bad, flagErr, fileErr)
		}
	}
}

// reloadClient posts to /api/config/reload.
func reloadConfig(t *testing.T, c *http.Client, base string) (int, map[string]any) {
	t.Helper()
	resp, err := c.Post(base+"/api/config/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func getSettings(t *testing.T, c *http.Client, base string) config.Settings {
	t.Helper()
	resp, err := c.Get(base + "/api/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s config.Settings
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return s
}

// A server started with --config reloads the file on POST
// /api/config/reload and on SIGHUP, which also reloads its TLS
// certificate: the live settings the file changes apply (the command line
// still winning), those fixed at start are reported as taking a restart,
// and a bad file changes nothing and says why with its line.
func TestRunReloadsConfigFile(t *testing.T) {
	pair := tlscerttest.Write(t, t.TempDir(), 1)
	path := configFile(t, "workers: 2\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"ontime", "--addr", "127.0.0.1:0", "--rate", "0", "--policy", "fifo", "--config", path,
			"--tls-cert", pair.CertFile, "--tls-key", pair.KeyFile}, env(nil), out)
	}()
	base := pageURL(t, out, "https")
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tlscerttest.Pool(pair)}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	if s := getSettings(t, c, base); s.Workers != 2 || s.Policy != config.FIFO {
		t.Fatalf("at start: workers %d, policy %s", s.Workers, s.Policy)
	}

	rewrite(t, path, "workers: 5\npolicy: lifo\ntick: 200ms\nqueue-bytes: 1MiB\n")
	status, body := reloadConfig(t, c, base)
	if status != http.StatusOK || !reflect.DeepEqual(body["changed"], []any{"workers", "tick"}) || !reflect.DeepEqual(body["restart"], []any{"queue-bytes"}) {
		t.Fatalf("reload: %d %v; want 200, workers and tick changed, queue-bytes at restart", status, body)
	}
	if s := getSettings(t, c, base); s.Workers != 5 || s.TickMs != 200 || s.Policy != config.FIFO {
		t.Fatalf("after reload: workers %d, tick %g, policy %s (the flag's)", s.Workers, s.TickMs, s.Policy)
	}

	// A bad file changes nothing, and says why.
	rewrite(t, path, "workers: 7\ntick: 300ms\nworkers: many\n")
	status, body = reloadConfig(t, c, base)
	if msg, _ := body["error"].(string); status != http.StatusUnprocessableEntity ||
		!strings.Contains(msg, path+":3: workers: given twice (first at line 1)") {
		t.Fatalf("bad file: %d %v", status, body)
	}
	if s := getSettings(t, c, base); s.Workers != 5 || s.TickMs != 200 {
		t.Fatalf("after a refused reload: workers %d, tick %g", s.Workers, s.TickMs)
	}

	// SIGHUP reloads both the certificate and the file.
	rewrite(t, path, "workers: 3\n")
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "tls: certificate reloaded") || strings.Count(out.String(), `msg="configuration reloaded"`) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload both: %s", out.String())
		}
	}
	if s := getSettings(t, c, base); s.Workers != 3 || s.TickMs != config.Defaults().TickMs {
		t.Fatalf("after SIGHUP: workers %d, tick %g (the default again)", s.Workers, s.TickMs)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if !slices.ContainsFunc(strings.Split(out.String(), "\n"), func(l string) bool {
		return strings.Contains(l, "configuration reload refused") && strings.Contains(l, path+":3: workers: given twice")
	}) {
		t.Errorf("the refused reload is not logged with its line: %s", out.String())
	}
}

// docs/api.md's examples of POST /api/config/reload are what a server
// started with --config ontime.yaml (empty at start) answers once the file
// holds the YAML shown before each.
func TestAPIDocsReloadExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)```yaml\n([^`]*)```\n```sh\ncurl -s -X POST http://127\\.0\\.0\\.1:8080/api/config/reload\n```\n```json\n(.*?)```")
	examples := re.FindAllStringSubmatch(string(doc), -1)
	if len(examples) < 2 {
		t.Fatalf("docs/api.md has %d examples of POST /api/config/reload after a file, want its success and its refusal", len(examples))
	}
	t.Chdir(t.TempDir())
	rewrite(t, "ontime.yaml", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"ontime", "--addr", "127.0.0.1:0", "--config", "ontime.yaml"}, env(nil), out)
	}()
	base := servedAt(t, out)
	for _, ex := range examples {
		rewrite(t, "ontime.yaml", ex[1])
		var want any
		if err := json.Unmarshal([]byte(ex[2]), &want); err != nil {
			t.Fatalf("docs/api.md's answer is no JSON: %v\n%s", err, ex[2])
		}
		status, got := reloadConfig(t, http.DefaultClient, base)
		if !reflect.DeepEqual(any(got), want) {
			b, _ := json.Marshal(got)
			t.Errorf("after\n%sdocs/api.md shows\n%s\nthe server answers (%d)\n%s", ex[1], ex[2], status, b)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// servedAt waits for run's start-up lines and returns the page's base URL,
// http or https.
func servedAt(t *testing.T, out *syncBuffer) string {
	t.Helper()
	return pageURL(t, out, "https?")
}

// README's example configuration file starts a server, and its example of
// a refused file is what ontime prints.
func TestREADMEConfigExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	files := regexp.MustCompile("(?s)```yaml\n(# ontime\\.yaml\n.*?)```").FindAllSubmatch(readme, -1)
	if len(files) == 0 {
		t.Fatal("README.md shows no example ontime.yaml")
	}
	for _, f := range files {
		if _, err := parse([]string{"ontime", "--config", configFile(t, string(f[1]))}, env(nil), &bytes.Buffer{}); err != nil {
			t.Errorf("README's ontime.yaml is refused: %v\n%s", err, f[1])
		}
	}
	bad := regexp.MustCompile("```sh\n\\$ printf '([^']*)' > (\\S+) && bin/ontime --config (\\S+)\nontime: (.*)\n```").FindSubmatch(readme)
	if bad == nil {
		t.Fatal("README.md shows no refused configuration file")
	}
	t.Chdir(t.TempDir())
	rewrite(t, string(bad[2]), strings.ReplaceAll(string(bad[1]), `\n`, "\n"))
	_, err = parse([]string{"ontime", "--config", string(bad[3])}, env(nil), &bytes.Buffer{})
	if err == nil || err.Error() != string(bad[4]) {
		t.Errorf("README.md shows\nontime: %s\nontime prints\nontime: %v", bad[4], err)
	}
}

// A reload reads the file as a restart would: the command line still wins,
// the start-up settings the file changes are named and not applied, and
// in cluster mode so is the tick, which every node must share.
func TestRereadNamesWhatTakesARestart(t *testing.T) {
	path := configFile(t, "tick: 100ms\n")
	args := []string{"ontime", "--config", path, "--nats", "nats://127.0.0.1:4222", "--workers", "3"}
	start, err := parse(args, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	rewrite(t, path, "tick: 200ms\nworkers: 9\npolicy: lifo\nmax-clients: 50\noutcomes: 100000\n")
	r, err := reread(start, args, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Settings; s.TickMs != 100 || s.Workers != 3 || s.Policy != config.LIFO {
		t.Errorf("tick %g (kept), workers %d (the flag's), policy %s (the file's)", s.TickMs, s.Workers, s.Policy)
	}
	if !reflect.DeepEqual(r.Restart, []string{"tick", "max-clients"}) { // outcomes: the default, unchanged
		t.Errorf("restart: %v", r.Restart)
	}
	if r.Where["policy"] != path+":3" || r.Where["workers"] != "--workers" {
		t.Errorf("where: %v", r.Where)
	}
	rewrite(t, path, "workers: 0\n")
	if _, err := reread(start, args, env(nil)); err == nil || !strings.Contains(err.Error(), path+":1: workers: want 1 to 10000, got 0") {
		t.Errorf("a bad file: %v", err)
	}
}
