package pipeline

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/ontime-rt/ontime/internal/event"
)

// Conservation, as a property: under random policies, pool and queue sizes,
// deadlines, work and arrival patterns (with rate changes), and live changes
// of workers, queue, policy and processor between phases, every submitted
// event is admitted once and finished once, the statuses add up, and nothing
// is left in flight once Run returns. The recorder fails the test on any
// double admission or double finish.
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
			}
			work := time.Duration(rapid.IntRange(0, 80).Draw(t, "workMs")) * time.Millisecond
			p, err := New(cfg, Sleep{Mean: work}, rec)
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
					switch rapid.IntRange(0, 3).Draw(t, "change") {
					case 1:
						if err := p.SetWorkers(rapid.IntRange(1, 8).Draw(t, "newWorkers")); err != nil {
							t.Fatal(err)
						}
					case 2:
						if err := p.SetQueue(rapid.IntRange(1, 64).Draw(t, "newQueue"), rapid.SampledFrom(Policies).Draw(t, "newPolicy")); err != nil {
							t.Fatal(err)
						}
					case 3:
						sleep := Sleep{Mean: time.Duration(rapid.IntRange(0, 80).Draw(t, "newWorkMs")) * time.Millisecond}
						if bound := rapid.IntRange(0, 3).Draw(t, "bound"); bound > 0 {
							// A bounded processor: workers beyond the
							// bound wait for a slot.
							p.SetProcessor(boundedSleep{sleep, bound})
						} else {
							p.SetProcessor(sleep)
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
			}
		})
	})
}

// bubbleTB is a testing.T inside a synctest bubble, for rapid.
type bubbleTB struct{ *testing.T }

// boundedSleep is Sleep declaring a bound on events at once.
type boundedSleep struct {
	Sleep
	bound int
}

func (b boundedSleep) MaxConcurrent() int { return b.bound }
