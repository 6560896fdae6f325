// Package cork gathers the small writes of a connection into fewer, larger
// ones, as Linux's TCP_CORK does in the kernel, for the connections of an
// HTTPS listener that ask for it.
//
// Over HTTP/2 (net/http's server) each event stream's flush hands its
// frame to the connection's serving goroutine, which writes it into the
// connection's buffer and sends the buffer whenever no other frame is
// waiting, which can be after each frame: at a tick, a connection carrying
// a hundred event streams can make up to a hundred writes, each a TLS
// record and a write(2). A Conn gathers only while someone has asked it to
// (Gather, withdrawn by StopGathering): the event streams of a connection
// (package sse) ask once it carries two of them. A gathering Conn that has
// written within the last QuietAfter is streaming: what it writes is held
// for a window and sent together when the window ends (or when BufferSize
// bytes are held). A burst of a hundred frames becomes a few writes, which
// costs the server (and the client) one system call and one transmission
// per batch instead of per frame (what that saves per delivered batch:
// docs/benchmarks.md). The price is latency inside a stream: a write
// reaches the peer at most one window later. Every other write goes out at
// once, as on any connection: a connection nobody asked to gather (one
// stream, or request-and-answer traffic) has nothing to gather its writes
// with and would only pay for the holding, and a write after QuietAfter of
// silence (a lone request's answer) waits for nothing.
package cork

import (
	"errors"
	"net"
	"sync"
	"time"
)

// BufferSize is the most a connection holds back: a write that would
// overflow it sends what is held first, and a write at least this large
// goes out at once. 32 KiB is two TLS records of the largest size.
const BufferSize = 32 << 10

// QuietAfter is the silence after which a connection counts as idle and
// its next write goes out at once, gathering or not. Event streams write at
// every tick (100 ms by default), so they stay gathered; request-and-answer
// traffic mostly does not.
const QuietAfter = 250 * time.Millisecond

// closeFlushTimeout bounds the last flush of a closing connection whose
// peer does not read.
const closeFlushTimeout = time.Second

// Listener wraps the connections that l accepts in a Conn holding writes
// back for window. A window of zero or less returns l as it is.
func Listener(l net.Listener, window time.Duration) net.Listener {
	if window <= 0 {
		return l
	}
	return &listener{Listener: l, window: window, pool: &sync.Pool{New: func() any { return new([BufferSize]byte) }}}
}

type listener struct {
	net.Listener
	window time.Duration
	pool   *sync.Pool // of *[BufferSize]byte, shared by the listener's conns
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newConn(c, l.window, l.pool), nil
}

// Conn is a net.Conn that gathers the writes of streams while asked to (see
// Gather): a write within QuietAfter of the last one is then held, and
// what is held is sent together by a timer one window after the first of
// it. Writes are copied, so the caller may reuse its buffer when Write
// returns. A write that fails after Write returned (the peer went, a write
// deadline passed) fails every later Write and closes the connection, so
// its reader sees it too. Deadlines apply to the underlying connection: a
// deferred write obeys the write deadline in force when it is made.
type Conn struct {
	net.Conn
	window time.Duration
	pool   *sync.Pool

	mu     sync.Mutex
	held   *[BufferSize]byte // nil when nothing is held (back in the pool)
	n      int               // bytes of held in use
	timer  *time.Timer
	gather int       // Gathers not yet withdrawn: writes are held only while > 0
	last   time.Time // when the last write went out
	err    error     // sticky: the first failed write
	closed bool
}

func newConn(c net.Conn, window time.Duration, pool *sync.Pool) *Conn {
	cc := &Conn{Conn: c, window: window, pool: pool}
	cc.timer = time.AfterFunc(time.Hour, cc.timedFlush)
	cc.timer.Stop()
	return cc
}

// NetConn returns the underlying connection (for socket options).
func (c *Conn) NetConn() net.Conn { return c.Conn }

// Gather asks c to hold the writes of a streaming connection for the
// window. Requests are counted: c gathers until each has been withdrawn by
// StopGathering, so several users of one connection may ask independently.
func (c *Conn) Gather() {
	c.mu.Lock()
	c.gather++
	c.mu.Unlock()
}

// StopGathering withdraws one Gather. When the last is withdrawn, what is
// held is sent at once, by the timer's goroutine: the caller does not
// write to the peer itself (it waits only for a write already in
// progress, as any user of the connection does); until then later writes
// join what is held, in order. Calling
// it more often than Gather is a bug, and panics as sync.WaitGroup's Done
// does.
func (c *Conn) StopGathering() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gather == 0 {
		panic("cork: StopGathering without a Gather")
	}
	c.gather--
	if c.gather == 0 && c.held != nil {
		c.timer.Reset(0)
	}
}

// Write sends p at once when c is not asked to gather or after QuietAfter
// of silence, and otherwise holds it (copied) for the window, unless p is
// BufferSize or larger.
func (c *Conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.closed {
		return 0, net.ErrClosed
	}
	if c.n+len(p) > BufferSize {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) >= BufferSize {
			return c.writeNow(p)
		}
	}
	if c.held == nil {
		if c.gather == 0 || time.Since(c.last) >= QuietAfter {
			return c.writeNow(p) // nothing to gather this write with
		}
		c.held = c.pool.Get().(*[BufferSize]byte)
		c.timer.Reset(c.window)
	}
	c.n += copy(c.held[c.n:], p)
	return len(p), nil
}

// writeNow writes p through, nothing being held.
func (c *Conn) writeNow(p []byte) (int, error) {
	c.last = time.Now()
	n, err := c.Conn.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

// Flush sends what is held now.
func (c *Conn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

func (c *Conn) timedFlush() {
	c.mu.Lock()
	err := c.flushLocked()
	c.mu.Unlock()
	if err != nil {
		// Nobody waits for this write: make the failure seen by the
		// reader and the next writer.
		_ = c.Conn.Close()
	}
}

func (c *Conn) flushLocked() error {
	if c.held == nil {
		return c.err
	}
	c.timer.Stop()
	c.last = time.Now()
	_, err := c.Conn.Write(c.held[:c.n])
	c.pool.Put(c.held)
	c.held, c.n = nil, 0
	if err != nil && c.err == nil {
		c.err = err
	}
	return err
}

// Close sends what is held (waiting at most a second for a peer that does
// not read), then closes the connection. A write blocked on such a peer
// (the timer's, or a caller's) holds the lock Close needs, and only the
// connection's end would end it: Close first bounds it with a deadline, so
// it never waits for a peer more than a second per write.
func (c *Conn) Close() error {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(closeFlushTimeout))
	c.mu.Lock()
	if c.held != nil && c.err == nil {
		_ = c.flushLocked()
	}
	c.timer.Stop()
	c.closed = true
	c.mu.Unlock()
	return c.Conn.Close()
}

// CloseWrite sends what is held, then shuts down the writing side when the
// underlying connection can (TCP).
func (c *Conn) CloseWrite() error {
	if err := c.Flush(); err != nil {
		return err
	}
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}
