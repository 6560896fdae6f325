package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/event"
)

// The event wire format, version 2. It is binary rather than JSON because it
// is on the path of every event: encoding is a few appends, decoding a few
// varint reads, with no reflection and one allocation for the payload.
//
//	byte     version (1)
//	16 bytes ID
//	varint   CreatedAt, unix nanoseconds (0 for the zero time)
//	varint   Deadline, nanoseconds (>= 0)
//	varint   Work, nanoseconds (>= 0)
//	uvarint  len(Source), then Source
//	uvarint  len(Payload), then Payload
//	uvarint  len(Origin), then Origin (the publishing node's id)
//
// Nothing may follow. Version 1 is the same without Origin, and is still
// decoded. A generated event with a short source and node id encodes in
// about 40 bytes.
const wireVersion = 2

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

// AppendEvent appends ev's wire encoding to dst and returns the extended
// slice.
func AppendEvent(dst []byte, ev event.Event) []byte {
	dst = append(dst, wireVersion)
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

// DecodeEvent decodes one event encoded by AppendEvent. The event owns its
// memory: data may be reused afterwards.
func DecodeEvent(data []byte) (event.Event, error) {
	var ev event.Event
	d := decoder{b: data}
	v := d.byte()
	if v != 1 && v != wireVersion {
		if d.err != nil {
			return ev, d.err
		}
		return ev, fmt.Errorf("%w: version %d", ErrMalformed, v)
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
	if d.err != nil {
		return event.Event{}, d.err
	}
	if len(d.b) != 0 {
		return event.Event{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.b))
	}
	if deadline < 0 || work < 0 {
		return event.Event{}, fmt.Errorf("%w: negative duration", ErrMalformed)
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
	return ev, nil
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
