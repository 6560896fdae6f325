package pipeline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/event"
)

// recycler is a Recorder that counts outcomes by reason and hands the
// payload of every dropped event back to be reused, so a test can offer a
// million 4 KiB events without allocating 4 GiB.
type recycler struct {
	mu      sync.Mutex
	free    [][]byte
	dropped map[event.Reason]int
	admits  int
}

func (r *recycler) Admit(event.Event) {
	r.mu.Lock()
	r.admits++
	r.mu.Unlock()
}

func (r *recycler) Finish(res event.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dropped == nil {
		r.dropped = map[event.Reason]int{}
	}
	r.dropped[res.Reason]++
	if res.Payload != nil {
		r.free = append(r.free, res.Payload)
	}
}

func (r *recycler) payload(n int) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if k := len(r.free); k > 0 {
		p := r.free[k-1]
		r.free = r.free[:k-1]
		return p
	}
	return make([]byte, n)
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// A queue of a million places offered a million waiting 4 KiB events holds
// no more than its byte budget: in its own accounting and in the heap. (The
// policies besides the default are offered fewer: the budget fills as
// soon.)
func TestQueueBytesBoundHeap(t *testing.T) {
	const payload = 4 << 10
	for _, pol := range Policies {
		offered := 1_000_000
		if pol != EDF {
			offered = 100_000
		}
		t.Run(string(pol), func(t *testing.T) {
			rec := &recycler{}
			before := heapInUse()
			p, err := New(Config{QueueCap: 1_000_000, Policy: pol}, Sleep(Work{}), rec)
			if err != nil {
				t.Fatal(err)
			}
			at := time.Now()
			var id uuid.UUID
			for i := range offered {
				binary.BigEndian.PutUint64(id[8:], uint64(i))
				ev := event.Event{ID: id, Source: "test", CreatedAt: at, Deadline: time.Hour, Payload: rec.payload(payload)}
				p.Submit(ev)
			}
			g := p.Gauges()
			rec.free = nil // only what the queue holds stays reachable
			held := heapInUse() - before
			runtime.KeepAlive(p)
			if g.QueueBytesCap != DefaultQueueBytes {
				t.Fatalf("budget %d, want the default %d", g.QueueBytesCap, DefaultQueueBytes)
			}
			if g.QueueBytes > g.QueueBytesCap || g.QueueBytes < g.QueueBytesCap-2*(payload+itemOverhead) {
				t.Errorf("queue accounts %d bytes, want at most and nearly %d", g.QueueBytes, g.QueueBytesCap)
			}
			if want := int(g.QueueBytes / (payload + itemOverhead)); g.QueueDepth != want {
				t.Errorf("depth %d, want the %d events the bytes account for", g.QueueDepth, want)
			}
			if held > g.QueueBytesCap+4<<20 {
				t.Errorf("the queue holds %d MiB of heap, budget %d MiB", held>>20, g.QueueBytesCap>>20)
			}
			if rec.admits != offered || rec.dropped[event.QueueFull] != offered-g.QueueDepth {
				t.Errorf("admitted %d, dropped %v; want %d admitted and all but the %d queued dropped queue-full",
					rec.admits, rec.dropped, offered, g.QueueDepth)
			}
			t.Logf("%s: %d events queued, %d MiB accounted, %d MiB of heap", pol, g.QueueDepth, g.QueueBytes>>20, held>>20)
		})
	}
}

// A queue allocates as it fills: an empty queue of a million places costs
// next to nothing, and switching its policy back and forth leaves nothing
// behind.
func TestQueueAllocatesLazily(t *testing.T) {
	for _, pol := range Policies {
		t.Run(string(pol), func(t *testing.T) {
			before := heapInUse()
			p, err := New(Config{QueueCap: 1_000_000, Policy: pol}, Sleep(Work{}), newRecorder(t))
			if err != nil {
				t.Fatal(err)
			}
			if held := heapInUse() - before; held > 1<<20 {
				t.Errorf("an empty queue of a million places holds %d KiB", held>>10)
			}
			for range 100 {
				p.Submit(newEvent(time.Hour, 0))
			}
			for i := range 90 {
				if err := p.SetQueue(1_000_000-i, Policies[i%len(Policies)]); err != nil {
					t.Fatal(err)
				}
			}
			if held := heapInUse() - before; held > 1<<20 {
				t.Errorf("100 events after 90 policy switches hold %d KiB", held>>10)
			}
			if g := p.Gauges(); g.QueueDepth != 100 {
				t.Errorf("depth %d after the switches, want 100", g.QueueDepth)
			}
			runtime.KeepAlive(p)
		})
	}
}

// A ring that fills and empties gives its memory back.
func TestDequeShrinks(t *testing.T) {
	d := &deque{}
	for range 100_000 {
		d.push(item{})
	}
	for d.len() > 10 {
		d.removeFirst()
	}
	if len(d.s.c) > 2 {
		t.Fatalf("%d chunks of %d slots for %d items", len(d.s.c), chunkLen, d.len())
	}
	if d.size() != 10*itemOverhead {
		t.Fatalf("size %d, want %d", d.size(), 10*itemOverhead)
	}
}

// An event larger than what fits evicts as many as it needs under LIFO, and
// is refused under EDF when the events queued have earlier deadlines,
// which stay queued.
func TestQueueByteBudgetEvicts(t *testing.T) {
	small := func(deadline time.Duration) event.Event {
		ev := newEvent(deadline, 0)
		ev.Payload = make([]byte, 100)
		return ev
	}
	big := small(time.Hour)
	big.Payload = make([]byte, 3000)
	const smalls = 10
	budget := smalls*(100+itemOverhead) + 10
	kept := smalls // the small events LIFO keeps beside the big one
	for int64(kept)*(100+itemOverhead)+3000+itemOverhead > budget {
		kept--
	}
	for _, tc := range []struct {
		pol      Policy
		accepted bool
		depth    int
	}{{LIFO, true, 1 + kept}, {EDF, false, smalls}, {FIFO, false, smalls}} {
		t.Run(string(tc.pol), func(t *testing.T) {
			rec := newRecorder(t)
			p, err := New(Config{QueueCap: 100, QueueBytes: budget, Policy: tc.pol}, Sleep(Work{}), rec)
			if err != nil {
				t.Fatal(err)
			}
			for range smalls {
				if ok, _ := p.Submit(small(time.Minute)); !ok {
					t.Fatal("a small event was refused below the budget")
				}
			}
			ok, reason := p.Submit(big)
			g := p.Gauges()
			if ok != tc.accepted || (!ok && reason != event.QueueFull) {
				t.Fatalf("big event: accepted %v (%s), want %v", ok, reason, tc.accepted)
			}
			if g.QueueBytes > budget {
				t.Fatalf("queue holds %d bytes, budget %d", g.QueueBytes, budget)
			}
			_, finished, _, reasons := rec.counts()
			if g.QueueDepth+finished != smalls+1 || reasons[event.QueueFull] != finished {
				t.Fatalf("depth %d, finished %d %v: want every event queued or dropped queue-full", g.QueueDepth, finished, reasons)
			}
			if tc.accepted && g.QueueDepth != tc.depth {
				t.Fatalf("depth %d, want %d", g.QueueDepth, tc.depth)
			}
		})
	}
}

// The tick reads the gauges while a reshape of a long queue holds the
// queue's lock: they answer without it, with every event counted.
func TestGaugesDoNotWaitForReshape(t *testing.T) {
	const queued = 10_000
	p, err := New(Config{QueueCap: queued, Policy: EDF}, Sleep(Work{}), newRecorder(t))
	if err != nil {
		t.Fatal(err)
	}
	for range queued {
		p.Submit(newEvent(time.Hour, 0))
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var steps atomic.Int32
	p.q.stepHook = func() {
		if steps.Add(1) == 2 {
			close(entered)
			<-release // hold the lock mid-reshape
		}
	}
	done := make(chan error, 1)
	go func() { done <- p.SetQueue(queued, FIFO) }()
	<-entered
	gauges := make(chan Gauges, 1)
	go func() { gauges <- p.Gauges() }()
	select {
	case g := <-gauges:
		if g.QueueDepth != queued || g.QueueCap != queued {
			t.Errorf("gauges %d/%d mid-reshape, want %d/%d", g.QueueDepth, g.QueueCap, queued, queued)
		}
	case <-time.After(10 * time.Second):
		t.Error("Gauges waited for the reshape's lock")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := int(steps.Load()), (queued+reshapeStep-1)/reshapeStep; got != want {
		t.Errorf("the reshape took the lock %d times, want %d steps of %d", got, want, reshapeStep)
	}
	if g := p.Gauges(); g.QueueDepth != queued {
		t.Errorf("depth %d after the reshape, want %d", g.QueueDepth, queued)
	}
}

// A reshape that a drain overtakes loses nothing: the queue closes while
// items are still moving, and every event still ends once.
func TestReshapeDuringDrain(t *testing.T) {
	rec := newRecorder(t)
	p, err := New(Config{QueueCap: 5000, Workers: 2, DrainTimeout: time.Millisecond}, Sleep(Work{Mean: time.Millisecond}), rec)
	if err != nil {
		t.Fatal(err)
	}
	for range 5000 {
		p.Submit(newEvent(time.Hour, 0))
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	p.q.stepHook = func() { once.Do(func() { close(entered); <-release }) }
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- p.Run(ctx) }()
	reshaped := make(chan error, 1)
	go func() { reshaped <- p.SetQueue(5000, LIFO) }()
	<-entered
	cancel()
	close(release)
	if err := <-reshaped; err != nil {
		t.Fatal(err)
	}
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if admitted, finished, _, _ := rec.counts(); admitted != 5000 || finished != 5000 {
		t.Fatalf("admitted %d, finished %d: want every event to end", admitted, finished)
	}
}

// Pipeline changes during the drain and after Run are refused, not raced:
// the pool's WaitGroup is being waited on.
func TestChangesRefusedOnceStopped(t *testing.T) {
	p, err := New(Config{Workers: 2}, Sleep(Work{Mean: time.Millisecond}), newRecorder(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- p.Run(ctx) }()
	changed := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			if err := p.SetWorkers(1 + i%8); err != nil {
				changed <- err
				return
			}
		}
	}()
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if err := <-changed; !errors.Is(err, ErrStopped) {
		t.Fatalf("SetWorkers while stopping: %v, want ErrStopped", err)
	}
	for name, f := range map[string]func() error{
		"SetWorkers": func() error { return p.SetWorkers(3) },
		"SetQueue":   func() error { return p.SetQueue(10, FIFO) },
	} {
		if err := f(); !errors.Is(err, ErrStopped) {
			t.Errorf("%s after Run: %v, want ErrStopped", name, err)
		}
	}
}

func BenchmarkReshape(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			rec := &recycler{}
			p, err := New(Config{QueueCap: n, QueueBytes: 1 << 40}, Sleep(Work{}), rec)
			if err != nil {
				b.Fatal(err)
			}
			for range n {
				p.Submit(newEvent(time.Hour, 0))
			}
			var longest time.Duration
			last := time.Now()
			p.q.stepHook = func() {
				now := time.Now()
				longest = max(longest, now.Sub(last))
				last = now
			}
			b.ResetTimer()
			for i := range b.N {
				last = time.Now()
				_ = p.SetQueue(n, Policies[i%len(Policies)])
			}
			b.ReportMetric(float64(longest.Microseconds()), "max-step-µs")
		})
	}
}

// BenchmarkPushFull pushes into a full queue: every push evicts a queued
// event (EDF: the latest deadline; LIFO: the oldest), as under overload.
func BenchmarkPushFull(b *testing.B) {
	for _, policy := range []Policy{EDF, LIFO} {
		b.Run(string(policy), func(b *testing.B) {
			const n = 64
			q := newQueue(policy, n, 1<<40)
			base := time.Now().Add(time.Hour)
			ev := newEvent(time.Hour, 0)
			for i := range n {
				q.push(item{ev: ev, deadline: base.Add(time.Duration(i))}, nil)
			}
			b.ReportAllocs()
			var buf [1]item
			i := 0
			for b.Loop() {
				i++
				evicted, refused, _ := q.push(item{ev: ev, deadline: base.Add(-time.Duration(i))}, buf[:0])
				if refused || len(evicted) != 1 {
					b.Fatalf("push %d: evicted %d, refused %v", i, len(evicted), refused)
				}
			}
		})
	}
}

// storeOf is the storage of a discipline.
func storeOf(d discipline) *store {
	switch d := d.(type) {
	case *edf:
		return &d.h.s
	case *deque:
		return &d.s
	}
	panic("unknown discipline")
}

// A queue keeps its items in chunks: growing it never replaces (copies)
// the storage it already has, it holds no more chunks than its items need
// and one, and a reshape that moves every item to a new discipline reuses
// the chunks the old one gives back instead of allocating the queue anew.
// Emptied, it gives its storage back.
func TestQueueStorageInChunks(t *testing.T) {
	const n = 200_000
	for _, pol := range Policies {
		t.Run(string(pol), func(t *testing.T) {
			q := newQueue(pol, n, 1<<40)
			ev := newEvent(time.Hour, 0)
			base := time.Now()
			q.push(item{ev: ev, deadline: base}, nil)
			first := storeOf(q.d).c[0]
			for i := 1; i < n; i++ {
				q.push(item{ev: ev, deadline: base.Add(time.Duration(i))}, nil)
			}
			s := storeOf(q.d)
			if s.c[0] != first {
				t.Fatal("growing replaced the first chunk: the items were moved")
			}
			if len(s.c) > (n+chunkLen-1)/chunkLen+1 {
				t.Fatalf("%d chunks for %d items", len(s.c), n)
			}
			other := LIFO
			if pol == LIFO {
				other = EDF
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if dropped := q.reshape(other, n); len(dropped) != 0 {
				t.Fatalf("reshape dropped %d", len(dropped))
			}
			runtime.ReadMemStats(&after)
			moved := int64(n) * int64(unsafe.Sizeof(item{}))
			if alloc := int64(after.TotalAlloc - before.TotalAlloc); alloc > 16*int64(unsafe.Sizeof(chunk{})) {
				t.Fatalf("moving %d MiB of items allocated %d KiB: the chunks given back were not reused", moved>>20, alloc>>10)
			}
			if got := q.d.len(); got != n {
				t.Fatalf("%d items after the reshape, want %d", got, n)
			}
			taken := 0
			for range q.takeAll() {
				taken++
			}
			if taken != n || len(storeOf(q.d).c) > 1 || len(q.pool.free) > maxFree {
				t.Fatalf("took %d of %d; %d chunks and %d spare left", taken, n, len(storeOf(q.d).c), len(q.pool.free))
			}
		})
	}
}
