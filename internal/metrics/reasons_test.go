package metrics

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"

	"github.com/ontime-rt/ontime/internal/event"
)

// declaredReasons parses the event package's source and returns the value
// of every constant declared with type Reason, in declaration order.
func declaredReasons(t *testing.T) []event.Reason {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../event/event.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []event.Reason
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Reason" {
				continue
			}
			for i, v := range vs.Values {
				lit, ok := v.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("reason %s is not a string literal", vs.Names[i].Name)
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, event.Reason(s))
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no Reason constants found in event.go")
	}
	return out
}

// event.Reasons, where the metric's labels come from, lists every Reason
// constant the event package declares: a new reason gets its own label, not
// "other".
func TestReasonsListEveryConstant(t *testing.T) {
	if got, want := event.Reasons(), declaredReasons(t); !slices.Equal(got, want) {
		t.Fatalf("event.Reasons() = %q, want the declared constants %q", got, want)
	}
}

// Every known reason is counted under its own label; only an unknown one
// is "other".
func TestEveryReasonHasItsLabel(t *testing.T) {
	m := New(Config{})
	rec := m.Recorder(nil)
	for _, r := range event.Reasons() {
		rec.Admit(event.Event{})
		rec.Finish(result(event.Dropped, r, 0))
	}
	fams := scrape(t, m.Handler())
	for _, r := range event.Reasons() {
		label := string(r)
		if r == event.ReasonNone {
			label = "none"
		}
		if got := value(t, fams, "ontime_events_total", outcome("dropped", label)); got != 1 {
			t.Errorf("dropped/%s = %g, want 1", label, got)
		}
	}
	if s := series(fams, "ontime_events_total", outcome("dropped", "other")); s != nil {
		t.Errorf("a known reason was counted as other: %v", s)
	}
}
