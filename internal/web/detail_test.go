package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	json "github.com/go-json-experiment/json/v1"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/views"
)

// detailServer serves EventHandler at its route, as the server does.
func detailServer(t *testing.T, r *Renderer) *httptest.Server {
	t.Helper()
	mux := chi.NewRouter()
	mux.Get("/ui/events/{id}", EventHandler(r))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func getDetail(t *testing.T, srv *httptest.Server, id string) (int, map[string]any) {
	t.Helper()
	res, err := http.Get(srv.URL + "/ui/events/" + url.PathEscape(id))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET %s: content type %q, want JSON", id, ct)
	}
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("GET %s: %v", id, err)
	}
	return res.StatusCode, body
}

func uuidOf(n int) string { return fmt.Sprintf("%08x-0000-4000-8000-000000000000", n) }

func TestEventDetail(t *testing.T) {
	r := NewRenderer(func() bool { return false }) // kept even while no page watches
	srv := detailServer(t, r)
	b := makeBatch(1, 100, defaults())
	failed := batch.Event{ID: uuidOf(1), Source: "ingest", CreatedAt: startAt, DeadlineMs: 100, ProcessedAt: startAt + 42,
		LatencyMs: 42, Status: event.Dropped, Reason: event.Failed, Failure: "http-503",
		Payload: json.RawMessage(`{ "html": "<img src=x onerror=alert(1)>",  "n": [1, 2] }`),
		Result:  json.RawMessage(`{"note": "<script>alert(2)</script>"}`)}
	plain := batch.Event{ID: uuidOf(2), Source: "generator", CreatedAt: startAt, DeadlineMs: 100, ProcessedAt: startAt + 50,
		LatencyMs: 50, Status: event.OnTime}
	b.Events = []batch.Event{failed, plain}
	if _, err := r.Encode(b); err != nil {
		t.Fatal(err)
	}

	code, got := getDetail(t, srv, failed.ID)
	if code != http.StatusOK {
		t.Fatalf("GET a kept event: %d %v", code, got)
	}
	compact := `{"html":"<img src=x onerror=alert(1)>","n":[1,2]}`
	want := map[string]any{"id": failed.ID, "source": "ingest", "status": "dropped", "reason": "failed", "failure": "http-503",
		"createdAt": float64(startAt), "processedAt": float64(startAt + 42), "latencyMs": 42.0, "deadlineMs": 100.0,
		"payloadBytes": float64(len(compact))}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	payload, _ := json.Marshal(got["payload"])
	result, _ := json.Marshal(got["result"])
	if p, _ := json.Marshal(mustJSON(t, compact)); string(payload) != string(p) {
		t.Errorf("payload %s, want %s", payload, p)
	}
	if !strings.Contains(string(result), `alert(2)`) {
		t.Errorf("result %s, want the worker's", result)
	}

	code, got = getDetail(t, srv, plain.ID)
	if code != http.StatusOK || got["payloadBytes"] != 0.0 || got["payload"] != nil || got["result"] != nil {
		t.Errorf("GET an event without payload or result: %d %v", code, got)
	}

	code, got = getDetail(t, srv, uuidOf(99))
	if code != http.StatusNotFound || !strings.Contains(fmt.Sprint(got["error"]), "not among the 1000 newest") {
		t.Errorf("GET an unknown event: %d %v", code, got)
	}
	for _, bad := range []string{"ok-1", strings.ToUpper(uuidOf(1)) + "0", "{" + uuidOf(1) + "}"} {
		if code, got := getDetail(t, srv, bad); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(got["error"]), "not a UUID") {
			t.Errorf("GET %q: %d %v, want 400", bad, code, got)
		}
	}
}

func mustJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The index keeps the DetailEvents newest events: older ones are evicted
// in arrival order, and an id seen again is kept by its newest arrival.
func TestEventDetailBounded(t *testing.T) {
	r := NewRenderer(nil)
	n := 0
	push := func(ids ...string) {
		b := makeBatch(uint64(n+1), 100, nil)
		b.Events = b.Events[:0]
		for _, id := range ids {
			b.Events = append(b.Events, batch.Event{ID: id, Status: event.OnTime, DeadlineMs: 100})
		}
		if _, err := r.Encode(b); err != nil {
			t.Fatal(err)
		}
	}
	for n < DetailEvents {
		ids := make([]string, 0, 50)
		for range 50 {
			n++
			ids = append(ids, uuidOf(n))
		}
		push(ids...)
	}
	if _, ok := r.Event(uuidOf(1)); !ok {
		t.Fatal("the oldest of DetailEvents events is gone already")
	}
	// uuidOf(2) arrives again: its first arrival is evicted next, not it.
	push(uuidOf(DetailEvents+1), uuidOf(2))
	if _, ok := r.Event(uuidOf(1)); ok {
		t.Error("event 1 kept beyond DetailEvents")
	}
	push(uuidOf(DetailEvents + 2))
	if _, ok := r.Event(uuidOf(2)); !ok {
		t.Error("event 2, seen again, was evicted with its first arrival")
	}
	if _, ok := r.Event(uuidOf(3)); ok {
		t.Error("event 3 kept beyond DetailEvents")
	}
	if got := len(r.details.byID); got > DetailEvents {
		t.Errorf("index holds %d events, at most %d", got, DetailEvents)
	}
}

// Rows are focusable for the details, and the page has the empty dialog,
// outside every swapped fragment.
func TestEventDetailMarkup(t *testing.T) {
	r := NewRenderer(nil)
	b, _ := workerBatch()
	ev := encode(t, r, b)
	if got, want := strings.Count(ev["events"], `tabindex="0"`), len(b.Events); got != want {
		t.Errorf("%d focusable rows, want %d", got, want)
	}
	if strings.Contains(ev["events"], "payload") {
		t.Error("rows carry payloads: the details are fetched")
	}
	var page strings.Builder
	if err := views.Page(views.PageView{Batch: b, Events: r.Recent(), Charts: r.Charts()}).Render(t.Context(), &page); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	dialog := html[strings.Index(html, `<dialog id="event-detail"`):]
	dialog = dialog[:strings.Index(dialog, "</dialog>")]
	for _, id := range []string{"close", "note", "id", "source", "status", "reason", "failure", "created", "processed", "latency",
		"payload-size", "payload", "result", "payload-none", "result-none"} {
		if !strings.Contains(dialog, `data-testid="detail-`+id+`"`) {
			t.Errorf("the dialog lacks detail-%s", id)
		}
	}
	if strings.Index(html, `<dialog`) < strings.Index(html, `</main>`) {
		t.Error("the dialog sits inside the swapped page content")
	}
	// The hostile result's text says "onerror=": check the markup only.
	noInlineStyleOrScript(t, "page", regexp.MustCompile(`>[^<]*<`).ReplaceAllString(html, "><"))
}

func TestNATSFragments(t *testing.T) {
	cfg := defaults()
	cfg.Processor, cfg.WorkerSubject, cfg.WorkerURL, cfg.Concurrency = config.NATS, "jobs.resize", "http://left-over.example/work", "adaptive"
	b := makeBatch(3, 100, cfg)
	ev := encode(t, NewRenderer(nil), b)
	for _, want := range []string{`data-testid="health-processor">nats<`, `data-testid="health-worker-subject">jobs.resize<`,
		`title="NATS subject jobs.resize"`} {
		if !strings.Contains(ev["stats"], want) {
			t.Errorf("stats fragment lacks %s:\n%s", want, ev["stats"])
		}
	}
	if strings.Contains(ev["stats"], "health-worker-host") {
		t.Error("a nats processor shows the left-over worker URL's host")
	}
	if !strings.Contains(ev["config"], `data-testid="config-workerSubject">jobs.resize<`) {
		t.Errorf("config fragment lacks the subject:\n%s", ev["config"])
	}
	cfg.Processor = config.HTTP
	if ev = encode(t, NewRenderer(nil), makeBatch(4, 100, cfg)); strings.Contains(ev["stats"], "health-worker-subject") {
		t.Error("an http processor shows the subject")
	}
}

func TestConfigFormNATS(t *testing.T) {
	c := newStore()
	page := patchForm(t, ConfigForm(c), url.Values{"processor": {"nats"}, "workerSubject": {" jobs.resize "}}.Encode(), nil).Body.String()
	if s := c.Settings(); s.Processor != "nats" || s.WorkerSubject != "jobs.resize" {
		t.Fatalf("settings after the form: %+v\n%s", s, page)
	}
	if !strings.Contains(page, `Applied: processor nats, worker subject jobs.resize.`) || !strings.Contains(page, `placeholder="jobs.resize"`) ||
		!strings.Contains(page, `<option value="nats">nats</option>`) {
		t.Errorf("form after success:\n%s", page)
	}
	input := regexp.MustCompile(`<input[^>]*id="control-workerSubject"[^>]*>`).FindString(page)
	if !strings.Contains(input, `inputmode="text"`) {
		t.Errorf("subject input: %s", input)
	}

	// The subject's own error, from the settings' checks.
	c = newStore()
	page = patchForm(t, ConfigForm(c), url.Values{"workerSubject": {"jobs.*"}}.Encode(), nil).Body.String()
	if got := fieldError(t, page, "workerSubject"); got == "" || c.applied != 0 || !strings.Contains(page, `value="jobs.*"`) {
		t.Errorf("wildcard subject: error %q, applied %d\n%s", got, c.applied, page)
	}

	// A node outside a cluster refuses nats next to the processor field.
	c = newStore()
	c.fail = &config.FieldError{Field: "processor", Msg: "nats needs cluster mode (--nats)"}
	page = patchForm(t, ConfigForm(c), url.Values{"processor": {"nats"}}.Encode(), nil).Body.String()
	if got := fieldError(t, page, "processor"); got != "nats needs cluster mode (--nats)" {
		t.Errorf("processor error %q\n%s", got, page)
	}
}
