package config

import (
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// The text of a setting is how the command line, the environment and the
// configuration file write it: a duration for milliseconds ("100ms",
// "1.5s"), a size for bytes ("65536", "64MiB"), else the value as JSON
// writes a scalar. Parse reads it and Format writes it, so that every
// place that takes text takes the same and refuses it in the same words.

// Parse reads the text of a value of the setting: a float64 for a
// Number, an int64 for an Integer, a bool for a Boolean, the text itself
// for a String. The error says what the setting takes, like "want a
// duration like 100ms or 1.5s"; the range and choices are Check's.
func (s Spec) Parse(text string) (any, error) {
	switch s.Type {
	case Number:
		if s.Unit == "ms" {
			d, err := time.ParseDuration(text)
			if err != nil {
				return nil, errors.New(s.wantText())
			}
			return float64(d) / float64(time.Millisecond), nil
		}
		x, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, errors.New(s.wantText())
		}
		return x, nil
	case Integer:
		if s.Unit == "bytes" {
			n, err := parseBytes(text)
			if err != nil {
				return nil, err
			}
			return n, nil
		}
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, errors.New(s.wantText())
		}
		return n, nil
	case Boolean:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, errors.New(s.wantText())
		}
		return b, nil
	}
	return text, nil
}

const wantSize = "want a size like 65536, 512KiB, 64MiB or 1GiB"

// wantText says what text the setting takes, whatever its range.
func (s Spec) wantText() string {
	switch {
	case s.Type == Number && s.Unit == "ms":
		return "want a duration like 100ms or 1.5s"
	case s.Type == Number:
		return "want a number like 20 or 12.5"
	case s.Type == Integer && s.Unit == "bytes":
		return wantSize
	case s.Type == Integer:
		return "want a whole number like 8"
	case s.Type == Boolean:
		return "want true or false"
	}
	return "want text"
}

// Format writes a value of the setting (any number, bool or string kind)
// as Parse reads it.
func (s Spec) Format(v any) string {
	x := reflect.ValueOf(v)
	switch x.Kind() {
	case reflect.Float64, reflect.Float32:
		if s.Unit == "ms" {
			return time.Duration(math.Round(x.Float() * float64(time.Millisecond))).String()
		}
		return strconv.FormatFloat(x.Float(), 'g', -1, 64)
	case reflect.Int, reflect.Int64, reflect.Int32:
		if s.Unit == "bytes" {
			return formatBytes(x.Int())
		}
		return strconv.FormatInt(x.Int(), 10)
	case reflect.Bool:
		return strconv.FormatBool(x.Bool())
	case reflect.String:
		return x.String()
	}
	return ""
}

var byteUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}}

// formatBytes writes n with the largest binary unit that divides it.
func formatBytes(n int64) string {
	for i := len(byteUnits) - 2; i >= 0; i-- { // TiB down to KiB
		if u := byteUnits[i]; n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// parseBytes reads a size in bytes, a whole number with an optional binary
// unit: 65536, 512KiB, 64MiB, 1GiB.
func parseBytes(v string) (int64, error) {
	num, mult := v, int64(1)
	for _, u := range byteUnits {
		if s, ok := strings.CutSuffix(v, u.suffix); ok {
			num, mult = s, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, errors.New(wantSize)
	}
	return n * mult, nil
}
