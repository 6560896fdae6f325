package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/event"
)

// The event wire format, version 3. It is binary rather than JSON because it
// is on the path of every event: encoding is a few appends, decoding a few
// varint reads, with no reflection and one allocation for the payload.
//
//	byte     version (3)
//	16 bytes ID
//	varint   CreatedAt, unix nanoseconds (0 for the zero time)
//	varint   Deadline, nanoseconds (>= 0)
//	varint   Work, nanoseconds (>= 0)
//	uvarint  len(Source), then Source
//	uvarint  len(Payload), then Payload
//	uvarint  len(Origin), then Origin (the publishing node's id)
//	varint   the origin's bus incarnation
//	varint   the destination's bus incarnation
//	uvarint  the event's number on the route from origin to destination
//
// Nothing may follow. Version 2 is the same without the last three fields
// (the route), version 1 also without Origin; both are still decoded. A
// generated event with a short source and node id encodes in about 60
// bytes.
//
// A route marker (see EventBus) is the byte markerVersion, then the origin,
// the two incarnations and the number of events sent on the route so far,
// encoded as above.
const (
	wireVersion   = 3
	markerVersion = 0xfe
)

// route says where an event travels: from the bus incarnation OriginInc of
// node Origin to the bus incarnation DestInc of its destination, as the
// Seq-th event on that route (from 1). A marker carries the number of
// events sent on the route so far.
type route struct {
	Origin             string
	OriginInc, DestInc int64
	Seq                uint64
}

// appendRoute appends the route fields that follow an event's origin.
func appendRoute(dst []byte, r route) []byte {
	dst = binary.AppendVarint(dst, r.OriginInc)
	dst = binary.AppendVarint(dst, r.DestInc)
	return binary.AppendUvarint(dst, r.Seq)
}

// appendRouted appends ev, sent on r, in wire version 3.
func appendRouted(dst []byte, ev event.Event, r route) []byte {
	ev.Origin = r.Origin
	return appendRoute(appendEvent(dst, ev, wireVersion), r)
}

// appendMarker appends a route marker.
func appendMarker(dst []byte, r route) []byte {
	dst = append(dst, markerVersion)
	dst = binary.AppendUvarint(dst, uint64(len(r.Origin)))
	dst = append(dst, r.Origin...)
	return appendRoute(dst, r)
}

// decodeMarker decodes a route marker.
func decodeMarker(data []byte) (route, error) {
	d := decoder{b: data}
	if v := d.byte(); v != markerVersion {
		return route{}, fmt.Errorf("%w: marker version %d", ErrMalformed, v)
	}
	r := route{Origin: string(d.bytes(d.length(maxWireOrigin, "origin")))}
	r.OriginInc, r.DestInc = d.varint(), d.varint()
	r.Seq = d.uvarint()
	if d.err == nil && len(d.b) != 0 {
		return route{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.b))
	}
	return r, d.err
}

// Decoding bounds. They are looser than ingest's validation (which is where
// events are judged) and only stop a corrupt or hostile message from making
// the decoder allocate much.
const (
	maxWireSource  = 1 << 10
	maxWirePayload = 64 << 10
	maxWireOrigin  = 1 << 10
)

// ErrMalformed is wrapped by every DecodeEvent error.
var ErrMalformed = errors.New("cluster: malformed event")

// AppendEvent appends ev's wire encoding, in version 2 (without a route), to
// dst and returns the extended slice; version 3 is appendRouted.
func AppendEvent(dst []byte, ev event.Event) []byte { return appendEvent(dst, ev, 2) }

func appendEvent(dst []byte, ev event.Event, version byte) []byte {
	dst = append(dst, version)
	dst = append(dst, ev.ID[:]...)
	var created int64
	if !ev.CreatedAt.IsZero() {
		created = ev.CreatedAt.UnixNano()
	}
	dst = binary.AppendVarint(dst, created)
	dst = binary.AppendVarint(dst, int64(ev.Deadline))
	dst = binary.AppendVarint(dst, int64(ev.Work))
	dst = binary.AppendUvarint(dst, uint64(len(ev.Source)))
	dst = append(dst, ev.Source...)
	dst = binary.AppendUvarint(dst, uint64(len(ev.Payload)))
	dst = append(dst, ev.Payload...)
	dst = binary.AppendUvarint(dst, uint64(len(ev.Origin)))
	dst = append(dst, ev.Origin...)
	return dst
}

// DecodeEvent decodes one event encoded by AppendEvent (or with a route,
// which it skips). The event owns its memory: data may be reused afterwards.
func DecodeEvent(data []byte) (event.Event, error) {
	ev, _, err := decodeRouted(data)
	return ev, err
}

// decodeRouted decodes an event and its route (the zero route for versions 1
// and 2).
func decodeRouted(data []byte) (event.Event, route, error) {
	var ev event.Event
	var r route
	d := decoder{b: data}
	v := d.byte()
	if v < 1 || v > wireVersion {
		if d.err != nil {
			return ev, r, d.err
		}
		return ev, r, fmt.Errorf("%w: version %d", ErrMalformed, v)
	}
	copy(ev.ID[:], d.bytes(len(uuid.UUID{})))
	created := d.varint()
	deadline := d.varint()
	work := d.varint()
	source := d.bytes(d.length(maxWireSource, "source"))
	payload := d.bytes(d.length(maxWirePayload, "payload"))
	var origin []byte
	if v >= 2 {
		origin = d.bytes(d.length(maxWireOrigin, "origin"))
	}
	if v >= 3 {
		r.Origin = string(origin)
		r.OriginInc, r.DestInc = d.varint(), d.varint()
		r.Seq = d.uvarint()
	}
	if d.err != nil {
		return event.Event{}, route{}, d.err
	}
	if len(d.b) != 0 {
		return event.Event{}, route{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.b))
	}
	if deadline < 0 || work < 0 || (v >= 3 && r.Seq == 0) {
		return event.Event{}, route{}, fmt.Errorf("%w: negative duration or zero route number", ErrMalformed)
	}
	if created != 0 {
		ev.CreatedAt = time.Unix(0, created)
	}
	ev.Deadline = time.Duration(deadline)
	ev.Work = time.Duration(work)
	ev.Source = string(source)
	ev.Origin = string(origin)
	if len(payload) > 0 {
		ev.Payload = append([]byte(nil), payload...)
	}
	return ev, r, nil
}

// decoder reads fields off a buffer, remembering the first error so that
// DecodeEvent checks once.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrMalformed, what)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("length")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes(n int) []byte {
	if n < 0 || len(d.b) < n {
		d.fail("length")
		return nil
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// length reads a length prefix no larger than limit.
func (d *decoder) length(limit int, what string) int {
	v, n := binary.Uvarint(d.b)
	if n <= 0 || v > uint64(limit) {
		d.fail(what + " length")
		return -1
	}
	d.b = d.b[n:]
	return int(v)
}
