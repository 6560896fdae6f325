package ingest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

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

// fuzzDecode decodes data whole and one byte per read, checks every item
// against the invariants (decodeAll does, and bounds the calls, so a decoder
// that stops consuming fails instead of hanging), and requires both runs to
// agree: where the reads happen to split the body must not change anything,
// offsets in errors included.
func fuzzDecode(t *testing.T, data []byte, f Format) {
	cfg := fuzzConfig()
	items, err := decodeAll(t, data, f, cfg)

	d := NewDecoder(iotest.OneByteReader(bytes.NewReader(data)), f, cfg)
	for i := 0; ; i++ {
		it, err2 := d.Next()
		if err2 != nil {
			if i != len(items) {
				t.Fatalf("one byte at a time: %d items, whole: %d", i, len(items))
			}
			if err2 == io.EOF {
				err2 = nil
			}
			if fmt.Sprint(err) != fmt.Sprint(err2) {
				t.Fatalf("one byte at a time: error %v, whole: %v", err2, err)
			}
			break
		}
		if i >= len(items) {
			t.Fatalf("one byte at a time: more than %d items", len(items))
		}
		if a, b := summary(it), summary(items[i]); a != b {
			t.Fatalf("item %d one byte at a time:\n%s\nwhole:\n%s", i, a, b)
		}
	}

	if f == JSON {
		checkSyntaxError(t, data, err)
	}
	if f == NDJSON {
		n := bytes.Count(data, []byte("\n"))
		for _, it := range items {
			if it.Index > n {
				t.Fatalf("index %d with %d newlines", it.Index, n)
			}
		}
	}
}

// checkSyntaxError holds the decoder's verdict on a JSON body against
// encoding/json's on the whole body at once: the body is malformed exactly
// when json.Valid says so, and the error is placed at the byte where
// Unmarshal finds its first error. Streaming must not move it.
func checkSyntaxError(t *testing.T, data []byte, err error) {
	var se *SyntaxError
	bad := errors.As(err, &se) || errors.Is(err, ErrEmptyBody)
	if err != nil && !bad {
		t.Fatalf("unexpected error %T %v", err, err)
	}
	if json.Valid(data) == bad {
		t.Fatalf("json.Valid %v, decoder error %v", json.Valid(data), err)
	}
	if se == nil || strings.Contains(se.Msg, "exceeded max depth") {
		// Depth is counted from the element in a streamed array, one
		// level less than in the whole body.
		return
	}
	var want *json.SyntaxError
	if !errors.As(json.Unmarshal(data, new(json.RawMessage)), &want) {
		t.Fatalf("Unmarshal finds no syntax error; decoder: %v", err)
	}
	at := want.Offset - 1 // Offset counts the offending byte
	n := int64(len(data))
	switch {
	case strings.HasPrefix(want.Error(), "unexpected end"):
		at = want.Offset
	case strings.HasPrefix(want.Error(), "invalid character ' '") && want.Offset == n && data[n-1] != ' ':
		// The space Unmarshal feeds its scanner at the end of the input:
		// the body ended inside a literal.
		at = n
	}
	if se.Offset != at || se.Truncated != (at == n) {
		t.Fatalf("error %v; Unmarshal: %v at %d, so byte %d", se, want, want.Offset, at)
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
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, data, JSON) })
}

func FuzzDecodeNDJSON(f *testing.F) {
	f.Add([]byte("{\"deadlineMs\":5}\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzDecode(t, data, NDJSON) })
}
