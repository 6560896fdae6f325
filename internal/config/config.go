// Package config describes every setting of ontime once (Specs: name,
// flag, environment variable, type, unit, range, choices, default, help,
// live or fixed at start), and holds the live ones: Settings, how they are
// checked, and how a partial update applies. The command line, the
// environment, the configuration file (LoadFile), PATCH /api/config,
// GET /api/config/schema and both settings forms are derived from the
// specs. The same Settings travel in every
// batch (so both UIs show what is in force) and answer GET /api/config.
//
// The package is a leaf: it imports no other package of ontime, and owns
// the kinds of the settings (Policy, Concurrency, Dist, Processor,
// Arrivals) that the pipeline and the processors act on, so that what
// shows or checks the settings does not link what runs them.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"

	json "github.com/go-json-experiment/json/v1"

	"github.com/ontime-rt/ontime/internal/jsonkind"
)

// Settings are the live settings, filled from the command line at start
// and changed by PATCH /api/config. Durations are milliseconds, as
// everywhere on the wire. Each field is described by its Spec (Specs):
// adding a setting is a field here, its default in Defaults and its Spec;
// the flags, the environment, the checks, the schema and both forms follow.
type Settings struct {
	// Rate is the generator's events per second; 0 turns it off.
	Rate float64 `json:"rate"`
	// DeadlineMs is each generated event's deadline.
	DeadlineMs float64 `json:"deadlineMs"`
	// WorkMs is the mean simulated work per event.
	WorkMs float64 `json:"workMs"`
	// WorkDist is the distribution of simulated work.
	WorkDist Dist `json:"workDist"`
	// Processor is what processes events.
	Processor Processor `json:"processor"`
	// WorkerURL is the worker that processes events when Processor is
	// http: an http or https URL without credentials, at most
	// MaxWorkerURL bytes.
	WorkerURL string `json:"workerUrl"`
	// WorkerSubject is the NATS subject events are sent on when Processor
	// is nats (CheckSubject).
	WorkerSubject string `json:"workerSubject"`
	// Arrivals is the spacing of generated events.
	Arrivals Arrivals `json:"arrivals"`
	// Workers process events concurrently.
	Workers int `json:"workers"`
	// Concurrency is how many events are processed at once. A patch that
	// changes Processor leaves it as it is.
	Concurrency Concurrency `json:"concurrency"`
	// QueueCap bounds the events waiting for a worker.
	QueueCap int `json:"queueCap"`
	// Policy is the queueing and shedding discipline.
	Policy Policy `json:"policy"`
	// TickMs is the batch period.
	TickMs float64 `json:"tickMs"`
}

// Defaults are the settings of a server started without flags.
func Defaults() Settings {
	return Settings{
		Rate: DefaultRate(Sleep), DeadlineMs: 100, WorkMs: 50, WorkDist: DistFixed, Processor: Sleep, WorkerSubject: DefaultSubject,
		Arrivals: Constant, Workers: 4, Concurrency: DefaultConcurrency(Sleep), QueueCap: 64, Policy: EDF, TickMs: 100,
	}
}

// FieldError says what is wrong with one setting.
type FieldError struct {
	// Field is the JSON name of the setting (Spec.Name).
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
	if f, ok := v.(float64); ok {
		v = num(f) // 1000001, not 1.000001e+06
	}
	return &FieldError{Field: field, Msg: fmt.Sprintf("%s, got %v", want, v), Want: want}
}

// Validate reports every setting out of its limits, each as a *FieldError
// (joined), in the order of Specs.
func (s Settings) Validate() error {
	var errs []error
	v := reflect.ValueOf(s)
	for _, sp := range Specs() {
		if !sp.Live {
			continue
		}
		f, _ := field(sp.Name)
		var err error
		switch x := v.Field(f.index); x.Kind() {
		case reflect.Float64:
			err = sp.Check(x.Float())
		case reflect.Int:
			err = sp.Check(int(x.Int()))
		case reflect.String:
			err = sp.Check(x.String())
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, e := range []error{checkWorkerURL(s.Processor, s.WorkerURL), checkWorkerSubject(s.Processor, s.WorkerSubject)} {
		if e != nil {
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}

// checkWorkerURL says what is wrong with the worker's URL, if anything.
func checkWorkerURL(processor Processor, raw string) error {
	const example = "like " + ExampleWorkerURL
	switch {
	case raw == "" && processor == HTTP:
		return &FieldError{Field: "workerUrl", Msg: "required with processor http (" + example + ")", Want: "want a worker URL " + example}
	case raw == "":
		return nil
	case len(raw) > MaxWorkerURL:
		return &FieldError{Field: "workerUrl", Msg: fmt.Sprintf("longer than %d bytes", MaxWorkerURL), Want: fmt.Sprintf("want at most %d bytes", MaxWorkerURL)}
	}
	u, err := ParseWorkerURL(raw)
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
func checkWorkerSubject(processor Processor, subject string) error {
	const want = "want a NATS subject without wildcards, like " + DefaultSubject
	switch {
	case subject == "" && processor == NATS:
		return &FieldError{Field: "workerSubject", Msg: "required with processor nats (like " + DefaultSubject + ")", Want: want}
	case subject == "":
		return nil
	case len(subject) > MaxWorkerSubject:
		return &FieldError{Field: "workerSubject", Msg: fmt.Sprintf("longer than %d bytes", MaxWorkerSubject), Want: fmt.Sprintf("want at most %d bytes", MaxWorkerSubject)}
	}
	if err := CheckSubject(subject); err != nil {
		msg := err.Error()
		if se, ok := errors.AsType[*SubjectError](err); ok {
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

// field finds the field of Settings with that JSON name, from the JSON
// tags, so that a patch knows every setting without a list of its own.
func field(name string) (setting, bool) {
	t := reflect.TypeFor[Settings]()
	for i := range t.NumField() {
		f := t.Field(i)
		if n, _, _ := strings.Cut(f.Tag.Get("json"), ","); n == name {
			return setting{name: name, index: i, kind: f.Type.Kind()}, true
		}
	}
	return setting{}, false
}

// Names lists the live settings' JSON names, in the order of Settings.
func Names() []string {
	t := reflect.TypeFor[Settings]()
	out := make([]string, t.NumField())
	for i := range out {
		out[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	return out
}

// Patch is a partial update: the settings it names change, the others
// stay. DecodePatch reads one from JSON and Set adds to one; either checks
// each value's name and type, and Apply checks the result's limits.
type Patch struct {
	values map[string]json.RawMessage // by JSON name: known, typed right
	seen   map[string]bool            // every name given, good or not
	errs   []error                    // the members DecodePatch refused
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
	if p.seen[name] {
		return &FieldError{Field: name, Msg: "given more than once"}
	}
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	p.seen[name] = true
	s, ok := field(name)
	if !ok {
		return &FieldError{Field: name, Msg: "unknown setting (known: " + strings.Join(Names(), ", ") + ")"}
	}
	if err := checkType(s, raw); err != nil {
		return err
	}
	if p.values == nil {
		p.values = map[string]json.RawMessage{}
	}
	p.values[name] = raw
	return nil
}

// Err reports the members of a decoded patch that are no setting, are
// given twice, are null or have the wrong type, each as a *FieldError
// (joined); nil when every member is fine.
func (p Patch) Err() error { return errors.Join(p.errs...) }

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
// not an object) is an error. Within the object, a member that is no
// setting, is given twice, is null or has the wrong type is kept in the
// patch as a *FieldError (Err), and the members that are fine are kept as
// values: Apply reports both kinds of problem at once, and applies nothing
// while there is one.
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
	for members.More() {
		tok, _ := members.Token()
		name, _ := tok.(string)
		var raw json.RawMessage
		_ = members.Decode(&raw)
		if err := p.set(name, raw); err != nil {
			p.errs = append(p.errs, err)
		}
	}
	return p, nil
}

// Has reports whether the patch names the setting.
func (p Patch) Has(name string) bool {
	_, ok := p.values[name]
	return ok
}

// Check is a further check of the settings a patch would make, by the
// one that applies them (a node without NATS refuses the nats processor):
// each problem a *FieldError, joined; nil when there is none.
type Check func(old, next Settings) error

// Apply returns s with the patch applied, validated, or s unchanged and
// every problem: the members the patch refused (Err), each setting out of
// its limits once the rest is applied, and what the checks find, each as a
// *FieldError (joined); a setting is named once, by its first problem. A
// patch changes what it names and nothing else: a new processor keeps the
// concurrency in force.
func (s Settings) Apply(p Patch, checks ...Check) (Settings, error) {
	out := s
	v := reflect.ValueOf(&out).Elem()
	for name, raw := range p.values {
		f, _ := field(name)
		if err := json.Unmarshal(raw, v.Field(f.index).Addr().Interface()); err != nil {
			// Set and DecodePatch checked the value; this is a bug.
			return s, fmt.Errorf("apply %s: %w", name, err)
		}
	}
	errs := p.errs
	named := map[string]bool{}
	for _, e := range p.errs {
		named[e.(*FieldError).Field] = true
	}
	found := Flatten(out.Validate())
	for _, check := range checks {
		found = append(found, Flatten(check(s, out))...)
	}
	for _, e := range found {
		if fe, ok := e.(*FieldError); ok {
			if named[fe.Field] {
				continue // its member was refused, or the setting has a problem already
			}
			named[fe.Field] = true
		}
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		return s, errors.Join(errs...)
	}
	return out, nil
}
