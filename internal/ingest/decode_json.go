package ingest

import (
	"errors"
	"fmt"
	"io"

	"github.com/go-json-experiment/json/jsontext"
)

// jsonBody frames an application/json body: one event, or an array read
// element by element.
type jsonBody struct {
	src   *readErr
	dec   *jsontext.Decoder
	state jsonState
	index int // of the next array element
}

type jsonState int

const (
	jsonStart jsonState = iota // nothing read yet
	jsonArray                  // inside the top-level array
	jsonDone                   // the top-level value has been read
)

func newJSONBody(r io.Reader) jsonBody {
	// Lax where Decoder.event is strict: invalid UTF-8 or a duplicate name
	// is the fault of one event, which is rejected alone, not a reason to
	// stop reading the ones after it.
	src := &readErr{r: r}
	return jsonBody{src: src, dec: jsontext.NewDecoder(src, jsontext.AllowInvalidUTF8(true), jsontext.AllowDuplicateNames(true))}
}

// readErr keeps the reader's error, for jsontext reports one that
// strikes inside a value as a syntax error there, which would blame the
// client for what may be a body cut at the size limit. It counts the bytes
// read, so that a truncated body is reported where it ends, not where the
// cut value began.
type readErr struct {
	r   io.Reader
	n   int64
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.n += int64(n)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

func (d *Decoder) nextJSON() (Item, error) {
	switch d.json.state {
	case jsonStart:
		return d.startJSON()
	case jsonArray:
		return d.nextElement()
	}
	return Item{}, io.EOF
}

// startJSON tells a single event from an array by the first token.
func (d *Decoder) startJSON() (Item, error) {
	b := &d.json
	switch b.dec.PeekKind() {
	case 0:
		_, err := b.dec.ReadToken()
		if err == io.EOF {
			return Item{}, ErrEmptyBody
		}
		return Item{}, b.err(err, -1)
	case '[':
		if _, err := b.dec.ReadToken(); err != nil {
			return Item{}, b.err(err, -1)
		}
		b.state, d.batch = jsonArray, true
		return d.nextElement()
	}

	// A single value. It is checked to be the whole body before it is
	// returned, so a single event followed by garbage is refused whole
	// rather than submitted and then reported as an error.
	b.state = jsonDone
	raw, err := b.dec.ReadValue()
	if err != nil {
		return Item{}, b.err(err, -1)
	}
	// raw does not outlive the next read; the item does not need it.
	object := raw.Kind() == '{'
	it := d.item(0, raw, "event")
	if err := b.end("the event"); err != nil {
		var se *SyntaxError
		if errors.As(err, &se) && object {
			se.Msg += " (for one event per line, send Content-Type: application/x-ndjson; for several, a JSON array)"
		}
		return Item{}, err
	}
	return it, nil
}

// nextElement reads the next element of the top-level array.
func (d *Decoder) nextElement() (Item, error) {
	b := &d.json
	if b.dec.PeekKind() == ']' {
		if _, err := b.dec.ReadToken(); err != nil {
			return Item{}, b.err(err, b.index)
		}
		b.state = jsonDone
		if err := b.end("the array"); err != nil {
			return Item{}, err
		}
		return Item{}, io.EOF
	}
	// Anything else, even a syntax error PeekKind has seen, is left to
	// ReadValue to report.
	raw, err := b.dec.ReadValue()
	if err != nil {
		return Item{}, b.err(err, b.index)
	}
	i := b.index
	b.index++
	return d.item(i, raw, "event"), nil
}

// end checks that nothing but whitespace follows the top-level value, what
// it names.
func (b *jsonBody) end(what string) error {
	if err := afterValue(b.dec, what); err != nil {
		return b.err(err, -1)
	}
	return nil
}

// err turns an error from reading the body into the decoder's own: the
// reader's error, wrapped, or a *SyntaxError for malformed or truncated
// JSON.
func (b *jsonBody) err(err error, index int) error {
	if b.src.err != nil {
		return fmt.Errorf("reading the body: %w", b.src.err)
	}
	var se *jsontext.SyntacticError
	switch {
	case errors.As(err, &se) && errors.Is(se.Err, io.ErrUnexpectedEOF):
		// The body ended inside the JSON. A client that hangs up
		// mid-body looks the same from here.
		return &SyntaxError{Offset: b.src.n, Index: index, Truncated: true, Msg: "unexpected end of input"}
	case se != nil:
		return &SyntaxError{Offset: se.ByteOffset, Index: index, Msg: se.Err.Error()}
	case err == io.EOF:
		// jsontext reports io.ErrUnexpectedEOF inside a value, but an EOF
		// there would be a truncation all the same.
		return &SyntaxError{Offset: b.src.n, Index: index, Truncated: true, Msg: "unexpected end of input"}
	}
	return fmt.Errorf("reading the body: %w", err)
}
