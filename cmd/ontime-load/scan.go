package main

import (
	"errors"
	"fmt"
)

// head is the part of a batch a load client needs. The batch JSON carries a
// lot more (counts, latency digest, up to 50 events); decoding all of it for
// every message of thousands of clients would make the load generator, not
// the server, the bottleneck, so only these members are read.
type head struct {
	seq    uint64
	at     int64 // unix ms when the batch was made
	tickMs int64
	epoch  int64  // the numbering seq counts in: the position is epoch-seq
	has    fields // which of the members were found
}

// fields is a set of the members of head.
type fields uint8

// The members scanHead looks for.
const (
	hasSeq fields = 1 << iota
	hasAt
	hasTick
	hasEpoch

	allFields = hasSeq | hasAt | hasTick | hasEpoch
)

// errTruncated reports that the input ended before the members asked for
// were found: the caller read only a prefix and must supply more.
var errTruncated = errors.New("json ends before seq and at")

// scanHead reads the top-level "seq", "at", "epoch" and "tickMs" members of
// the JSON object in p, skipping every other member without decoding it. It
// stops as soon as all four are found; the server writes them first, so a
// batch of any size costs about eighty bytes of scanning. p may be a prefix of the
// object: if it ends before the members in need were found, scanHead returns
// errTruncated. Reaching the end of the object without them is an error.
func scanHead(p []byte, need fields) (head, error) {
	var h head
	i := skipSpace(p, 0)
	if i == len(p) {
		return h, errTruncated
	}
	if p[i] != '{' {
		return h, fmt.Errorf("batch is not a JSON object (starts with %q)", p[i])
	}
	i++
	for first := true; h.has != allFields; first = false {
		i = skipSpace(p, i)
		if i == len(p) {
			break
		}
		if p[i] == '}' {
			if h.has&need != need {
				return h, errors.New("batch lacks seq or at")
			}
			return h, nil
		}
		if !first {
			if p[i] != ',' {
				return h, fmt.Errorf("bad JSON at offset %d: want ',' or '}', got %q", i, p[i])
			}
			i = skipSpace(p, i+1)
			if i == len(p) {
				break
			}
		}
		if p[i] != '"' {
			return h, fmt.Errorf("bad JSON at offset %d: want a member name, got %q", i, p[i])
		}
		end, err := skipString(p, i)
		if err != nil {
			if err == errTruncated {
				break
			}
			return h, err
		}
		key := p[i+1 : end-1]
		i = skipSpace(p, end)
		if i == len(p) {
			break
		}
		if p[i] != ':' {
			return h, fmt.Errorf("bad JSON at offset %d: want ':', got %q", i, p[i])
		}
		i = skipSpace(p, i+1)
		var field fields
		switch string(key) { // no allocation: the compiler converts for comparison only
		case "seq":
			field = hasSeq
		case "at":
			field = hasAt
		case "tickMs":
			field = hasTick
		case "epoch":
			field = hasEpoch
		}
		if field == 0 {
			i, err = skipValue(p, i)
		} else {
			var v int64
			var neg bool
			v, neg, i, err = scanInt(p, i)
			if err == nil && neg && field == hasSeq {
				err = errors.New("negative seq")
			}
			switch field {
			case hasSeq:
				h.seq = uint64(v)
			case hasAt:
				h.at = v
			case hasTick:
				h.tickMs = v
			case hasEpoch:
				h.epoch = v
			}
			h.has |= field
		}
		if err != nil {
			if err == errTruncated {
				// A member cut short (a number included) does not count.
				h.has &^= field
				break
			}
			return h, err
		}
		// What follows (',' or '}') is checked at the top of the loop.
	}
	if h.has&need == need {
		return h, nil
	}
	return h, errTruncated
}

// isSpace reports JSON whitespace.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// skipSpace returns the index of the first non-space byte at or after i.
func skipSpace(p []byte, i int) int {
	for i < len(p) && isSpace(p[i]) {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at p[i] ('"').
func skipString(p []byte, i int) (int, error) {
	for i++; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++ // the escaped byte cannot end the string
		case '"':
			return i + 1, nil
		}
	}
	return i, errTruncated
}

// skipValue returns the index just past the JSON value starting at p[i]. It
// checks only as much syntax as it needs to find the end: the server's
// encoder is trusted to write valid JSON, and the members that matter are
// checked exactly.
func skipValue(p []byte, i int) (int, error) {
	if i == len(p) {
		return i, errTruncated
	}
	switch p[i] {
	case '"':
		return skipString(p, i)
	case '{', '[':
		depth := 0
		for ; i < len(p); i++ {
			switch p[i] {
			case '"':
				end, err := skipString(p, i)
				if err != nil {
					return end, err
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
		}
		return i, errTruncated
	default:
		// A number, true, false or null: runs up to a delimiter.
		start := i
		for i < len(p) && p[i] != ',' && p[i] != '}' && p[i] != ']' && !isSpace(p[i]) {
			i++
		}
		if i == len(p) {
			return i, errTruncated // the literal may go on
		}
		if i == start {
			return i, fmt.Errorf("bad JSON at offset %d: want a value, got %q", i, p[i])
		}
		return i, nil
	}
}

// scanInt reads a JSON integer at p[i] and returns its value, its sign and
// the index past it. Fractions and exponents are errors: seq, at and tickMs
// are integers in the wire contract.
func scanInt(p []byte, i int) (v int64, neg bool, next int, err error) {
	if i < len(p) && p[i] == '-' {
		neg = true
		i++
	}
	start := i
	for ; i < len(p) && p[i] >= '0' && p[i] <= '9'; i++ {
		d := int64(p[i] - '0')
		if v > (1<<63-1-d)/10 {
			return 0, neg, i, errors.New("integer overflows int64")
		}
		v = v*10 + d
	}
	if i == len(p) {
		return 0, neg, i, errTruncated // the number may go on
	}
	if i == start {
		return 0, neg, i, fmt.Errorf("bad JSON at offset %d: want an integer, got %q", i, p[i])
	}
	if c := p[i]; c == '.' || c == 'e' || c == 'E' {
		return 0, neg, i, fmt.Errorf("bad JSON at offset %d: want an integer, got a fraction or exponent", i)
	}
	if neg {
		v = -v
	}
	return v, neg, i, nil
}
