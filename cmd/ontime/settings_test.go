package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/ontime-rt/ontime/internal/config"
)

var update = flag.Bool("update", false, "rewrite README.md's flag table from --help")

// inRange is a value of the setting other than its default that it takes
// (its least, or one of its choices), and one it does not (past its
// bounds, or no choice), as the flag writes them; ok is false for free
// text, whose checks are the setting's own.
func inRange(sp config.Spec) (good, bad string, want any, ok bool) {
	switch {
	case len(sp.Choices) > 0:
		return sp.Choices[1], "no-such-" + sp.Flag, sp.Choices[1], true
	case sp.Type == config.Number:
		lo, hi := *sp.Min, 0.0
		if sp.Max != nil {
			hi = *sp.Max + 1
		} else {
			hi = *sp.Min - 1
		}
		if lo == sp.Default || sp.ZeroMeans != "" {
			lo = *sp.Min + 1
		}
		return flagText(sp, lo), flagText(sp, hi), lo, true
	case sp.Type == config.Integer:
		lo := int64(*sp.Min)
		if float64(lo) == toFloat(sp.Default) {
			lo++
		}
		return flagText(sp, lo), flagText(sp, int64(*sp.Min)-1), lo, true
	}
	return "", "", nil, false
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return -1
}

// Every setting of config.Specs is a flag with its default and help, set
// as well by its environment variable (the flag winning), and a value out
// of its range or choices is refused naming the flag; every flag but
// --config and --version is a setting.
func TestFlagsFollowTheSpecs(t *testing.T) {
	var help bytes.Buffer
	if _, err := parse([]string{"ontime", "-h"}, env(nil), &help); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	helpDocs := parseHelp(t, help.String())
	if len(helpDocs) != len(config.Specs())+2 {
		t.Errorf("--help lists %d flags, want the %d settings, --config and --version", len(helpDocs), len(config.Specs()))
	}
	for _, sp := range config.Specs() {
		d, ok := helpDocs[sp.Flag]
		if !ok || !strings.HasPrefix(d.meaning, sp.Help) || !strings.HasPrefix(d.def, flagText(sp, sp.Default)) && d.def != "none" && d.def != "off" {
			t.Errorf("--help on --%s: %+v, want its spec's help and default %v", sp.Flag, d, sp.Default)
		}
		if sp.Env != "ONTIME_"+strings.ToUpper(strings.ReplaceAll(sp.Flag, "-", "_")) {
			t.Errorf("%s: env %s", sp.Name, sp.Env)
		}
		o, err := parse([]string{"ontime"}, env(nil), &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if got := reflect.ValueOf(destinations(&o)[sp.Name]).Elem().Interface(); fmt.Sprint(got) != fmt.Sprint(sp.Default) && !(got == "" && sp.Default == "") {
			t.Errorf("--%s defaults to %v, its spec to %v", sp.Flag, got, sp.Default)
		}
		good, bad, want, ok := inRange(sp)
		if !ok {
			continue
		}
		for _, how := range []struct {
			args []string
			env  map[string]string
		}{
			{[]string{"--" + sp.Flag, good}, nil},
			{nil, map[string]string{sp.Env: good}},
			{[]string{"--" + sp.Flag, good}, map[string]string{sp.Env: bad}},
		} {
			o, err := parse(append([]string{"ontime"}, how.args...), env(how.env), &bytes.Buffer{})
			got := reflect.ValueOf(destinations(&o)[sp.Name]).Elem().Interface()
			if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%v %v: %s = %v, %v; want %v", how.args, how.env, sp.Name, got, err, want)
			}
		}
		_, err = parse([]string{"ontime", "--" + sp.Flag, bad}, env(nil), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "--"+sp.Flag+" "+bad+": "+sp.Want()) {
			t.Errorf("--%s %s: %v, want it refused with %q", sp.Flag, bad, err, sp.Want())
		}
		_, err = parse([]string{"ontime"}, env(map[string]string{sp.Env: bad}), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), sp.Want()) {
			t.Errorf("%s=%s: %v, want it refused with %q", sp.Env, bad, err, sp.Want())
		}
	}
}

// With the user's worker the generator is off and concurrency adaptive
// unless the command line or the environment says otherwise.
func TestWorkerDefaults(t *testing.T) {
	for _, args := range [][]string{
		{"--processor", "http", "--worker-url", "http://127.0.0.1:8090/work"},
		{"--processor", "nats", "--nats", "nats://127.0.0.1:4222"},
	} {
		o, err := parse(append([]string{"ontime"}, args...), env(nil), &bytes.Buffer{})
		if s := o.node.Settings; err != nil || s.Rate != 0 || s.Concurrency != config.ConcurrencyAdaptive {
			t.Errorf("%v: rate %g, concurrency %s, %v; want 0, adaptive", args, s.Rate, s.Concurrency, err)
		}
		o, err = parse(append([]string{"ontime", "--rate", "5"}, args...), env(map[string]string{"ONTIME_CONCURRENCY": "fixed"}), &bytes.Buffer{})
		if s := o.node.Settings; err != nil || s.Rate != 5 || s.Concurrency != config.ConcurrencyFixed {
			t.Errorf("%v --rate 5, ONTIME_CONCURRENCY=fixed: rate %g, concurrency %s, %v", args, s.Rate, s.Concurrency, err)
		}
		o, err = parse(append([]string{"ontime"}, args...), env(map[string]string{"ONTIME_RATE": "7"}), &bytes.Buffer{})
		if s := o.node.Settings; err != nil || s.Rate != 7 {
			t.Errorf("%v ONTIME_RATE=7: rate %g, %v", args, s.Rate, err)
		}
	}
}

// parseHelp reads --help's flags: "  --name (default: d)" then the meaning
// on the next line.
func parseHelp(t *testing.T, help string) map[string]flagDoc {
	t.Helper()
	out := map[string]flagDoc{}
	lines := strings.Split(help, "\n")
	for i, line := range lines {
		rest, ok := strings.CutPrefix(line, "  --")
		if !ok {
			continue
		}
		name, def, ok := strings.Cut(rest, " (default: ")
		if !ok || i+1 >= len(lines) {
			t.Fatalf("--help line %q", line)
		}
		out[name] = flagDoc{name: name, def: strings.TrimSuffix(def, ")"), meaning: strings.TrimSpace(lines[i+1])}
	}
	return out
}

// README's flag table is --help's, row for row (go test -run README
// -update rewrites it).
func TestREADMEFlagTableIsHelp(t *testing.T) {
	var help bytes.Buffer
	_, _ = parse([]string{"ontime", "-h"}, env(nil), &help)
	docs := parseHelp(t, help.String())
	var want []string
	for _, d := range flagDocs() { // --help's order
		h := docs[d.name]
		want = append(want, fmt.Sprintf("| `--%s` | %s | %s |", h.name, h.def, h.meaning))
	}
	const path = "../../README.md"
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const header = "| flag | default | meaning |\n|---|---|---|\n"
	start := bytes.Index(readme, []byte(header))
	if start < 0 {
		t.Fatalf("README.md has no table starting %q", header)
	}
	start += len(header)
	end := start + bytes.Index(readme[start:], []byte("\n\n"))
	got := strings.Split(string(readme[start:end]), "\n")
	if *update {
		readme = append(readme[:start:start], append([]byte(strings.Join(want, "\n")), readme[end:]...)...)
		if err := os.WriteFile(path, readme, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("README.md's flag table differs from --help (go test ./cmd/ontime -run README -update):\n got %d rows, want %d", len(got), len(want))
		for i := range max(len(got), len(want)) {
			var g, w string
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Errorf("row %d:\n got %s\nwant %s", i+1, g, w)
			}
		}
	}
}
