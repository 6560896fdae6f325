package pipeline

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/ontime-rt/ontime/internal/event"
)

// Conservation, as a property: under random policies, pool and queue sizes,
// fixed or adaptive concurrency, deadlines, work and arrival patterns (with
// rate changes), processors that fail, hang until their deadline or answer
// with an output, and live changes of workers, queue, policy, concurrency
// and processor between phases, every submitted event is admitted once and
// finished once, the statuses add up, a failure kind is set exactly when an
// event failed, and nothing is left in flight once Run returns. The
// recorder fails the test on any double admission or double finish.
func TestConservationProperty(t *testing.T) {
	synctest.Test(t, func(st *testing.T) {
		// rapid asks a *testing.T for its deadline, which a synctest bubble
		// forbids; wrapping hides the concrete type.
		rapid.Check(bubbleTB{st}, func(t *rapid.T) {
			rec := newRecorder(st)
			cfg := Config{
				Workers:      rapid.IntRange(1, 8).Draw(t, "workers"),
				QueueCap:     rapid.IntRange(1, 64).Draw(t, "queue"),
				Policy:       rapid.SampledFrom(Policies).Draw(t, "policy"),
				DrainTimeout: time.Duration(rapid.IntRange(1, 200).Draw(t, "drainMs")) * time.Millisecond,
				Concurrency:  rapid.SampledFrom(Concurrencies).Draw(t, "concurrency"),
			}
			p, err := New(cfg, drawProcessor(t, ""), rec)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()

			// Phases of arrivals at different rates, with random deadlines
			// and per-event work; some events arrive already stale.
			var n int
			for phase := range rapid.IntRange(1, 4).Draw(t, "phases") {
				if phase > 0 {
					// Live changes between phases, as PATCH /api/config makes.
					switch rapid.IntRange(0, 4).Draw(t, "change") {
					case 1:
						if err := p.SetWorkers(rapid.IntRange(1, 8).Draw(t, "newWorkers")); err != nil {
							t.Fatal(err)
						}
					case 2:
						if err := p.SetQueue(rapid.IntRange(1, 64).Draw(t, "newQueue"), rapid.SampledFrom(Policies).Draw(t, "newPolicy")); err != nil {
							t.Fatal(err)
						}
					case 3:
						p.SetProcessor(drawProcessor(t, "new"))
					case 4:
						if err := p.SetConcurrency(rapid.SampledFrom(Concurrencies).Draw(t, "newConcurrency")); err != nil {
							t.Fatal(err)
						}
					}
				}
				gap := time.Duration(rapid.IntRange(0, 20_000).Draw(t, "gapUs")) * time.Microsecond
				for range rapid.IntRange(0, 150).Draw(t, "events") {
					ev := event.Event{
						ID:        uuid.New(),
						CreatedAt: time.Now().Add(-time.Duration(rapid.IntRange(0, 50).Draw(t, "ageMs")) * time.Millisecond),
						Deadline:  time.Duration(rapid.IntRange(1, 200).Draw(t, "deadlineMs")) * time.Millisecond,
						Work:      time.Duration(rapid.IntRange(0, 60).Draw(t, "evWorkMs")) * time.Millisecond,
					}
					p.Submit(ev)
					n++
					time.Sleep(gap)
				}
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			admitted, finished, by, _ := rec.counts()
			if admitted != n || finished != n {
				t.Fatalf("submitted %d, admitted %d, finished %d", n, admitted, finished)
			}
			if by[event.OnTime]+by[event.Late]+by[event.Dropped] != n {
				t.Fatalf("statuses %v do not add up to %d", by, n)
			}
			if g := p.Gauges(); g.QueueDepth != 0 || g.Busy != 0 {
				t.Fatalf("left behind: %+v", g)
			}
			for _, r := range rec.results {
				if r.Status == event.Late && r.Reason == event.ReasonNone {
					t.Fatalf("work that honours cancellation overran its deadline: %+v", r)
				}
				if (r.Reason == event.Failed) != (r.Failure != "") {
					t.Fatalf("failure kind %q with reason %q: want one exactly when failed", r.Failure, r.Reason)
				}
				if r.Status == event.Dropped && r.Output != nil {
					t.Fatalf("a dropped event has an output: %+v", r)
				}
			}
		})
	})
}

// bubbleTB is a testing.T inside a synctest bubble, for rapid.
type bubbleTB struct{ *testing.T }

// drawProcessor draws a processor: simulated work, optionally bounded (the
// workers beyond the bound wait for a slot), that may also fail (with a
// kind or a plain error), hang until its deadline, or answer an output.
func drawProcessor(t *rapid.T, prefix string) Processor {
	sleep := Sleep{Mean: time.Duration(rapid.IntRange(0, 80).Draw(t, prefix+"workMs")) * time.Millisecond}
	var proc Processor = sleep
	if bound := rapid.IntRange(0, 3).Draw(t, prefix+"bound"); bound > 0 {
		proc = boundedSleep{sleep, bound}
	}
	failPct := rapid.IntRange(0, 100).Draw(t, prefix+"failPct")
	hangPct := rapid.IntRange(0, 100).Draw(t, prefix+"hangPct")
	output := rapid.Bool().Draw(t, prefix+"output")
	if failPct == 0 && hangPct == 0 && !output {
		return proc
	}
	return ProcessorFunc(func(ctx context.Context, ev event.Event) ([]byte, error) {
		// Decided by the event, so the outcome does not depend on the
		// order the workers run in.
		roll := int(ev.ID[0]) * 100 / 256
		switch {
		case roll < failPct && ev.ID[1]%2 == 0:
			return nil, &event.Failure{Kind: "http-503", Err: errors.New("503 Service Unavailable")}
		case roll < failPct:
			return []byte("{}"), errors.New("connection refused")
		case roll < failPct+hangPct:
			<-ctx.Done()
			return nil, ctx.Err()
		}
		out, err := proc.Process(ctx, ev)
		if err == nil && output {
			out = []byte(`{"ok":true}`)
		}
		return out, err
	})
}

// boundedSleep is Sleep declaring a bound on events at once.
type boundedSleep struct {
	Sleep
	bound int
}

func (b boundedSleep) MaxConcurrent() int { return b.bound }
