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

// Field is one setting of the controls form. Name is the setting's JSON
// name: the form field's name, and the Field of a config.FieldError.
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
}

func rangeHint(lo, hi int, unit string) string {
	s := commas(lo) + " to " + commas(hi)
	if unit != "" {
		s += " " + unit
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

// Fields are the settings of the controls form, in display order.
var Fields = []Field{
	{Name: "rate", Label: "Rate", Unit: "events/s", Kind: Decimal, Hint: "0 (off) to " + commas(config.MaxRate)},
	{Name: "deadlineMs", Label: "Deadline", Unit: "ms", Kind: Decimal, Hint: rangeHint(1, config.MaxMs, "")},
	{Name: "workMs", Label: "Work (mean)", Unit: "ms", Kind: Decimal, Hint: rangeHint(0, config.MaxMs, "")},
	{Name: "workDist", Label: "Work distribution", Kind: Choice, Choices: config.WorkDists(), Hint: "of the work around its mean"},
	{Name: "processor", Label: "Processor", Kind: Choice, Choices: config.Processors(), Hint: "sleep waits, cpu burns a core, http calls your worker, nats asks workers over NATS (cluster mode only)"},
	{Name: "workerUrl", Label: "Worker URL", Kind: Text, Example: "http://127.0.0.1:8090/work", Hint: "http(s) URL, required with processor http"},
	{Name: "workerSubject", Label: "Worker subject", Kind: Text, Example: "ontime.work", Hint: "NATS subject without wildcards, used with processor nats"},
	{Name: "concurrency", Label: "Concurrency", Kind: Choice, Choices: config.Concurrencies(), Hint: "adaptive learns the limit from latency"},
	{Name: "arrivals", Label: "Arrivals", Kind: Choice, Choices: config.ArrivalSet(), Hint: "even spacing, or random (poisson)"},
	{Name: "workers", Label: "Workers", Kind: Whole, Hint: rangeHint(1, config.MaxWorkers, "")},
	{Name: "queueCap", Label: "Queue capacity", Unit: "events", Kind: Whole, Hint: rangeHint(1, config.MaxQueueCap, "")},
	{Name: "policy", Label: "Policy", Kind: Choice, Choices: config.Policies(), Hint: "edf: earliest deadline first"},
	{Name: "tickMs", Label: "Tick", Unit: "ms", Kind: Decimal, Hint: rangeHint(config.MinTickMs, config.MaxTickMs, "")},
}

// SettingValue is a setting formatted as the form takes it ("" for an
// unknown name or nil settings).
func SettingValue(s *config.Settings, name string) string {
	if s == nil {
		return ""
	}
	switch name {
	case "rate":
		return num(s.Rate)
	case "deadlineMs":
		return num(s.DeadlineMs)
	case "workMs":
		return num(s.WorkMs)
	case "workDist":
		return s.WorkDist
	case "processor":
		return s.Processor
	case "workerUrl":
		return s.WorkerURL
	case "workerSubject":
		return s.WorkerSubject
	case "concurrency":
		return s.Concurrency
	case "arrivals":
		return s.Arrivals
	case "workers":
		return itoa(s.Workers)
	case "queueCap":
		return itoa(s.QueueCap)
	case "policy":
		return s.Policy
	case "tickMs":
		return num(s.TickMs)
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
		if fd.Name != "tickMs" {
			out = append(out, fd)
		}
	}
	return out
}

// perNode tells the settings that apply to each node of a cluster on its
// own, which the form labels so.
func perNode(name string) bool { return name == "workers" || name == "queueCap" }

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
