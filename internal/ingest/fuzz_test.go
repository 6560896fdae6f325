package ingest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/uuid"
)

// fuzzConfig has small limits so that short inputs reach them.
func fuzzConfig() DecodeConfig {
	return DecodeConfig{
		MaxFuture:  5 * time.Second,
		MaxPayload: 64,
		MaxDepth:   3,
		MaxLine:    128,
		Now:        func() time.Time { return testNow },
		newID:      seqID(),
	}.withDefaults()
}

// seqID returns ids that are a fixed random pattern with a counter in it:
// deterministic, yet as unlikely as uuid.New's to equal an id the fuzzer
// writes.
func seqID() func() uuid.UUID {
	base := uuid.MustParse("9f1c6e2a-57d4-4b8e-a3f0-6c2d81e4b7a5")
	var n uint64
	return func() uuid.UUID {
		n++
		id := base
		binary.BigEndian.PutUint64(id[8:], binary.BigEndian.Uint64(base[8:])^n)
		return id
	}
}

// fuzzDecode holds the decoder to its contract on any body: it ends
// without panicking, every event it accepts is valid and every error points
// into the input (decodeAll and the checks below), the way the body is
// split into reads changes nothing, and a JSON array decodes as the same
// events sent as NDJSON.
func fuzzDecode(t *testing.T, data []byte, f Format) {
	cfg := fuzzConfig()
	items, err := decodeAll(t, data, f, cfg)
	checkBodyError(t, data, f, err)
	checkRejections(t, data, f, items)
	checkOneByteReads(t, data, f, items, err)
	if f == JSON && err == nil {
		checkAsNDJSON(t, data, items)
	}
}

// checkBodyError checks the error that ended the body, if any.
func checkBodyError(t *testing.T, data []byte, f Format, err error) {
	t.Helper()
	blank := len(bytes.Trim(data, " \t\r\n")) == 0
	var se *SyntaxError
	switch {
	case err == nil:
		if blank {
			t.Fatal("a blank body decoded without error")
		}
		if f == JSON && !json.Valid(data) {
			// Only the verdict is compared: the framing accepts exactly
			// the JSON texts there are, invalid UTF-8 and duplicate names
			// (which reject one event) included.
			t.Fatal("decoded a body that is not JSON")
		}
	case errors.Is(err, ErrEmptyBody):
		if !blank {
			t.Fatalf("ErrEmptyBody for %d non-blank bytes", len(data))
		}
	case f == JSON && errors.As(err, &se):
		n := int64(len(data))
		switch {
		case se.Offset < 0 || se.Offset > n:
			t.Fatalf("%v: offset outside the %d bytes of the body", se, n)
		case se.Truncated != (se.Offset == n):
			t.Fatalf("%v: truncated is %v at offset %d of %d", se, se.Truncated, se.Offset, n)
		case se.Msg == "":
			t.Fatalf("%v: no message", se)
		}
	default:
		t.Fatalf("unexpected error %T %v", err, err)
	}
}

var atByte = regexp.MustCompile(`at byte (\d+) of the (event|line)`)

// checkRejections checks that the offset a rejection gives lies inside
// the event or line it names.
func checkRejections(t *testing.T, data []byte, f Format, items []Item) {
	t.Helper()
	lines := bytes.Split(data, []byte("\n"))
	for _, it := range items {
		if it.Err == nil {
			continue
		}
		m := atByte.FindStringSubmatch(it.Err.Error())
		if m == nil {
			continue
		}
		at, _ := strconv.Atoi(m[1])
		limit := len(data)
		if f == NDJSON {
			if m[2] != "line" || it.Index >= len(lines) {
				t.Fatalf("item %d: %v", it.Index, it.Err)
			}
			limit = len(bytes.TrimRight(lines[it.Index], "\r"))
		}
		if at > limit {
			t.Fatalf("item %d: %v: beyond its %d bytes", it.Index, it.Err, limit)
		}
	}
}

// checkOneByteReads decodes data again one byte per read: where the reads
// happen to split the body must not change anything, offsets in errors
// included.
func checkOneByteReads(t *testing.T, data []byte, f Format, items []Item, err error) {
	t.Helper()
	d := NewDecoder(iotest.OneByteReader(bytes.NewReader(data)), f, fuzzConfig())
	for i := 0; ; i++ {
		it, err2 := d.Next()
		if err2 != nil {
			if i != len(items) {
				t.Fatalf("one byte at a time: %d items, whole: %d", i, len(items))
			}
			if err2 == io.EOF {
				err2 = nil
			}
			if maskChar(err) != maskChar(err2) {
				t.Fatalf("one byte at a time: error %v, whole: %v", err2, err)
			}
			return
		}
		if i >= len(items) {
			t.Fatalf("one byte at a time: more than %d items", len(items))
		}
		if a, b := summary(it), summary(items[i]); a != b {
			t.Fatalf("item %d one byte at a time:\n%s\nwhole:\n%s", i, a, b)
		}
	}
}

var (
	quotedChar   = regexp.MustCompile(`invalid character '(?:[^'\\]|\\.)*'`)
	quotedEscape = regexp.MustCompile("invalid escape sequence (?:`[^`]*`|\"(?:[^\"\\\\]|\\\\.)*\")")
)

// maskChar is the text of err without the text a syntax error quotes:
// jsontext quotes it from the bytes it has buffered, so a multi-byte
// character, or an escape sequence, that a read splits shows only in part.
// Where the error is does not move.
func maskChar(err error) string {
	s := quotedChar.ReplaceAllString(fmt.Sprint(err), "invalid character ?")
	return quotedEscape.ReplaceAllString(s, "invalid escape sequence ?")
}

// checkAsNDJSON sends the events of a well-formed JSON body again as
// NDJSON, one element per line, and expects the same items: the format
// frames events and must not change what becomes of them.
func checkAsNDJSON(t *testing.T, data []byte, items []Item) {
	t.Helper()
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))
	var elems [][]byte
	if dec.PeekKind() == '[' {
		if _, err := dec.ReadToken(); err != nil {
			t.Fatal(err)
		}
		for dec.PeekKind() != ']' {
			v, err := dec.ReadValue()
			if err != nil {
				t.Fatal(err)
			}
			elems = append(elems, v.Clone())
		}
	} else {
		v, err := dec.ReadValue()
		if err != nil {
			t.Fatal(err)
		}
		elems = append(elems, v.Clone())
	}
	// A well-formed value has line breaks only between tokens, where a
	// space is the same whitespace and keeps every offset.
	var body []byte
	for _, e := range elems {
		e = bytes.ReplaceAll(bytes.ReplaceAll(e, []byte("\n"), []byte(" ")), []byte("\r"), []byte(" "))
		body = append(append(body, e...), '\n')
	}
	cfg := fuzzConfig()
	cfg.MaxLine = len(body)
	got, err := decodeAll(t, body, NDJSON, cfg)
	if len(elems) == 0 {
		if !errors.Is(err, ErrEmptyBody) {
			t.Fatalf("no elements as NDJSON: %v", err)
		}
		return
	}
	if err != nil || len(got) != len(items) {
		t.Fatalf("as NDJSON: %d items, error %v; as JSON: %d items", len(got), err, len(items))
	}
	for i := range items {
		a := strings.Replace(summary(got[i]), "of the line", "of the event", 1)
		if b := summary(items[i]); a != b {
			t.Fatalf("item %d as NDJSON:\n%s\nas JSON:\n%s", i, a, b)
		}
	}
}

// summary is an item without its id, which differs between runs when the
// event has none.
func summary(it Item) string {
	ev := it.Event
	return fmt.Sprintf("%d %v %v %v %v %v %q %v %v", it.Index, it.Err, ev.Source, ev.CreatedAt.UnixNano(), ev.Deadline, ev.Work, it.Payload, it.ClientTime, it.Skew)
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"deadlineMs":5}`))
	f.Add([]byte(`[{"deadlineMs":5,"payload":{"a":1,"a":2}},{"deadlineMs":5,"deadlineMs":5}]`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, data, JSON) })
}

func FuzzDecodeNDJSON(f *testing.F) {
	f.Add([]byte("{\"deadlineMs\":5}\n"))
	f.Add([]byte("  {\"deadlineMs\":5,}\n{\"deadlineMs\":5} 7\r\n{\"deadlineMs\":5,\"payload\":{\"a\":1,\"a\":2}}"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, data, NDJSON) })
}
