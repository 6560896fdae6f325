package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

var testNow = time.UnixMilli(1_750_000_000_000)

func testDecodeConfig() DecodeConfig {
	return DecodeConfig{Now: func() time.Time { return testNow }}
}

// decodeAll reads every item of body, checking each against the decoder's
// invariants, and returns them with the error that ended the body (nil at
// a clean end).
func decodeAll(t testing.TB, body []byte, f Format, cfg DecodeConfig) ([]Item, error) {
	t.Helper()
	cfg = cfg.withDefaults()
	d := NewDecoder(bytes.NewReader(body), f, cfg)
	var items []Item
	seen := map[uuid.UUID]bool{}
	last := -1
	// Every Next consumes at least one byte of the body or ends it, so more
	// calls than bytes means the decoder is stuck.
	for range len(body) + 2 {
		it, err := d.Next()
		if err != nil {
			if again, err2 := d.Next(); err2 != err || again.Err != nil || again.Payload != nil || again.Index != 0 {
				t.Fatalf("error is not sticky: %v then %v", err, err2)
			}
			if err == io.EOF {
				err = nil
			}
			return items, err
		}
		if it.Index <= last {
			t.Fatalf("index %d after %d", it.Index, last)
		}
		last = it.Index
		checkItem(t, it, cfg)
		if it.Err == nil {
			if seen[it.Event.ID] {
				t.Fatalf("id %s yielded twice", it.Event.ID)
			}
			seen[it.Event.ID] = true
		}
		items = append(items, it)
	}
	t.Fatalf("decoder did not end after %d calls on %d bytes", len(body)+2, len(body))
	return nil, nil
}

// checkItem asserts what every item must satisfy; for a valid one, every
// validation rule of the spec.
func checkItem(t testing.TB, it Item, cfg DecodeConfig) {
	t.Helper()
	now := cfg.Now()
	if it.Index < 0 {
		t.Fatalf("negative index %d", it.Index)
	}
	if it.ClientTime && it.Skew != now.Sub(it.Event.CreatedAt) && it.Err == nil {
		t.Fatalf("skew %v, createdAt %v, now %v", it.Skew, it.Event.CreatedAt, now)
	}
	if it.Err != nil {
		if it.Err.Error() == "" {
			t.Fatal("empty rejection message")
		}
		if it.ClientTime || it.Skew != 0 {
			t.Fatalf("rejected (%v), yet client time %v, skew %v", it.Err, it.ClientTime, it.Skew)
		}
		return
	}
	ev := it.Event
	switch {
	case ev.Source != Source:
		t.Fatalf("source %q", ev.Source)
	case ev.ID == uuid.Nil:
		t.Fatal("nil id")
	case ev.Deadline < MinDeadlineMs*time.Millisecond || ev.Deadline > MaxDeadlineMs*time.Millisecond:
		t.Fatalf("deadline %v out of range", ev.Deadline)
	case ev.Work < 0 || ev.Work > MaxWorkMs*time.Millisecond:
		t.Fatalf("work %v out of range", ev.Work)
	case ev.CreatedAt.Sub(now) > cfg.MaxFuture:
		t.Fatalf("createdAt %v is more than %v after %v", ev.CreatedAt, cfg.MaxFuture, now)
	case ev.CreatedAt.Before(time.UnixMilli(0)):
		t.Fatalf("createdAt %v before 1970", ev.CreatedAt)
	case it.ClientTime && wrongUnit(ev.CreatedAt.UnixMilli(), now) != "":
		t.Fatalf("createdAt %d accepted, though it looks like %s", ev.CreatedAt.UnixMilli(), wrongUnit(ev.CreatedAt.UnixMilli(), now))
	case !it.ClientTime && !ev.CreatedAt.Equal(now):
		t.Fatalf("default createdAt %v, want now %v", ev.CreatedAt, now)
	}
	if p := it.Payload; p != nil {
		switch {
		case len(p) > cfg.MaxPayload:
			t.Fatalf("payload of %d bytes", len(p))
		case !json.Valid(p) || !utf8.Valid(p):
			t.Fatalf("payload %q is not valid UTF-8 JSON", p)
		case depth(p) > cfg.MaxDepth:
			t.Fatalf("payload depth %d", depth(p))
		case string(p) == "null":
			t.Fatal("null payload should be nil")
		}
	}
}

func decodeOne(t *testing.T, body string) Item {
	t.Helper()
	items, err := decodeAll(t, []byte(body), JSON, testDecodeConfig())
	if err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if len(items) != 1 {
		t.Fatalf("decode %s: %d items", body, len(items))
	}
	return items[0]
}

func TestDecodeValidEvent(t *testing.T) {
	it := decodeOne(t, `{"id":"6BA7B810-9DAD-11D1-80B4-00C04FD430C8","createdAt":1749999999000,"deadlineMs":12.5,"workMs":0.25,"payload": {"a":[1,"x"]} }`)
	if it.Err != nil {
		t.Fatal(it.Err)
	}
	ev := it.Event
	if ev.ID.String() != "6ba7b810-9dad-11d1-80b4-00c04fd430c8" || ev.Deadline != 12500*time.Microsecond || ev.Work != 250*time.Microsecond ||
		!ev.CreatedAt.Equal(time.UnixMilli(1749999999000)) || ev.Source != "ingest" {
		t.Fatalf("event %+v", ev)
	}
	if string(it.Payload) != `{"a":[1,"x"]}` {
		t.Fatalf("payload %q", it.Payload)
	}
	if !it.ClientTime || it.Skew != time.Second {
		t.Fatalf("client time %v skew %v", it.ClientTime, it.Skew)
	}

	it = decodeOne(t, `{"deadlineMs":60000,"id":null,"createdAt":null,"workMs":null,"payload":null}`)
	if it.Err != nil || it.Payload != nil || it.ClientTime || !it.Event.CreatedAt.Equal(testNow) || it.Event.ID == uuid.Nil {
		t.Fatalf("nulls as absent: %+v", it)
	}
}

func TestDecodeRejections(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tc := range []struct {
		body, want string // want "" means valid
	}{
		{`{"deadlineMs":1}`, ""},
		{`{"deadlineMs":0.999}`, "deadlineMs must be between 1 and 60000"},
		{`{"deadlineMs":0}`, "deadlineMs must be between 1 and 60000"},
		{`{"deadlineMs":-5}`, "deadlineMs must be between 1 and 60000"},
		{`{"deadlineMs":-0}`, "deadlineMs must be between"},
		{`{"deadlineMs":60000.001}`, "deadlineMs must be between"},
		{`{"deadlineMs":1e400}`, "deadlineMs 1e400 is out of range"},
		{`{"deadlineMs":-1e400}`, "out of range"},
		{`{"deadlineMs":"100"}`, "deadlineMs must be a number of milliseconds, got string"},
		{`{"deadlineMs":null}`, "deadlineMs must be a number of milliseconds, got null"},
		{`{"deadlineMs":[1]}`, "got array"},
		{`{}`, "deadlineMs is required"},
		{`{"workMs":5}`, "deadlineMs is required"},
		{`{"deadlineMs":5,"workMs":-1}`, "workMs must be between 0 and 60000"},
		{`{"deadlineMs":5,"workMs":60001}`, "workMs must be between 0 and 60000"},
		{`{"deadlineMs":5,"workMs":true}`, "workMs must be a number of milliseconds, got boolean"},
		{`{"deadlineMs":5,"workMs":0}`, ""},
		{`{"deadlineMs":5,"deadline":5}`, `unknown field "deadline"`},
		{`{"deadlineMs":5,"DeadlineMs":5}`, `unknown field "DeadlineMs"`},
		{`{"deadlineMs":5,"` + strings.Repeat("k", 1000) + `":5}`, `unknown field "kkkk`},
		{`{"deadlineMs":5,"deadlineMs":6}`, `duplicate field "deadlineMs"`},
		// Duplicate names are ambiguous wherever they are: consumers of the
		// payload would disagree on which value it holds.
		{`{"deadlineMs":5,"payload":{"a":1,"b":{"c":1,"c":2}}}`, `duplicate name "c" in "/payload/b"`},
		{`{"deadlineMs":5,"payload":[{"a":1},{"a":2}]}`, ""},
		{`{"deadlineMs":5,"id":"x"}`, `id "x" is not a valid UUID`},
		{`{"deadlineMs":5,"id":5}`, "id must be a string, got number"},
		{`{"deadlineMs":5,"id":"{6ba7b810-9dad-11d1-80b4-00c04fd430c8}"}`, "is not a valid UUID"},
		{`{"deadlineMs":5,"id":"6ba7b8109dad11d180b400c04fd430c8"}`, "is not a valid UUID"},
		{`{"deadlineMs":5,"id":"6ba7b810-9dad-11d1-80b4-00c04fd430cg"}`, "is not a valid UUID"},
		{`{"deadlineMs":5,"id":"00000000-0000-0000-0000-000000000000"}`, "nil UUID"},
		{`{"deadlineMs":5,"createdAt":"1"}`, "createdAt must be a number"},
		{`{"deadlineMs":5,"createdAt":1.5}`, "createdAt must be an integer"},
		{`{"deadlineMs":5,"createdAt":1e3}`, "createdAt must be an integer"},
		{`{"deadlineMs":5,"createdAt":1e400}`, "createdAt must be an integer"},
		{`{"deadlineMs":5,"createdAt":99999999999999999999}`, "createdAt 99999999999999999999 is out of range"},
		{`{"deadlineMs":5,"createdAt":-1}`, "createdAt must not be negative"},
		{`{"deadlineMs":5,"createdAt":0}`, ""},
		// Centuries ahead: beyond what a Duration holds.
		{`{"deadlineMs":5,"createdAt":20000000000000}`, "createdAt is centuries in the future"},
		{`{"deadlineMs":5,"createdAt":9223372036854775807}`, "createdAt is centuries in the future"},
		{fmt.Sprintf(`{"deadlineMs":5,"createdAt":%d}`, testNow.UnixMilli()+10000), "createdAt is 10s in the future (at most 5s allowed)"},
		// testNow is 1,750,000,000,000 ms since the epoch.
		{`{"deadlineMs":5,"createdAt":1750000000}`, "createdAt 1750000000 looks like seconds; send Unix milliseconds"},
		{`{"deadlineMs":5,"createdAt":875000000}`, "looks like seconds"},  // half of now
		{`{"deadlineMs":5,"createdAt":874999999}`, ""},                    // January 1970, yet not seconds
		{`{"deadlineMs":5,"createdAt":3500000000}`, "looks like seconds"}, // twice now
		{`{"deadlineMs":5,"createdAt":3500000001}`, ""},
		{`{"deadlineMs":5,"createdAt":1750000000000000}`, "createdAt 1750000000000000 looks like microseconds; send Unix milliseconds"},
		{`{"deadlineMs":5,"createdAt":1750000000000000000}`, "looks like nanoseconds"},
		{`{"deadlineMs":5,"createdAt":874999999999999}`, "centuries in the future"},
		{fmt.Sprintf(`{"deadlineMs":5,"createdAt":%d}`, testNow.UnixMilli()+5000), ""},
		{fmt.Sprintf(`{"deadlineMs":5,"createdAt":%d}`, testNow.UnixMilli()+5001), "in the future"},
		{`{"deadlineMs":5,"payload":"` + strings.Repeat("x", 4094) + `"}`, ""},
		{`{"deadlineMs":5,"payload":"` + strings.Repeat("x", 4095) + `"}`, "payload is 4097 bytes, more than the 4096 allowed"},
		{`{"deadlineMs":5,"payload":` + deep(32) + `}`, ""},
		{`{"deadlineMs":5,"payload":` + deep(33) + `}`, "deeper than 32 levels"},
		{`{"deadlineMs":5,"payload":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"\\"}`, ""},
		{"{\"deadlineMs\":5,\"payload\":\"\xff\"}", "malformed JSON at byte 27 of the event: invalid UTF-8"},
		{"{\"deadlineMs\":5,\"payload\":\"\xed\xa0\x80\"}", "invalid UTF-8"}, // an encoded surrogate
		{`42`, "an event must be a JSON object, got number"},
		{`"x"`, "got string"},
		{`null`, "got null"},
		{`[[]]`, "got array"},
	} {
		it := decodeOne(t, tc.body)
		switch {
		case tc.want == "" && it.Err != nil:
			t.Errorf("%.80s: rejected: %v", tc.body, it.Err)
		case tc.want != "" && it.Err == nil:
			t.Errorf("%.80s: accepted, want %q", tc.body, tc.want)
		case tc.want != "" && !strings.Contains(it.Err.Error(), tc.want):
			t.Errorf("%.80s: error %q, want %q", tc.body, it.Err, tc.want)
		}
	}
}

// What looks like another unit is judged against the decoder's clock, not
// a fixed threshold: the same number is seconds to one clock and plain
// milliseconds to another.
func TestCreatedAtUnitFollowsTheClock(t *testing.T) {
	const secs, micros = 1_764_316_800, 1_764_316_800_000_000 // 2025-11-28 in s and µs
	for _, tc := range []struct {
		now        time.Time
		body, want string
	}{
		{time.Unix(secs, 0), fmt.Sprintf(`{"deadlineMs":5,"createdAt":%d}`, secs), "looks like seconds"},
		{time.Unix(secs, 0), fmt.Sprintf(`{"deadlineMs":5,"createdAt":%d}`, micros), "looks like microseconds"},
		{time.Unix(secs, 0), fmt.Sprintf(`{"deadlineMs":5,"createdAt":%d}`, secs*1000-1000), ""},
		// 20 days into 1970, secs is a plausible number of milliseconds.
		{time.UnixMilli(secs + 1000), fmt.Sprintf(`{"deadlineMs":5,"createdAt":%d}`, secs), ""},
		// In the year 57,900, micros is one.
		{time.UnixMilli(micros + 1000), fmt.Sprintf(`{"deadlineMs":5,"createdAt":%d}`, micros), ""},
		{time.UnixMilli(micros + 1000), fmt.Sprintf(`{"deadlineMs":5,"createdAt":%d}`, micros/1000), "looks like seconds"},
	} {
		cfg := DecodeConfig{Now: func() time.Time { return tc.now }}
		items, err := decodeAll(t, []byte(tc.body), JSON, cfg)
		if err != nil || len(items) != 1 {
			t.Fatalf("%s: %v %v", tc.body, items, err)
		}
		it := items[0]
		switch {
		case tc.want == "" && (it.Err != nil || !it.ClientTime || it.Skew != time.Second):
			t.Errorf("%s at %v: %v, client time %v, skew %v", tc.body, tc.now, it.Err, it.ClientTime, it.Skew)
		case tc.want != "" && !strings.Contains(fmt.Sprint(it.Err), tc.want):
			t.Errorf("%s at %v: %v, want %q", tc.body, tc.now, it.Err, tc.want)
		case tc.want != "" && (it.ClientTime || it.Skew != 0):
			t.Errorf("%s: rejected, yet client time %v, skew %v", tc.body, it.ClientTime, it.Skew)
		}
	}
}

func TestDecodeJSONBodyErrors(t *testing.T) {
	for _, tc := range []struct {
		body  string
		items int // items before the error
		want  string
	}{
		{``, 0, "empty body"},
		{" \n\t ", 0, "empty body"},
		{`{"deadlineMs":5`, 0, "body ends in the middle of the JSON at byte offset 15"},
		{`{"deadlineMs":5,}`, 0, "malformed JSON at byte offset 16"},
		{`{"deadlineMs":NaN}`, 0, "malformed JSON at byte offset 14"},
		{`{"deadlineMs":Infinity}`, 0, "malformed JSON"},
		{`{"deadlineMs":5} {"deadlineMs":5}`, 0, `malformed JSON at byte offset 17: unexpected data after the event (for one event per line, send Content-Type: application/x-ndjson`},
		{`{"deadlineMs":5} x`, 0, "malformed JSON at byte offset 17: unexpected data after the event"},
		{`{"deadlineMs":5} "x`, 0, "malformed JSON at byte offset 17: unexpected data after the event"},
		{`{"deadlineMs":5} 1e700`, 0, "malformed JSON at byte offset 17: unexpected data after the event"},
		{`[]  1e700`, 0, "malformed JSON at byte offset 4: unexpected data after the array"},
		{`  [{"deadlineMs":5}, {"deadlineMs": }]`, 1, "malformed JSON at byte offset 36 (array element 1)"},
		{`[{"deadlineMs":5}, {"deadl`, 1, "body ends in the middle of the JSON at byte offset 26 (array element 1)"},
		{`[{"deadlineMs":5}`, 1, "body ends in the middle of the JSON at byte offset 17 (array element 1)"},
		{`[{"deadlineMs":5},{"deadlineMs":5},{"deadlineMs":5}, {"deadlineMs":5 x`, 3, "malformed JSON at byte offset 69 (array element 3): invalid character 'x' after object value (expecting ',' or '}')"},
		{`[{"deadlineMs":5},{"deadlineMs":5},{"deadlineMs":5}, {"deadlineMs":5} x`, 4, "malformed JSON at byte offset 70 (array element 4): invalid character 'x' after array element (expecting ',' or ']')"},
		{`[{"deadlineMs":5},`, 1, "body ends in the middle of the JSON at byte offset 18 (array element 1)"},
		{`[{"deadlineMs":5}, `, 1, "body ends in the middle of the JSON at byte offset 19 (array element 1)"},
		{`[{"deadlineMs":5} {"deadlineMs":5}]`, 1, "malformed JSON at byte offset 18 (array element 1): invalid character '{' after array element"},
		{`[{"deadlineMs":5}}`, 1, "malformed JSON"},
		{`[{"deadlineMs":5}]  []`, 1, "malformed JSON at byte offset 20: unexpected data after the array"},
		{`[` + strings.Repeat("[", 20000), 0, "exceeded max depth"},
		{"\xef\xbb\xbf{}", 0, "malformed JSON at byte offset 0"},
	} {
		items, err := decodeAll(t, []byte(tc.body), JSON, testDecodeConfig())
		if err == nil || !strings.Contains(err.Error(), tc.want) || len(items) != tc.items {
			t.Errorf("%.60q: %d items, error %v; want %d items, error %q", tc.body, len(items), err, tc.items, tc.want)
		}
		var se *SyntaxError
		if !errors.Is(err, ErrEmptyBody) && !errors.As(err, &se) {
			t.Errorf("%.60q: %T is not a *SyntaxError", tc.body, err)
		}
	}
}

func TestDecodeArray(t *testing.T) {
	items, err := decodeAll(t, []byte(` [ {"deadlineMs":5}, 7, {"deadlineMs":6,"x":1}, {"deadlineMs":7} ] `), JSON, testDecodeConfig())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, fmt.Sprintf("%d:%v", it.Index, it.Err != nil))
	}
	if s := strings.Join(got, " "); s != "0:false 1:true 2:true 3:false" {
		t.Fatalf("items %s", s)
	}
	if items, err := decodeAll(t, []byte(`[]`), JSON, testDecodeConfig()); err != nil || len(items) != 0 {
		t.Fatalf("empty array: %v %v", items, err)
	}
}

func TestDecodeDuplicateIDs(t *testing.T) {
	const id = `"6ba7b810-9dad-11d1-80b4-00c04fd430c8"`
	body := `[{"deadlineMs":0,"id":` + id + `},{"deadlineMs":5,"id":` + id + `},{"deadlineMs":5,"id":` + id + `}]`
	items, err := decodeAll(t, []byte(body), JSON, testDecodeConfig())
	if err != nil {
		t.Fatal(err)
	}
	// The first is invalid for its deadline, so it does not claim the id.
	if items[0].Err == nil || items[1].Err != nil || items[2].Err == nil || !strings.Contains(items[2].Err.Error(), "repeats the id of event 1") {
		t.Fatalf("items %+v", items)
	}
}

func TestDecodeNDJSON(t *testing.T) {
	body := "{\"deadlineMs\":5}\r\n\n   \n{\"deadlineMs\":5,}\n{\"deadlineMs\":0}\n[1]\n\xff\n{\"deadlineMs\":NaN}\n{\"deadlineMs\":6}"
	items, err := decodeAll(t, []byte(body), NDJSON, testDecodeConfig())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		msg := "ok"
		if it.Err != nil {
			msg = it.Err.Error()
		}
		got = append(got, fmt.Sprintf("%d %s", it.Index, msg))
	}
	want := []string{
		"0 ok",
		"3 malformed JSON at byte 16 of the line: invalid character '}' at start of string (expecting '\"')",
		"4 deadlineMs must be between 1 and 60000, got 0",
		"5 an event must be a JSON object, got array",
		"6 malformed JSON at byte 0 of the line: invalid character '\\xff' at start of value",
		"7 malformed JSON at byte 14 of the line: invalid character 'N' at start of value",
		"8 ok",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Offsets count from the line's first byte, blanks included; what
	// follows the event on its line is an error there.
	body = "  {\"deadlineMs\":5,}\n{\"deadlineMs\":5} 7\r\n{\"deadlineMs\":5}\t\r\n"
	items, err = decodeAll(t, []byte(body), NDJSON, testDecodeConfig())
	if err != nil || len(items) != 3 || items[2].Err != nil ||
		!strings.HasPrefix(fmt.Sprint(items[0].Err), "malformed JSON at byte 18 of the line:") ||
		fmt.Sprint(items[1].Err) != "malformed JSON at byte 17 of the line: unexpected data after the event" {
		t.Fatalf("%v: %+v", err, items)
	}

	for _, body := range []string{"", "\n\n", " \r\n"} {
		if _, err := decodeAll(t, []byte(body), NDJSON, testDecodeConfig()); !errors.Is(err, ErrEmptyBody) {
			t.Errorf("%q: %v, want ErrEmptyBody", body, err)
		}
	}
}

func TestDecodeNDJSONLongLine(t *testing.T) {
	cfg := testDecodeConfig()
	cfg.MaxLine = 64
	ok := `{"deadlineMs":5,"payload":"` + strings.Repeat("x", 64-29) + `"}`
	if len(ok) != 64 {
		t.Fatal(len(ok))
	}
	long := `{"deadlineMs":5,"payload":"` + strings.Repeat("y", 1000) + `"}`
	body := ok + "\n" + long + "\n" + ok[:len(ok)-3] + `z"}` + "\n" + long
	// A reader that hands over one byte at a time must not change the
	// outcome: lines are put together across reads.
	for _, r := range []func([]byte) io.Reader{
		func(b []byte) io.Reader { return bytes.NewReader(b) },
		func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
	} {
		d := NewDecoder(r([]byte(body)), NDJSON, cfg)
		var got []string
		for {
			it, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			msg := "ok"
			if it.Err != nil {
				msg = it.Err.Error()
			}
			got = append(got, fmt.Sprintf("%d %s", it.Index, msg))
		}
		want := "0 ok|1 line is longer than 64 bytes|2 ok|3 line is longer than 64 bytes"
		if s := strings.Join(got, "|"); s != want {
			t.Fatalf("got %s, want %s", s, want)
		}
	}
}

func TestDecodeReaderError(t *testing.T) {
	boom := errors.New("boom")
	for _, f := range []Format{JSON, NDJSON} {
		body := io.MultiReader(strings.NewReader("[{\"deadlineMs\":5},\n{\"deadlineMs\":5},\n{\"dead"), iotest.ErrReader(boom))
		if f == NDJSON {
			body = io.MultiReader(strings.NewReader("{\"deadlineMs\":5}\n{\"deadlineMs\":5}\n{\"dead"), iotest.ErrReader(boom))
		}
		d := NewDecoder(body, f, testDecodeConfig())
		n := 0
		var err error
		for err == nil {
			var it Item
			it, err = d.Next()
			if err == nil && it.Err == nil {
				n++
			}
		}
		// A read that fails inside a value is the reader's error, not
		// malformed JSON.
		var se *SyntaxError
		if n != 2 || !errors.Is(err, boom) || errors.As(err, &se) {
			t.Errorf("%v: %d events, error %v; want 2 and boom", f, n, err)
		}
	}
}

func TestDepth(t *testing.T) {
	for v, want := range map[string]int{
		`1`: 0, `"[{"`: 0, `[]`: 1, `{"a":[{}]}`: 3, `["\"[", [[]]]`: 3, `"\\"`: 0, `[["\\\""]]`: 2,
	} {
		if got := depth([]byte(v)); got != want {
			t.Errorf("depth(%s) = %d, want %d", v, got, want)
		}
	}
}
