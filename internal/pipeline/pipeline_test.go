package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder collects admissions and outcomes, checking each event ends once.
type recorder struct {
	t        *testing.T
	mu       sync.Mutex
	admitted map[uuid.UUID]bool
	results  map[uuid.UUID]event.Result
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{t: t, admitted: map[uuid.UUID]bool{}, results: map[uuid.UUID]event.Result{}}
}

func (r *recorder) Admit(ev event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.admitted[ev.ID] {
		r.t.Errorf("event %s admitted twice", ev.ID)
	}
	r.admitted[ev.ID] = true
}

func (r *recorder) Finish(res event.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.admitted[res.ID] {
		r.t.Errorf("event %s finished without being admitted", res.ID)
	}
	if prev, ok := r.results[res.ID]; ok {
		r.t.Errorf("event %s finished twice: %s then %s", res.ID, prev.Status, res.Status)
	}
	r.results[res.ID] = res
}

func (r *recorder) result(id uuid.UUID) (event.Result, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok := r.results[id]
	return res, ok
}

func (r *recorder) counts() (admitted, finished int, by map[event.Status]int, reasons map[event.Reason]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	by, reasons = map[event.Status]int{}, map[event.Reason]int{}
	for _, res := range r.results {
		by[res.Status]++
		if res.Reason != "" {
			reasons[res.Reason]++
		}
	}
	return len(r.admitted), len(r.results), by, reasons
}

func newEvent(deadline, work time.Duration) event.Event {
	return event.Event{ID: uuid.New(), Source: "test", CreatedAt: time.Now(), Deadline: deadline, Work: work}
}

// start runs p until the returned stop is called; stop waits for Run.
func start(t *testing.T, p *Pipeline) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func TestOutcomes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t)
		p, err := New(Config{Workers: 1, QueueCap: 4, Policy: FIFO}, Sleep{}, rec)
		if err != nil {
			t.Fatal(err)
		}
		stop := start(t, p)

		onTime := newEvent(100*time.Millisecond, 40*time.Millisecond)
		p.Submit(onTime)
		synctest.Wait()
		time.Sleep(41 * time.Millisecond)
		synctest.Wait()
		res, ok := rec.result(onTime.ID)
		if !ok || res.Status != event.OnTime || res.Latency() != 40*time.Millisecond {
			t.Fatalf("on-time event: got %+v (found %v), want on-time with latency 40ms", res, ok)
		}

		// Work longer than the deadline is cancelled at the deadline.
		slow := newEvent(30*time.Millisecond, 50*time.Millisecond)
		p.Submit(slow)
		time.Sleep(31 * time.Millisecond)
		synctest.Wait()
		res, _ = rec.result(slow.ID)
		if res.Status != event.Late || res.Reason != event.Cancelled || res.Latency() != 30*time.Millisecond {
			t.Fatalf("overrunning event: got %s/%s after %s, want late/cancelled at exactly 30ms", res.Status, res.Reason, res.Latency())
		}
		stop()
	})
}

// The deadline counts from creation: queue wait counts, and an event whose
// deadline passed while it waited is dropped without being processed. (The
// FIFO baseline: the shedding policies would not start the second event.)
func TestQueueWaitCountsAgainstDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t)
		var processed []uuid.UUID
		var mu sync.Mutex
		proc := ProcessorFunc(func(ctx context.Context, ev event.Event) ([]byte, error) {
			mu.Lock()
			processed = append(processed, ev.ID)
			mu.Unlock()
			return Sleep{Mean: 60 * time.Millisecond}.Process(ctx, ev)
		})
		p, err := New(Config{Workers: 1, QueueCap: 4, Policy: FIFO}, proc, rec)
		if err != nil {
			t.Fatal(err)
		}
		stop := start(t, p)
		first := newEvent(100*time.Millisecond, 0)  // runs 0..60ms: on time
		second := newEvent(100*time.Millisecond, 0) // waits 60ms, runs 60..100: cancelled at 100 -> late
		third := newEvent(100*time.Millisecond, 0)  // waits until 100ms: expired, never processed
		for _, ev := range []event.Event{first, second, third} {
			p.Submit(ev)
		}
		time.Sleep(200 * time.Millisecond)
		synctest.Wait()
		want := map[uuid.UUID][2]string{
			first.ID:  {"on-time", ""},
			second.ID: {"late", "cancelled"},
			third.ID:  {"dropped", "expired"},
		}
		for id, w := range want {
			res, _ := rec.result(id)
			if string(res.Status) != w[0] || string(res.Reason) != w[1] {
				t.Errorf("event %s: got %s/%s, want %s/%s", id, res.Status, res.Reason, w[0], w[1])
			}
		}
		if len(processed) != 2 {
			t.Errorf("processor ran %d events, want 2 (the expired one must not run)", len(processed))
		}
		stop()
	})
}

func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t)
		p, err := New(Config{Workers: 1, QueueCap: 2}, Sleep{Mean: time.Second}, rec)
		if err != nil {
			t.Fatal(err)
		}
		// Not running: nothing is consumed, so the third submit finds it full.
		for i, want := range []bool{true, true, false} {
			ok, reason := p.Submit(newEvent(time.Minute, 0))
			if ok != want {
				t.Fatalf("submit %d: ok=%v, want %v", i, ok, want)
			}
			if !ok && reason != event.QueueFull {
				t.Fatalf("submit %d: reason %q, want queue-full", i, reason)
			}
		}
		if g := p.Gauges(); g.QueueDepth != 2 || g.QueueCap != 2 {
			t.Fatalf("gauges %+v, want depth 2 of 2", g)
		}
		stop := start(t, p)
		stop()
		admitted, finished, _, reasons := rec.counts()
		if admitted != 3 || finished != 3 {
			t.Fatalf("admitted %d finished %d, want 3 and 3", admitted, finished)
		}
		if reasons[event.QueueFull] != 1 {
			t.Fatalf("reasons %v, want one queue-full", reasons)
		}
	})
}

// Conservation under overload: offered far beyond capacity, every event ends
// exactly once (the recorder fails the test otherwise), and after Run returns
// nothing is in flight.
func TestConservationUnderOverload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t)
		p, err := New(Config{Workers: 2, QueueCap: 8, DrainTimeout: time.Second}, Sleep{Mean: 50 * time.Millisecond}, rec)
		if err != nil {
			t.Fatal(err)
		}
		stop := start(t, p)
		const n = 2000 // 2000 events in 1 s: 50x the capacity of 40/s
		for range n {
			p.Submit(newEvent(100*time.Millisecond, 0))
			time.Sleep(500 * time.Microsecond)
		}
		stop()
		admitted, finished, by, reasons := rec.counts()
		if admitted != n || finished != n {
			t.Fatalf("admitted %d finished %d, want %d each", admitted, finished, n)
		}
		if by[event.OnTime]+by[event.Late]+by[event.Dropped] != n {
			t.Fatalf("statuses %v do not add up to %d", by, n)
		}
		if by[event.OnTime] == 0 || reasons[event.QueueFull] == 0 {
			t.Fatalf("statuses %v reasons %v: want on-time work done and queue-full drops", by, reasons)
		}
		if g := p.Gauges(); g.QueueDepth != 0 || g.Busy != 0 {
			t.Fatalf("after drain: %+v, want empty and idle", g)
		}
	})
}

func TestShutdownDrainsThenDropsAfterTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t)
		p, err := New(Config{Workers: 1, QueueCap: 4, DrainTimeout: 100 * time.Millisecond}, Sleep{}, rec)
		if err != nil {
			t.Fatal(err)
		}
		stop := start(t, p)
		quick := newEvent(time.Minute, 50*time.Millisecond)
		long := newEvent(time.Minute, time.Second)
		p.Submit(quick)
		p.Submit(long)
		synctest.Wait()
		begin := time.Now()
		stop()
		if took := time.Since(begin); took != 100*time.Millisecond {
			t.Errorf("shutdown took %s, want the drain timeout of 100ms", took)
		}
		if res, _ := rec.result(quick.ID); res.Status != event.OnTime {
			t.Errorf("queued event finished as %s during drain, want on-time", res.Status)
		}
		if res, _ := rec.result(long.ID); res.Status != event.Dropped || res.Reason != event.Shutdown {
			t.Errorf("long event: %s/%s, want dropped/shutdown", res.Status, res.Reason)
		}
		ok, reason := p.Submit(newEvent(time.Minute, 0))
		if ok || reason != event.Shutdown {
			t.Errorf("submit after stop: ok=%v reason=%q, want refused as shutdown", ok, reason)
		}
	})
}

// A failed event is dropped with the kind of its failure: the Kind of an
// *event.Failure the error wraps, "error" for any other error. A processed
// event keeps its output; a failed one has none.
func TestFailuresAndOutputs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t)
		answers := map[string]func() ([]byte, error){
			"plain": func() ([]byte, error) { return []byte("ignored"), errors.New("boom") },
			"failure": func() ([]byte, error) {
				return nil, &event.Failure{Kind: "http-503", Err: errors.New("503 Service Unavailable")}
			},
			"wrapped": func() ([]byte, error) {
				return nil, fmt.Errorf("calling worker: %w", &event.Failure{Kind: "reset", Err: errors.New("connection reset")})
			},
			"output": func() ([]byte, error) { return []byte(`{"ok":true}`), nil },
			"none":   func() ([]byte, error) { return nil, nil },
			"late": func() ([]byte, error) {
				time.Sleep(60 * time.Millisecond) // ignores its context: overruns
				return []byte(`{"late":true}`), nil
			},
		}
		proc := ProcessorFunc(func(ctx context.Context, ev event.Event) ([]byte, error) { return answers[ev.Source]() })
		p, err := New(Config{Workers: 1, Policy: FIFO}, proc, rec)
		if err != nil {
			t.Fatal(err)
		}
		stop := start(t, p)
		want := map[string]event.Result{
			"plain":   {Status: event.Dropped, Reason: event.Failed, Failure: "error"},
			"failure": {Status: event.Dropped, Reason: event.Failed, Failure: "http-503"},
			"wrapped": {Status: event.Dropped, Reason: event.Failed, Failure: "reset"},
			"output":  {Status: event.OnTime, Output: []byte(`{"ok":true}`)},
			"none":    {Status: event.OnTime},
			"late":    {Status: event.Late, Output: []byte(`{"late":true}`)},
		}
		ids := map[string]uuid.UUID{}
		for name := range want {
			ev := newEvent(50*time.Millisecond, 0)
			ev.Source = name
			ids[name] = ev.ID
			p.Submit(ev)
			time.Sleep(70 * time.Millisecond) // one at a time, each with its full deadline
		}
		stop()
		for name, w := range want {
			res, _ := rec.result(ids[name])
			if res.Status != w.Status || res.Reason != w.Reason || res.Failure != w.Failure || string(res.Output) != string(w.Output) {
				t.Errorf("%s: got %s/%s failure %q output %q; want %s/%s failure %q output %q",
					name, res.Status, res.Reason, res.Failure, res.Output, w.Status, w.Reason, w.Failure, w.Output)
			}
		}
	})
}

func TestNewRejectsBadConfig(t *testing.T) {
	rec := newRecorder(t)
	for _, cfg := range []Config{{Workers: -1}, {QueueCap: -5}, {DrainTimeout: -time.Second}, {Policy: "random"}} {
		if _, err := New(cfg, Sleep{}, rec); err == nil {
			t.Errorf("New(%+v) accepted a bad config", cfg)
		}
	}
	if _, err := New(Config{}, nil, rec); err == nil {
		t.Error("New accepted a nil processor")
	}
}

// tracked sleeps for each event's work and records how many events it ran
// at once; bound, when positive, is what it declares as Bounded.
type tracked struct {
	cur, peak *atomic.Int64
}

func (p tracked) Process(ctx context.Context, ev event.Event) ([]byte, error) {
	n := p.cur.Add(1)
	defer p.cur.Add(-1)
	for {
		if old := p.peak.Load(); n <= old || p.peak.CompareAndSwap(old, n) {
			break
		}
	}
	return Sleep{}.Process(ctx, ev)
}

type boundedTracked struct {
	tracked
	bound int
}

func (p boundedTracked) MaxConcurrent() int { return p.bound }

// A Bounded processor runs at most its bound of events at once, whatever
// the workers; the others wait in the queue, in policy order. Swapping in
// an unbounded processor lifts the bound, and shrinking the pool while
// workers wait for a slot leaves nothing behind.
func TestBoundedProcessor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := newRecorder(t)
		var cur, peak atomic.Int64
		p, err := New(Config{Workers: 4, QueueCap: 16}, boundedTracked{tracked{&cur, &peak}, 1}, rec)
		if err != nil {
			t.Fatal(err)
		}
		stop := start(t, p)
		synctest.Wait()
		var evs []event.Event
		for range 4 {
			ev := newEvent(time.Second, 10*time.Millisecond)
			evs = append(evs, ev)
			p.Submit(ev)
		}
		synctest.Wait()
		if g := p.Gauges(); g.Busy != 1 || g.QueueDepth != 3 {
			t.Fatalf("bound 1 with 4 workers: %d busy, %d queued; want 1 and 3", g.Busy, g.QueueDepth)
		}
		time.Sleep(41 * time.Millisecond)
		synctest.Wait()
		// One after the other (in the policy's order: equal deadlines).
		var latencies []time.Duration
		for _, ev := range evs {
			res, ok := rec.result(ev.ID)
			if !ok || res.Status != event.OnTime {
				t.Fatalf("event %s: %+v (found %v), want on time", ev.ID, res, ok)
			}
			latencies = append(latencies, res.Latency())
		}
		slices.Sort(latencies)
		if fmt.Sprint(latencies) != "[10ms 20ms 30ms 40ms]" {
			t.Fatalf("latencies %v, want one event at a time", latencies)
		}
		if peak.Load() != 1 {
			t.Fatalf("%d events ran at once, bound 1", peak.Load())
		}

		p.SetProcessor(tracked{&cur, &peak})
		for range 4 {
			p.Submit(newEvent(time.Second, 10*time.Millisecond))
		}
		synctest.Wait()
		if g := p.Gauges(); g.Busy != 4 {
			t.Fatalf("unbounded: %d busy, want 4", g.Busy)
		}
		time.Sleep(11 * time.Millisecond)

		p.SetProcessor(boundedTracked{tracked{&cur, &peak}, 1})
		if err := p.SetWorkers(2); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		stop()
		admitted, finished, by, _ := rec.counts()
		if admitted != 8 || finished != 8 || by[event.OnTime] != 8 {
			t.Fatalf("admitted %d, finished %d, %v; want 8 on time", admitted, finished, by)
		}
	})
}
