package sse

import (
	"net"
	"sync"
	"time"

	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/stream"
)

// cohorts groups the HTTP/2 streams of each connection, so that a new frame
// wakes a connection's streams one right after another.
//
// The frames of an HTTP/2 connection's streams leave through the
// connection's serving goroutine (net/http's HTTP/2 server), which sends
// its buffer whenever no other frame is waiting. When the hub's close
// wakes every stream of the server in the order they began to wait, the
// streams of one connection are spread over the whole tick: each frame
// arrives alone and costs the connection a write of its own. A cohort has
// one goroutine (its leader) wait on the hub in place of its streams and
// wake them together, so their frames arrive as a burst. While its leader
// runs, a cohort also asks the connection to gather its writes (a gatherer
// under the TLS connection: the HTTPS listener's cork.Conn), so that a
// burst's frames leave in a few write(2) calls rather than one each. What
// the two save per delivered batch: docs/benchmarks.md. A connection with
// a single stream has no leader (it would only add a wake-up) and does not
// gather: it has nothing to gather its frames with, and holding them would
// only cost.
type cohorts struct {
	mu sync.Mutex
	m  map[net.Conn]*cohort // by connection; entries with members only
}

// gatherer is a connection that can hold its writes to send them together
// (cork.Conn). Gather and StopGathering are counted, so each Gather must be
// matched by one StopGathering.
type gatherer interface {
	Gather()
	StopGathering()
}

// gathererOf finds the gatherer under conn, or returns nil.
func gathererOf(conn net.Conn) gatherer {
	g, _ := stream.Under[gatherer](conn)
	return g
}

// cohort is the streams of one connection.
type cohort struct {
	reg    *cohorts
	key    net.Conn
	gather gatherer // asked to gather while the leader runs; nil if none

	mu      sync.Mutex
	members int
	// wake is closed when the leader sees a new frame, and replaced; nil
	// while no leader runs (before a second member, after the leader
	// ended): the members then wait on their own subscriptions.
	wake chan struct{}
	stop chan struct{} // set when the leader starts; closed by the last member
	done chan struct{} // closed when the leader has returned
}

// join adds a stream of conn to its cohort. The second member starts the
// leader, and with it the connection's gathering. quiet is the members'
// quietCheck: the leader wakes them after that long without a frame (and
// every quiet after), so that each takes its write deadline off without
// a timer of its own.
func (r *cohorts) join(conn net.Conn, h *hub.Hub, quiet time.Duration) *cohort {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[net.Conn]*cohort)
	}
	c := r.m[conn]
	if c == nil {
		c = &cohort{reg: r, key: conn, gather: gathererOf(conn)}
		r.m[conn] = c
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.members++
	if c.members == 2 && c.stop == nil {
		c.wake = make(chan struct{})
		c.stop, c.done = make(chan struct{}), make(chan struct{})
		if c.gather != nil {
			c.gather.Gather() // withdrawn by lead when it returns
		}
		go c.lead(h.Subscribe(hub.Resume{}), c.stop, quiet)
	}
	return c
}

// leave removes a stream; the last one stops the leader and waits for it.
func (c *cohort) leave() {
	c.reg.mu.Lock()
	c.mu.Lock()
	c.members--
	last := c.members == 0
	if last {
		delete(c.reg.m, c.key)
	}
	stop, done := c.stop, c.done
	c.mu.Unlock()
	c.reg.mu.Unlock()
	if last && stop != nil {
		close(stop)
		<-done
	}
}

// next returns the channel closed at the next frame, or nil when the
// member must wait on its own subscription. Take it before checking the
// subscription: a frame published after that check closes it.
func (c *cohort) next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wake
}

// lead wakes the members at every frame sub sees, and after quiet without
// one (then every quiet), until stop closes or the subscription ends (hub
// closed, or the leader left behind): then it wakes them a last time,
// leaves them to their own subscriptions and stops the connection's
// gathering (what is held is sent at once). Its quiet timer is not reset
// per frame: when it fires it checks how long it has really been quiet.
func (c *cohort) lead(sub *hub.Subscriber, stop <-chan struct{}, quiet time.Duration) {
	defer close(c.done)
	if c.gather != nil {
		defer c.gather.StopGathering()
	}
	defer sub.Close()
	check := time.NewTimer(quiet)
	defer check.Stop()
	last := time.Now()
	for {
		select {
		case <-stop:
			c.retire()
			return
		case <-check.C:
			if since := time.Since(last); since < quiet {
				check.Reset(quiet - since)
				continue
			}
			check.Reset(quiet)
			c.wakeAll()
			continue
		case <-sub.Ready():
		}
		if _, _, err := sub.Take(); err != nil {
			c.retire()
			return
		}
		last = time.Now()
		c.wakeAll()
	}
}

// wakeAll wakes the members waiting on the cohort.
func (c *cohort) wakeAll() {
	c.mu.Lock()
	close(c.wake)
	c.wake = make(chan struct{})
	c.mu.Unlock()
}

func (c *cohort) retire() {
	c.mu.Lock()
	close(c.wake)
	c.wake = nil
	c.mu.Unlock()
}
