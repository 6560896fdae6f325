package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	// ClientTime reports that the event set createdAt and is valid apart,
	// possibly, from createdAt being too far in the future. Skew is then
	// the decoder's clock minus createdAt: positive when the event was
	// created in the past (saturated at about -292 years for a createdAt
	// absurdly far ahead). Events rejected only because createdAt is too
	// far in the future are the clearest sign of a client clock that runs
	// ahead, so they count too.
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

	// JSON
	br    *bufio.Reader
	dec   *json.Decoder
	base  int64 // whitespace skipped before dec started reading
	read  int64 // bytes dec has read
	state jsonState
	batch bool

	// NDJSON
	lines *bufio.Reader
	line  int
	any   bool // a non-blank line was seen

	index int
	ids   map[uuid.UUID]int
	err   error // sticky: once set, every Next returns it
}

type jsonState int

const (
	jsonStart jsonState = iota // nothing read yet
	jsonArray                  // inside the top-level array
	jsonDone                   // the top-level value has been read
)

// NewDecoder returns a decoder of r in format f.
func NewDecoder(r io.Reader, f Format, cfg DecodeConfig) *Decoder {
	d := &Decoder{cfg: cfg.withDefaults(), format: f, ids: make(map[uuid.UUID]int)}
	if f == NDJSON {
		// +1 for the '\n' that ends a line of MaxLine bytes.
		d.lines = bufio.NewReaderSize(r, d.cfg.MaxLine+1)
		d.batch = true
	} else {
		d.br = bufio.NewReader(r)
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

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (d *Decoder) nextJSON() (Item, error) {
	switch d.state {
	case jsonStart:
		return d.startJSON()
	case jsonArray:
		return d.nextElement()
	}
	return Item{}, io.EOF
}

// startJSON looks at the first non-blank byte to tell a single object from
// an array. It must peek rather than take a token: a json.Decoder that has
// consumed '{' as a token can no longer hand over the object's raw bytes.
func (d *Decoder) startJSON() (Item, error) {
	for {
		b, err := d.br.Peek(1)
		if err == io.EOF {
			return Item{}, ErrEmptyBody
		}
		if err != nil {
			return Item{}, fmt.Errorf("reading the body: %w", err)
		}
		if !isSpace(b[0]) {
			break
		}
		_, _ = d.br.ReadByte()
		d.base++
	}
	d.dec = json.NewDecoder(countReader{d.br, &d.read})
	b, _ := d.br.Peek(1)
	if b[0] == '[' {
		if _, err := d.dec.Token(); err != nil {
			return Item{}, d.tokenErr(err, -1)
		}
		d.state, d.batch = jsonArray, true
		return d.nextElement()
	}

	// A single value. It is checked to be the whole body before it is
	// returned, so a single event followed by garbage is refused whole
	// rather than submitted and then reported as an error.
	d.state = jsonDone
	var raw json.RawMessage
	if err := d.decode(&raw, -1); err != nil {
		return Item{}, err
	}
	if err := d.expectEnd("the event"); err != nil {
		var se *SyntaxError
		if errors.As(err, &se) && kind(raw) == "object" {
			se.Msg += " (for one event per line, send Content-Type: application/x-ndjson; for several, a JSON array)"
		}
		return Item{}, err
	}
	return d.item(0, raw), nil
}

// nextElement reads the next element of the top-level array.
func (d *Decoder) nextElement() (Item, error) {
	if !d.dec.More() {
		// Only ']', '}' (a syntax error Token reports), the end of the body
		// or a read error stop More.
		_, err := d.dec.Token()
		if err != nil {
			return Item{}, d.tokenErr(err, d.index)
		}
		if err := d.expectEnd("the array"); err != nil {
			return Item{}, err
		}
		d.state = jsonDone
		return Item{}, io.EOF
	}
	var raw json.RawMessage
	if err := d.decode(&raw, d.index); err != nil {
		return Item{}, err
	}
	i := d.index
	d.index++
	return d.item(i, raw), nil
}

// decode reads the next value into raw, turning errors into *SyntaxError
// with the offset of the offending byte.
//
// The offsets in json.Decoder.Decode's errors cannot be used: its scanner
// counts bytes across Decode calls but not across Token calls, so they drift
// in a streamed array. The position is found again instead: the decoder is
// left at the start of the failed value, so the first error in its buffered
// bytes, scanned afresh, is the one Decode hit.
func (d *Decoder) decode(raw *json.RawMessage, index int) error {
	// More has put the decoder on the next non-blank byte: the ',' before
	// every element but the first.
	before := d.dec.InputOffset()
	err := d.dec.Decode(raw)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return d.tokenErr(err, index)
	}
	at := d.dec.InputOffset()
	if index > 0 && at == before {
		// No ',' where one was due: the decoder stopped on the byte.
		return &SyntaxError{Offset: d.base + at, Index: index, Msg: se.Error()}
	}
	buf, _ := io.ReadAll(d.dec.Buffered())
	var again *json.SyntaxError
	if errors.As(json.Unmarshal(buf, new(json.RawMessage)), &again) && again.Offset > 0 {
		at += again.Offset - 1
	}
	return &SyntaxError{Offset: d.base + at, Index: index, Msg: se.Error()}
}

// expectEnd checks that nothing but whitespace follows the top-level value.
// Its error is a *SyntaxError unless reading the body failed.
//
// It looks at the bytes rather than taking a token: Token would decode a
// trailing number into a float64, and fail on 1e700 with an error that is
// neither a syntax error nor the reader's.
func (d *Decoder) expectEnd(what string) error {
	more := d.dec.More() // reads on to the next non-blank byte, if any
	rest, _ := io.ReadAll(d.dec.Buffered())
	if more || len(bytes.TrimLeft(rest, " \t\r\n")) > 0 {
		return &SyntaxError{Offset: d.base + d.dec.InputOffset(), Index: -1, Msg: "unexpected data after " + what}
	}
	// Only blanks are buffered, so More stopped at the end of the body or at
	// a read error, and Token meets the same.
	_, err := d.dec.Token()
	switch {
	case err == io.EOF:
		return nil
	case err == nil:
		return &SyntaxError{Offset: d.base + d.dec.InputOffset(), Index: -1, Msg: "unexpected data after " + what}
	}
	return fmt.Errorf("reading the body: %w", err)
}

// tokenErr turns an error from json.Decoder.Token (whose offsets are those
// of the offending byte) or from the reader into the decoder's own.
func (d *Decoder) tokenErr(err error, index int) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return &SyntaxError{Offset: d.base + se.Offset, Index: index, Msg: se.Error()}
	case errors.Is(err, io.ErrUnexpectedEOF), err == io.EOF:
		// The body ended inside the JSON. A client that hangs up mid-body
		// looks the same from here.
		return &SyntaxError{Offset: d.base + d.read, Index: index, Truncated: true, Msg: "unexpected end of input"}
	}
	return fmt.Errorf("reading the body: %w", err)
}

// countReader counts the bytes read through it, so that a truncated body
// can be reported at its end rather than at the start of the cut value.
type countReader struct {
	r io.Reader
	n *int64
}

func (c countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += int64(n)
	return n, err
}

// nextLine returns the next non-blank NDJSON line as an item.
func (d *Decoder) nextLine() (Item, error) {
	for {
		n := d.line
		line, err := d.lines.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Skip the rest of the line without keeping it: it is rejected
			// whatever it holds.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = d.lines.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return Item{}, fmt.Errorf("reading the body at line %d: %w", n, err)
			}
			d.line++
			d.any = true
			return Item{Index: n, Err: fmt.Errorf("line is longer than %d bytes", d.cfg.MaxLine)}, nil
		}
		if err != nil && err != io.EOF {
			// The partial line is dropped: there is no knowing whether it
			// was complete.
			return Item{}, fmt.Errorf("reading the body at line %d: %w", n, err)
		}
		if len(line) == 0 && err == io.EOF {
			if !d.any {
				return Item{}, ErrEmptyBody
			}
			return Item{}, io.EOF
		}
		d.line++
		line = bytes.TrimRight(line, " \t\r\n")
		line = bytes.TrimLeft(line, " \t")
		if len(line) == 0 {
			continue
		}
		d.any = true
		if i := invalidUTF8(line); i >= 0 {
			return Item{Index: n, Err: fmt.Errorf("invalid UTF-8 at byte %d of the line", i)}, nil
		}
		if !json.Valid(line) {
			return Item{Index: n, Err: lineSyntaxErr(line)}, nil
		}
		return d.item(n, line), nil
	}
}

func lineSyntaxErr(line []byte) error {
	// Unmarshal checks the syntax before decoding anything, and its error
	// carries the offset that Valid does not.
	err := json.Unmarshal(line, new(json.RawMessage))
	var se *json.SyntaxError
	if errors.As(err, &se) {
		at := se.Offset
		if !errors.Is(err, io.ErrUnexpectedEOF) && at > 0 && !strings.HasPrefix(se.Error(), "unexpected end") {
			// Offset counts the offending byte itself.
			at--
		}
		return fmt.Errorf("malformed JSON at byte %d of the line: %s", at, se.Error())
	}
	return fmt.Errorf("malformed JSON: %v", err)
}

// invalidUTF8 returns the offset of the first byte that is not valid UTF-8,
// or -1. encoding/json would silently replace such bytes with U+FFFD;
// refusing them keeps what is stored byte-for-byte what the client meant.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// item validates one syntactically valid JSON value as an event.
func (d *Decoder) item(index int, raw []byte) Item {
	it := Item{Index: index}
	if i := invalidUTF8(raw); i >= 0 {
		it.Err = fmt.Errorf("invalid UTF-8 at byte %d of the event", i)
		return it
	}
	now := d.cfg.Now()
	f, err := d.fields(raw)
	if err != nil {
		it.Err = err
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
		ev.CreatedAt = time.UnixMilli(f.createdAt)
		it.ClientTime = true
		it.Skew = now.Sub(ev.CreatedAt)
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
	} else {
		ev.CreatedAt = now
	}
	if f.hasID {
		d.ids[f.id] = index
	}
	it.Event, it.Payload = ev, f.payload
	return it
}

type fields struct {
	id           uuid.UUID
	hasID        bool
	createdAt    int64
	hasCreatedAt bool
	deadline     time.Duration
	hasDeadline  bool
	work         time.Duration
	payload      json.RawMessage
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

var fieldNames = [...]string{fieldID, fieldCreatedAt, fieldDeadlineMs, fieldWorkMs, fieldPayload}

var knownFields = strings.Join(fieldNames[:], ", ")

// fields walks the members of an event object. raw is valid JSON.
func (d *Decoder) fields(raw []byte) (fields, error) {
	var f fields
	raw = bytes.TrimSpace(raw)
	if k := kind(raw); k != "object" {
		return f, fmt.Errorf("an event must be a JSON object, got %s", k)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return f, fmt.Errorf("malformed JSON: %v", err)
	}
	var seen [len(fieldNames)]bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return f, fmt.Errorf("malformed JSON: %v", err)
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return f, fmt.Errorf("malformed JSON: %v", err)
		}
		i := slices.Index(fieldNames[:], name)
		if i < 0 {
			return f, fmt.Errorf("unknown field %s (known: %s)", quoteShort(name), knownFields)
		}
		if seen[i] {
			return f, fmt.Errorf("duplicate field %q", name)
		}
		seen[i] = true
		// null stands for "not set" in the optional fields: many
		// serializers write absent values that way.
		if kind(v) == "null" && name != fieldDeadlineMs {
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

// kind names the JSON type of a valid value by its first byte.
func kind(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
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

func parseID(v []byte) (uuid.UUID, error) {
	if k := kind(v); k != "string" {
		return uuid.Nil, fmt.Errorf("id must be a string, got %s", k)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return uuid.Nil, fmt.Errorf("id: %v", err)
	}
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

func parseCreatedAt(v []byte) (int64, error) {
	if k := kind(v); k != "number" {
		return 0, fmt.Errorf("createdAt must be a number (Unix milliseconds), got %s", k)
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
func parseMs(name string, v []byte, lo, hi float64) (time.Duration, error) {
	if k := kind(v); k != "number" {
		return 0, fmt.Errorf("%s must be a number of milliseconds, got %s", name, k)
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

func (d *Decoder) parsePayload(v []byte) (json.RawMessage, error) {
	if len(v) > d.cfg.MaxPayload {
		return nil, fmt.Errorf("payload is %d bytes, more than the %d allowed", len(v), d.cfg.MaxPayload)
	}
	if depth(v) > d.cfg.MaxDepth {
		return nil, fmt.Errorf("payload nests arrays and objects deeper than %d levels", d.cfg.MaxDepth)
	}
	// v was filled by json.RawMessage.UnmarshalJSON, which copies.
	return json.RawMessage(v), nil
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
