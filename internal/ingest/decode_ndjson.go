package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ndjsonBody frames an application/x-ndjson body: one event per line, each
// line independent of the others.
type ndjsonBody struct {
	r    *bufio.Reader
	max  int  // the longest line read, without its '\n'
	line int  // the next line's 0-based number
	any  bool // a non-blank line was seen
}

func newNDJSONBody(r io.Reader, maxLine int) ndjsonBody {
	// +1 for the '\n' that ends a line of maxLine bytes.
	return ndjsonBody{r: bufio.NewReaderSize(r, maxLine+1), max: maxLine}
}

// nextLine returns the next non-blank NDJSON line as an item.
func (d *Decoder) nextLine() (Item, error) {
	b := &d.lines
	for {
		n := b.line
		line, err := b.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Skip the rest of the line without keeping it: it is rejected
			// whatever it holds.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = b.r.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return Item{}, fmt.Errorf("reading the body at line %d: %w", n, err)
			}
			b.line++
			b.any = true
			return Item{Index: n, Err: fmt.Errorf("line is longer than %d bytes", b.max)}, nil
		}
		if err != nil && err != io.EOF {
			// The partial line is dropped: there is no knowing whether it
			// was complete.
			return Item{}, fmt.Errorf("reading the body at line %d: %w", n, err)
		}
		if len(line) == 0 && err == io.EOF {
			if !b.any {
				return Item{}, ErrEmptyBody
			}
			return Item{}, io.EOF
		}
		b.line++
		// Only JSON's own whitespace makes a line blank. Leading blanks
		// stay, so that offsets count from the line's first byte; the line
		// break goes, or a line cut inside a string would be reported as a
		// control character in it rather than as cut.
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.Trim(line, " \t\r")) == 0 {
			continue
		}
		b.any = true
		return d.item(n, line, "line"), nil
	}
}
