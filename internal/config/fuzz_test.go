package config

import (
	"bytes"
	"testing"
)

// FuzzDecodePatch: any input either decodes into a patch whose application
// to valid settings yields valid settings or an error, or is refused with
// an error; never a panic, never an invalid result.
func FuzzDecodePatch(f *testing.F) {
	for _, seed := range []string{
		`{"rate": 400}`, `{"rate": -1}`, `{"workers": 2, "policy": "lifo"}`, `{"tickMs": 1e400}`,
		`{"colour": "red"}`, `{"rate": "fast"}`, `{"rate": 1} {}`, `{`, ``, `null`, `[]`,
		`{"deadlineMs": 0.5, "workDist": "exp", "processor": "cpu", "arrivals": "poisson", "queueCap": 1000000}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePatch(bytes.NewReader(data))
		if err != nil {
			return
		}
		base := Defaults()
		got, err := base.Apply(p)
		if err != nil {
			if got != base {
				t.Fatalf("a refused patch changed the settings: %+v", got)
			}
			return
		}
		if verr := got.Validate(); verr != nil {
			t.Fatalf("Apply accepted invalid settings %+v: %v", got, verr)
		}
	})
}

func TestDefaultsAreValid(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Fatal(err)
	}
}
