package config

import (
	"errors"
	"strings"
	"testing"
)

// fieldErrors decodes doc, applies it to the defaults and returns the
// problems by field; a plain error (no field) is under "".
func fieldErrors(t *testing.T, doc string) map[string]string {
	t.Helper()
	p, err := DecodePatch(strings.NewReader(doc))
	if err == nil {
		var got Settings
		if got, err = Defaults().Apply(p); err == nil {
			t.Fatalf("DecodePatch(%s) and Apply accepted it", doc)
		}
		if got != Defaults() {
			t.Fatalf("a refused patch changed the settings: %+v", got)
		}
	}
	out := map[string]string{}
	for _, e := range flattenAll(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			out[fe.Field] = fe.Msg
		} else {
			out[""] = e.Error()
		}
	}
	return out
}

// Each bad member of a patch gets its own message, in JSON's words, all at
// once.
func TestDecodePatchNamesEveryBadField(t *testing.T) {
	got := fieldErrors(t, `{"rate": null, "colour": "red", "workers": "2", "tickMs": true, "policy": 3, "queueCap": 2.5, "workMs": 1e400, "deadlineMs": {}, "arrivals": ["x"]}`)
	want := map[string]string{
		"rate":       "null is not a value; omit the field to keep the setting",
		"colour":     "unknown setting (known: rate, deadlineMs, workMs, workDist, processor, workerUrl, workerSubject, arrivals, workers, concurrency, queueCap, policy, tickMs)",
		"workers":    "want an integer, got a string",
		"tickMs":     "want a number, got a boolean",
		"policy":     "want a string, got a number",
		"queueCap":   "want an integer (digits only, like 8), got 2.5",
		"workMs":     "1e400 is out of range",
		"deadlineMs": "want a number, got an object",
		"arrivals":   "want a string, got an array",
	}
	if len(got) != len(want) {
		t.Errorf("got %d errors, want %d: %v", len(got), len(want), got)
	}
	for f, msg := range want {
		if got[f] != msg {
			t.Errorf("%s: %q, want %q", f, got[f], msg)
		}
	}
	if got := fieldErrors(t, `{"workers": 99999999999999999999}`); got["workers"] != "99999999999999999999 is out of range" {
		t.Errorf("huge integer: %v", got)
	}
	if got := fieldErrors(t, `{"rate": 1, "rate": 2}`); got["rate"] != "given more than once" {
		t.Errorf("repeated field: %v", got)
	}
	// Names are matched exactly (encoding/json alone would take RATE).
	if got := fieldErrors(t, `{"RATE": 5}`); !strings.HasPrefix(got["RATE"], "unknown setting") {
		t.Errorf("RATE: %v", got)
	}
}

// A document that is no JSON object is refused as a whole.
func TestDecodePatchRefusesNonObjects(t *testing.T) {
	for doc, want := range map[string]string{
		``:                                   "empty patch",
		`null`:                               "want a JSON object of settings, got null",
		`[]`:                                 "want a JSON object of settings, got an array",
		`{`:                                  "malformed JSON",
		`{"rate": 1} {}`:                     "trailing data",
		`{"rate": 1} ]`:                      "trailing data",
		strings.Repeat(" ", MaxPatchBytes+1): "larger than",
	} {
		got := fieldErrors(t, doc)
		if len(got) != 1 || !strings.Contains(got[""], want) {
			t.Errorf("DecodePatch(%.20q): %v, want one error saying %q", doc, got, want)
		}
	}
}

// A decoded patch changes what it names and nothing else; limits are
// checked when it is applied.
func TestApply(t *testing.T) {
	p, err := DecodePatch(strings.NewReader(`{"rate": 0, "policy": "lifo", "workers": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Defaults().Apply(p)
	want := Defaults()
	want.Rate, want.Policy, want.Workers = 0, LIFO, 2
	if err != nil || got != want {
		t.Fatalf("Apply: %+v %v, want %+v", got, err, want)
	}
	if p, err = DecodePatch(strings.NewReader(`{}`)); err != nil {
		t.Fatal(err)
	}
	if got, err := Defaults().Apply(p); err != nil || got != Defaults() {
		t.Fatalf("empty patch: %+v %v", got, err)
	}
	var q Patch
	if err := q.Set("workers", 0); err != nil {
		t.Fatal(err)
	}
	if err := q.Set("policy", 3); err == nil || !strings.Contains(err.Error(), "want a string, got a number") {
		t.Fatalf("Set policy 3: %v", err)
	}
	if err := q.Set("colour", "red"); err == nil || !strings.Contains(err.Error(), "unknown setting") {
		t.Fatalf("Set colour: %v", err)
	}
	if got, err := Defaults().Apply(q); err == nil || !strings.Contains(err.Error(), "workers: want 1 to 10000, got 0") || got != Defaults() {
		t.Fatalf("Apply workers 0: %+v %v", got, err)
	}
}

// patch decodes doc, failing the test if it is refused.
func patch(t *testing.T, doc string) Patch {
	t.Helper()
	p, err := DecodePatch(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("DecodePatch(%s): %v", doc, err)
	}
	return p
}

// The http processor needs a usable worker URL, and one that would show
// credentials to every client is refused.
func TestWorkerURL(t *testing.T) {
	d := Defaults()
	for doc, want := range map[string]string{
		`{"processor": "http"}`:                                       "required with processor http",
		`{"processor": "http", "workerUrl": "ftp://h/work"}`:          "want an http:// or https:// URL",
		`{"processor": "http", "workerUrl": "http:///work"}`:          "no host",
		`{"workerUrl": "https://user:secret@h/work"}`:                 "credentials in the URL",
		`{"workerUrl": "http://h/` + strings.Repeat("a", 2048) + `"}`: "longer than 2048 bytes",
	} {
		_, err := d.Apply(patch(t, doc))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "workerUrl" || !strings.Contains(fe.Msg, want) {
			t.Errorf("%.60s: %v, want workerUrl: ...%s...", doc, err, want)
		}
	}
	s, err := d.Apply(patch(t, `{"processor": "http", "workerUrl": "https://127.0.0.1:8090/work"}`))
	if err != nil || s.Processor != HTTP || s.WorkerURL != "https://127.0.0.1:8090/work" {
		t.Fatalf("a valid worker: %+v, %v", s, err)
	}
}

// A patch changes what it names: switching the processor leaves the
// concurrency in force (its default at start-up follows the processor, in
// cmd/ontime).
func TestConcurrencyStaysWithProcessor(t *testing.T) {
	d := Defaults()
	if d.Concurrency != ConcurrencyFixed {
		t.Fatalf("default concurrency %q, want fixed", d.Concurrency)
	}
	h, err := d.Apply(patch(t, `{"processor": "http", "workerUrl": "http://w/work"}`))
	if err != nil || h.Concurrency != ConcurrencyFixed {
		t.Fatalf("to http: %q, %v; want fixed kept", h.Concurrency, err)
	}
	a, err := d.Apply(patch(t, `{"processor": "http", "workerUrl": "http://w/work", "concurrency": "adaptive"}`))
	if err != nil || a.Concurrency != ConcurrencyAdaptive {
		t.Fatalf("to http, adaptive named: %q, %v", a.Concurrency, err)
	}
	if s, err := a.Apply(patch(t, `{"processor": "sleep"}`)); err != nil || s.Concurrency != ConcurrencyAdaptive {
		t.Fatalf("back to sleep: %q, %v; want adaptive kept", s.Concurrency, err)
	}
	if _, err := d.Apply(patch(t, `{"concurrency": "elastic"}`)); err == nil || !strings.Contains(err.Error(), `"elastic" is not one of fixed, adaptive`) {
		t.Fatalf("unknown concurrency: %v", err)
	}
}

// A type error does not hide the range errors of the other members, nor
// the problems of the settings they make: every problem is reported at
// once, and nothing is applied.
func TestApplyReportsEveryProblem(t *testing.T) {
	got := fieldErrors(t, `{"workers": "many", "rate": -1, "tickMs": 5, "processor": "http", "policy": "lilo"}`)
	want := map[string]string{
		"workers":   "want an integer, got a string",
		"rate":      "want 0 (off) to 1000000 events/s, got -1",
		"tickMs":    "want 10 to 10000 ms, got 5",
		"workerUrl": "required with processor http (like http://127.0.0.1:8090/work)",
		"policy":    `"lilo" is not one of edf, lifo, fifo`,
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for f, msg := range want {
		if got[f] != msg {
			t.Errorf("%s: %q, want %q", f, got[f], msg)
		}
	}
	// A member refused for its type is not reported a second time for the
	// value it would have had.
	if got := fieldErrors(t, `{"processor": "http", "workerUrl": 8090}`); len(got) != 1 || got["workerUrl"] != "want a string, got a number" {
		t.Errorf("workerUrl of the wrong type: %v", got)
	}
}

// The nats processor sends on a subject one can publish to: no wildcards,
// no empty token, nothing of NATS's own, bounded; the default is
// ontime.work.
func TestWorkerSubject(t *testing.T) {
	d := Defaults()
	if d.WorkerSubject != "ontime.work" {
		t.Fatalf("default subject %q", d.WorkerSubject)
	}
	for doc, want := range map[string]string{
		`{"processor": "nats", "workerSubject": ""}`:                "required with processor nats",
		`{"workerSubject": "ontime.*"}`:                             "no wildcards",
		`{"workerSubject": "ontime.>"}`:                             "no wildcards",
		`{"workerSubject": "on*time"}`:                              "no wildcards",
		`{"workerSubject": "ontime..work"}`:                         "an empty token",
		`{"workerSubject": ".work"}`:                                "an empty token",
		`{"workerSubject": "work."}`:                                "an empty token",
		`{"workerSubject": "on time"}`:                              "only printable ASCII without spaces",
		`{"workerSubject": "on\ttime"}`:                             "only printable ASCII without spaces",
		`{"workerSubject": "travail.é"}`:                            "only printable ASCII without spaces",
		`{"workerSubject": "$SYS.work"}`:                            "subjects starting with $",
		`{"workerSubject": "` + strings.Repeat("a", 257) + `"}`:     "longer than 256 bytes",
		`{"workerSubject": "a.` + strings.Repeat("b.", 200) + `c"}`: "longer than 256 bytes",
	} {
		got, err := d.Apply(patch(t, doc))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "workerSubject" || !strings.Contains(fe.Msg, want) || got != d {
			t.Errorf("%.60s: %v, want workerSubject: ...%s... and nothing changed", doc, err, want)
		}
	}
	for _, ok := range []string{"ontime.work", "w", "jobs.resize-v2", "tenant_a.work", strings.Repeat("a", 256), "_INBOX_not.quite"} {
		s, err := d.Apply(patch(t, `{"processor": "nats", "workerSubject": "`+ok+`"}`))
		if err != nil || s.WorkerSubject != ok || s.Processor != NATS {
			t.Errorf("%.40s: %+v, %v", ok, s, err)
		}
	}
	// Another processor keeps the subject and may clear it.
	if s, err := d.Apply(patch(t, `{"workerSubject": ""}`)); err != nil || s.WorkerSubject != "" {
		t.Errorf("clearing the subject with sleep: %v", err)
	}
}
