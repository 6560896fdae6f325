package main

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

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
	return f.spec.Format(f.v.Interface())
}

// Set reads text as config.Spec.Parse does, the same for the command line,
// the environment and the configuration file.
func (f specValue) Set(text string) error {
	x, err := f.spec.Parse(text)
	if err != nil {
		return err
	}
	switch v := x.(type) {
	case float64:
		f.v.SetFloat(v)
	case int64:
		if f.v.OverflowInt(v) {
			return errors.New("out of range")
		}
		f.v.SetInt(v)
	case bool:
		f.v.SetBool(v)
	case string:
		f.v.SetString(v)
	}
	return nil
}

// IsBoolFlag lets a boolean setting be given as --pprof, without a value.
func (f specValue) IsBoolFlag() bool { return f.v.IsValid() && f.v.Kind() == reflect.Bool }

// flagText writes a value of the setting as its flag takes it.
func flagText(sp config.Spec, v any) string { return sp.Format(v) }

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

// configDoc is the flag that names the configuration file, no setting
// either.
var configDoc = flagDoc{name: "config", def: "none", meaning: "a YAML configuration file whose keys are these flags' names (tick: 100ms, workers: 8); the environment and the command line win over it; the token is never read from it. SIGHUP or POST /api/config/reload reads it again and applies the live settings"}

// flagDocs lists every flag in the order of config.Specs, then --config
// and --version.
func flagDocs() []flagDoc {
	var out []flagDoc
	for _, sp := range config.Specs() {
		out = append(out, docOf(sp))
	}
	return append(out, configDoc, versionDoc)
}

// usage writes --help: every flag with its default and meaning.
func usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: ontime [flags]\n\nEvery flag can also be set with the environment variable ONTIME_<FLAG> (e.g.\nONTIME_RATE=100, ONTIME_WORK_DIST=exp), and every setting but the token in the\nfile of --config under the flag's name (rate: 100); flags win over the\nenvironment, which wins over the file.\n\nFlags:\n")
	for _, d := range flagDocs() {
		fmt.Fprintf(w, "  --%s (default: %s)\n      %s\n", d.name, d.def, d.meaning)
	}
}
