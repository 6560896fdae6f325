package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile writes a configuration file in a fresh directory and returns
// its path.
func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ontime.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Every kind of setting is read from its flag's key, written as the flag
// takes it.
func TestLoadFileReadsEveryKind(t *testing.T) {
	path := writeFile(t, `# the workload
tick: 250ms
workers: 8
policy: lifo
worker-url: "http://127.0.0.1:8090/work"
queue-bytes: 128MiB
rate: 12.5
pprof: true
deadline: 1.5s
`)
	f, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		key  string
		line int
		v    any
	}{{"tick", 2, 250.0}, {"workers", 3, int64(8)}, {"policy", 4, "lifo"}, {"worker-url", 5, "http://127.0.0.1:8090/work"},
		{"queue-bytes", 6, int64(128 << 20)}, {"rate", 7, 12.5}, {"pprof", 8, true}, {"deadline", 9, 1500.0}}
	if len(f.Entries) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(f.Entries), len(want), f.Entries)
	}
	for i, w := range want {
		e := f.Entries[i]
		if e.Spec.Flag != w.key || e.Line != w.line || e.Value != w.v {
			t.Errorf("entry %d: %s line %d = %#v, want %s line %d = %#v", i, e.Spec.Flag, e.Line, e.Value, w.key, w.line, w.v)
		}
	}
	if got := f.Entries[0].Where(f); got != path+":2" {
		t.Errorf("where: %s", got)
	}
}

// An empty file, or one of comments only, sets nothing.
func TestLoadFileEmpty(t *testing.T) {
	for _, text := range []string{"", "# nothing yet\n", "---\n"} {
		f, err := LoadFile(writeFile(t, text))
		if err != nil || len(f.Entries) != 0 {
			t.Errorf("%q: %+v, %v", text, f, err)
		}
	}
}

// Each problem is refused with the file, the line and the key, and every
// problem of a file is reported at once.
func TestLoadFileRefuses(t *testing.T) {
	for name, c := range map[string]struct {
		text string
		want []string // each ":line: key: message"
	}{
		"unknown key":  {"tick: 100ms\nwokers: 8\n", []string{":2: wokers: unknown key (known: rate, deadline, "}},
		"not a number": {"workers: many\n", []string{`:1: workers: want a whole number like 8, got "many"`}},
		"out of range": {"rate: 5\nworkers: 0\n", []string{":2: workers: want 1 to 10000, got 0"}},
		"not a choice": {"policy: lilo\n", []string{`:1: policy: want one of edf, lifo, fifo, got "lilo"`}},
		"no unit":      {"tick: 100\n", []string{`:1: tick: want a duration like 100ms or 1.5s, got "100"`}},
		"tick range":   {"tick: 5ms\n", []string{":1: tick: want 10 to 10000 ms, got 5ms"}},
		"a list":       {"workers: [1, 2]\n", []string{":1: workers: want a whole number like 8, got a list"}},
		"a mapping":    {"policy:\n  name: edf\n", []string{":1: policy: want text, got a mapping"}},
		"no value":     {"workers:\n", []string{":1: workers: want a whole number like 8, got no value (remove the key to keep the default)"}},
		"duplicate":    {"policy: edf\nworkers: 2\npolicy: lifo\n", []string{":3: policy: given twice (first at line 1)"}},
		"secret":       {"token: hunter2\n", []string{":1: token: secrets are not read from the file: set ONTIME_TOKEN in the environment instead"}},
		"lanes":        {"lanes:\n  - name: fraud\n", []string{":1: lanes: lanes are not supported yet"}},
		"worker url":   {"worker-url: ftp://w/work\n", []string{`:1: worker-url: "ftp://w/work": want an http:// or https:// URL`}},
		"bool":         {"pprof: yes please\n", []string{`:1: pprof: want true or false, got "yes please"`}},
		"size":         {"queue-bytes: 1KiB\n", []string{":1: queue-bytes: want 65536 to 1099511627776 bytes, got 1KiB"}},
		"several": {"workers: 0\ntoken: x\nbogus: 1\nworkers: 3\n", []string{
			":1: workers: want 1 to 10000, got 0", ":2: token: secrets", ":3: bogus: unknown key", ":4: workers: given twice (first at line 1)"}},
		"not YAML":      {"tick: 100ms\nworkers: [8\n", []string{":2: not YAML: sequence end token"}},
		"not a mapping": {"- tick\n- workers\n", []string{":1: want a mapping of settings"}},
		"two documents": {"tick: 100ms\n---\nworkers: 2\n", []string{":3: want one YAML document, got 2"}},
	} {
		t.Run(name, func(t *testing.T) {
			path := writeFile(t, c.text)
			f, err := LoadFile(path)
			if err == nil {
				t.Fatalf("accepted: %+v", f)
			}
			errs := Flatten(err)
			if len(errs) != len(c.want) {
				t.Fatalf("%d errors, want %d: %v", len(errs), len(c.want), err)
			}
			for i, w := range c.want {
				if fe, ok := errors.AsType[*FileError](errs[i]); !ok || fe.Path != path {
					t.Errorf("error %d is no *FileError of %s: %#v", i, path, errs[i])
				}
				if !strings.HasPrefix(errs[i].Error(), path+w) {
					t.Errorf("error %d:\n got %s\nwant %s%s", i, errs[i], path, w)
				}
			}
		})
	}
}

// A missing file is refused naming it.
func TestLoadFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := LoadFile(path)
	if err == nil || err.Error() != path+": cannot read the configuration file: no such file or directory" {
		t.Fatalf("%v", err)
	}
}

// A value out of a setting's range or choices is refused in the file with
// the words the flags use (Spec.Want), for every setting that has them.
func TestLoadFileChecksAsTheFlags(t *testing.T) {
	for _, sp := range Specs() {
		var bad string
		switch {
		case len(sp.Choices) > 0:
			bad = "no-such-" + sp.Flag
		case sp.Min != nil && sp.Type == Integer:
			bad = sp.Format(int64(*sp.Min) - 1)
		case sp.Min != nil:
			bad = sp.Format(*sp.Min - 1)
		default:
			continue
		}
		_, err := LoadFile(writeFile(t, sp.Flag+": "+bad+"\n"))
		if err == nil || !strings.Contains(err.Error(), ":1: "+sp.Flag+": "+sp.Want()+", got ") {
			t.Errorf("%s: %s: %v, want it refused with %q", sp.Flag, bad, err, sp.Want())
		}
	}
}

// Settings.Patch sets every live setting, and Changed names those that
// differ by their keys.
func TestSettingsPatchAndChanged(t *testing.T) {
	next := Defaults()
	next.Workers, next.Policy, next.TickMs = 9, LIFO, 250
	got, err := Defaults().Apply(next.Patch())
	if err != nil || got != next {
		t.Fatalf("apply: %+v, %v", got, err)
	}
	if ch := Defaults().Changed(next); strings.Join(ch, ",") != "workers,policy,tick" {
		t.Errorf("changed: %v", ch)
	}
	if ch := next.Changed(next); ch == nil || len(ch) != 0 {
		t.Errorf("unchanged: %#v", ch)
	}
}

// Explain names where each refused setting was given.
func TestReloadedExplain(t *testing.T) {
	r := Reloaded{Where: map[string]string{"tickMs": "ontime.yaml:3", "workers": "ONTIME_WORKERS", "policy": "--policy"}}
	err := r.Explain(errors.Join(
		&FieldError{Field: "tickMs", Msg: "cannot change in cluster mode"},
		&FieldError{Field: "workers", Msg: "want 1 to 10000, got 0"},
		&FieldError{Field: "policy", Msg: "bad"},
		&FieldError{Field: "rate", Msg: "bad too"},
		errors.New("worker: down"),
	))
	want := "ontime.yaml:3: tick: cannot change in cluster mode\nONTIME_WORKERS: want 1 to 10000, got 0\n--policy: bad\n--rate: bad too\nworker: down"
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
}
