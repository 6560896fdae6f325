package config

import (
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the React tests' copy of the schema")

// schemaFixture is the schema the React dashboard's tests build their form
// from, so that they repeat none of the settings' limits and choices.
const schemaFixture = "../../frontend-react/src/test/schema.json"

// The React tests' schema is the server's (go test ./internal/config -run
// Fixture -update rewrites it).
func TestSchemaFixtureIsTheSchema(t *testing.T) {
	want, err := json.MarshalIndent(TheSchema(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *update {
		if err := os.WriteFile(schemaFixture, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(schemaFixture)
	if err != nil || string(got) != string(want) {
		t.Fatalf("%s differs from TheSchema() (go test ./internal/config -run Fixture -update): %v", schemaFixture, err)
	}
}

// Every live setting is a field of Settings with its spec, typed as the
// spec says, in the same order; names, flags and env are unique; defaults
// are valid, and a choice's default is its first choice.
func TestSpecsDescribeSettings(t *testing.T) {
	typ := reflect.TypeFor[Settings]()
	var live []Spec
	names, flags := map[string]bool{}, map[string]bool{}
	for _, sp := range Specs() {
		if names[sp.Name] || flags[sp.Flag] {
			t.Errorf("%s: name or flag %s given twice", sp.Name, sp.Flag)
		}
		names[sp.Name], flags[sp.Flag] = true, true
		if sp.Env != EnvName(sp.Flag) || sp.Label == "" || sp.Help == "" {
			t.Errorf("%s: env %q, label %q, help %q", sp.Name, sp.Env, sp.Label, sp.Help)
		}
		if len(sp.Choices) > 0 && sp.Default != sp.Choices[0] {
			t.Errorf("%s: default %v is not its first choice %s", sp.Name, sp.Default, sp.Choices[0])
		}
		if err := sp.Check(sp.Default); err != nil {
			t.Errorf("%s: default: %v", sp.Name, err)
		}
		if sp.Live {
			live = append(live, sp)
		}
	}
	if len(live) != typ.NumField() {
		t.Fatalf("%d live specs for %d fields of Settings", len(live), typ.NumField())
	}
	d := Defaults()
	for i, sp := range live {
		f := typ.Field(i)
		if Names()[i] != sp.Name {
			t.Errorf("field %d is %s, spec %s", i, Names()[i], sp.Name)
		}
		kind := map[reflect.Kind]Type{reflect.Float64: Number, reflect.Int: Integer, reflect.String: String}[f.Type.Kind()]
		if kind != sp.Type {
			t.Errorf("%s: a %s field, spec type %s", sp.Name, f.Type, sp.Type)
		}
		if v, _ := d.Get(sp.Name); v != sp.Default {
			t.Errorf("%s: Defaults() has %v, its spec %v", sp.Name, v, sp.Default)
		}
	}
}
