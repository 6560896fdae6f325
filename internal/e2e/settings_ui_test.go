package e2e

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/config"
)

// formControl is one control of a settings form as the browser shows it.
type formControl struct {
	Name      string   `json:"name"`
	Label     string   `json:"label"`
	Options   []string `json:"options"`   // a select's values, without the empty one
	Described string   `json:"described"` // the text of what aria-describedby names
}

const formControlsJS = `(() => {
	const form = document.querySelector('[data-testid="control-submit"]')?.closest('form');
	if (!form) return null;
	return [...form.querySelectorAll('[data-testid^="control-"][name]')]
		.filter((e) => e.name !== 'token')
		.map((e) => ({
			name: e.name,
			label: e.labels && e.labels[0] ? e.labels[0].textContent : '',
			options: e.tagName === 'SELECT' ? [...e.options].map((o) => o.value).filter((v) => v !== '') : [],
			described: (e.getAttribute('aria-describedby') || '').split(' ').map((id) => document.getElementById(id)?.textContent || '').join(' '),
		}));
})()`

// Both settings forms, as a browser shows them, are the specs' live
// settings in their order, each with its label, its unit, its choices and
// its range: the page's from the server's templates, the dashboard's from
// GET /api/config/schema.
func TestBothFormsFollowTheSpecs(t *testing.T) {
	requireApp(t)
	ctx := testContext(t)
	_, addr := serveNode(t, ctx, baseConfig(), "127.0.0.1:0")
	bctx, _ := startBrowser(t, ctx)
	var live []config.Spec
	for _, sp := range config.Specs() {
		if sp.Live {
			live = append(live, sp)
		}
	}
	for _, page := range []string{"/", "/app/"} {
		navigate(t, bctx, "http://"+addr+page)
		var got []formControl
		for deadline := time.Now().Add(15 * time.Second); ; {
			if got = pageEval[[]formControl](t, bctx, formControlsJS); len(got) > 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(got) != len(live) {
			t.Fatalf("%s: %d controls, want the %d live settings: %+v", page, len(got), len(live), got)
		}
		for i, sp := range live {
			c := got[i]
			if c.Name != sp.Name || !strings.Contains(c.Label, sp.Label) || (sp.Unit != "" && !strings.Contains(c.Label, "("+sp.Unit+")")) {
				t.Errorf("%s: control %d is %q labelled %q, want %s labelled %q (%s)", page, i, c.Name, c.Label, sp.Name, sp.Label, sp.Unit)
			}
			if len(sp.Choices) > 0 && !slices.Equal(c.Options, sp.Choices) {
				t.Errorf("%s: %s offers %v, want %v", page, sp.Name, c.Options, sp.Choices)
			}
			if sp.Min != nil && sp.Max != nil {
				described := strings.ReplaceAll(c.Described, ",", "")
				lo, hi := strconv.FormatFloat(*sp.Min, 'f', -1, 64), strconv.FormatFloat(*sp.Max, 'f', -1, 64)
				if !strings.Contains(described, lo+" ") || !strings.Contains(described, "to "+hi) {
					t.Errorf("%s: %s is described %q, want its range %s to %s", page, sp.Name, c.Described, lo, hi)
				}
			}
		}
	}
}
