package source

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type collector struct {
	mu     sync.Mutex
	events []event.Event
	accept bool
}

func (c *collector) Submit(ev event.Event) (bool, event.Reason) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, ev)
	if !c.accept {
		return false, event.QueueFull
	}
	return true, event.ReasonNone
}

func (c *collector) snapshot() []event.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]event.Event(nil), c.events...)
}

// Events are due at start + n/rate exactly, stamped with that intended time,
// and a rejecting consumer never stalls the schedule.
func TestGeneratorSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &collector{} // refuses everything, like a full queue
		g, err := NewGenerator(GeneratorConfig{Rate: 3, Deadline: 250 * time.Millisecond, Work: 7 * time.Millisecond}, out)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		start := time.Now()
		go func() { done <- g.Run(ctx) }()
		time.Sleep(10*time.Second + time.Millisecond)
		cancel()
		<-done
		evs := out.snapshot()
		if len(evs) != 31 { // t = 0, 1/3 s, ..., 10 s
			t.Fatalf("%d events in 10 s at 3/s, want 31", len(evs))
		}
		seen := map[string]bool{}
		for n, ev := range evs {
			want := start.Add(time.Duration(float64(n) * float64(time.Second) / 3))
			if !ev.CreatedAt.Equal(want) {
				t.Fatalf("event %d created at +%s, want +%s", n, ev.CreatedAt.Sub(start), want.Sub(start))
			}
			if ev.Deadline != 250*time.Millisecond || ev.Work != 7*time.Millisecond || ev.Source != "generator" {
				t.Fatalf("event %d: %+v", n, ev)
			}
			if seen[ev.ID.String()] {
				t.Fatalf("duplicate id %s", ev.ID)
			}
			seen[ev.ID.String()] = true
		}
	})
}

// After a stall (here: the first submit takes 500 ms) the generator catches
// up: every event keeps its intended time, so the stall shows as latency
// instead of a silently lower offered rate (coordinated omission).
func TestGeneratorCatchesUpWithIntendedTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &stalling{stall: 500 * time.Millisecond}
		g, err := NewGenerator(GeneratorConfig{Rate: 100, MaxCatchUp: 7}, out)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		start := time.Now()
		go func() { done <- g.Run(ctx) }()
		time.Sleep(time.Second + time.Millisecond)
		cancel()
		<-done
		if len(out.created) != 101 {
			t.Fatalf("%d events in 1 s at 100/s, want 101", len(out.created))
		}
		for n, c := range out.created {
			if want := start.Add(time.Duration(n) * 10 * time.Millisecond); !c.Equal(want) {
				t.Fatalf("event %d stamped +%s, want its intended +%s", n, c.Sub(start), want.Sub(start))
			}
		}
		// Event 1 was due at 10 ms but could only be emitted after the stall.
		if lag := out.emitted[1].Sub(out.created[1]); lag < 490*time.Millisecond {
			t.Fatalf("event 1 emitted %s after its intended time, want the stall to show", lag)
		}
		if late := g.TakeLateness(); late != 490*time.Millisecond {
			t.Fatalf("schedule error %s, want the 490ms the wake-up after the stall was late", late)
		}
		if late := g.TakeLateness(); late != 0 {
			t.Fatalf("schedule error %s after reset", late)
		}
		if emitted, rate := g.Offered(start.Add(time.Second)); emitted != 101 || rate != 101 {
			t.Fatalf("offered %d at %g/s, want 101 in the first second", emitted, rate)
		}
	})
}

// stalling blocks on its first Submit, as a descheduled process would.
type stalling struct {
	stall            time.Duration
	created, emitted []time.Time
}

func (s *stalling) Submit(ev event.Event) (bool, event.Reason) {
	if len(s.created) == 0 {
		time.Sleep(s.stall)
	}
	s.created = append(s.created, ev.CreatedAt)
	s.emitted = append(s.emitted, time.Now())
	return true, event.ReasonNone
}

// Poisson arrivals keep the mean rate with random gaps.
func TestGeneratorPoisson(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &collector{accept: true}
		r := rand.New(rand.NewPCG(1, 2))
		g, err := NewGenerator(GeneratorConfig{Rate: 100, Poisson: true, Rand: r.Float64}, out)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- g.Run(ctx) }()
		time.Sleep(100 * time.Second)
		cancel()
		<-done
		evs := out.snapshot()
		// 10000 expected; the standard deviation of a Poisson count is 100.
		if n := len(evs); n < 9600 || n > 10400 {
			t.Fatalf("%d events in 100 s at 100/s", n)
		}
		var short, long int
		for i := 1; i < len(evs); i++ {
			gap := evs[i].CreatedAt.Sub(evs[i-1].CreatedAt)
			if gap < 0 {
				t.Fatalf("intended times go backwards at %d", i)
			}
			if gap < 2*time.Millisecond {
				short++
			}
			if gap > 30*time.Millisecond {
				long++
			}
		}
		// Exponential gaps with a 10 ms mean: P(<2ms) = 18%, P(>30ms) = 5%.
		if short < 1300 || long < 300 {
			t.Fatalf("gaps look even, not exponential: %d short, %d long", short, long)
		}
	})
}

func TestNewGeneratorRejectsBadConfig(t *testing.T) {
	for _, cfg := range []GeneratorConfig{{Rate: -1}, {Rate: 1e9}, {Deadline: -time.Second}} {
		if _, err := NewGenerator(cfg, &collector{}); err == nil {
			t.Errorf("NewGenerator(%+v) accepted a bad config", cfg)
		}
	}
}
