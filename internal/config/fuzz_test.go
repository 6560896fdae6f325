package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// goTypes are words of Go's type system that no error message may show.
var goTypes = regexp.MustCompile(`\b(float64|float32|u?int(8|16|32|64)?|bool|map|struct|interface|\*?config\.\w+|Go)\b`)

// FuzzDecodePatch: any input either decodes into a patch whose application
// to valid settings yields valid settings (with exactly the values sent) or
// an error, or is refused with an error that speaks JSON, not Go; a null
// value is always refused; never a panic, never an invalid result.
func FuzzDecodePatch(f *testing.F) {
	for _, seed := range []string{
		`{"rate": 400}`, `{"rate": -1}`, `{"workers": 2, "policy": "lifo"}`, `{"tickMs": 1e400}`,
		`{"colour": "red"}`, `{"rate": "fast"}`, `{"rate": 1} {}`, `{`, ``, `null`, `[]`,
		`{"rate": null}`, `{"workers": 2.5}`, `{"workers": 99999999999999999999}`, `{"rate": 1, "rate": 2}`,
		`{"policy": 3, "workDist": ["exp"], "queueCap": true}`, `{"RATE": 5}`, `{}`, `{"rate": 1} ]`,
		`{"000000000000 map": 0}`, `{"policy": "map"}`, `{"\\"struct": 1}`,
		`{"deadlineMs": 0.5, "workDist": "exp", "processor": "cpu", "arrivals": "poisson", "queueCap": 1000000}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePatch(bytes.NewReader(data))
		if err == nil {
			// The members' problems are reported with the result's.
			var got Settings
			if got, err = Defaults().Apply(p); err != nil && got != Defaults() {
				t.Fatalf("a refused patch changed the settings: %+v", got)
			}
		}
		var members map[string]json.RawMessage
		isObject := json.Unmarshal(data, &members) == nil && members != nil
		if err != nil {
			// The input's names and values are echoed back as given; only
			// the words ontime adds must be free of Go.
			for _, e := range flattenAll(err) {
				msg := e.Error()
				if fe, ok := e.(*FieldError); ok {
					msg = fe.Msg // Field is the name as given
				}
				if m := goTypes.FindString(withoutQuoted(msg, data)); m != "" {
					t.Fatalf("error shows Go's %q: %v", m, err)
				}
			}
			for _, e := range flattenAll(err) {
				var fe *FieldError
				if errors.As(e, &fe) && (!isObject || fe.Msg == "") {
					t.Fatalf("field error without a message, or for no object: %#v", fe)
				}
			}
			return
		}
		if !isObject {
			t.Fatalf("accepted %q, which is no JSON object", data)
		}
		for name, v := range members {
			if string(v) == "null" {
				t.Fatalf("accepted %q with a null %s", data, name)
			}
		}
		base := Defaults()
		got, err := base.Apply(p)
		if err != nil {
			if got != base {
				t.Fatalf("a refused patch changed the settings: %+v", got)
			}
			return
		}
		if verr := got.Validate(); verr != nil {
			t.Fatalf("Apply accepted invalid settings %+v: %v", got, verr)
		}
		// What is in force is what was sent.
		var sent, now map[string]any
		_ = json.Unmarshal(data, &sent)
		b, _ := json.Marshal(got)
		_ = json.Unmarshal(b, &now)
		for name, v := range sent {
			if !reflect.DeepEqual(now[name], v) {
				t.Fatalf("sent %s = %v, in force %v", name, v, now[name])
			}
		}
	})
}

// withoutQuoted removes from msg every string of the JSON input (names and
// values) in the quoted forms, Go's or JSON's, that messages echo them in.
func withoutQuoted(msg string, data []byte) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	var strs []string
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		if s, ok := tok.(string); ok {
			q, _ := json.Marshal(s)
			strs = append(strs, strconv.Quote(s), string(q))
		}
	}
	// Longest first, so a string inside another is removed with it.
	slices.SortFunc(strs, func(a, b string) int { return len(b) - len(a) })
	for _, s := range strs {
		msg = strings.ReplaceAll(msg, s, " ")
	}
	return msg
}

func flattenAll(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, flattenAll(e)...)
	}
	return out
}

func TestDefaultsAreValid(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatal(err)
	}
}

// FuzzParseFile: any text is either a file whose every entry is a setting
// of Specs, no secret, each key once, with a value its Spec parses from
// the entry's text to the entry's value and Check accepts; or refused with
// *FileErrors naming the file, never Go's types; never a panic.
func FuzzParseFile(f *testing.F) {
	for _, seed := range []string{
		"tick: 100ms\nworkers: 8\n", "workers: many\n", "policy: edf\npolicy: lifo\n", "token: x\n", "lanes:\n  - name: a\n",
		"workers: [1, 2]\n", "workers:\n", "- a\n- b\n", "a: b\n---\nc: d\n", "tick: &t 100ms\ndeadline: *t\n",
		"queue-bytes: 64MiB\npprof: true\nrate: 12.5\n", "worker-url: |\n  http://h/w\n", "workers: !!str 8\n", "{tick: 1s}\n",
		"? workers\n: 8\n", "<<: {workers: 8}\n", "workers: 0x10\n", "rate: .inf\n", "tick: 100ms\n\tworkers: 2\n", "\"workers\": \"8\"\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseFile("f.yaml", data)
		if err != nil {
			for _, e := range Flatten(err) {
				if fe, ok := errors.AsType[*FileError](e); !ok || fe.Path != "f.yaml" || !strings.HasPrefix(e.Error(), "f.yaml") {
					t.Fatalf("not a *FileError of f.yaml: %#v", e)
				}
				// The YAML parser's own messages speak YAML ("non-map value").
				if msg := strings.TrimPrefix(e.Error(), "f.yaml"); !strings.Contains(msg, ": not YAML: ") && goTypes.MatchString(msg) && !bytes.Contains(data, []byte("map")) && !bytes.Contains(data, []byte("int")) {
					t.Fatalf("Go in the message: %v", e)
				}
			}
			return
		}
		seen := map[string]bool{}
		for _, e := range file.Entries {
			if seen[e.Spec.Flag] || e.Spec.Secret {
				t.Fatalf("entry %s given twice or secret: %+v", e.Spec.Flag, file.Entries)
			}
			seen[e.Spec.Flag] = true
			v, err := e.Spec.Parse(e.Text)
			if err != nil || !reflect.DeepEqual(v, e.Value) && !(v != v) { // NaN never equals itself
				t.Fatalf("%s: %q parses to %#v, %v; the entry holds %#v", e.Spec.Flag, e.Text, v, err, e.Value)
			}
			if err := e.Spec.Check(v); err != nil {
				t.Fatalf("%s: %v accepted out of range: %v", e.Spec.Flag, v, err)
			}
		}
	})
}
