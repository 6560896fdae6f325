// Package config holds the settings of a running ontime that can change
// live: what they are, their limits, and how a partial update applies.
// The same Settings travel in every batch (so both UIs show what is in
// force), answer GET /api/config, and are patched by PATCH /api/config.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ontime-rt/ontime/internal/jsonkind"
	"github.com/ontime-rt/ontime/internal/pipeline"
	"github.com/ontime-rt/ontime/internal/worker"
)

// Settings are the live settings: the one description of them, filled
// from the command line at start and changed by PATCH /api/config.
// Durations are milliseconds, as everywhere on the wire. Adding a setting
// is a field here (with its default in Defaults and its check in
// Validate) and a flag in cmd/ontime.
type Settings struct {
	// Rate is the generator's events per second; 0 turns it off. Default 20.
	Rate float64 `json:"rate"`
	// DeadlineMs is each generated event's deadline. Default 100.
	DeadlineMs float64 `json:"deadlineMs"`
	// WorkMs is the mean simulated work per event. Default 50.
	WorkMs float64 `json:"workMs"`
	// WorkDist is the distribution of work: fixed, uniform or exp. Default
	// fixed.
	WorkDist string `json:"workDist"`
	// Processor is sleep (simulated work that waits), cpu (simulated work
	// that burns a core), http (each event is sent to the worker at
	// WorkerURL) or nats (each event is a NATS request on WorkerSubject,
	// in cluster mode only). Default sleep.
	Processor string `json:"processor"`
	// WorkerURL is the worker that processes events when Processor is
	// http: an http or https URL without credentials, at most
	// MaxWorkerURL bytes. Default none.
	WorkerURL string `json:"workerUrl"`
	// WorkerSubject is the NATS subject events are sent on when Processor
	// is nats: a subject one can publish to (no wildcards, not starting
	// with $), at most MaxWorkerSubject bytes. Default ontime.work.
	WorkerSubject string `json:"workerSubject"`
	// Arrivals is constant or poisson. Default constant.
	Arrivals string `json:"arrivals"`
	// Workers process events concurrently. Default 4.
	Workers int `json:"workers"`
	// Concurrency is fixed (Workers events at once) or adaptive (a limit
	// between 1 and Workers learned from the latency of the processor's
	// calls). Default fixed; a patch or command line that switches
	// Processor to http or nats without naming it makes it adaptive (and
	// back).
	Concurrency string `json:"concurrency"`
	// QueueCap bounds the events waiting for a worker. Default 64.
	QueueCap int `json:"queueCap"`
	// Policy is edf, lifo or fifo. Default edf.
	Policy string `json:"policy"`
	// TickMs is the batch period. Default 100.
	TickMs float64 `json:"tickMs"`
}

// Defaults are the settings of a server started without flags.
func Defaults() Settings {
	return Settings{
		Rate: 20, DeadlineMs: 100, WorkMs: 50, WorkDist: "fixed", Processor: "sleep", WorkerSubject: worker.DefaultSubject,
		Arrivals: "constant", Workers: 4, Concurrency: "fixed", QueueCap: 64, Policy: "edf", TickMs: 100,
	}
}

// Limits.
const (
	MaxRate     = 1_000_000
	MaxMs       = 60_000 // deadline and work
	MaxWorkers  = 10_000
	MaxQueueCap = 1_000_000
	MinTickMs   = 10
	MaxTickMs   = 10_000
	// MaxWorkerURL bounds the worker's URL, which travels in every batch.
	MaxWorkerURL = 2048
	// MaxWorkerSubject bounds the worker's NATS subject, which travels in
	// every batch too.
	MaxWorkerSubject = worker.MaxSubject
)

// WorkDists lists the work distributions, the default first: the
// pipeline's own list, so the two cannot drift apart.
func WorkDists() []string { return names(pipeline.Dists) }

// Policies lists the queueing policies, the default first, from the
// pipeline.
func Policies() []string { return names(pipeline.Policies) }

// Processors lists the processors, the default first: two simulated ones,
// and http and nats, the user's own workers.
func Processors() []string { return []string{"sleep", "cpu", HTTP, NATS} }

// HTTP is the processor that sends each event to the worker at WorkerURL.
const HTTP = "http"

// NATS is the processor that sends each event as a NATS request on
// WorkerSubject, to workers sharing it as a queue group. It needs the
// node's NATS connection (cluster mode), which the node checks.
const NATS = "nats"

// Concurrencies lists the ways of bounding concurrent work, the default
// first, from the pipeline.
func Concurrencies() []string { return names(pipeline.Concurrencies) }

// DefaultConcurrency is the concurrency a processor gets when none is
// named: adaptive for a worker whose capacity ontime cannot know (http,
// nats), fixed for the simulated ones, whose capacity is Workers.
func DefaultConcurrency(processor string) string {
	if processor == HTTP || processor == NATS {
		return string(pipeline.ConcurrencyAdaptive)
	}
	return string(pipeline.ConcurrencyFixed)
}

// ArrivalSet lists the spacings of generated events, the default first.
func ArrivalSet() []string { return []string{"constant", "poisson"} }

func names[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// FieldError says what is wrong with one setting.
type FieldError struct {
	// Field is the JSON name of the setting (or, for a start-up option
	// that is no live setting, its name in the same style, like maxBody).
	Field string
	// Msg says what is wrong, with the value given when it helps.
	Msg string
	// Want is what the setting takes, without the value given ("want 1 to
	// 10000"), for a caller that shows the value in its own form, as the
	// command line does; empty when Msg says it all.
	Want string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Bad reports that field's value v is not what it takes (want).
func Bad(field, want string, v any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf("%s, got %v", want, v), Want: want}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func oneOf(field, v string, choices []string) error {
	if slices.Contains(choices, v) {
		return nil
	}
	list := strings.Join(choices, ", ")
	return &FieldError{Field: field, Msg: fmt.Sprintf("%q is not one of %s", v, list), Want: "want one of " + list}
}

// Validate reports every setting out of its limits, each as a *FieldError
// (joined).
func (s Settings) Validate() error {
	var errs []error
	bad := func(field, want string, v any) { errs = append(errs, Bad(field, want, v)) }
	if !finite(s.Rate) || s.Rate < 0 || s.Rate > MaxRate {
		bad("rate", fmt.Sprintf("want 0 (off) to %d events/s", MaxRate), s.Rate)
	}
	if !finite(s.DeadlineMs) || s.DeadlineMs < 1 || s.DeadlineMs > MaxMs {
		bad("deadlineMs", fmt.Sprintf("want 1 to %d ms", MaxMs), s.DeadlineMs)
	}
	if !finite(s.WorkMs) || s.WorkMs < 0 || s.WorkMs > MaxMs {
		bad("workMs", fmt.Sprintf("want 0 to %d ms", MaxMs), s.WorkMs)
	}
	if s.Workers < 1 || s.Workers > MaxWorkers {
		bad("workers", fmt.Sprintf("want 1 to %d", MaxWorkers), s.Workers)
	}
	if s.QueueCap < 1 || s.QueueCap > MaxQueueCap {
		bad("queueCap", fmt.Sprintf("want 1 to %d", MaxQueueCap), s.QueueCap)
	}
	if !finite(s.TickMs) || s.TickMs < MinTickMs || s.TickMs > MaxTickMs {
		bad("tickMs", fmt.Sprintf("want %d to %d ms", MinTickMs, MaxTickMs), s.TickMs)
	}
	for _, e := range []error{
		oneOf("workDist", s.WorkDist, WorkDists()),
		oneOf("processor", s.Processor, Processors()),
		oneOf("arrivals", s.Arrivals, ArrivalSet()),
		oneOf("policy", s.Policy, Policies()),
		oneOf("concurrency", s.Concurrency, Concurrencies()),
		checkWorkerURL(s.Processor, s.WorkerURL),
		checkWorkerSubject(s.Processor, s.WorkerSubject),
	} {
		if e != nil {
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}

// checkWorkerURL says what is wrong with the worker's URL, if anything.
func checkWorkerURL(processor, raw string) error {
	const example = "like http://127.0.0.1:8090/work"
	switch {
	case raw == "" && processor == HTTP:
		return &FieldError{Field: "workerUrl", Msg: "required with processor http (" + example + ")", Want: "want a worker URL " + example}
	case raw == "":
		return nil
	case len(raw) > MaxWorkerURL:
		return &FieldError{Field: "workerUrl", Msg: fmt.Sprintf("longer than %d bytes", MaxWorkerURL), Want: fmt.Sprintf("want at most %d bytes", MaxWorkerURL)}
	}
	u, err := worker.ParseURL(raw)
	if err != nil {
		return &FieldError{Field: "workerUrl", Msg: strings.TrimPrefix(err.Error(), "worker URL "), Want: "want an http:// or https:// URL " + example}
	}
	if u.User != nil {
		// The URL travels in every batch to every client.
		return &FieldError{Field: "workerUrl", Msg: "credentials in the URL would be shown to every client; put the worker behind a network boundary instead", Want: "want a URL without user:password@"}
	}
	return nil
}

// checkWorkerSubject says what is wrong with the worker's NATS subject, if
// anything. Empty is allowed unless the processor is nats.
func checkWorkerSubject(processor, subject string) error {
	const want = "want a NATS subject without wildcards, like " + worker.DefaultSubject
	switch {
	case subject == "" && processor == NATS:
		return &FieldError{Field: "workerSubject", Msg: "required with processor nats (like " + worker.DefaultSubject + ")", Want: want}
	case subject == "":
		return nil
	case len(subject) > MaxWorkerSubject:
		return &FieldError{Field: "workerSubject", Msg: fmt.Sprintf("longer than %d bytes", MaxWorkerSubject), Want: fmt.Sprintf("want at most %d bytes", MaxWorkerSubject)}
	}
	if err := worker.CheckSubject(subject); err != nil {
		msg := err.Error()
		if se, ok := errors.AsType[*worker.SubjectError](err); ok {
			msg = fmt.Sprintf("%s, got %q", se.Reason, clip(subject))
		}
		return &FieldError{Field: "workerSubject", Msg: msg, Want: want}
	}
	return nil
}

// setting is one field of Settings as a patch names it.
type setting struct {
	name  string       // the JSON name
	index int          // in Settings
	kind  reflect.Kind // Float64, Int or String
}

// settings lists the fields of Settings from their JSON tags, so that a
// patch knows every setting without a list of its own.
var settings = func() []setting {
	t := reflect.TypeFor[Settings]()
	out := make([]setting, t.NumField())
	for i := range out {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out[i] = setting{name: name, index: i, kind: f.Type.Kind()}
	}
	return out
}()

// Names lists the settings' JSON names, in the order of Settings.
func Names() []string {
	out := make([]string, len(settings))
	for i, s := range settings {
		out[i] = s.name
	}
	return out
}

func lookup(name string) (setting, bool) {
	for _, s := range settings {
		if s.name == name {
			return s, true
		}
	}
	return setting{}, false
}

// Patch is a partial update: the settings it names change, the others
// stay. DecodePatch reads one from JSON and Set adds to one; either checks
// each value's name and type, and Apply checks the result's limits.
type Patch struct {
	values map[string]json.RawMessage // by JSON name: known, typed right
}

// Set adds the setting name with the value v (a number or a string, as
// the setting takes), or says with a *FieldError why it cannot.
func (p *Patch) Set(name string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return &FieldError{Field: name, Msg: fmt.Sprintf("not a JSON value: %v", err)}
	}
	if err := p.set(name, raw); err != nil {
		return err
	}
	return nil
}

// set checks one member of a patch and adds it.
func (p *Patch) set(name string, raw json.RawMessage) *FieldError {
	s, ok := lookup(name)
	if !ok {
		return &FieldError{Field: name, Msg: "unknown setting (known: " + strings.Join(Names(), ", ") + ")"}
	}
	if _, dup := p.values[name]; dup {
		return &FieldError{Field: name, Msg: "given more than once"}
	}
	if err := checkType(s, raw); err != nil {
		return err
	}
	if p.values == nil {
		p.values = make(map[string]json.RawMessage, len(settings))
	}
	p.values[name] = raw
	return nil
}

// checkType says in JSON's terms (never Go's) how raw, a valid JSON value,
// does not fit the setting s.
func checkType(s setting, raw json.RawMessage) *FieldError {
	fail := func(msg string) *FieldError { return &FieldError{Field: s.name, Msg: msg} }
	got := jsonkind.Of(raw)
	if got == "null" {
		return fail("null is not a value; omit the field to keep the setting")
	}
	var want string
	switch s.kind {
	case reflect.Float64:
		want = "a number"
	case reflect.Int:
		want = "an integer"
	default:
		want = "a string"
	}
	if want == "a string" {
		if got != "string" {
			return fail("want a string, got " + jsonkind.WithArticle(got))
		}
		return nil
	}
	if got != "number" {
		return fail("want " + want + ", got " + jsonkind.WithArticle(got))
	}
	text := clip(string(raw))
	if s.kind == reflect.Int {
		var n int
		if err := json.Unmarshal(raw, &n); err == nil {
			return nil
		}
		if !bytes.ContainsAny(raw, ".eE") { // digits only
			return fail(text + " is out of range")
		}
		return fail("want an integer (digits only, like 8), got " + text)
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil {
		return fail(text + " is out of range")
	}
	return nil
}

// clip cuts a client's text to a length fit for an error message.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// MaxPatchBytes bounds a patch document.
const MaxPatchBytes = 4096

// DecodePatch reads one JSON object of settings. A document that is no
// such object (malformed, empty, over MaxPatchBytes, followed by more data,
// not an object) is a plain error; within the object, each member that is
// no setting, is given twice, is null or has the wrong type is a
// *FieldError naming it, all of them joined.
func DecodePatch(r io.Reader) (Patch, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxPatchBytes+1))
	if err != nil {
		return Patch{}, fmt.Errorf("read patch: %w", err)
	}
	if len(data) > MaxPatchBytes {
		return Patch{}, fmt.Errorf("patch larger than %d bytes", MaxPatchBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Patch{}, errors.New("empty patch: send a JSON object of the settings to change")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var doc json.RawMessage
	if err := dec.Decode(&doc); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return Patch{}, fmt.Errorf("malformed JSON at byte %d: %v", syn.Offset, syn)
		}
		return Patch{}, fmt.Errorf("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Patch{}, errors.New("trailing data after the JSON object")
	}
	if k := jsonkind.Of(doc); k != "object" {
		return Patch{}, fmt.Errorf("want a JSON object of settings, got %s", jsonkind.WithArticle(k))
	}
	// doc is one valid object: its members decode without error.
	members := json.NewDecoder(bytes.NewReader(doc))
	_, _ = members.Token() // {
	var p Patch
	var errs []error
	for members.More() {
		tok, _ := members.Token()
		name, _ := tok.(string)
		var raw json.RawMessage
		_ = members.Decode(&raw)
		if err := p.set(name, raw); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return Patch{}, errors.Join(errs...)
	}
	return p, nil
}

// Has reports whether the patch names the setting.
func (p Patch) Has(name string) bool {
	_, ok := p.values[name]
	return ok
}

// Apply returns s with the patch applied, validated. s is unchanged when
// the result is invalid. A patch that moves Processor between a simulated
// one and a worker (http, nats) without naming Concurrency also moves
// Concurrency to that processor's default.
func (s Settings) Apply(p Patch) (Settings, error) {
	out := s
	v := reflect.ValueOf(&out).Elem()
	for name, raw := range p.values {
		f, _ := lookup(name)
		if err := json.Unmarshal(raw, v.Field(f.index).Addr().Interface()); err != nil {
			// Set and DecodePatch checked the value; this is a bug.
			return s, fmt.Errorf("apply %s: %w", name, err)
		}
	}
	if !p.Has("concurrency") && DefaultConcurrency(out.Processor) != DefaultConcurrency(s.Processor) {
		out.Concurrency = DefaultConcurrency(out.Processor)
	}
	if err := out.Validate(); err != nil {
		return s, err
	}
	return out, nil
}
