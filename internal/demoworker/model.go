package demoworker

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Dist is the distribution of service times around their mean.
type Dist string

// Service time distributions.
const (
	Fixed       Dist = "fixed"   // every call takes the mean
	Uniform     Dist = "uniform" // 0 to twice the mean
	Exponential Dist = "exp"     // mostly short, a long tail
	// LogNormal has sigma 1: a median of 0.61 times the mean, one call in
	// 100 over 6.2 times it.
	LogNormal Dist = "lognormal"
	// Spike: every call takes the mean, except one in 200 that takes 15
	// times it (a GC pause, a cold cache): the mean of the calls is 1.07
	// times the setting.
	Spike Dist = "spike"
)

// Dists lists the distributions.
var Dists = []Dist{Fixed, Uniform, Exponential, LogNormal, Spike}

// ParseDist checks a distribution's name.
func ParseDist(s string) (Dist, error) {
	for _, d := range Dists {
		if string(d) == s {
			return d, nil
		}
	}
	return "", fmt.Errorf("unknown distribution %q (want one of %v)", s, Dists)
}

// draw picks one service time with mean m; u is Uniform in [0, 1).
func (d Dist) draw(m time.Duration, u float64) time.Duration {
	switch d {
	case Uniform:
		return time.Duration(2 * u * float64(m))
	case Exponential:
		return time.Duration(-math.Log(1-u) * float64(m))
	case LogNormal:
		const sigma = 1.0
		z := math.Sqrt2 * math.Erfinv(2*u-1)
		return time.Duration(float64(m) * math.Exp(sigma*z-sigma*sigma/2))
	case Spike:
		if u < 1.0/200 {
			return 15 * m
		}
		return m
	default:
		return m
	}
}

// errQueueFull: every slot is busy and the FIFO in front of them is full.
var errQueueFull = errors.New("queue full")

// Capacity is what PATCH /config changes while the worker runs.
type Capacity struct {
	Slots     int     `json:"slots"`
	ServiceMs float64 `json:"serviceMs"`
	Dist      Dist    `json:"dist"`
	FailRate  float64 `json:"failRate"`
}

// model is the worker's capacity: slots that each serve one call at a time
// for a drawn service time, and a bounded FIFO of calls waiting for one.
// A call whose context ends leaves the FIFO, or its slot, at once.
type model struct {
	rand     func() float64 // Uniform in [0, 1); safe for concurrent use
	queueCap int

	mu    sync.Mutex
	cap   Capacity
	busy  []bool     // busy[i]: slot i serves a call; may be longer than cap.Slots after a shrink
	nbusy int        // busy slots, possibly more than cap.Slots after a shrink
	queue *list.List // of *waiter, oldest first
}

// waiter is a call in the FIFO. grant hands it a slot on ch.
type waiter struct {
	ch      chan int
	granted bool // under model.mu: taken off the queue with a slot on ch
}

func newModel(c Capacity, queueCap int, rand func() float64) *model {
	return &model{rand: rand, queueCap: queueCap, cap: c, queue: list.New()}
}

// capacity returns the current settings.
func (m *model) capacity() Capacity {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cap
}

// setCapacity changes the settings; more slots serve waiting calls at once,
// fewer take effect as busy slots free up.
func (m *model) setCapacity(c Capacity) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cap = c
	m.grant()
}

// load is the number of busy slots and of waiting calls.
func (m *model) load() (busy, queued int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.nbusy, m.queue.Len()
}

// shouldFail draws whether a call fails, at the current failure rate.
func (m *model) shouldFail() bool {
	rate := m.capacity().FailRate
	return rate > 0 && m.rand() < rate
}

// call is one call's time in the worker.
type call struct {
	slot   int
	waited time.Duration // in the FIFO
	served time.Duration // in the slot
}

// serve waits in FIFO order for a slot, then holds it for a drawn service
// time. It returns errQueueFull at once when the FIFO is full, and ctx's
// error as soon as ctx ends, freeing the slot.
func (m *model) serve(ctx context.Context) (call, error) {
	start := time.Now()
	slot, err := m.acquire(ctx)
	c := call{slot: slot, waited: time.Since(start)}
	if err != nil {
		return c, err
	}
	defer m.release(slot)
	set := m.capacity()
	d := set.Dist.draw(time.Duration(set.ServiceMs*float64(time.Millisecond)), m.rand())
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		c.served = d
		return c, nil
	case <-ctx.Done():
		c.served = time.Since(start) - c.waited
		return c, ctx.Err()
	}
}

func (m *model) acquire(ctx context.Context) (int, error) {
	m.mu.Lock()
	if m.queue.Len() == 0 && m.nbusy < m.cap.Slots {
		s := m.take()
		m.mu.Unlock()
		return s, nil
	}
	if m.queue.Len() >= m.queueCap {
		m.mu.Unlock()
		return -1, errQueueFull
	}
	w := &waiter{ch: make(chan int, 1)}
	e := m.queue.PushBack(w)
	m.mu.Unlock()
	select {
	case s := <-w.ch:
		return s, nil
	case <-ctx.Done():
	}
	m.mu.Lock()
	granted := w.granted
	if !granted {
		m.queue.Remove(e)
	}
	m.mu.Unlock()
	if granted {
		m.release(<-w.ch)
	}
	return -1, ctx.Err()
}

// take marks the lowest free slot below cap.Slots busy. The caller holds mu
// and has checked nbusy < cap.Slots, so there is one.
func (m *model) take() int {
	for i := range m.cap.Slots {
		if i == len(m.busy) {
			m.busy = append(m.busy, false)
		}
		if !m.busy[i] {
			m.busy[i] = true
			m.nbusy++
			return i
		}
	}
	panic("ontime-worker: no free slot below the limit")
}

func (m *model) release(slot int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.busy[slot] = false
	m.nbusy--
	m.grant()
}

// grant hands free slots to waiting calls, oldest first. The caller holds mu.
func (m *model) grant() {
	for m.queue.Len() > 0 && m.nbusy < m.cap.Slots {
		w := m.queue.Remove(m.queue.Front()).(*waiter)
		w.granted = true
		w.ch <- m.take()
	}
}
