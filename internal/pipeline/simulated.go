package pipeline

import (
	"context"
	"time"

	"github.com/ontime-rt/ontime/internal/event"
)

// Sleep is the built-in Processor: it simulates work that waits (on I/O, a
// remote call) by sleeping for the event's Work, or for Default when the
// event asks for none. It honours cancellation at once.
type Sleep struct {
	// Default is the work of an event that does not set its own.
	Default time.Duration
}

// Expect is the work the event asks for.
func (s Sleep) Expect(ev event.Event) time.Duration {
	if ev.Work != 0 {
		return ev.Work
	}
	return s.Default
}

// Process sleeps for the event's work or until ctx ends, whichever is first.
func (s Sleep) Process(ctx context.Context, ev event.Event) error {
	d := ev.Work
	if d == 0 {
		d = s.Default
	}
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ProcessorFunc adapts a function to the Processor interface.
type ProcessorFunc func(ctx context.Context, ev event.Event) error

// Process calls f.
func (f ProcessorFunc) Process(ctx context.Context, ev event.Event) error { return f(ctx, ev) }
