package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	json "github.com/go-json-experiment/json/v1"
	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/event"
)

// Source is the Source of every event that arrives through ingest, so its
// results can be told apart from generated ones.
const Source = "ingest"

// Limits on a single event's fields. They are part of the API, not tuning:
// a client must be able to rely on them.
const (
	// MinDeadlineMs and MaxDeadlineMs bound deadlineMs. A deadline below a
	// millisecond could not be met by any request that crossed a network
	// to get here.
	MinDeadlineMs = 1
	MaxDeadlineMs = 60000
	// MaxWorkMs is the largest workMs accepted.
	MaxWorkMs = 60000
)

// Format is how a request body frames its events.
type Format int

const (
	// JSON is application/json: one event object, or an array of them that
	// is decoded element by element.
	JSON Format = iota
	// NDJSON is application/x-ndjson: one event per line, each line
	// independent of the others.
	NDJSON
)

// String returns the format's name, for logs.
func (f Format) String() string {
	if f == NDJSON {
		return "ndjson"
	}
	return "json"
}

// DecodeConfig bounds what a Decoder accepts. Zero fields take the defaults
// stated on each.
type DecodeConfig struct {
	// MaxFuture is how far ahead of Now an event's createdAt may be before
	// it is rejected: beyond it the client's clock is wrong, and trusting it
	// would let the event hold a queue slot far longer than its deadline
	// says. Default 5s.
	MaxFuture time.Duration
	// MaxPayload is the largest payload accepted, in raw bytes as sent.
	// Default 4 KiB.
	MaxPayload int
	// MaxDepth is how deeply a payload may nest arrays and objects. Default
	// 32.
	MaxDepth int
	// MaxLine is the longest NDJSON line read, not counting its '\n'; a
	// longer line is skipped and
	// rejected without being held in memory. Default MaxPayload+16 KiB,
	// room for a full payload, the other fields and generous whitespace.
	MaxLine int
	// Now stamps events that carry no createdAt and is the clock createdAt
	// is checked against. Default time.Now.
	Now func() time.Time

	// newID makes the id of events that carry none. Default uuid.New.
	// Fuzzing sets a deterministic one: random ids make coverage vary from
	// run to run of the same input, and the fuzzer then spends its time
	// minimizing noise.
	newID func() uuid.UUID
}

func (c DecodeConfig) withDefaults() DecodeConfig {
	if c.MaxFuture <= 0 {
		c.MaxFuture = 5 * time.Second
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = 4 << 10
	}
	if c.MaxDepth <= 0 {
		c.MaxDepth = 32
	}
	if c.MaxLine <= 0 {
		c.MaxLine = c.MaxPayload + 16<<10
	}
	// bufio needs a buffer of at least 16 bytes; a line limit below that
	// would be meaningless anyway.
	c.MaxLine = max(c.MaxLine, 16)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.newID == nil {
		c.newID = uuid.New
	}
	return c
}

// Item is one decoded event, or the reason it was rejected.
type Item struct {
	// Index is the event's position: its 0-based index in a JSON array (0
	// for a single object), or its 0-based line number in NDJSON, counting
	// every line, empty ones included, so that it points at the line an
	// editor shows as Index+1.
	Index int
	// Err is why the event was rejected, nil when it is valid. A rejected
	// item's Event and Payload are meaningless.
	Err error
	// Event is the valid event, with Source set to "ingest".
	Event event.Event
	// Payload is the event's payload as sent (not re-encoded), nil when it
	// had none or it was null. It is a copy the caller may keep.
	Payload json.RawMessage
	// ClientTime reports that the event is valid and set createdAt. Skew is
	// then the decoder's clock minus createdAt: positive when the event was
	// created in the past. A rejected event has neither: its createdAt may
	// be the very thing wrong with it.
	ClientTime bool
	Skew       time.Duration
}

// ErrEmptyBody is returned by Decoder.Next when the body holds no event at
// all: nothing, or only whitespace and empty lines. An explicitly empty
// array is not an error.
var ErrEmptyBody = errors.New("empty body: expected a JSON object, an array of objects or NDJSON lines")

// SyntaxError is a malformed or truncated JSON body, which ends the request:
// after it the decoder cannot tell where the next event would start.
// NDJSON bodies never produce one; a malformed line is a per-line rejection.
type SyntaxError struct {
	// Offset is the byte offset in the body at which the error was found.
	Offset int64
	// Index is the array element being read, -1 when not inside an array.
	Index int
	// Truncated reports that the body ended before the JSON did.
	Truncated bool
	// Msg is the underlying parser message.
	Msg string
}

// Error says what went wrong and where.
func (e *SyntaxError) Error() string {
	what := "malformed JSON"
	if e.Truncated {
		what = "body ends in the middle of the JSON"
	}
	where := fmt.Sprintf("at byte offset %d", e.Offset)
	if e.Index >= 0 {
		where += fmt.Sprintf(" (array element %d)", e.Index)
	}
	return fmt.Sprintf("%s %s: %s", what, where, e.Msg)
}

// Decoder reads events from a request body one at a time, so that a body
// of any length is never held in memory and each event can be submitted as
// soon as it has arrived.
type Decoder struct {
	cfg    DecodeConfig
	format Format
	batch  bool

	json  jsonBody   // the body, for JSON
	lines ndjsonBody // the body, for NDJSON

	// event walks one event's bytes. It is strict where the JSON body's
	// framing is lax (invalid UTF-8, duplicate names), so that such an
	// event is rejected alone instead of ending the body.
	event *jsontext.Decoder
	ids   map[uuid.UUID]int
	err   error // sticky: once set, every Next returns it
}

// NewDecoder returns a decoder of r in format f.
func NewDecoder(r io.Reader, f Format, cfg DecodeConfig) *Decoder {
	d := &Decoder{cfg: cfg.withDefaults(), format: f, ids: make(map[uuid.UUID]int), event: jsontext.NewDecoder(bytes.NewBuffer(nil))}
	if f == NDJSON {
		d.lines = newNDJSONBody(r, d.cfg.MaxLine)
		d.batch = true
	} else {
		d.json = newJSONBody(r)
	}
	return d
}

// Batch reports whether the body is a batch (a JSON array or NDJSON) rather
// than a single JSON object. It is known once Next has returned something.
func (d *Decoder) Batch() bool { return d.batch }

// Next returns the next item. An item with a non-nil Err is a rejected
// event; decoding goes on after it. At the end of the body Next returns
// io.EOF. Any other error ends the body: ErrEmptyBody, a *SyntaxError, or
// the reader's own error (wrapped, so errors.As finds an
// *http.MaxBytesError). Items returned before such an error stand.
func (d *Decoder) Next() (Item, error) {
	if d.err != nil {
		return Item{}, d.err
	}
	var it Item
	var err error
	if d.format == NDJSON {
		it, err = d.nextLine()
	} else {
		it, err = d.nextJSON()
	}
	if err != nil {
		d.err = err
	}
	return it, err
}

// afterValue checks what follows a complete top-level value, which what
// names: nil for nothing but whitespace; for anything else a
// *jsontext.SyntacticError at its first byte; or the error reading it.
func afterValue(dec *jsontext.Decoder, what string) error {
	if dec.PeekKind() == 0 {
		_, err := dec.ReadToken()
		var se *jsontext.SyntacticError
		switch {
		case err == io.EOF:
			return nil
		case errors.As(err, &se):
			return &jsontext.SyntacticError{ByteOffset: se.ByteOffset, Err: errors.New("unexpected data after " + what)}
		}
		return err
	}
	// Another value starts after the whitespace PeekKind skipped.
	rest := dec.UnreadBuffer()
	at := dec.InputOffset() + int64(len(rest)-len(bytes.TrimLeft(rest, " \t\r\n")))
	return &jsontext.SyntacticError{ByteOffset: at, Err: errors.New("unexpected data after " + what)}
}
