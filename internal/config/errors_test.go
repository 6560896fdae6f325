package config

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestFlatten(t *testing.T) {
	a, b, c := errors.New("a"), errors.New("b"), errors.New("c")
	wrapped := fmt.Errorf("wrapped: %w", c) // one error, not a join
	for _, tc := range []struct {
		name string
		err  error
		want []error
	}{
		{"nil", nil, nil},
		{"one", a, []error{a}},
		{"joined, nested, in order", errors.Join(a, errors.Join(b, wrapped)), []error{a, b, wrapped}},
	} {
		if got := Flatten(tc.err); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
