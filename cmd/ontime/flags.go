package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/ontime-rt/ontime/internal/config"
)

// specValue is the flag of one setting: its text is read and written as
// the setting's config.Spec says (a duration for milliseconds, a size for
// bytes, else its JSON type), into v, the field it sets.
type specValue struct {
	spec config.Spec
	v    reflect.Value // settable: a float64, int, int64, bool or string kind
}

func (f specValue) String() string {
	if !f.v.IsValid() { // the zero Value flag.PrintDefaults makes
		return ""
	}
	switch f.v.Kind() {
	case reflect.Float64:
		if f.spec.Unit == "ms" {
			return time.Duration(math.Round(f.v.Float() * float64(time.Millisecond))).String()
		}
		return strconv.FormatFloat(f.v.Float(), 'g', -1, 64)
	case reflect.Int, reflect.Int64:
		if f.spec.Unit == "bytes" {
			return formatBytes(f.v.Int())
		}
		return strconv.FormatInt(f.v.Int(), 10)
	case reflect.Bool:
		return strconv.FormatBool(f.v.Bool())
	}
	return f.v.String()
}

func (f specValue) Set(text string) error {
	switch f.v.Kind() {
	case reflect.Float64:
		if f.spec.Unit == "ms" {
			d, err := time.ParseDuration(text)
			if err != nil {
				return errors.New("want a duration like 100ms or 1.5s")
			}
			f.v.SetFloat(float64(d) / float64(time.Millisecond))
			return nil
		}
		x, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return errors.New("want a number like 20 or 12.5")
		}
		f.v.SetFloat(x)
	case reflect.Int, reflect.Int64:
		var n int64
		var err error
		if f.spec.Unit == "bytes" {
			n, err = parseBytes(text)
		} else if n, err = strconv.ParseInt(text, 10, 64); err != nil {
			err = errors.New("want a whole number like 8")
		}
		if err != nil {
			return err
		}
		if f.v.OverflowInt(n) {
			return errors.New("out of range")
		}
		f.v.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return errors.New("want true or false")
		}
		f.v.SetBool(b)
	default:
		f.v.SetString(text)
	}
	return nil
}

// IsBoolFlag lets a boolean setting be given as --pprof, without a value.
func (f specValue) IsBoolFlag() bool { return f.v.IsValid() && f.v.Kind() == reflect.Bool }

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
		return 0, errors.New("want a size like 65536, 512KiB, 64MiB or 1GiB")
	}
	return n * mult, nil
}

// flagText writes a value of the setting as its flag takes it.
func flagText(sp config.Spec, v any) string {
	x := reflect.New(reflect.TypeOf(v)).Elem()
	x.Set(reflect.ValueOf(v))
	return specValue{sp, x}.String()
}

// flagDoc is one flag as --help and README's table show it.
type flagDoc struct {
	name    string // without dashes
	def     string // the default, in words
	meaning string
}

// docOf describes the flag of a setting.
func docOf(sp config.Spec) flagDoc {
	d := flagDoc{name: sp.Flag, def: flagText(sp, sp.Default), meaning: sp.Help}
	switch d.def {
	case "":
		d.def = "none"
	case "false":
		d.def = "off"
	}
	if sp.WorkerDefault != nil {
		d.def += ", or " + flagText(sp, sp.WorkerDefault) + " with --processor http or nats"
	}
	if r := rangeText(sp); r != "" {
		d.meaning += "; takes " + r
	}
	if len(sp.Choices) > 0 && !mentionsAll(sp.Help, sp.Choices) {
		d.meaning += ": " + strings.Join(sp.Choices, ", ")
	}
	return d
}

// rangeText is a number's range as its flag takes it: "1ms to 1m0s",
// "1MiB to 64GiB", "0 (off) to 1000000 events/s".
func rangeText(sp config.Spec) string {
	if sp.Min == nil && sp.Max == nil {
		return ""
	}
	if sp.Unit != "ms" && sp.Unit != "bytes" {
		return strings.TrimPrefix(sp.Want(), "want ")
	}
	at := func(b float64) string {
		if sp.Unit == "ms" {
			return flagText(sp, b)
		}
		return flagText(sp, int64(b))
	}
	s := "at least " + at(*sp.Min)
	if sp.Max != nil {
		s = at(*sp.Min) + " to " + at(*sp.Max)
	}
	if sp.Unit == "ms" {
		s += ", a duration like 100ms or 1.5s"
	} else {
		s += ", a size like 65536, 512KiB or 64MiB"
	}
	return s
}

func mentionsAll(help string, choices []string) bool {
	for _, c := range choices {
		if !strings.Contains(help, c) {
			return false
		}
	}
	return true
}

// versionDoc is the one flag that is no setting.
var versionDoc = flagDoc{name: "version", def: "off", meaning: "print the version and the commit it was built from, and exit"}

// flagDocs lists every flag in the order of config.Specs, --version last.
func flagDocs() []flagDoc {
	var out []flagDoc
	for _, sp := range config.Specs() {
		out = append(out, docOf(sp))
	}
	return append(out, versionDoc)
}

// usage writes --help: every flag with its default and meaning.
func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: ontime [flags]\n\nEvery flag can also be set with the environment variable ONTIME_<FLAG> (e.g.\nONTIME_RATE=100, ONTIME_WORK_DIST=exp); flags win over the environment.\n\nFlags:\n")
	for _, d := range flagDocs() {
		fmt.Fprintf(w, "  --%s (default: %s)\n      %s\n", d.name, d.def, d.meaning)
	}
}
