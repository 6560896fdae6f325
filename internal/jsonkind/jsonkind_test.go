package jsonkind

import "testing"

func TestKinds(t *testing.T) {
	for _, c := range []struct{ v, kind, article string }{
		{`{"a":1}`, "object", "an object"},
		{` [1]`, "array", "an array"},
		{`"x"`, "string", "a string"},
		{`-1.5`, "number", "a number"},
		{`0`, "number", "a number"},
		{`true`, "boolean", "a boolean"},
		{`false`, "boolean", "a boolean"},
		{`null`, "null", "null"},
		{``, "nothing", "nothing"},
		{"\n", "nothing", "nothing"},
	} {
		if got := Of([]byte(c.v)); got != c.kind {
			t.Errorf("Of(%q) = %q, want %q", c.v, got, c.kind)
		}
		if got := WithArticle(Of([]byte(c.v))); got != c.article {
			t.Errorf("WithArticle(Of(%q)) = %q, want %q", c.v, got, c.article)
		}
	}
	// jsontext.Kind's bytes: '0' for any number, 0 for an invalid kind.
	for b, want := range map[byte]string{'0': "number", 0: "nothing", '}': "nothing", ']': "nothing"} {
		if got := OfByte(b); got != want {
			t.Errorf("OfByte(%q) = %q, want %q", b, got, want)
		}
	}
}
