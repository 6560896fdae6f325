package pipeline

import (
	"context"
	"sync"
	"time"
)

// deadlineCtx is the context an event is processed under: it ends at the
// event's deadline or when its parent ends. Unlike context.WithDeadline it
// arms no timer up front: the timer behind Done is made only when the
// processor asks for Done. Work that waits (a sleep, a network call) pays
// the same as before; short work that returns at once or polls Err pays no
// timer at all (what a timer per event costs: docs/benchmarks.md, "Zero-work
// throughput").
type deadlineCtx struct {
	parent   context.Context
	deadline time.Time

	mu         sync.Mutex
	done       chan struct{}
	err        error
	stopTimer  func() bool
	stopParent func() bool
}

func newDeadlineCtx(parent context.Context, deadline time.Time) *deadlineCtx {
	return &deadlineCtx{parent: parent, deadline: deadline}
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineCtx) Value(key any) any { return c.parent.Value(key) }

func (c *deadlineCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done != nil {
		return c.done
	}
	c.errLocked() // may end it now, if the deadline or the parent passed
	c.done = make(chan struct{})
	if c.err != nil {
		close(c.done)
		return c.done
	}
	t := time.AfterFunc(time.Until(c.deadline), func() { c.end(context.DeadlineExceeded) })
	c.stopTimer = t.Stop
	c.stopParent = context.AfterFunc(c.parent, func() { c.end(c.parent.Err()) })
	return c.done
}

func (c *deadlineCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.errLocked()
}

// errLocked checks the deadline and the parent on demand, and makes the
// first error found stick, as a context's Err must.
func (c *deadlineCtx) errLocked() error {
	if c.err == nil {
		if err := c.parent.Err(); err != nil {
			c.endLocked(err)
		} else if !time.Now().Before(c.deadline) {
			c.endLocked(context.DeadlineExceeded)
		}
	}
	return c.err
}

func (c *deadlineCtx) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLocked(err)
}

func (c *deadlineCtx) endLocked(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	if c.stopTimer != nil {
		c.stopTimer()
		c.stopParent()
	}
}

// release ends the context once processing returned, freeing its timers.
func (c *deadlineCtx) release() { c.end(context.Canceled) }
