package views

import (
	"strconv"

	"github.com/ontime-rt/ontime/internal/config"
)

// FieldKind tells how a setting is typed and parsed.
type FieldKind int

// Field kinds.
const (
	Decimal FieldKind = iota // a number, possibly with decimals
	Whole                    // a whole number
	Choice                   // one of Field.Choices
	Text                     // free text, such as a URL
)

// Field is one setting of the controls form, as its config.Spec
// describes it. Name is the setting's JSON name: the form field's name,
// and the Field of a config.FieldError.
type Field struct {
	Name    string
	Label   string
	Unit    string
	Hint    string
	Kind    FieldKind
	Choices []string
	// Example is a valid value, shown as a Text field's placeholder when
	// nothing is in force.
	Example string
	// PerNode: in a cluster the setting applies to each node on its own,
	// and the form labels it so.
	PerNode bool
	// FixedInCluster: the server refuses to change it in a cluster, and
	// the form does not offer it there.
	FixedInCluster bool
}

// rangeHint is a number's range as the form shows it: with thousands
// separators, and without the unit, which the label shows.
func rangeHint(sp config.Spec) string {
	s := ""
	if sp.Min != nil {
		s = commas(int(*sp.Min))
		if *sp.Min == 0 && sp.ZeroMeans != "" {
			s += " (" + sp.ZeroMeans + ")"
		}
	}
	if sp.Max != nil {
		s += " to " + commas(int(*sp.Max))
	}
	return s
}

// commas writes n with thousands separators.
func commas(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + commas(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// FieldOf is the form field of a live setting's spec.
func FieldOf(sp config.Spec) Field {
	f := Field{Name: sp.Name, Label: sp.Label, Unit: sp.Unit, Hint: sp.Hint, Choices: sp.Choices, Example: sp.Example, PerNode: sp.PerNode, FixedInCluster: sp.FixedInCluster}
	switch {
	case len(sp.Choices) > 0:
		f.Kind = Choice
	case sp.Type == config.Integer:
		f.Kind, f.Hint = Whole, rangeHint(sp)
	case sp.Type == config.Number:
		f.Kind, f.Hint = Decimal, rangeHint(sp)
	default:
		f.Kind = Text
	}
	return f
}

// Fields are the settings of the controls form, in display order: the
// live settings of config.Specs.
var Fields = func() []Field {
	var out []Field
	for _, sp := range config.Specs() {
		if sp.Live {
			out = append(out, FieldOf(sp))
		}
	}
	return out
}()

// SettingValue is a setting formatted as the form takes it ("" for an
// unknown name or nil settings).
func SettingValue(s *config.Settings, name string) string {
	if s == nil {
		return ""
	}
	v, _ := s.Get(name)
	switch x := v.(type) {
	case float64:
		return num(x)
	case int:
		return itoa(x)
	case string:
		return x
	}
	return ""
}

// ControlsForm is what the controls form shows.
type ControlsForm struct {
	// Current are the settings in force, shown as placeholders; nil before
	// the first batch.
	Current *config.Settings
	// Values are the fields as submitted, shown again after an error so
	// nothing typed is lost. Empty after a success.
	Values map[string]string
	// Errors are the problems by field name.
	Errors map[string]string
	// Error is a problem with the form as a whole.
	Error string
	// Applied says what a successful submission changed.
	Applied string
	// Cluster: the node is part of a cluster. Workers and queue are
	// labelled per node, and the tick, which the server refuses to change
	// in a cluster, is not offered.
	Cluster bool
}

// fields are the form's fields: all of Fields on a single node, those the
// server accepts in a cluster.
func (f ControlsForm) fields() []Field {
	if !f.Cluster {
		return Fields
	}
	out := make([]Field, 0, len(Fields))
	for _, fd := range Fields {
		if !fd.FixedInCluster {
			out = append(out, fd)
		}
	}
	return out
}

func (f ControlsForm) failed() bool { return len(f.Errors) > 0 || f.Error != "" }

func describedBy(f ControlsForm, name string) string {
	s := "control-hint-" + name
	if f.Errors[name] != "" {
		s += " control-error-" + name
	}
	return s
}

func placeholder(f ControlsForm, fd Field) string {
	if v := SettingValue(f.Current, fd.Name); v != "" {
		return v
	}
	if fd.Example != "" {
		return "like " + fd.Example
	}
	return "unchanged"
}

func keepLabel(f ControlsForm, fd Field) string {
	if v := SettingValue(f.Current, fd.Name); v != "" {
		return "unchanged (" + v + ")"
	}
	return "unchanged"
}

func inputMode(fd Field) string {
	switch {
	case fd.Kind == Whole:
		return "numeric"
	case fd.Name == "workerUrl":
		return "url"
	case fd.Kind == Text:
		return "text"
	}
	return "decimal"
}

// inForceValue is a setting as the in-force list shows it: "none" for an
// empty one (no worker URL).
func inForceValue(s *config.Settings, name string) string {
	if v := SettingValue(s, name); v != "" {
		return v
	}
	return "none"
}

func errorCount(f ControlsForm) string {
	n := len(f.Errors)
	if n == 1 {
		return "1 setting needs fixing"
	}
	return itoa(n) + " settings need fixing"
}
