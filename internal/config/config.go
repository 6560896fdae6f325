// Package config holds the settings of a running ontime that can change
// live: what they are, their limits, and how a partial update applies.
// The same Settings travel in every batch (so both UIs show what is in
// force), answer GET /api/config, and are patched by PATCH /api/config.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/ontime-rt/ontime/internal/pipeline"
)

// Settings are the live settings: the one description of them, filled
// from the command line at start and changed by PATCH /api/config.
// Durations are milliseconds, as everywhere on the wire. Adding a setting
// is a field here (with its default in Defaults and its check in
// Validate) and a flag in cmd/ontime.
type Settings struct {
	// Rate is the generator's events per second; 0 turns it off. Default 20.
	Rate float64 `json:"rate"`
	// DeadlineMs is each generated event's deadline. Default 100.
	DeadlineMs float64 `json:"deadlineMs"`
	// WorkMs is the mean simulated work per event. Default 50.
	WorkMs float64 `json:"workMs"`
	// WorkDist is the distribution of work: fixed, uniform or exp. Default
	// fixed.
	WorkDist string `json:"workDist"`
	// Processor is sleep (work that waits) or cpu (work that burns a
	// core). Default sleep.
	Processor string `json:"processor"`
	// Arrivals is constant or poisson. Default constant.
	Arrivals string `json:"arrivals"`
	// Workers process events concurrently. Default 4.
	Workers int `json:"workers"`
	// QueueCap bounds the events waiting for a worker. Default 64.
	QueueCap int `json:"queueCap"`
	// Policy is edf, lifo or fifo. Default edf.
	Policy string `json:"policy"`
	// TickMs is the batch period. Default 100.
	TickMs float64 `json:"tickMs"`
}

// Defaults are the settings of a server started without flags.
func Defaults() Settings {
	return Settings{
		Rate: 20, DeadlineMs: 100, WorkMs: 50, WorkDist: "fixed", Processor: "sleep",
		Arrivals: "constant", Workers: 4, QueueCap: 64, Policy: "edf", TickMs: 100,
	}
}

// Limits.
const (
	MaxRate     = 1_000_000
	MaxMs       = 60_000 // deadline and work
	MaxWorkers  = 10_000
	MaxQueueCap = 1_000_000
	MinTickMs   = 10
	MaxTickMs   = 10_000
)

// WorkDists lists the work distributions, the default first: the
// pipeline's own list, so the two cannot drift apart.
func WorkDists() []string { return names(pipeline.Dists) }

// Policies lists the queueing policies, the default first, from the
// pipeline.
func Policies() []string { return names(pipeline.Policies) }

// Processors lists the simulated processors, the default first.
func Processors() []string { return []string{"sleep", "cpu"} }

// ArrivalSet lists the spacings of generated events, the default first.
func ArrivalSet() []string { return []string{"constant", "poisson"} }

func names[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

// FieldError says what is wrong with one setting.
type FieldError struct {
	// Field is the JSON name of the setting (or, for a start-up option
	// that is no live setting, its name in the same style, like maxBody).
	Field string
	// Msg says what is wrong, with the value given when it helps.
	Msg string
	// Want is what the setting takes, without the value given ("want 1 to
	// 10000"), for a caller that shows the value in its own form, as the
	// command line does; empty when Msg says it all.
	Want string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Bad reports that field's value v is not what it takes (want).
func Bad(field, want string, v any) *FieldError {
	return &FieldError{Field: field, Msg: fmt.Sprintf("%s, got %v", want, v), Want: want}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func oneOf(field, v string, choices []string) error {
	if slices.Contains(choices, v) {
		return nil
	}
	list := strings.Join(choices, ", ")
	return &FieldError{Field: field, Msg: fmt.Sprintf("%q is not one of %s", v, list), Want: "want one of " + list}
}

// Validate reports every setting out of its limits, each as a *FieldError
// (joined).
func (s Settings) Validate() error {
	var errs []error
	bad := func(field, want string, v any) { errs = append(errs, Bad(field, want, v)) }
	if !finite(s.Rate) || s.Rate < 0 || s.Rate > MaxRate {
		bad("rate", fmt.Sprintf("want 0 (off) to %d events/s", MaxRate), s.Rate)
	}
	if !finite(s.DeadlineMs) || s.DeadlineMs < 1 || s.DeadlineMs > MaxMs {
		bad("deadlineMs", fmt.Sprintf("want 1 to %d ms", MaxMs), s.DeadlineMs)
	}
	if !finite(s.WorkMs) || s.WorkMs < 0 || s.WorkMs > MaxMs {
		bad("workMs", fmt.Sprintf("want 0 to %d ms", MaxMs), s.WorkMs)
	}
	if s.Workers < 1 || s.Workers > MaxWorkers {
		bad("workers", fmt.Sprintf("want 1 to %d", MaxWorkers), s.Workers)
	}
	if s.QueueCap < 1 || s.QueueCap > MaxQueueCap {
		bad("queueCap", fmt.Sprintf("want 1 to %d", MaxQueueCap), s.QueueCap)
	}
	if !finite(s.TickMs) || s.TickMs < MinTickMs || s.TickMs > MaxTickMs {
		bad("tickMs", fmt.Sprintf("want %d to %d ms", MinTickMs, MaxTickMs), s.TickMs)
	}
	for _, e := range []error{
		oneOf("workDist", s.WorkDist, WorkDists()),
		oneOf("processor", s.Processor, Processors()),
		oneOf("arrivals", s.Arrivals, ArrivalSet()),
		oneOf("policy", s.Policy, Policies()),
	} {
		if e != nil {
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}

// Patch is a partial update: the settings it names change, the others stay.
type Patch struct {
	Rate       *float64 `json:"rate"`
	DeadlineMs *float64 `json:"deadlineMs"`
	WorkMs     *float64 `json:"workMs"`
	WorkDist   *string  `json:"workDist"`
	Processor  *string  `json:"processor"`
	Arrivals   *string  `json:"arrivals"`
	Workers    *int     `json:"workers"`
	QueueCap   *int     `json:"queueCap"`
	Policy     *string  `json:"policy"`
	TickMs     *float64 `json:"tickMs"`
}

// MaxPatchBytes bounds a patch document.
const MaxPatchBytes = 4096

// DecodePatch reads one JSON object of settings. Unknown fields, wrong
// types, trailing data and documents over MaxPatchBytes are errors that say
// what and where.
func DecodePatch(r io.Reader) (Patch, error) {
	var p Patch
	data, err := io.ReadAll(io.LimitReader(r, MaxPatchBytes+1))
	if err != nil {
		return p, fmt.Errorf("read patch: %w", err)
	}
	if len(data) > MaxPatchBytes {
		return p, fmt.Errorf("patch larger than %d bytes", MaxPatchBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return p, errors.New("empty patch: send a JSON object of the settings to change")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return p, fmt.Errorf("malformed JSON at byte %d: %v", syn.Offset, syn)
		case errors.As(err, &typ):
			return p, &FieldError{Field: typ.Field, Msg: fmt.Sprintf("want a %s, got %s", typ.Type, typ.Value)}
		default:
			return p, fmt.Errorf("invalid patch: %v", err)
		}
	}
	if dec.More() {
		return p, errors.New("trailing data after the JSON object")
	}
	return p, nil
}

// Apply returns s with the patch applied, validated. s is unchanged when
// the result is invalid.
func (s Settings) Apply(p Patch) (Settings, error) {
	out := s
	set := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	setS := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setI := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&out.Rate, p.Rate)
	set(&out.DeadlineMs, p.DeadlineMs)
	set(&out.WorkMs, p.WorkMs)
	setS(&out.WorkDist, p.WorkDist)
	setS(&out.Processor, p.Processor)
	setS(&out.Arrivals, p.Arrivals)
	setI(&out.Workers, p.Workers)
	setI(&out.QueueCap, p.QueueCap)
	setS(&out.Policy, p.Policy)
	set(&out.TickMs, p.TickMs)
	if err := out.Validate(); err != nil {
		return s, err
	}
	return out, nil
}
