package cork

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// recorder is the connection under a Conn: it keeps every write it is
// given, so a test sees how the Conn gathered them.
type recorder struct {
	net.Conn // nil: only the methods below are used
	mu       sync.Mutex
	writes   [][]byte
	fail     error
	closed   bool
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return 0, r.fail
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return nil
}

func (r *recorder) SetWriteDeadline(time.Time) error { return nil }

func (r *recorder) got() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.writes...)
}

func newTestConn(window time.Duration) (*Conn, *recorder) {
	r := &recorder{}
	l := Listener(nil, window).(*listener)
	return newConn(r, window, l.pool), r
}

// newGatheringConn is newTestConn asked to gather once.
func newGatheringConn(window time.Duration) (*Conn, *recorder) {
	c, r := newTestConn(window)
	c.Gather()
	return c, r
}

func joined(writes [][]byte) string { return string(bytes.Join(writes, nil)) }

func write(t *testing.T, c *Conn, s string) {
	t.Helper()
	if n, err := c.Write([]byte(s)); err != nil || n != len(s) {
		t.Fatalf("Write(%q) = %d, %v", s, n, err)
	}
}

func TestBurstIsGathered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, r := newGatheringConn(time.Millisecond)
		// An idle connection's write goes out at once.
		write(t, c, "a")
		if got := r.got(); len(got) != 1 || string(got[0]) != "a" {
			t.Fatalf("first write: %q", got)
		}
		// Within the window, writes wait for its end and leave together.
		buf := []byte("b")
		if _, err := c.Write(buf); err != nil {
			t.Fatal(err)
		}
		buf[0] = 'x' // the caller's buffer is its own again
		write(t, c, "c")
		time.Sleep(999 * time.Microsecond)
		synctest.Wait()
		if got := r.got(); len(got) != 1 {
			t.Fatalf("sent before the window ended: %q", got)
		}
		time.Sleep(time.Microsecond)
		synctest.Wait()
		if got := r.got(); len(got) != 2 || string(got[1]) != "bc" {
			t.Fatalf("after the window: %q, want [a bc]", got)
		}
		// A stream that writes again 100 ms later (a tick) is still
		// streaming: its write waits a window.
		time.Sleep(100 * time.Millisecond)
		write(t, c, "d")
		synctest.Wait()
		if got := r.got(); len(got) != 2 {
			t.Fatalf("sent at once while streaming: %q", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got := r.got(); len(got) != 3 || string(got[2]) != "d" {
			t.Fatalf("after the window: %q, want [a bc d]", got)
		}
		// Quiet for QuietAfter: at once again.
		time.Sleep(QuietAfter)
		write(t, c, "e")
		if got := r.got(); len(got) != 4 || string(got[3]) != "e" {
			t.Fatalf("got %q, want [a bc d e]", got)
		}
	})
}

// A connection nobody asked to gather writes everything at once, streaming
// or not: it has nothing to gather its writes with.
func TestWithoutGatherWritesGoThrough(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, r := newTestConn(time.Millisecond)
		want := []string{"a", "b", "c"}
		for i, s := range want {
			write(t, c, s)
			if got := r.got(); len(got) != i+1 || string(got[i]) != s {
				t.Fatalf("after write %q: %q", s, got)
			}
		}
		// A tick later, still streaming by QuietAfter's measure.
		time.Sleep(100 * time.Millisecond)
		write(t, c, "d")
		if got := r.got(); len(got) != 4 || string(got[3]) != "d" {
			t.Fatalf("got %q, want [a b c d]", got)
		}
	})
}

// Gathering lasts until every Gather has been withdrawn; the last
// StopGathering sends what is held without waiting for the window, and
// writes go through at once after it.
func TestGatherIsCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, r := newTestConn(time.Hour)
		c.Gather()
		c.Gather()
		write(t, c, "a") // idle: at once
		write(t, c, "b")
		c.StopGathering() // one request left: still held
		write(t, c, "c")
		synctest.Wait()
		if got := r.got(); len(got) != 1 {
			t.Fatalf("sent while a Gather stands: %q", got)
		}
		start := time.Now()
		c.StopGathering()
		write(t, c, "d") // joins what is held if it is not sent yet: in order either way
		synctest.Wait()
		if got := joined(r.got()); got != "abcd" {
			t.Fatalf("after the last StopGathering: %q, want abcd", got)
		}
		if waited := time.Since(start); waited != 0 {
			t.Fatalf("held bytes waited %v after the last StopGathering", waited)
		}
		n := len(r.got())
		write(t, c, "e")
		if got := r.got(); len(got) != n+1 || string(got[n]) != "e" {
			t.Fatalf("not gathering: %q, want e written at once", got)
		}
		// Asked again, the connection gathers again.
		c.Gather()
		write(t, c, "f")
		synctest.Wait()
		if got := r.got(); len(got) != n+1 {
			t.Fatalf("sent at once while gathering: %q", got)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if got := joined(r.got()); got != "abcdef" {
			t.Fatalf("after Close: %q, want abcdef", got)
		}
	})
}

func TestStopGatheringWithoutGatherPanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := newTestConn(time.Millisecond)
		c.Gather()
		c.StopGathering()
		defer func() {
			if recover() == nil {
				t.Fatal("a StopGathering more than Gather did not panic")
			}
		}()
		c.StopGathering()
	})
}

func TestFullBufferAndLargeWrites(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, r := newGatheringConn(time.Millisecond)
		write(t, c, "start") // opens a window
		half := string(bytes.Repeat([]byte("h"), BufferSize/2))
		write(t, c, half)
		write(t, c, half) // exactly full: still held
		if got := r.got(); len(got) != 1 {
			t.Fatalf("%d writes with a full buffer, want 1", len(got))
		}
		write(t, c, "z") // overflows: the held bytes go, z is held
		if got := r.got(); len(got) != 2 || len(got[1]) != BufferSize {
			t.Fatalf("overflow: %d writes, want the full buffer sent", len(got))
		}
		big := string(bytes.Repeat([]byte("B"), BufferSize))
		write(t, c, big) // z first, then big as it is
		got := r.got()
		if len(got) != 4 || string(got[2]) != "z" || len(got[3]) != BufferSize {
			t.Fatalf("large write: %d writes", len(got))
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := len(r.got()); n != 4 {
			t.Fatalf("%d writes after the window, want nothing more", n)
		}
	})
}

func TestDeferredFailureIsSeen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, r := newGatheringConn(time.Millisecond)
		write(t, c, "a")
		write(t, c, "held")
		gone := errors.New("peer gone")
		r.mu.Lock()
		r.fail = gone
		r.mu.Unlock()
		time.Sleep(time.Millisecond)
		synctest.Wait()
		r.mu.Lock()
		closed := r.closed
		r.mu.Unlock()
		if !closed {
			t.Fatal("a failed deferred write left the connection open")
		}
		if _, err := c.Write([]byte("next")); !errors.Is(err, gone) {
			t.Fatalf("next Write: %v, want %v", err, gone)
		}
		if err := c.Flush(); !errors.Is(err, gone) {
			t.Fatalf("Flush: %v, want %v", err, gone)
		}
	})
}

func TestCloseSendsWhatIsHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, r := newGatheringConn(time.Hour)
		write(t, c, "a")
		write(t, c, "last words")
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if got := r.got(); len(got) != 2 || string(got[1]) != "last words" {
			t.Fatalf("got %q", got)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write after Close: %v", err)
		}
		// The timer was stopped: the bubble ends without it firing.
	})
}

// Over a real TCP connection the peer reads every byte, in order, whatever
// the gathering.
func TestTCPOrder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := Listener(ln, 200*time.Microsecond)
	defer cl.Close()
	var want bytes.Buffer
	done := make(chan error, 1)
	go func() {
		c, err := cl.Accept()
		if err != nil {
			done <- err
			return
		}
		c.(*Conn).Gather()
		for i := range 5000 {
			p := bytes.Repeat([]byte{byte('a' + i%26)}, 1+i%3000)
			if _, err := c.Write(p); err != nil {
				done <- err
				return
			}
		}
		done <- c.Close()
	}()
	for i := range 5000 {
		want.Write(bytes.Repeat([]byte{byte('a' + i%26)}, 1+i%3000))
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got bytes.Buffer
	if _, err := got.ReadFrom(c); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("read %d bytes, want %d in order", got.Len(), want.Len())
	}
}

func TestZeroWindowIsTheListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if Listener(ln, 0) != ln || Listener(ln, -1) != ln {
		t.Fatal("a window of zero or less should change nothing")
	}
}

// A peer that never reads blocks a write (the timer's flush or a caller's)
// while it holds the Conn's lock; Close must still end the connection, and
// the blocked writer with it, rather than wait for the peer forever.
func TestCloseEndsAWriteBlockedOnAPeerThatDoesNotRead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := Listener(ln, time.Millisecond)
	defer cl.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	_ = peer.(*net.TCPConn).SetReadBuffer(4 << 10) // never read
	c, err := cl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	_ = c.(*Conn).NetConn().(*net.TCPConn).SetWriteBuffer(4 << 10)
	c.(*Conn).Gather() // the timer's flush may block too

	var written atomic.Int64
	writerDone := make(chan error, 1)
	go func() {
		p := make([]byte, 1024)
		for {
			n, err := c.Write(p)
			written.Add(int64(n))
			if err != nil {
				writerDone <- err
				return
			}
		}
	}()
	// Wait until writes stopped going anywhere: the kernel buffers are full
	// and a write is blocked.
	for last := int64(-1); ; {
		time.Sleep(50 * time.Millisecond)
		now := written.Load()
		if now == last {
			break
		}
		last = now
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waited for a peer that does not read")
	}
	select {
	case err := <-writerDone:
		if err == nil {
			t.Fatal("the blocked writer ended without an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the blocked writer did not end after Close")
	}
}
