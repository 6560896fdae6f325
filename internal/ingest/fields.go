package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/jsonkind"
)

// item validates one event as sent: raw is an array element or an NDJSON
// line, which unit names in error messages.
func (d *Decoder) item(index int, raw []byte, unit string) Item {
	it := Item{Index: index}
	now := d.cfg.Now()
	f, err := d.fields(raw)
	if err != nil {
		it.Err = rejection(err, unit)
		return it
	}
	ev := event.Event{Source: Source, Deadline: f.deadline, Work: f.work}
	if f.hasID {
		if prev, dup := d.ids[f.id]; dup {
			it.Err = fmt.Errorf("id %s repeats the id of event %d in this request", f.id, prev)
			return it
		}
		ev.ID = f.id
	} else {
		ev.ID = d.cfg.newID()
	}
	if f.hasCreatedAt {
		if unit := wrongUnit(f.createdAt, now); unit != "" {
			it.Err = fmt.Errorf("createdAt %d looks like %s; send Unix milliseconds", f.createdAt, unit)
			return it
		}
		ev.CreatedAt = time.UnixMilli(f.createdAt)
		// Not -Skew: Sub saturates, and the negation of the most negative
		// Duration is itself, which would let a createdAt centuries ahead
		// through.
		if ahead := ev.CreatedAt.Sub(now); ahead > d.cfg.MaxFuture {
			how := ahead.Round(time.Millisecond).String()
			if ahead == math.MaxInt64 {
				how = "centuries"
			}
			it.Err = fmt.Errorf("createdAt is %s in the future (at most %s allowed): check the client's clock", how, d.cfg.MaxFuture)
			return it
		}
		it.ClientTime, it.Skew = true, now.Sub(ev.CreatedAt)
	} else {
		ev.CreatedAt = now
	}
	if f.hasID {
		d.ids[f.id] = index
	}
	it.Event, it.Payload = ev, f.payload
	return it
}

// wrongUnit names the unit a createdAt of ms milliseconds seems to be in
// instead: seconds, microseconds or nanoseconds when, read in that unit, it
// lies between half and twice now's time since the epoch. Read as
// milliseconds it is then decades off, in January 1970 or millennia ahead,
// which no clock sends. "" when it looks like no other unit.
func wrongUnit(ms int64, now time.Time) string {
	nowMs := float64(now.UnixMilli())
	if nowMs <= 0 {
		return ""
	}
	for _, u := range [...]struct {
		name string
		toMs float64
	}{{"seconds", 1e3}, {"microseconds", 1e-3}, {"nanoseconds", 1e-6}} {
		if v := float64(ms) * u.toMs; v >= nowMs/2 && v <= nowMs*2 {
			return u.name
		}
	}
	return ""
}

// rejection words an error from fields for the client. Syntax errors carry
// the offset in raw, which is where the client has to look.
func rejection(err error, unit string) error {
	var se *jsontext.SyntacticError
	switch {
	case !errors.As(err, &se):
		return err
	case se.Err == jsontext.ErrDuplicateName:
		name, in := se.JSONPointer.LastToken(), se.JSONPointer.Parent()
		if in == "" {
			return fmt.Errorf("duplicate field %s", quoteShort(name))
		}
		return fmt.Errorf("duplicate name %s in %s", quoteShort(name), quoteShort(string(in)))
	case errors.Is(se.Err, io.ErrUnexpectedEOF):
		return fmt.Errorf("malformed JSON at byte %d of the %s: unexpected end of input", se.ByteOffset, unit)
	}
	return fmt.Errorf("malformed JSON at byte %d of the %s: %v", se.ByteOffset, unit, se.Err)
}

type fields struct {
	id           uuid.UUID
	hasID        bool
	createdAt    int64
	hasCreatedAt bool
	deadline     time.Duration
	hasDeadline  bool
	work         time.Duration
	payload      []byte
}

// The fields an event may carry. Names are matched exactly: encoding/json
// would also take "DEADLINEMS", which no documented client sends.
const (
	fieldID         = "id"
	fieldCreatedAt  = "createdAt"
	fieldDeadlineMs = "deadlineMs"
	fieldWorkMs     = "workMs"
	fieldPayload    = "payload"
)

const knownFields = fieldID + ", " + fieldCreatedAt + ", " + fieldDeadlineMs + ", " + fieldWorkMs + ", " + fieldPayload

// fields reads raw as one event object. Its error is a
// *jsontext.SyntacticError when raw is not one valid JSON value (invalid
// UTF-8 and duplicate names included, at any depth), whatever else is
// wrong with it: the client has to fix that first.
func (d *Decoder) fields(raw []byte) (fields, error) {
	dec := d.event
	dec.Reset(bytes.NewBuffer(raw))
	v, err := dec.ReadValue()
	if err == nil {
		err = afterValue(dec, "the event")
	}
	if err != nil {
		return fields{}, err
	}
	if k := v.Kind(); k != '{' {
		return fields{}, fmt.Errorf("an event must be a JSON object, got %s", jsonkind.OfByte(byte(k)))
	}
	// v is valid, so walking it meets no syntax error; its names are
	// already known to be unique.
	dec.Reset(bytes.NewBuffer(v), jsontext.AllowDuplicateNames(true))
	return d.walk(dec)
}

// walk reads the members of a valid JSON object from dec.
func (d *Decoder) walk(dec *jsontext.Decoder) (fields, error) {
	var f fields
	if _, err := dec.ReadToken(); err != nil {
		return f, err
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return f, err
		}
		name := tok.String()
		switch name {
		case fieldID, fieldCreatedAt, fieldDeadlineMs, fieldWorkMs, fieldPayload:
		default:
			return f, fmt.Errorf("unknown field %s (known: %s)", quoteShort(name), knownFields)
		}
		v, err := dec.ReadValue()
		if err != nil {
			return f, err
		}
		// null stands for "not set" in the optional fields: many
		// serializers write absent values that way.
		if v.Kind() == 'n' && name != fieldDeadlineMs {
			continue
		}
		switch name {
		case fieldID:
			f.id, err = parseID(v)
			f.hasID = err == nil
		case fieldCreatedAt:
			f.createdAt, err = parseCreatedAt(v)
			f.hasCreatedAt = err == nil
		case fieldDeadlineMs:
			f.deadline, err = parseMs(name, v, MinDeadlineMs, MaxDeadlineMs)
			f.hasDeadline = err == nil
		case fieldWorkMs:
			f.work, err = parseMs(name, v, 0, MaxWorkMs)
		case fieldPayload:
			f.payload, err = d.parsePayload(v)
		}
		if err != nil {
			return f, err
		}
	}
	if !f.hasDeadline {
		return f, errors.New("deadlineMs is required")
	}
	return f, nil
}

// quoteShort quotes a client-supplied string for an error message, cut so
// that a hostile client cannot make the response much larger than its own
// mistake is worth.
func quoteShort(s string) string {
	if c := clip(s); c != s {
		return strconv.Quote(c[:len(c)-3]) + "..."
	}
	return strconv.Quote(s)
}

// clip cuts s to a length fit for an error message, marking the cut.
func clip(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func parseID(v jsontext.Value) (uuid.UUID, error) {
	if k := v.Kind(); k != '"' {
		return uuid.Nil, fmt.Errorf("id must be a string, got %s", jsonkind.OfByte(byte(k)))
	}
	b, err := jsontext.AppendUnquote(nil, v)
	if err != nil {
		return uuid.Nil, fmt.Errorf("id: %v", err)
	}
	s := string(b)
	// Only the canonical form: uuid.Parse also takes braces, a urn: prefix
	// and bare hex, and an id that is printed back differently from how it
	// was sent cannot be matched by the client.
	id, err := uuid.Parse(s)
	if len(s) != 36 || err != nil {
		return uuid.Nil, fmt.Errorf("id %s is not a valid UUID (want the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", quoteShort(s))
	}
	if id == uuid.Nil {
		return uuid.Nil, errors.New("id must not be the nil UUID")
	}
	return id, nil
}

func parseCreatedAt(v jsontext.Value) (int64, error) {
	if k := v.Kind(); k != '0' {
		return 0, fmt.Errorf("createdAt must be a number (Unix milliseconds), got %s", jsonkind.OfByte(byte(k)))
	}
	if bytes.ContainsAny(v, ".eE") {
		return 0, fmt.Errorf("createdAt must be an integer number of Unix milliseconds, got %s", clip(string(v)))
	}
	ms, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("createdAt %s is out of range", clip(string(v)))
	}
	if ms < 0 {
		return 0, fmt.Errorf("createdAt must not be negative, got %d", ms)
	}
	return ms, nil
}

// parseMs parses a number of milliseconds, possibly fractional, within
// [lo, hi], as a Duration rounded to the nanosecond.
func parseMs(name string, v jsontext.Value, lo, hi float64) (time.Duration, error) {
	if k := v.Kind(); k != '0' {
		return 0, fmt.Errorf("%s must be a number of milliseconds, got %s", name, jsonkind.OfByte(byte(k)))
	}
	ms, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsNaN(ms) || math.IsInf(ms, 0) {
		return 0, fmt.Errorf("%s %s is out of range (%g to %g)", name, clip(string(v)), lo, hi)
	}
	if ms < lo || ms > hi {
		return 0, fmt.Errorf("%s must be between %g and %g, got %s", name, lo, hi, clip(string(v)))
	}
	return time.Duration(math.Round(ms * float64(time.Millisecond))), nil
}

// parsePayload checks a payload and copies it out of the decoder's buffer.
func (d *Decoder) parsePayload(v jsontext.Value) ([]byte, error) {
	if len(v) > d.cfg.MaxPayload {
		return nil, fmt.Errorf("payload is %d bytes, more than the %d allowed", len(v), d.cfg.MaxPayload)
	}
	if depth(v) > d.cfg.MaxDepth {
		return nil, fmt.Errorf("payload nests arrays and objects deeper than %d levels", d.cfg.MaxDepth)
	}
	return bytes.Clone(v), nil
}

// depth returns how deeply a valid JSON value nests arrays and objects; a
// scalar has depth 0. Whatever consumes the payload later need not guard
// against stack-deep recursion.
func depth(v []byte) int {
	deepest, cur := 0, 0
	inString, escaped := false, false
	for _, c := range v {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			cur++
			deepest = max(deepest, cur)
		case c == ']' || c == '}':
			cur--
		}
	}
	return deepest
}
