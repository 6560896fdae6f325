package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/pipeline"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The pipeline must satisfy Submitter, or the lead cannot wire it.
var _ Submitter = (*pipeline.Pipeline)(nil)

// recorder is a Submitter that keeps every event it is given and refuses
// those for which refuse returns a reason.
type recorder struct {
	refuse func(n int, ev event.Event) event.Reason

	mu     sync.Mutex
	events []event.Event
	// submitted receives the count after every Submit, when not nil.
	submitted chan int
}

func (r *recorder) Submit(ev event.Event) (bool, event.Reason) {
	r.mu.Lock()
	n := len(r.events)
	r.events = append(r.events, ev)
	r.mu.Unlock()
	if r.submitted != nil {
		r.submitted <- n + 1
	}
	if r.refuse != nil {
		if reason := r.refuse(n, ev); reason != event.ReasonNone {
			return false, reason
		}
	}
	return true, event.ReasonNone
}

func (r *recorder) got() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) ids() []string {
	var ids []string
	for _, ev := range r.got() {
		ids = append(ids, ev.ID.String())
	}
	return ids
}

var clock = time.UnixMilli(1_750_000_000_000)

// serve runs a handler behind a real HTTP server until the test ends.
func serve(t *testing.T, cfg Config, sub Submitter) (*Handler, *httptest.Server) {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return clock }
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	h := New(cfg, sub)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv
}

// post sends body and decodes the answer strictly: every answer is either
// a Response or, for errors found before the body is read, httperr's
// {"error": ...}, which a Response decodes too.
func post(t *testing.T, srv *httptest.Server, contentType string, body io.Reader) (int, Response) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/api/events", body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("response content type %q", ct)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var res Response
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("response %s: %v", raw, err)
	}
	if resp.StatusCode >= 400 && res.Error == "" {
		t.Errorf("status %d without an error: %s", resp.StatusCode, raw)
	}
	if resp.StatusCode < 400 && res.Error != "" {
		t.Errorf("status %d with an error: %s", resp.StatusCode, raw)
	}
	var full map[string]any
	_ = json.Unmarshal(raw, &full)
	if _, counted := full["accepted"]; counted {
		for _, k := range []string{"dropped", "droppedBy", "rejected", "rejectedCount"} {
			if _, ok := full[k]; !ok {
				t.Errorf("response lacks %q: %s", k, raw)
			}
		}
	}
	return resp.StatusCode, res
}

func id(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

// ev is a valid event with id n and the extra members given.
func ev(n int, extra ...string) string {
	return `{"id":"` + id(n) + `","deadlineMs":100` + strings.Join(append([]string{""}, extra...), ",") + `}`
}

func arr(evs ...string) string { return "[" + strings.Join(evs, ",") + "]" }

func lines(evs ...string) string { return strings.Join(evs, "\n") + "\n" }

const (
	ctJSON   = "application/json"
	ctNDJSON = "application/x-ndjson"
)

func TestHostileInputs(t *testing.T) {
	future := func(ms int64) string { return fmt.Sprintf(`"createdAt":%d`, clock.UnixMilli()+ms) }
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	big := func(n int) string { return `"payload":"` + strings.Repeat("x", n-2) + `"` }
	many := func(n int) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(ev(i) + "\n")
		}
		return b.String()
	}

	for _, tc := range []struct {
		name, ct, body string
		status         int
		err            string   // substring of the request error, "" for none
		submitted      []int    // ids of the events submitted, in order
		rejected       []int    // indexes of the rejected events
		rejectErr      []string // substrings of their errors
	}{
		{name: "malformed array", ct: ctJSON, body: `[` + ev(1) + `, {"deadlineMs": }, ` + ev(2) + `]`,
			status: 400, err: "malformed JSON at byte offset 80 (array element 1)", submitted: []int{1}},
		{name: "truncated array", ct: ctJSON, body: `[` + ev(1) + `, ` + ev(2)[:20],
			status: 400, err: "body ends in the middle of the JSON at byte offset 85 (array element 1)", submitted: []int{1}},
		{name: "truncated object", ct: ctJSON, body: ev(1)[:30], status: 400, err: "body ends in the middle"},
		{name: "array not closed", ct: ctJSON, body: `[` + ev(1), status: 400, err: "body ends in the middle", submitted: []int{1}},
		{name: "garbage after object", ct: ctJSON, body: ev(1) + `x`, status: 400, err: "unexpected data after the event"},
		{name: "garbage after array", ct: ctJSON, body: arr(ev(1)) + `x`, status: 400, err: "unexpected data after the array", submitted: []int{1}},
		{name: "malformed ndjson line", ct: ctNDJSON, body: lines(ev(1), `{"deadlineMs": }`, ev(2)[:20], ev(3)),
			status: 202, submitted: []int{1, 3}, rejected: []int{1, 2}, rejectErr: []string{"malformed JSON at byte 15 of the line", "malformed JSON at byte 20 of the line: unexpected end"}},
		{name: "wrong types", ct: ctJSON,
			body:   arr(`{"deadlineMs":"100"}`, ev(1, `"workMs":true`), ev(2, `"createdAt":"x"`), `{"id":5,"deadlineMs":1}`, ev(3, `"payload":{"a":1}`), `42`, `null`, `[]`, ev(4)),
			status: 202, submitted: []int{3, 4}, rejected: []int{0, 1, 2, 3, 5, 6, 7},
			rejectErr: []string{"deadlineMs must be a number of milliseconds, got string", "workMs must be a number of milliseconds, got boolean",
				"createdAt must be a number", "id must be a string", "got number", "got null", "got array"}},
		{name: "single wrong type", ct: ctJSON, body: `{"deadlineMs":"100"}`, status: 400, err: "deadlineMs must be a number", rejected: []int{0}, rejectErr: []string{"got string"}},
		{name: "NaN", ct: ctJSON, body: `{"deadlineMs":NaN}`, status: 400, err: "malformed JSON at byte offset 14: invalid character 'N'"},
		{name: "Infinity in array", ct: ctJSON, body: arr(ev(1), `{"deadlineMs":Infinity}`, ev(2)), status: 400, err: "array element 1", submitted: []int{1}},
		{name: "NaN line", ct: ctNDJSON, body: lines(`{"deadlineMs":NaN}`, `{"deadlineMs":-Infinity}`, ev(1)),
			status: 202, submitted: []int{1}, rejected: []int{0, 1}, rejectErr: []string{"invalid character 'N'", "invalid character 'I'"}},
		{name: "huge numbers", ct: ctNDJSON, body: lines(`{"deadlineMs":1e400}`, ev(1, `"workMs":1e400`), ev(2, `"createdAt":1e400`), ev(3, `"createdAt":123456789012345678901234567890`), ev(4, `"workMs":1e-400`)),
			status: 202, submitted: []int{4}, rejected: []int{0, 1, 2, 3},
			rejectErr: []string{"deadlineMs 1e400 is out of range", "workMs 1e400 is out of range", "createdAt must be an integer", "createdAt 123456789012345678901234567890 is out of range"}},
		{name: "deadlines", ct: ctJSON,
			body:   arr(`{"deadlineMs":-5}`, `{"deadlineMs":0}`, `{"deadlineMs":0.5}`, `{"deadlineMs":60000.5}`, `{"deadlineMs":1e5}`, `{"workMs":1}`, ev(1, `"deadlineMs":1`), `{"id":"`+id(2)+`","deadlineMs":60000}`),
			status: 202, submitted: []int{2}, rejected: []int{0, 1, 2, 3, 4, 5, 6},
			rejectErr: []string{"between 1 and 60000, got -5", "got 0", "got 0.5", "got 60000.5", "got 1e5", "deadlineMs is required", `duplicate field "deadlineMs"`}},
		{name: "unknown field", ct: ctJSON, body: ev(1, `"deadline":5`), status: 400, err: `unknown field "deadline"`, rejected: []int{0}},
		{name: "invalid UTF-8", ct: ctJSON, body: arr(ev(1, "\"payload\":\"a\xffb\""), "{\"deadlineMs\":5,\"\xfe\":1}", ev(2)),
			status: 202, submitted: []int{2}, rejected: []int{0, 1}, rejectErr: []string{"malformed JSON at byte 74 of the event: invalid UTF-8", "invalid UTF-8"}},
		{name: "invalid UTF-8 line", ct: ctNDJSON, body: lines("\xc3", ev(1, "\"payload\":\"\xc3\x28\"")), status: 202, rejected: []int{0, 1}, rejectErr: []string{"malformed JSON at byte 0 of the line: invalid character", "invalid UTF-8"}},
		{name: "deep payload", ct: ctJSON, body: arr(ev(1, `"payload":`+deep(33)), ev(2, `"payload":`+deep(32)), ev(3, `"payload":`+deep(100000))),
			status: 400, err: "malformed JSON at byte offset 10349 (array element 2): exceeded max depth", submitted: []int{2}, rejected: []int{0}, rejectErr: []string{"deeper than 32 levels"}},
		{name: "payload size", ct: ctJSON, body: arr(ev(1, big(4097)), ev(2, big(4096))),
			status: 202, submitted: []int{2}, rejected: []int{0}, rejectErr: []string{"payload is 4097 bytes, more than the 4096 allowed"}},
		{name: "createdAt future", ct: ctJSON, body: arr(ev(1, future(10000)), ev(2, future(4000)), ev(3, future(-3600_000))),
			status: 202, submitted: []int{2, 3}, rejected: []int{0}, rejectErr: []string{"createdAt is 10s in the future (at most 5s allowed)"}},
		{name: "bad ids", ct: ctJSON, body: arr(`{"id":"nope","deadlineMs":5}`, `{"id":"`+strings.Repeat("z", 500)+`","deadlineMs":5}`, `{"id":"00000000-0000-0000-0000-000000000000","deadlineMs":5}`, ev(1), ev(1)),
			status: 202, submitted: []int{1}, rejected: []int{0, 1, 2, 4},
			rejectErr: []string{`id "nope" is not a valid UUID`, `zzz"... is not a valid UUID`, "nil UUID", "repeats the id of event 3"}},
		{name: "empty body", ct: ctJSON, body: "", status: 400, err: "empty body"},
		{name: "blank body", ct: ctJSON, body: " \r\n ", status: 400, err: "empty body"},
		{name: "empty ndjson", ct: ctNDJSON, body: "\n\n", status: 400, err: "empty body"},
		{name: "empty array", ct: ctJSON, body: "[]", status: 202},
		{name: "text/plain", ct: "text/plain", body: ev(1), status: 415, err: "use application/json or application/x-ndjson"},
		{name: "no content type", ct: "", body: ev(1), status: 415, err: "Content-Type is required"},
		{name: "bad content type", ct: "application/json; =", body: ev(1), status: 415, err: "malformed Content-Type"},
		{name: "latin1", ct: "application/json; charset=latin1", body: ev(1), status: 415, err: `charset "latin1"`},
		{name: "charset utf-8", ct: "Application/JSON; charset=UTF-8", body: ev(1), status: 202, submitted: []int{1}},
		{name: "ndjson charset", ct: "application/x-ndjson; charset=utf-8", body: ev(1), status: 202, submitted: []int{1}},
		{name: "2 MiB body", ct: ctNDJSON, body: many(5000) + strings.Repeat(" ", 2<<20), status: 413, err: "larger than the 1048576 bytes allowed"},
		{name: "10001 events", ct: ctNDJSON, body: many(10001), status: 413, err: "more than 10000 events in one request; reading stopped at index 10000"},
		{name: "10000 events", ct: ctNDJSON, body: many(10000), status: 202},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			h, srv := serve(t, Config{}, rec)
			// strings.Reader gives the request a Content-Length, which
			// the 2 MiB case must not: it is about the streaming limit.
			status, res := post(t, srv, tc.ct, io.MultiReader(strings.NewReader(tc.body)))
			if status != tc.status {
				t.Errorf("status %d, want %d (%+v)", status, tc.status, res.Error)
			}
			if !strings.Contains(res.Error, tc.err) || (tc.err == "") != (res.Error == "") {
				t.Errorf("error %q, want %q", res.Error, tc.err)
			}
			var want []string
			for _, n := range tc.submitted {
				want = append(want, id(n))
			}
			got := rec.ids()
			switch tc.name {
			case "10001 events", "10000 events":
				want = nil
				for i := range 10000 {
					want = append(want, id(i))
				}
			case "2 MiB body":
				want = nil
				for i := range 5000 {
					want = append(want, id(i))
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("submitted %d events %.200v, want %d: %.200v", len(got), got, len(want), want)
			}
			if status == 415 || status == 405 {
				return
			}
			if res.Accepted != len(got) || res.Dropped != 0 || res.RejectedCount != len(tc.rejected) || len(res.Rejected) != len(tc.rejected) {
				t.Errorf("counts %+v for %d submitted, %d rejected", res, len(got), len(tc.rejected))
			}
			for i, r := range res.Rejected {
				if i < len(tc.rejected) && r.Index != tc.rejected[i] {
					t.Errorf("rejection %d has index %d, want %d (%s)", i, r.Index, tc.rejected[i], r.Error)
				}
				if i < len(tc.rejectErr) && !strings.Contains(r.Error, tc.rejectErr[i]) {
					t.Errorf("rejection %d: %q, want %q", i, r.Error, tc.rejectErr[i])
				}
			}
			st := h.Stats()
			if st.Accepted != int64(len(got)) || st.Rejected != int64(res.RejectedCount) || st.Dropped != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestEventFields(t *testing.T) {
	rec := &recorder{}
	_, srv := serve(t, Config{}, rec)
	body := `{"id":"` + id(7) + `","createdAt":1749999999500,"deadlineMs":250.5,"workMs":3,"payload":{"k":"v"}}`
	status, res := post(t, srv, ctJSON, strings.NewReader(body))
	if status != http.StatusAccepted || res.Accepted != 1 {
		t.Fatalf("%d %+v", status, res)
	}
	got := rec.got()[0]
	want := event.Event{ID: uuid.MustParse(id(7)), Source: "ingest", CreatedAt: time.UnixMilli(1749999999500), Deadline: 250500 * time.Microsecond, Work: 3 * time.Millisecond}
	if string(got.Payload) != `{"k":"v"}` {
		t.Fatalf("payload %q, want it carried unchanged", got.Payload)
	}
	got.Payload = nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("event %+v, want %+v", got, want)
	}

	// Without id and createdAt: a fresh id, the handler's clock.
	if status, _ := post(t, srv, ctJSON, strings.NewReader(`[{"deadlineMs":5},{"deadlineMs":5}]`)); status != http.StatusAccepted {
		t.Fatal(status)
	}
	evs := rec.got()[1:]
	if evs[0].ID == evs[1].ID || evs[0].ID == uuid.Nil || !evs[0].CreatedAt.Equal(clock) || evs[0].Work != 0 {
		t.Fatalf("defaults %+v", evs)
	}
}

func TestHappyPaths(t *testing.T) {
	rec := &recorder{}
	_, srv := serve(t, Config{}, rec)
	if status, res := post(t, srv, ctJSON, strings.NewReader(ev(1))); status != 202 || res.Accepted != 1 || len(res.Rejected) != 0 || res.Rejected == nil {
		t.Fatalf("single: %d %+v", status, res)
	}
	if status, res := post(t, srv, ctJSON, strings.NewReader(arr(ev(2), ev(3), ev(4)))); status != 202 || res.Accepted != 3 {
		t.Fatalf("array: %d %+v", status, res)
	}
	if got := rec.ids(); !slices.Equal(got, []string{id(1), id(2), id(3), id(4)}) {
		t.Fatalf("submitted %v", got)
	}
}

// A Submitter that refuses events: each refusal is counted as dropped under
// its reason, and the rest as accepted.
func TestNDJSONWithDrops(t *testing.T) {
	rec := &recorder{refuse: func(n int, _ event.Event) event.Reason {
		switch {
		case n%10 == 0:
			return event.QueueFull
		case n%10 == 1:
			return event.Shed
		case n == 5:
			return event.Shutdown
		}
		return ""
	}}
	h, srv := serve(t, Config{}, rec)
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, `{"id":"%s","deadlineMs":%g,"workMs":%d,"createdAt":%d}`+"\r\n", id(i), 1+float64(i*59)+0.25, i%7, clock.UnixMilli()-int64(i))
		if i%100 == 0 {
			b.WriteString("\n") // blank lines are skipped but counted
		}
	}
	b.WriteString(`{"deadlineMs":0}`)
	status, res := post(t, srv, ctNDJSON, strings.NewReader(b.String()))
	if status != 202 {
		t.Fatalf("status %d: %s", status, res.Error)
	}
	want := map[event.Reason]int{event.QueueFull: 100, event.Shed: 100, event.Shutdown: 1}
	if res.Accepted != 799 || res.Dropped != 201 || !mapsEqual(res.DroppedBy, want) {
		t.Fatalf("accepted %d dropped %d by %v", res.Accepted, res.Dropped, res.DroppedBy)
	}
	if res.RejectedCount != 1 || res.Rejected[0].Index != 1010 {
		t.Fatalf("rejected %+v", res.Rejected)
	}
	evs := rec.got()
	if len(evs) != 1000 || evs[999].Deadline != time.Duration((1+999*59+0.25)*float64(time.Millisecond)) || evs[999].Work != 5*time.Millisecond {
		t.Fatalf("%d events, last %+v", len(evs), evs[len(evs)-1])
	}
	// Event i was created i ms ago; only the accepted ones are measured.
	var n, sum, behind float64
	for i := range 1000 {
		if i%10 > 1 && i != 5 {
			n, sum, behind = n+1, sum+float64(i), float64(i)
		}
	}
	sk := h.Skew()
	if sk.Samples != int64(res.Accepted) || float64(sk.Samples) != n || sk.MaxBehindMs != behind || sk.MaxAheadMs != 0 || sk.MeanMs != sum/n {
		t.Fatalf("skew %+v, want %v samples, max behind %v, mean %v", sk, n, behind, sum/n)
	}
}

func mapsEqual(a, b map[event.Reason]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestDropWithoutReason(t *testing.T) {
	rec := &recorder{}
	_, srv := serve(t, Config{}, &reasonless{rec})
	status, res := post(t, srv, ctJSON, strings.NewReader(arr(ev(1), ev(2))))
	if status != 202 || res.Dropped != 2 || res.DroppedBy[reasonUnknown] != 2 {
		t.Fatalf("%d %+v", status, res)
	}
}

type reasonless struct{ *recorder }

func (r *reasonless) Submit(ev event.Event) (bool, event.Reason) {
	r.recorder.Submit(ev)
	return false, event.ReasonNone
}

func TestRejectedListIsCapped(t *testing.T) {
	rec := &recorder{}
	_, srv := serve(t, Config{MaxRejected: 3}, rec)
	body := strings.Repeat("{\"deadlineMs\":0}\n", 10) + ev(1)
	status, res := post(t, srv, ctNDJSON, strings.NewReader(body))
	if status != 202 || res.RejectedCount != 10 || len(res.Rejected) != 3 || res.Rejected[2].Index != 2 || res.Accepted != 1 {
		t.Fatalf("%d %+v", status, res)
	}
}

// Skew is measured over accepted events only: a rejected createdAt (in the
// wrong unit, too far ahead) or a dropped event must not move it.
func TestSkew(t *testing.T) {
	rec := &recorder{refuse: func(_ int, ev event.Event) event.Reason {
		if ev.ID.String() == id(5) {
			return event.Expired
		}
		return event.ReasonNone
	}}
	h, srv := serve(t, Config{}, rec)
	at := func(ms int64) string { return fmt.Sprintf(`"createdAt":%d`, ms) }
	body := lines(
		ev(1, at(clock.UnixMilli()-2000)),
		ev(2, at(clock.UnixMilli()+3000)),
		ev(3, at(clock.UnixMilli()+10000)),    // rejected: too far ahead
		ev(4),                                 // no createdAt
		`{"deadlineMs":0,"createdAt":1}`,      // invalid otherwise
		ev(5, at(clock.UnixMilli()-3600_000)), // dropped
		ev(6, at(clock.Unix())),               // rejected: seconds
	)
	status, res := post(t, srv, ctNDJSON, strings.NewReader(body))
	if status != 202 || res.Accepted != 3 || res.Dropped != 1 || res.RejectedCount != 3 {
		t.Fatalf("%d %+v", status, res)
	}
	if r := res.Rejected[2]; r.Index != 6 || r.Error != fmt.Sprintf("createdAt %d looks like seconds; send Unix milliseconds", clock.Unix()) {
		t.Fatalf("rejection %+v", r)
	}
	want := SkewStats{Samples: 2, MaxAheadMs: 3000, MaxBehindMs: 2000, MeanMs: (2000 - 3000) / 2.0}
	if got := h.Skew(); got != want {
		t.Fatalf("skew %+v, want %+v", got, want)
	}
	if st := h.Stats(); st.Skew != want || st.Requests != 1 || st.Accepted != 3 || st.Rejected != 3 || st.Dropped != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRequestErrors(t *testing.T) {
	rec := &recorder{}
	_, srv := serve(t, Config{}, rec)

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET: %s, Allow %q", resp.Status, resp.Header.Get("Allow"))
	}

	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, strings.NewReader(ev(1)))
	req.Header.Set("Content-Type", ctJSON)
	req.Header.Set("Content-Encoding", "gzip")
	resp, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("gzip: %s", resp.Status)
	}

	// A declared Content-Length over the limit is refused unread.
	status, res := post(t, srv, ctJSON, bytes.NewReader(make([]byte, 2<<20)))
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(res.Error, "request body of 2097152 bytes") {
		t.Fatalf("%d %+v", status, res)
	}
	if n := len(rec.got()); n != 0 {
		t.Fatalf("%d events submitted", n)
	}
}

// gen is an endless NDJSON body that counts what is read from it.
type gen struct {
	limit int64
	read  atomic.Int64
	buf   []byte
}

func (g *gen) Read(p []byte) (int, error) {
	if g.read.Load() >= g.limit {
		return 0, io.EOF
	}
	if len(g.buf) == 0 {
		g.buf = []byte(`{"deadlineMs":100,"payload":"` + strings.Repeat("x", 200) + `"}` + "\n")
	}
	n := 0
	for n < len(p) && g.read.Load()+int64(n) < g.limit {
		n += copy(p[n:], g.buf[(g.read.Load()+int64(n))%int64(len(g.buf)):])
	}
	g.read.Add(int64(n))
	return n, nil
}

// countBody counts the bytes the handler reads from the request body.
func countBody(next http.Handler, n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = struct {
			io.Reader
			io.Closer
		}{countReader2{r.Body, n}, r.Body}
		next.ServeHTTP(w, r)
	})
}

type countReader2 struct {
	r io.Reader
	n *atomic.Int64
}

func (c countReader2) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// A 100 MB body is cut off at MaxBody: the handler reads no more than that
// and answers 413 at once, without waiting for the rest.
func TestHugeStreamedBody(t *testing.T) {
	for _, f := range []string{ctNDJSON, ctJSON} {
		t.Run(f, func(t *testing.T) {
			rec := &recorder{}
			var handlerRead atomic.Int64
			h := New(Config{Now: func() time.Time { return clock }, Logger: slog.New(slog.DiscardHandler)}, rec)
			srv := httptest.NewServer(countBody(h, &handlerRead))
			defer srv.Close()

			g := &gen{limit: 100 << 20}
			var body io.Reader = g
			if f == ctJSON {
				body = io.MultiReader(strings.NewReader("["), &commaGen{g: g})
			}
			start := time.Now()
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, body)
			req.Header.Set("Content-Type", f)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			took := time.Since(start)
			var res Response
			if err := json.Unmarshal(raw, &res); err != nil {
				t.Fatalf("%s: %v", raw, err)
			}
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %s: %s", resp.Status, raw)
			}
			if n := handlerRead.Load(); n > 1<<20+1 {
				t.Errorf("handler read %d bytes", n)
			}
			// The client stops sending once the server answers and closes;
			// what it sent beyond MaxBody sits in socket buffers at most.
			if n := g.read.Load(); n > 32<<20 {
				t.Errorf("client sent %d bytes", n)
			}
			if res.Accepted == 0 || res.Accepted != len(rec.got()) {
				t.Errorf("accepted %d, submitted %d", res.Accepted, len(rec.got()))
			}
			t.Logf("413 after %v; client sent %d bytes, handler read %d; %d events", took, g.read.Load(), handlerRead.Load(), res.Accepted)
		})
	}
}

// commaGen turns gen's lines into array elements.
type commaGen struct{ g *gen }

func (c *commaGen) Read(p []byte) (int, error) {
	n, err := c.g.Read(p)
	for i := range p[:n] {
		if p[i] == '\n' {
			p[i] = ','
		}
	}
	return n, err
}

// Events are submitted as they arrive: the first is in the pipeline while
// the rest of the body has not been sent yet.
func TestSlowDrip(t *testing.T) {
	for _, tc := range []struct{ ct, first, rest string }{
		{ctNDJSON, ev(1) + "\n", ev(2) + "\n" + ev(3)},
		{ctJSON, "[" + ev(1) + ",", ev(2) + "," + ev(3) + "]"},
	} {
		t.Run(tc.ct, func(t *testing.T) {
			rec := &recorder{submitted: make(chan int, 10)}
			_, srv := serve(t, Config{}, rec)
			pr, pw := io.Pipe()
			go func() {
				// A few bytes at a time, with pauses.
				drip := func(s string) error {
					for len(s) > 0 {
						n := min(len(s), 7)
						if _, err := io.WriteString(pw, s[:n]); err != nil {
							return err
						}
						s = s[n:]
						time.Sleep(time.Millisecond)
					}
					return nil
				}
				if err := drip(tc.first); err != nil {
					return
				}
				select {
				case n := <-rec.submitted:
					if n != 1 {
						pw.CloseWithError(fmt.Errorf("submitted %d", n))
						return
					}
				case <-time.After(5 * time.Second):
					pw.CloseWithError(fmt.Errorf("the first event was not submitted before the body ended"))
					return
				}
				if err := drip(tc.rest); err != nil {
					return
				}
				pw.Close()
			}()
			status, res := post(t, srv, tc.ct, pr)
			if status != 202 || res.Accepted != 3 {
				t.Fatalf("%d %+v", status, res)
			}
			if got := rec.ids(); !slices.Equal(got, []string{id(1), id(2), id(3)}) {
				t.Fatalf("submitted %v", got)
			}
		})
	}
}

// Concurrent requests keep exact totals.
func TestConcurrentRequests(t *testing.T) {
	rec := &recorder{}
	h, srv := serve(t, Config{}, rec)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			body := lines(ev(i*10+1, `"createdAt":1`), ev(i*10+2), `{"deadlineMs":0}`)
			if status, res := post(t, srv, ctNDJSON, strings.NewReader(body)); status != 202 || res.Accepted != 2 {
				t.Errorf("%d %+v", status, res)
			}
		})
	}
	wg.Wait()
	st := h.Stats()
	if st.Requests != 8 || st.Accepted != 16 || st.Rejected != 8 || st.Skew.Samples != 8 || len(rec.got()) != 16 {
		t.Fatalf("stats %+v, %d submitted", st, len(rec.got()))
	}
}
