package demoworker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// half is a rand that always draws the middle: uniform draws the mean.
func half() float64 { return 0.5 }

// TestFIFOOrderAndQueueingLatency: with one slot and a fixed service time,
// calls are served in arrival order and the k-th waits exactly k service
// times.
func TestFIFOOrderAndQueueingLatency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newModel(Capacity{Slots: 1, ServiceMs: 10, Dist: Fixed}, 100, half)
		const n = 6
		var mu sync.Mutex
		var order []int
		waited := make([]time.Duration, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				c, err := m.serve(t.Context())
				if err != nil {
					t.Errorf("call %d: %v", i, err)
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				waited[i] = c.waited
			})
			synctest.Wait() // call i is in its slot or the FIFO before i+1 comes
		}
		wg.Wait()
		for i := range n {
			if order[i] != i {
				t.Fatalf("served in order %v, want arrival order", order)
			}
			if want := time.Duration(i) * 10 * time.Millisecond; waited[i] != want {
				t.Errorf("call %d waited %s, want %s", i, waited[i], want)
			}
		}
	})
}

// TestSlotBound: never more calls in service than slots, and all slots
// used under load.
func TestSlotBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const slots = 3
		m := newModel(Capacity{Slots: slots, ServiceMs: 10, Dist: Uniform}, 100, half)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if _, err := m.serve(t.Context()); err != nil {
					t.Error(err)
				}
			})
		}
		maxBusy := 0
		for {
			synctest.Wait()
			busy, queued := m.load()
			maxBusy = max(maxBusy, busy)
			if busy > slots {
				t.Fatalf("%d calls in service with %d slots", busy, slots)
			}
			if busy == 0 && queued == 0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		wg.Wait()
		if maxBusy != slots {
			t.Errorf("at most %d slots busy under load, want %d", maxBusy, slots)
		}
	})
}

func TestQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newModel(Capacity{Slots: 1, ServiceMs: 10, Dist: Fixed}, 2, half)
		var wg sync.WaitGroup
		for range 3 { // one served, two waiting
			wg.Go(func() { m.serve(t.Context()) })
		}
		synctest.Wait()
		if _, err := m.serve(t.Context()); !errors.Is(err, errQueueFull) {
			t.Errorf("fourth call: %v, want queue full", err)
		}
		wg.Wait()
		// No FIFO at all: only free slots serve.
		m = newModel(Capacity{Slots: 1, ServiceMs: 10, Dist: Fixed}, 0, half)
		wg.Go(func() { m.serve(t.Context()) })
		synctest.Wait()
		if _, err := m.serve(t.Context()); !errors.Is(err, errQueueFull) {
			t.Errorf("queue 0, slot busy: %v, want queue full", err)
		}
		wg.Wait()
	})
}

// TestCancellationFreesTheSlot: a call whose context ends leaves its slot
// (or its place in the FIFO) at once, and the next call starts then.
func TestCancellationFreesTheSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newModel(Capacity{Slots: 1, ServiceMs: float64(time.Hour / time.Millisecond), Dist: Fixed}, 10, half)
		first, cancelFirst := context.WithCancel(t.Context())
		second, cancelSecond := context.WithCancel(t.Context())
		results := make(chan error, 3)
		go func() { _, err := m.serve(first); results <- err }()
		synctest.Wait()
		go func() { _, err := m.serve(second); results <- err }()
		synctest.Wait()
		third, cancelThird := context.WithCancel(t.Context())
		defer cancelThird()
		thirdStart := time.Now()
		var thirdWaited time.Duration
		go func() { c, err := m.serve(third); thirdWaited = c.waited; results <- err }()
		synctest.Wait()
		if busy, queued := m.load(); busy != 1 || queued != 2 {
			t.Fatalf("busy %d, queued %d; want 1 and 2", busy, queued)
		}
		time.Sleep(time.Second)
		cancelSecond() // leaves the FIFO
		if err := <-results; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled while waiting: %v", err)
		}
		synctest.Wait()
		if busy, queued := m.load(); busy != 1 || queued != 1 {
			t.Fatalf("after the waiting call left: busy %d, queued %d; want 1 and 1", busy, queued)
		}
		time.Sleep(time.Second)
		cancelFirst() // leaves its slot: the third call starts now
		if err := <-results; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled in service: %v", err)
		}
		synctest.Wait()
		if busy, queued := m.load(); busy != 1 || queued != 0 {
			t.Fatalf("after the served call left: busy %d, queued %d; want 1 and 0", busy, queued)
		}
		cancelThird()
		<-results
		if want := 2 * time.Second; thirdWaited != want || time.Since(thirdStart) != want {
			t.Errorf("third call waited %s, want %s: it starts when the slot frees", thirdWaited, want)
		}
	})
}

// TestCapacityChange: more slots start waiting calls at once; fewer slots
// hold new calls back until enough busy ones finish.
func TestCapacityChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newModel(Capacity{Slots: 1, ServiceMs: 100, Dist: Fixed}, 100, half)
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() { m.serve(t.Context()) })
		}
		synctest.Wait()
		if busy, queued := m.load(); busy != 1 || queued != 4 {
			t.Fatalf("busy %d, queued %d; want 1 and 4", busy, queued)
		}
		m.setCapacity(Capacity{Slots: 4, ServiceMs: 100, Dist: Fixed})
		synctest.Wait()
		if busy, queued := m.load(); busy != 4 || queued != 1 {
			t.Fatalf("after growing to 4 slots: busy %d, queued %d; want 4 and 1", busy, queued)
		}
		m.setCapacity(Capacity{Slots: 2, ServiceMs: 100, Dist: Fixed})
		if busy, queued := m.load(); busy != 4 || queued != 1 {
			t.Fatalf("after shrinking to 2: busy %d, queued %d; want 4 and 1 (busy calls finish)", busy, queued)
		}
		time.Sleep(100 * time.Millisecond) // the four finish; one of two slots serves the last
		synctest.Wait()
		if busy, queued := m.load(); busy != 1 || queued != 0 {
			t.Fatalf("after the busy calls finished: busy %d, queued %d; want 1 and 0", busy, queued)
		}
		wg.Wait()
		for range 4 {
			wg.Go(func() { m.serve(t.Context()) })
		}
		synctest.Wait()
		if busy, queued := m.load(); busy != 2 || queued != 2 {
			t.Fatalf("four calls on two slots: busy %d, queued %d; want 2 and 2", busy, queued)
		}
		wg.Wait()
	})
}

func TestDist(t *testing.T) {
	const mean = 20 * time.Millisecond
	for _, c := range []struct {
		d    Dist
		u    float64
		want time.Duration
	}{
		{Fixed, 0.9, mean},
		{Uniform, 0, 0},
		{Uniform, 0.25, 10 * time.Millisecond},
		{Exponential, 0, 0},
		{Exponential, 1 - 1/2.718281828459045, mean},
		{LogNormal, 0.5, 12130613 * time.Nanosecond}, // the median: e^(-1/2) of the mean
		{Spike, 0.004, 15 * mean},
		{Spike, 0.006, mean},
	} {
		got := c.d.draw(mean, c.u)
		if diff := got - c.want; diff < -time.Microsecond || diff > time.Microsecond {
			t.Errorf("%s.draw(%s, %g) = %s, want %s", c.d, mean, c.u, got, c.want)
		}
	}
	if _, err := ParseDist("normal"); err == nil {
		t.Error("ParseDist accepted normal")
	}
}
