package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/outcomes"
	"github.com/ontime-rt/ontime/internal/pipeline"
	"github.com/ontime-rt/ontime/internal/worker"
	"github.com/ontime-rt/ontime/views"
)

// trial is a value a live setting takes other than its default, one out of
// its range or choices, one of the wrong JSON type and the message that
// type gets, from its spec; ok is false for free text.
type trial struct {
	good, bad, mistyped any
	typeMsg             string
}

func trialOf(sp config.Spec) (trial, bool) {
	switch {
	case len(sp.Choices) > 0:
		return trial{good: sp.Choices[1], bad: "no-such-" + sp.Name, mistyped: 1, typeMsg: "want a string, got a number"}, true
	case sp.Type == config.Number || sp.Type == config.Integer:
		good := *sp.Min
		if text(good) == text(sp.Default) {
			good++
		}
		msg := "want a number, got a string"
		if sp.Type == config.Integer {
			msg = "want an integer, got a string"
		}
		if sp.Type == config.Integer {
			return trial{good: int(good), bad: int(*sp.Max + 1), mistyped: "1", typeMsg: msg}, true
		}
		return trial{good: good, bad: *sp.Max + 1, mistyped: "1", typeMsg: msg}, true
	}
	return trial{}, false
}

// text writes a trial value as the form and the messages do: 1000001,
// not 1.000001e+06.
func text(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// wantOf is the message a setting's bad trial value gets.
func wantOf(sp config.Spec, bad any) string {
	if len(sp.Choices) > 0 {
		return fmt.Sprintf("%q is not one of %s", bad, strings.Join(sp.Choices, ", "))
	}
	return sp.Want() + ", got " + text(bad)
}

// The settings' specs drive every surface of a running node: the schema
// it serves is theirs; PATCH /api/config takes each live setting's values,
// refuses each one's bad values and wrong types with its spec's words, all
// at once; and the page's settings form offers each with its label, unit,
// choices and range, applies it and refuses it the same way.
func TestEverySurfaceFollowsTheSpecs(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 0 }), WriteRate: -1})
	api := tn.srv.URL + "/api/config"

	resp, err := http.Get(api + "/schema")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want, _ := json.Marshal(config.TheSchema())
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(served)) != string(want) {
		t.Fatalf("GET /api/config/schema: %s\n%s\nwant %s", resp.Status, served, want)
	}

	bad, mistyped := map[string]any{}, map[string]any{}
	live := 0
	for _, sp := range config.Specs() {
		if !sp.Live {
			continue
		}
		live++
		tr, ok := trialOf(sp)
		if !ok {
			continue
		}
		bad[sp.Name], mistyped[sp.Name] = tr.bad, tr.mistyped
		body, _ := json.Marshal(map[string]any{sp.Name: tr.good})
		code, got := patch(t, api, string(body), "application/json")
		if code != http.StatusOK || text(got[sp.Name]) != text(tr.good) {
			t.Errorf("PATCH %s: %d %v", body, code, got)
		}
		body, _ = json.Marshal(map[string]any{sp.Name: sp.Default})
		if code, got := patch(t, api, string(body), "application/json"); code != http.StatusOK {
			t.Errorf("PATCH %s back: %d %v", body, code, got)
		}

		// The form: a value applies, a bad one is refused next to its
		// field in the spec's words.
		page := patchUI(t, tn.srv.URL, url.Values{sp.Name: {text(tr.good)}})
		if s, _ := tn.Settings().Get(sp.Name); text(s) != text(tr.good) || !strings.Contains(page, `data-testid="control-applied"`) {
			t.Errorf("form %s=%v: in force %v\n%s", sp.Name, tr.good, s, page)
		}
		page = patchUI(t, tn.srv.URL, url.Values{sp.Name: {text(sp.Default)}})
		if s, _ := tn.Settings().Get(sp.Name); text(s) != text(sp.Default) {
			t.Errorf("form %s back to %v: in force %v", sp.Name, sp.Default, s)
		}
		field := views.FieldOf(sp)
		for _, part := range append([]string{`name="` + sp.Name + `"`, ">" + sp.Label + " ", html.EscapeString(field.Hint)}, optionsOf(sp.Choices)...) {
			if !strings.Contains(page, part) {
				t.Errorf("form field %s lacks %q", sp.Name, part)
			}
		}
		if sp.Unit != "" && !strings.Contains(page, ">"+sp.Label+` <span class="unit">(`+sp.Unit+")") {
			t.Errorf("form field %s lacks its unit %s", sp.Name, sp.Unit)
		}
		page = patchUI(t, tn.srv.URL, url.Values{sp.Name: {text(tr.bad)}})
		if !strings.Contains(page, html.EscapeString(wantOf(sp, tr.bad))) {
			t.Errorf("form %s=%v: want the error %q\n%s", sp.Name, tr.bad, wantOf(sp, tr.bad), page)
		}
	}
	if live != len(config.Names()) {
		t.Fatalf("%d live specs for %d settings", live, len(config.Names()))
	}

	// Every problem at once: each bad value, and each wrong type.
	for _, doc := range []map[string]any{bad, mistyped} {
		body, _ := json.Marshal(doc)
		code, got := patch(t, api, string(body), "application/json")
		fields, _ := got["fields"].(map[string]any)
		if code != http.StatusBadRequest || len(fields) != len(doc) {
			t.Errorf("PATCH %s: %d, %d fields, want 400 and %d:\n%v", body, code, len(fields), len(doc), got)
		}
		for name, v := range doc {
			sp, _ := config.Lookup(name)
			tr, _ := trialOf(sp)
			want := wantOf(sp, v)
			if reflect.DeepEqual(doc, mistyped) {
				want = tr.typeMsg
			}
			if fields[name] != want {
				t.Errorf("PATCH %s: %s: %q, want %q", body, name, fields[name], want)
			}
		}
	}
	if s := tn.Settings(); s != config.Defaults() {
		t.Fatalf("settings after the trials: %+v", s)
	}
}

func optionsOf(choices []string) []string {
	var out []string
	for _, c := range choices {
		out = append(out, `<option value="`+c+`"`)
	}
	return out
}

// patchUI sends the page's settings form and returns the form it gets
// back.
func patchUI(t *testing.T, base string, form url.Values) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPatch, base+"/ui/config", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH /ui/config %s: %s %s", form.Encode(), resp.Status, b)
	}
	return string(b)
}

// A step of Apply that fails leaves every part as it was: the steps done
// before it are undone, the ones after it never run, and the settings in
// force stay.
func TestApplyIsAllOrNothing(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 50 })})
	old := tn.Settings()
	next := old
	next.Workers, next.Concurrency, next.TickMs, next.Rate = 9, config.ConcurrencyAdaptive, 250, 80
	next.QueueCap = 3
	c := dialSSE(t, tn.srv.URL+"/api/stream", nil)
	c.nextBatch(t) // the node runs, its generator too
	before := tn.pipe.Gauges()

	l := &tn.live
	l.mu.Lock()
	pl := tn.planFor(old, next)
	var ran []string
	failing := errors.New("the step fails")
	steps := append([]change(nil), pl.changes[:len(pl.changes)-1]...) // all but the queue
	for i := range steps {
		do := steps[i].do
		what := steps[i].what
		steps[i].do = func() error { ran = append(ran, what); return do() }
	}
	steps = append(steps, change{what: "failing", do: func() error { return failing }}, pl.changes[len(pl.changes)-1])
	err := applyAll(steps)
	l.mu.Unlock()

	if !errors.Is(err, failing) || !strings.Contains(err.Error(), "failing: the step fails") {
		t.Fatalf("applyAll: %v", err)
	}
	if want := []string{"generator", "concurrency", "tick", "workers"}; !reflect.DeepEqual(ran, want) {
		t.Fatalf("steps run %v, want %v", ran, want)
	}
	after := tn.pipe.Gauges()
	if after.Workers != before.Workers || after.QueueCap != before.QueueCap || after.Limit != before.Limit {
		t.Fatalf("pipeline after a failed apply: %+v, was %+v", after, before)
	}
	if s := tn.Settings(); s != old {
		t.Fatalf("settings after a failed apply: %+v", s)
	}
	for range 3 {
		if b := c.nextBatch(t); float64(b.TickMs) != old.TickMs || b.Config.Concurrency != old.Concurrency {
			t.Fatalf("batch after a failed apply: tick %d, concurrency %s", b.TickMs, b.Config.Concurrency)
		}
	}
	// The same plan without the failing step applies as a whole.
	if _, err := tn.Apply(patchOf(t, `{"workers": 9, "concurrency": "adaptive", "tickMs": 250, "rate": 80, "queueCap": 3}`)); err != nil {
		t.Fatal(err)
	}
	if g := tn.pipe.Gauges(); g.Workers != 9 || g.QueueCap != 3 {
		t.Fatalf("pipeline after the apply: %+v", g)
	}
}

func patchOf(t *testing.T, doc string) config.Patch {
	t.Helper()
	p, err := config.DecodePatch(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The limits and defaults the settings' specs state are the ones the
// parts they configure use.
func TestSpecsStateThePartsLimits(t *testing.T) {
	for name, pair := range map[string][2]int64{
		"outcomes max":        {config.MaxOutcomes, outcomes.MaxMax},
		"outcomes default":    {config.DefaultOutcomes, outcomes.DefaultMax},
		"history default":     {config.DefaultHistoryBytes, hub.DefaultHistoryBytes},
		"queue bytes default": {config.DefaultQueueBytes, pipeline.DefaultQueueBytes},
		"subject max":         {config.MaxWorkerSubject, worker.MaxSubject},
	} {
		if pair[0] != pair[1] {
			t.Errorf("%s: config says %d, the part %d", name, pair[0], pair[1])
		}
	}
}

// What this node cannot do is reported with the patch's other problems:
// nats on a node without NATS beside a bad rate.
func TestNodeChecksJoinThePatchProblems(t *testing.T) {
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 0 }), WriteRate: -1})
	code, got := patch(t, tn.srv.URL+"/api/config", `{"processor": "nats", "rate": -1, "workers": "2"}`, "application/json")
	fields, _ := got["fields"].(map[string]any)
	if code != http.StatusBadRequest || len(fields) != 3 || !strings.Contains(str(fields["processor"]), "--nats") ||
		!strings.HasPrefix(str(fields["rate"]), "want 0 (off)") || fields["workers"] != "want an integer, got a string" {
		t.Fatalf("PATCH nats, bad rate and mistyped workers: %d %v", code, got)
	}
}
