package cluster

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/event"
)

func sampleEvents() []event.Event {
	return []event.Event{
		{},
		{ID: uuid.New(), Source: "gen", CreatedAt: time.Unix(1767225600, 123456789), Deadline: 100 * time.Millisecond, Work: 50 * time.Millisecond},
		{ID: uuid.New(), Source: "ingest", CreatedAt: time.Now(), Deadline: time.Second, Payload: []byte(`{"a":[1,2,3],"b":"é"}`), Origin: "node-a:8081"},
		{ID: uuid.New(), Source: strings.Repeat("s", maxWireSource), CreatedAt: time.Unix(-5, 0), Deadline: 1, Work: 0, Payload: bytes.Repeat([]byte("x"), maxWirePayload)},
	}
}

func sameEvent(a, b event.Event) bool {
	return a.ID == b.ID && a.Source == b.Source && a.CreatedAt.Equal(b.CreatedAt) && a.CreatedAt.IsZero() == b.CreatedAt.IsZero() &&
		a.Deadline == b.Deadline && a.Work == b.Work && bytes.Equal(a.Payload, b.Payload) && a.Origin == b.Origin
}

func TestEventRoundTrip(t *testing.T) {
	for i, ev := range sampleEvents() {
		data := AppendEvent(nil, ev)
		got, err := DecodeEvent(data)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if !sameEvent(ev, got) {
			t.Fatalf("event %d: got %+v, want %+v", i, got, ev)
		}
		// The decoded event must not alias the message.
		for j := range data {
			data[j] = 0xff
		}
		if !sameEvent(ev, got) {
			t.Fatalf("event %d aliases its encoding", i)
		}
	}
	gen := sampleEvents()[1]
	if n := len(AppendEvent(nil, gen)); n > 40 {
		t.Errorf("a generated event encodes in %d bytes, want <= 40", n)
	}
}

// A version 1 message (no origin) from a node not yet upgraded still
// decodes, with no origin.
func TestDecodeEventVersion1(t *testing.T) {
	ev := sampleEvents()[2]
	v2 := AppendEvent(nil, ev)
	// Version 1 is version 2 without the origin's length and bytes.
	v1 := append([]byte{1}, v2[1:len(v2)-1-len(ev.Origin)]...)
	got, err := DecodeEvent(v1)
	if err != nil {
		t.Fatal(err)
	}
	ev.Origin = ""
	if !sameEvent(ev, got) {
		t.Fatalf("got %+v, want %+v", got, ev)
	}
}

func TestDecodeEventRejects(t *testing.T) {
	good := AppendEvent(nil, sampleEvents()[2])
	cases := map[string][]byte{
		"empty":     nil,
		"version":   append([]byte{3}, good[1:]...),
		"truncated": good[:len(good)-1],
		"trailing":  append(append([]byte{}, good...), 0),
		"short id":  good[:10],
	}
	// A source longer than the bound.
	long := event.Event{Source: strings.Repeat("s", maxWireSource+1)}
	cases["long source"] = AppendEvent(nil, long)
	neg := event.Event{Deadline: -time.Second}
	cases["negative deadline"] = AppendEvent(nil, neg)
	for name, data := range cases {
		if _, err := DecodeEvent(data); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

// FuzzDecodeEvent: decoding never panics, and whatever decodes re-encodes to
// an encoding that decodes to the same event.
func FuzzDecodeEvent(f *testing.F) {
	for _, ev := range sampleEvents()[:3] {
		f.Add(AppendEvent(nil, ev))
	}
	f.Add([]byte{1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := DecodeEvent(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := DecodeEvent(AppendEvent(nil, ev))
		if err != nil {
			t.Fatalf("re-encoding fails to decode: %v", err)
		}
		if !sameEvent(ev, again) {
			t.Fatalf("round trip changed the event: %+v -> %+v", ev, again)
		}
	})
}

// A routed event (version 3) carries its route; a marker decodes to the
// route it marks; neither decodes as the other, and a zero route number or
// trailing bytes are refused.
func TestRoutedEventAndMarker(t *testing.T) {
	r := route{Origin: "node-a:8081", OriginInc: 1796660000123456, DestInc: 1796660000654321, Seq: 300}
	for i, ev := range sampleEvents() {
		ev.Origin = r.Origin
		got, gr, err := decodeRouted(appendRouted(nil, ev, r))
		if err != nil || !sameEvent(ev, got) || gr != r {
			t.Fatalf("event %d: %+v %+v %v", i, got, gr, err)
		}
	}
	if _, gr, err := decodeRouted(AppendEvent(nil, sampleEvents()[1])); err != nil || gr != (route{}) {
		t.Fatalf("version 2 event: route %+v, %v", gr, err)
	}
	m := appendMarker(nil, r)
	if got, err := decodeMarker(m); err != nil || got != r {
		t.Fatalf("marker: %+v %v", got, err)
	}
	if _, err := DecodeEvent(m); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a marker decoded as an event: %v", err)
	}
	if _, err := decodeMarker(appendRouted(nil, sampleEvents()[1], r)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("an event decoded as a marker: %v", err)
	}
	if _, err := decodeMarker(append(m, 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("marker with a trailing byte: %v", err)
	}
	zero := r
	zero.Seq = 0
	if _, _, err := decodeRouted(appendRouted(nil, sampleEvents()[1], zero)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("route number 0 accepted: %v", err)
	}
}
