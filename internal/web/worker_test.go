package web

import (
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"

	json "github.com/go-json-experiment/json/v1"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/views"
)

// previewChars is how many characters of a result a row shows.
const previewChars = 60

// workerBatch is a batch of a node whose events go to an http worker:
// one result, one failure, one hostile result and one long one.
func workerBatch() (*batch.Batch, string) {
	cfg := defaults()
	cfg.Processor, cfg.WorkerURL, cfg.Concurrency, cfg.Workers = config.HTTP, "http://worker.example:8090/work?k=1", "adaptive", 64
	b := makeBatch(10, 100, cfg)
	b.Health.Workers, b.Health.Limit = 64, 9
	b.Health.CallP50Ms, b.Health.CallP90Ms, b.Health.CallP99Ms, b.Health.CallBestMs = 12.3, 30, 48, 10.5
	b.Totals.Dropped += 7
	b.Totals.DroppedBy[event.Failed] = 7
	b.Totals.FailedBy = map[string]uint64{"http-503": 5, "connect": 2}
	long := `{"items": [` + strings.Repeat(`"abcdefghij", `, 10) + `"end"]}`
	b.Events = []batch.Event{
		{ID: "ok-1", Status: event.OnTime, DeadlineMs: 100, LatencyMs: 20, Result: json.RawMessage(`{ "ok": true, "n": 3 }`)},
		{ID: "fail-1", Status: event.Dropped, Reason: event.Failed, Failure: "http-503", DeadlineMs: 100},
		{ID: "evil-1", Status: event.OnTime, DeadlineMs: 100, LatencyMs: 20, Result: json.RawMessage(`"<script>alert(1)</script><img src=x onerror=alert(2)>"`)},
		{ID: "long-1", Status: event.Late, DeadlineMs: 100, LatencyMs: 120, Result: json.RawMessage(long)},
	}
	return b, long
}

func TestWorkerFragments(t *testing.T) {
	r := NewRenderer(nil)
	b, long := workerBatch()
	ev := encode(t, r, b)

	for _, want := range []string{
		`data-testid="health-processor">http<`,
		`data-testid="health-worker-host">worker.example:8090<`,
		`title="http://worker.example:8090/work?k=1"`,
		`data-testid="health-concurrency">adaptive<`,
		`data-testid="health-limit">limit 9 / 64<`,
		`data-testid="health-calls">calls p50 12.3 · p90 30.0 · p99 48.0 · best 10.5 ms<`,
		`data-testid="failure-kinds"`, `<b>connect</b> 2`, `<b>http-503</b> 5`, `<b>failed</b> 7`,
	} {
		if !strings.Contains(ev["stats"], want) {
			t.Errorf("stats fragment lacks %s:\n%s", want, ev["stats"])
		}
	}
	for _, want := range []string{`data-testid="config-processor">http<`, `data-testid="config-concurrency">adaptive<`,
		`data-testid="config-workerUrl">http://worker.example:8090/work?k=1<`} {
		if !strings.Contains(ev["config"], want) {
			t.Errorf("config fragment lacks %s:\n%s", want, ev["config"])
		}
	}

	rows := ev["events"]
	if !regexp.MustCompile(`data-testid="event-reason"[^>]*>failed · http-503<`).MatchString(rows) {
		t.Errorf("the failed row does not say its kind:\n%s", rows)
	}
	results := regexp.MustCompile(`<code data-testid="event-result"(?: title="([^"]*)")?>([^<]*)</code>`).FindAllStringSubmatch(rows, -1)
	if len(results) != 3 {
		t.Fatalf("%d results shown, want 3 (the failed row has none):\n%s", len(results), rows)
	}
	// Newest first: long, evil, ok.
	if got := html.UnescapeString(results[2][2]); got != `{"ok":true,"n":3}` || results[2][1] != "" {
		t.Errorf("result preview %q (title %q), want the compact JSON and no title", got, results[2][1])
	}
	if got := html.UnescapeString(results[1][2]); got != `"<script>alert(1)</script><img src=x onerror=alert(2)>"` {
		t.Errorf("hostile result shows as %q, want its text", got)
	}
	if strings.Contains(rows, "<script") || strings.Contains(rows, "<img") || !strings.Contains(rows, "&lt;script&gt;") {
		t.Errorf("a result's markup reached the page unescaped:\n%s", rows)
	}
	preview, title := html.UnescapeString(results[0][2]), html.UnescapeString(results[0][1])
	if n := len([]rune(preview)); n != previewChars || !strings.HasSuffix(preview, "…") || !strings.HasPrefix(preview, `{"items":["abcdefghij",`) {
		t.Errorf("long result preview %q (%d chars), want %d chars of compact JSON ending in …", preview, n, previewChars)
	}
	var compact strings.Builder
	var v any
	if err := json.Unmarshal([]byte(long), &v); err != nil {
		t.Fatal(err)
	}
	full, _ := json.Marshal(v)
	compact.Write(full)
	if title != compact.String() {
		t.Errorf("long result title %q, want the whole compact JSON %q", title, compact.String())
	}
	// The hostile result's text says "onerror=": check the markup only.
	text := regexp.MustCompile(`>[^<]*<`)
	for name, h := range ev {
		noInlineStyleOrScript(t, name+" fragment", text.ReplaceAllString(h, "><"))
	}
}

// A simulated processor has no worker host; a batch without settings
// still shows the limit.
func TestProcessorLineWithoutWorker(t *testing.T) {
	cfg := defaults()
	cfg.WorkerURL = "http://left-over.example/work" // kept, but not in use
	b := makeBatch(3, 100, cfg)
	b.Health.Limit = 4
	ev := encode(t, NewRenderer(nil), b)
	if !strings.Contains(ev["stats"], `data-testid="health-processor">sleep<`) || strings.Contains(ev["stats"], "health-worker-host") ||
		!strings.Contains(ev["stats"], `data-testid="health-limit">limit 4 / 4<`) || !strings.Contains(ev["stats"], "calls: none") {
		t.Errorf("stats fragment of a sleep processor:\n%s", ev["stats"])
	}
	if strings.Contains(ev["stats"], "failure-kinds") {
		t.Errorf("failures by kind shown with none failed")
	}
	b = makeBatch(4, 100, nil)
	b.Health.Limit = 2
	if ev = encode(t, NewRenderer(nil), b); !strings.Contains(ev["stats"], `limit 2 / 4`) || strings.Contains(ev["stats"], "health-processor") {
		t.Errorf("stats fragment without settings:\n%s", ev["stats"])
	}
}

func TestConfigFormWorker(t *testing.T) {
	c := newStore()
	h := ConfigForm(c)
	page := patchForm(t, h, url.Values{"processor": {"http"}, "workerUrl": {" http://127.0.0.1:8090/work "}}.Encode(), nil).Body.String()
	s := c.Settings()
	// The concurrency in force stays: a patch changes what it names.
	if s.Processor != "http" || s.WorkerURL != "http://127.0.0.1:8090/work" || s.Concurrency != "fixed" {
		t.Fatalf("settings after the form: %+v\n%s", s, page)
	}
	if !strings.Contains(page, `Applied: processor http, worker url http://127.0.0.1:8090/work.`) ||
		!strings.Contains(page, `placeholder="http://127.0.0.1:8090/work"`) || !strings.Contains(page, `inputmode="url"`) {
		t.Errorf("form after success:\n%s", page)
	}
	page = patchForm(t, h, "concurrency=adaptive", nil).Body.String()
	if c.Settings().Concurrency != "adaptive" || !strings.Contains(page, `<option value="">unchanged (adaptive)</option>`) {
		t.Errorf("concurrency adaptive: %+v", c.Settings())
	}

	for name, tc := range map[string]struct {
		form url.Values
		want string
	}{
		"no URL":     {url.Values{"processor": {"http"}}, "required with processor http"},
		"not http":   {url.Values{"workerUrl": {"ftp://w.example/work"}}, "http"},
		"bad choice": {url.Values{"concurrency": {"turbo"}}, ""},
	} {
		c := newStore()
		page := patchForm(t, ConfigForm(c), tc.form.Encode(), nil).Body.String()
		field := "workerUrl"
		if name == "bad choice" {
			field = "concurrency"
		}
		got := fieldError(t, page, field)
		if got == "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: error next to %s is %q, want it to say %q", name, field, got, tc.want)
		}
		if c.applied != 0 {
			t.Errorf("%s: applied", name)
		}
		if v := tc.form.Get("workerUrl"); v != "" && !strings.Contains(page, `value="`+html.EscapeString(v)+`"`) {
			t.Errorf("%s: the typed URL is not kept", name)
		}
	}
}

// A shed event's row says why in numbers, under its reason, and its
// reason's title says so too.
func TestShedRowShowsItsNumbers(t *testing.T) {
	r := NewRenderer(nil)
	b := makeBatch(10, 100, defaults())
	const why = "needs ~20ms, 12ms left: 8% chance in time (the freshest waiting: 99%); 14 waiting, 8 busy"
	b.Events = []batch.Event{{ID: "shed-1", Status: event.Dropped, Reason: event.Shed, DeadlineMs: 100, Detail: why}}
	rows := encode(t, r, b)["events"]
	want := `data-testid="event-reason" title="shed: ` + html.EscapeString(views.Explain("shed")) + ` (` + html.EscapeString(why) + `)">shed<span class="reason-detail" data-testid="event-reason-detail">` + html.EscapeString(why) + `</span></td>`
	if !strings.Contains(rows, want) {
		t.Errorf("shed row lacks\n%s\nin:\n%s", want, rows)
	}
}
