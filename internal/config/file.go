package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// The configuration file (--config FILE) is YAML: one mapping whose keys
// are the flags' names and whose values are written as the flags take
// them (tick: 100ms, workers: 8, queue-bytes: 64MiB). Its keys and checks
// come from Specs: a key is a setting's Flag, its text is read by
// Spec.Parse and checked by Spec.Check, so a value the command line
// refuses the file refuses in the same words, with the file's name, the
// line and the key in front.

// MaxFileBytes bounds a configuration file.
const MaxFileBytes = 1 << 20

// File is a configuration file, read and checked.
type File struct {
	// Path is the file's path as it was given.
	Path string
	// Entries are its settings, in the file's order.
	Entries []Entry
}

// Entry is one setting of a configuration file.
type Entry struct {
	// Spec describes the setting; its Flag is the key.
	Spec Spec
	// Line is the key's line in the file, counted from 1.
	Line int
	// Text is the value as the flag takes it ("100ms").
	Text string
	// Value is Text read by Spec.Parse, within the setting's range and
	// choices: a float64, an int64, a bool or a string.
	Value any
}

// Where names the entry's place: the file and the line, "ontime.yaml:7".
func (e Entry) Where(f *File) string { return f.Path + ":" + strconv.Itoa(e.Line) }

// FileError says what is wrong in a configuration file, and where.
type FileError struct {
	// Path is the file's path as it was given.
	Path string
	// Line is where the problem is, counted from 1; 0 for the whole file.
	Line int
	// Key is the key concerned; empty for none.
	Key string
	// Msg says what is wrong.
	Msg string
}

func (e *FileError) Error() string {
	s := e.Path
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Key != "" {
		s += ": " + e.Key
	}
	return s + ": " + e.Msg
}

// LoadFile reads and checks the configuration file at path. Every problem
// is a *FileError (joined): a file that cannot be read, is over
// MaxFileBytes or is no YAML mapping; a key that is no setting, a secret
// (which only the environment may hold), given twice, or lanes; a value
// of the wrong kind, that the setting's flag would not take, or out of its
// range or choices.
func LoadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, &FileError{Path: path, Msg: "cannot read the configuration file: " + unwrapPath(err)}
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileBytes+1))
	if err != nil {
		return nil, &FileError{Path: path, Msg: "cannot read the configuration file: " + unwrapPath(err)}
	}
	if len(data) > MaxFileBytes {
		return nil, &FileError{Path: path, Msg: fmt.Sprintf("larger than %d bytes", MaxFileBytes)}
	}
	return ParseFile(path, data)
}

// unwrapPath is the reason of a *os.PathError without the path, which the
// FileError shows already.
func unwrapPath(err error) string {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// ParseFile checks data, the text of the configuration file at path, as
// LoadFile does.
func ParseFile(path string, data []byte) (*File, error) {
	// Duplicate keys are found below, to be named with both lines.
	doc, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return nil, syntaxError(path, err)
	}
	var bodies []ast.Node
	for _, d := range doc.Docs {
		if d != nil && d.Body != nil {
			bodies = append(bodies, d.Body)
		}
	}
	f := &File{Path: path}
	switch {
	case len(bodies) == 0:
		return f, nil // empty: the defaults
	case len(bodies) > 1:
		return nil, &FileError{Path: path, Line: line(bodies[1]), Msg: fmt.Sprintf("want one YAML document, got %d (remove the --- separators)", len(bodies))}
	}
	var members []*ast.MappingValueNode
	switch b := unwrap(bodies[0]).(type) {
	case *ast.MappingNode:
		members = b.Values
	case *ast.MappingValueNode:
		members = []*ast.MappingValueNode{b}
	default:
		return nil, &FileError{Path: path, Line: line(bodies[0]), Msg: "want a mapping of settings, one \"key: value\" a line (like tick: 100ms), got " + kindOf(b)}
	}
	byKey := map[string]Spec{}
	var keys []string
	for _, sp := range Specs() {
		byKey[sp.Flag] = sp
		if !sp.Secret {
			keys = append(keys, sp.Flag)
		}
	}
	seen := map[string]int{} // key: its first line
	var errs []error
	for _, m := range members {
		key, at := keyText(m.Key), line(m.Key)
		bad := func(msg string) { errs = append(errs, &FileError{Path: path, Line: at, Key: key, Msg: msg}) }
		if first, dup := seen[key]; dup {
			bad(fmt.Sprintf("given twice (first at line %d)", first))
			continue
		}
		seen[key] = at
		sp, known := byKey[key]
		switch {
		case key == "lanes":
			bad("lanes are not supported yet: remove the key (the flags' keys set the one workload)")
			continue
		case !known:
			bad("unknown key (known: " + strings.Join(keys, ", ") + ")")
			continue
		case sp.Secret:
			bad(fmt.Sprintf("secrets are not read from the file: set %s in the environment instead", sp.Env))
			continue
		}
		text, got, ok := scalarText(m.Value)
		if !ok {
			bad(sp.wantText() + ", got " + got)
			continue
		}
		v, err := sp.Parse(text)
		if err != nil {
			bad(fmt.Sprintf("%v, got %q", err, clip(text)))
			continue
		}
		if err := sp.Check(v); err != nil {
			fe := err.(*FieldError)
			if fe.Want == "" {
				bad(fe.Msg)
				continue
			}
			shown := text
			if sp.Type == String {
				shown = strconv.Quote(clip(text))
			}
			bad(fe.Want + ", got " + shown)
			continue
		}
		if err := checkText(sp, text); err != nil {
			bad(err.Msg)
			continue
		}
		f.Entries = append(f.Entries, Entry{Spec: sp, Line: at, Text: text, Value: v})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return f, nil
}

// checkText checks free text that package config knows how to check
// alone: the worker's URL and subject (that the processor needs them is
// Validate's, once every setting is known).
func checkText(sp Spec, text string) *FieldError {
	var err error
	switch sp.Name {
	case "workerUrl":
		err = checkWorkerURL("", text)
	case "workerSubject":
		err = checkWorkerSubject("", text)
	}
	fe, _ := err.(*FieldError)
	return fe
}

// syntaxError places the parser's error at its line.
func syntaxError(path string, err error) error {
	var se interface {
		GetMessage() string
		GetToken() *token.Token
	}
	if errors.As(err, &se) {
		fe := &FileError{Path: path, Msg: "not YAML: " + se.GetMessage()}
		if tk := se.GetToken(); tk != nil && tk.Position != nil {
			fe.Line = tk.Position.Line
		}
		return fe
	}
	return &FileError{Path: path, Msg: "not YAML: " + err.Error()}
}

// unwrap is the node an anchor or a tag stands before.
func unwrap(n ast.Node) ast.Node {
	for {
		switch x := n.(type) {
		case *ast.AnchorNode:
			n = x.Value
		case *ast.TagNode:
			n = x.Value
		default:
			return n
		}
	}
}

// scalarText is the text of a single value as written, or what the node
// is instead ("a list").
func scalarText(n ast.Node) (text, got string, ok bool) {
	switch x := unwrap(n).(type) {
	case *ast.StringNode:
		return x.Value, "", true
	case *ast.LiteralNode:
		return strings.TrimSuffix(x.Value.Value, "\n"), "", true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return x.GetToken().Value, "", true
	case nil, *ast.NullNode:
		return "", "no value (remove the key to keep the default)", false
	default:
		return "", kindOf(x), false
	}
}

// kindOf names what a node is, as an error message shows it.
func kindOf(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.AliasNode:
		return "an alias (write the value itself)"
	case nil, *ast.NullNode:
		return "no value"
	}
	return "a single value"
}

// keyText is a key as written.
func keyText(k ast.MapKeyNode) string {
	if s, ok := k.(*ast.StringNode); ok {
		return s.Value
	}
	if tk := k.GetToken(); tk != nil {
		return tk.Value
	}
	return k.String()
}

func line(n ast.Node) int {
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}

// ErrNoFile answers a reload of a server started without a configuration
// file.
var ErrNoFile = errors.New("no configuration file to reload: start ontime with --config FILE (or ONTIME_CONFIG)")

// Reloaded is the configuration as a reload reads it again: the defaults,
// then the file, then the environment and the command line the server
// started with, as a restart would have them.
type Reloaded struct {
	// Settings are the live settings it makes.
	Settings Settings
	// Restart are the keys (flag names) of the settings fixed at start
	// whose value now differs from the one in force: they take effect at
	// the next start only.
	Restart []string
	// Where says, by JSON name, where each setting not left at its default
	// comes from: "ontime.yaml:7", "ONTIME_WORKERS" or "--workers".
	Where map[string]string
}

// Explain puts in front of each *FieldError in err (joined) where the
// setting was given, so that a refusal of the file's settings names its
// line: "ontime.yaml:7: tick: cannot change in cluster mode ...".
func (r Reloaded) Explain(err error) error {
	var out []error
	for _, e := range Flatten(err) {
		fe, ok := errors.AsType[*FieldError](e)
		if !ok {
			out = append(out, e)
			continue
		}
		sp, _ := Lookup(fe.Field)
		switch where := r.Where[fe.Field]; {
		case where == "" || strings.HasPrefix(where, "-"):
			out = append(out, fmt.Errorf("--%s: %s", sp.Flag, fe.Msg))
		case strings.HasPrefix(where, "ONTIME_"):
			out = append(out, fmt.Errorf("%s: %s", where, fe.Msg))
		default:
			out = append(out, fmt.Errorf("%s: %s: %s", where, sp.Flag, fe.Msg))
		}
	}
	return errors.Join(out...)
}

// Reload is the answer to a reload of the configuration file (POST
// /api/config/reload, SIGHUP).
type Reload struct {
	// Settings are the live settings in force.
	Settings Settings `json:"settings"`
	// Changed are the keys of the live settings the reload changed.
	Changed []string `json:"changed"`
	// Restart are the keys of the settings fixed at start whose value in
	// the file differs from the one in force, which a restart would take.
	Restart []string `json:"restart"`
}

// Patch is a patch that sets every live setting to its value in s.
func (s Settings) Patch() Patch {
	var p Patch
	for _, name := range Names() {
		v, _ := s.Get(name)
		if err := p.Set(name, v); err != nil {
			panic("config: a setting does not patch itself: " + err.Error()) // a bug of Get or Set
		}
	}
	return p
}

// Changed lists the keys (flag names) of the live settings whose value
// differs between s and next, in the order of Specs.
func (s Settings) Changed(next Settings) []string {
	out := []string{}
	for _, sp := range Specs() {
		if !sp.Live {
			continue
		}
		a, _ := s.Get(sp.Name)
		b, _ := next.Get(sp.Name)
		if a != b {
			out = append(out, sp.Flag)
		}
	}
	return slices.Clip(out)
}
