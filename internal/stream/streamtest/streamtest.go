// Package streamtest serves HTTP over in-memory connections (net.Pipe), so
// that tests of streaming transports can run a real net/http server and
// real clients inside a testing/synctest bubble: time there is fake (write
// deadlines, heartbeats and slow-client limits pass at once), and a pipe
// has no buffer, so a client that stops reading blocks the server's next
// write at once, as a full socket buffer would.
package streamtest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Listener is a net.Listener whose connections are made by Dial.
type Listener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// NewListener returns a listener with no connection yet.
func NewListener() *Listener {
	return &Listener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for the server end of the next Dial.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and Dial; connections already made stay open.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is a placeholder address.
func (l *Listener) Addr() net.Addr { return addr{} }

// Dial connects to the listener and returns the client's end. Its
// signature fits http.Transport.DialContext and
// websocket.Dialer.NetDialContext; the address is ignored.
func (l *Listener) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type addr struct{}

func (addr) Network() string { return "pipe" }
func (addr) String() string  { return "pipe" }

// NewServer starts an httptest.Server serving handler over a new Listener;
// its URL is http://pipe. Close the server when done.
func NewServer(handler http.Handler) (*httptest.Server, *Listener) {
	l := NewListener()
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: handler}}
	srv.Start()
	return srv, l
}

// Every calls publish with 1, 2, 3, ... once per period, from its own
// goroutine, until the returned stop is called; stop returns once the
// goroutine has ended.
func Every(period time.Duration, publish func(seq uint64)) (stop func()) {
	quit, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for seq := uint64(1); ; seq++ {
			select {
			case <-quit:
				return
			case <-tick.C:
				publish(seq)
			}
		}
	}()
	return func() {
		close(quit)
		<-stopped
	}
}
