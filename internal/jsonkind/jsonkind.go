// Package jsonkind names the kinds of JSON values in error messages, in
// JSON's terms (object, array, string, number, boolean, null), never Go's:
// the settings (PATCH /api/config) and the events (POST /api/events) both
// tell a client which kind it sent where another was wanted.
package jsonkind

import "bytes"

// Of names the kind of the JSON value v by its first byte after any white
// space: "nothing" when v is empty. v is assumed valid JSON.
func Of(v []byte) string {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return "nothing"
	}
	return OfByte(v[0])
}

// OfByte names the kind of a JSON value that starts with b (a
// jsontext.Kind is such a byte: '0' for numbers): "nothing" for a byte no
// value starts with.
func OfByte(b byte) string {
	switch {
	case b == '{':
		return "object"
	case b == '[':
		return "array"
	case b == '"':
		return "string"
	case b == 't', b == 'f':
		return "boolean"
	case b == 'n':
		return "null"
	case b == '-', b >= '0' && b <= '9':
		return "number"
	}
	return "nothing"
}

// WithArticle puts the indefinite article before a kind's name ("an
// object", "a string"); null and nothing take none.
func WithArticle(kind string) string {
	switch kind {
	case "null", "nothing":
		return kind
	case "object", "array":
		return "an " + kind
	}
	return "a " + kind
}
