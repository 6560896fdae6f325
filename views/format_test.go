package views

import (
	"strings"
	"testing"

	json "github.com/go-json-experiment/json/v1"
)

func TestResultText(t *testing.T) {
	for _, tc := range []struct{ raw, preview string }{
		{`{"a": [1, 2]}`, `{"a":[1,2]}`},
		{`"` + strings.Repeat("é", 70) + `"`, `"` + strings.Repeat("é", 58) + "…"},
		{`not json <b>`, `not json <b>`},
	} {
		preview, full := resultText(json.RawMessage(tc.raw))
		if preview != tc.preview {
			t.Errorf("resultText(%s) preview %q, want %q", tc.raw, preview, tc.preview)
		}
		if preview != full && len([]rune(preview)) != resultPreviewChars {
			t.Errorf("resultText(%s) cut preview has %d chars", tc.raw, len([]rune(preview)))
		}
	}
}
