package main

import (
	"io"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Bad settings are refused with a message naming them, before anything
// runs.
func TestParseRefusesBadSettings(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-worker-sections", "ax"}, `--worker-sections "ax": want some of the letters abcd`},
		{[]string{"-worker-sections", ""}, "--worker-sections"},
		{[]string{"-loads", "0"}, "--loads"},
		{[]string{"-policies", "random"}, "--policies"},
		{[]string{"-worker-run", "10ms"}, "bad worker suite settings"},
	} {
		if _, err := parse(append([]string{"ontime-bench"}, c.args...), io.Discard); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parse(%v) = %v, want an error with %q", c.args, err, c.want)
		}
	}
	o, err := parse([]string{"ontime-bench", "-worker", "-worker-sections", "bd"}, io.Discard)
	if err != nil || !o.workerSuite || o.sections != "bd" {
		t.Fatalf("parse of a valid command line: %+v, %v", o, err)
	}
}
