package batch

import (
	"bytes"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	json "github.com/go-json-experiment/json/v1"
)

// The batch JSON is not HTML: '<', '>' and '&' in payloads and results go
// out as they came (escaped, a payload of 4 KiB of '<' took 24 KiB), on one
// line, in a slice of its exact size, and it decodes to the same batch.
func TestJSONIsNotHTMLEscaped(t *testing.T) {
	payload := json.RawMessage(`"` + strings.Repeat("<", 4096) + `"`)
	result := json.RawMessage(`{"html":"<b>&amp;</b>","n":[1, 2]}`)
	b := &Batch{Seq: 3, StartedAt: 9, Epoch: 9, Events: []Event{{ID: "e<1>", Payload: payload, Result: result}}}
	for name, enc := range map[string]func(*Batch) ([]byte, error){"JSON": JSON, "SummaryJSON": SummaryJSON} {
		data, err := enc(b)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(`\u003c`)) || bytes.Contains(data, []byte(`\u0026`)) || bytes.ContainsRune(data, '\n') {
			t.Errorf("%s: escaped for HTML, or more than one line: %.200s", name, data)
		}
		if cap(data) != len(data) {
			t.Errorf("%s: %d bytes in a slice of %d", name, len(data), cap(data))
		}
		var back Batch
		if err := json.Unmarshal(data, &back); err != nil || back.Seq != 3 || back.Epoch != 9 {
			t.Fatalf("%s: decodes to %+v, %v", name, back, err)
		}
		if name == "JSON" {
			if len(data) > 4096+1024 { // the payload and the rest of one batch, unescaped
				t.Errorf("JSON of a 4 KiB payload is %d bytes", len(data))
			}
			if string(back.Events[0].Payload) != string(payload) || string(back.Events[0].Result) != `{"html":"<b>&amp;</b>","n":[1,2]}` {
				t.Errorf("payload or result changed: %.80s / %s", back.Events[0].Payload, back.Events[0].Result)
			}
		} else if len(back.Events) != 0 {
			t.Errorf("summary carries %d events", len(back.Events))
		}
	}
}

// The dashboard's Health type (frontend-react/src/types.ts) names exactly
// the fields of Health's JSON: one type on each side of the wire, kept
// equal.
func TestHealthMatchesTheDashboardsType(t *testing.T) {
	src, err := os.ReadFile("../../frontend-react/src/types.ts")
	if err != nil {
		t.Fatal(err)
	}
	_, body, ok := strings.Cut(string(src), "export interface Health {\n")
	body, _, ok2 := strings.Cut(body, "\n}\n")
	if !ok || !ok2 {
		t.Fatal("types.ts has no `export interface Health { ... }`")
	}
	var ts []string
	for _, m := range regexp.MustCompile(`(?m)^  (\w+)\??:`).FindAllStringSubmatch(body, -1) {
		ts = append(ts, m[1])
	}
	var goFields []string
	for f := range reflect.TypeFor[Health]().Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		goFields = append(goFields, name)
	}
	slices.Sort(ts)
	slices.Sort(goFields)
	if !slices.Equal(ts, goFields) {
		t.Errorf("types.ts Health has %v,\nbatch.Health's JSON has %v", ts, goFields)
	}
}
