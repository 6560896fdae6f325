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
	"strings"

	"github.com/ontime-rt/ontime/internal/pipeline"
)

// Settings are the live settings. Durations are milliseconds, as everywhere
// on the wire.
type Settings struct {
	// Rate is the generator's events per second; 0 turns it off.
	Rate float64 `json:"rate"`
	// DeadlineMs is each generated event's deadline.
	DeadlineMs float64 `json:"deadlineMs"`
	// WorkMs is the mean simulated work per event.
	WorkMs float64 `json:"workMs"`
	// WorkDist is the distribution of work: fixed, uniform or exp.
	WorkDist string `json:"workDist"`
	// Processor is sleep (work that waits) or cpu (work that burns a core).
	Processor string `json:"processor"`
	// Arrivals is constant or poisson.
	Arrivals string `json:"arrivals"`
	// Workers process events concurrently.
	Workers int `json:"workers"`
	// QueueCap bounds the events waiting for a worker.
	QueueCap int `json:"queueCap"`
	// Policy is edf, lifo or fifo.
	Policy string `json:"policy"`
	// TickMs is the batch period.
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
	Field string // the JSON name of the setting
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func oneOf(field, v string, choices []string) error {
	for _, c := range choices {
		if v == c {
			return nil
		}
	}
	return &FieldError{field, fmt.Sprintf("%q is not one of %s", v, strings.Join(choices, ", "))}
}

// Validate reports every setting out of its limits, each as a *FieldError
// (joined).
func (s Settings) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{field, fmt.Sprintf(format, args...)})
	}
	if !finite(s.Rate) || s.Rate < 0 || s.Rate > MaxRate {
		bad("rate", "want 0 (off) to %d events/s, got %g", MaxRate, s.Rate)
	}
	if !finite(s.DeadlineMs) || s.DeadlineMs < 1 || s.DeadlineMs > MaxMs {
		bad("deadlineMs", "want 1 to %d ms, got %g", MaxMs, s.DeadlineMs)
	}
	if !finite(s.WorkMs) || s.WorkMs < 0 || s.WorkMs > MaxMs {
		bad("workMs", "want 0 to %d ms, got %g", MaxMs, s.WorkMs)
	}
	if s.Workers < 1 || s.Workers > MaxWorkers {
		bad("workers", "want 1 to %d, got %d", MaxWorkers, s.Workers)
	}
	if s.QueueCap < 1 || s.QueueCap > MaxQueueCap {
		bad("queueCap", "want 1 to %d, got %d", MaxQueueCap, s.QueueCap)
	}
	if !finite(s.TickMs) || s.TickMs < MinTickMs || s.TickMs > MaxTickMs {
		bad("tickMs", "want %d to %d ms, got %g", MinTickMs, MaxTickMs, s.TickMs)
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
			return p, &FieldError{typ.Field, fmt.Sprintf("want a %s, got %s", typ.Type, typ.Value)}
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
