package main

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ontime-rt/ontime/internal/stats"
)

// window is the measurement period. Batches count only when they arrive
// inside it, so the connections opened during the ramp-up all see the same
// stretch of stream and "expected batches" is one number for every client.
type window struct {
	start atomic.Int64 // unix ns; 0 until the window opens
	end   atomic.Int64 // unix ns; 0 until it closes
	// newest is the highest seq any client received inside the window:
	// when the window closes, the last batch of its seq span.
	newest atomic.Uint64
}

// saw records that a client received seq inside the window.
func (w *window) saw(seq uint64) {
	for {
		cur := w.newest.Load()
		if seq <= cur || w.newest.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// open starts the window at t.
func (w *window) open(t time.Time) { w.start.Store(t.UnixNano()) }

// close ends the window at t.
func (w *window) close(t time.Time) { w.end.Store(t.UnixNano()) }

// contains reports whether t is inside the window.
func (w *window) contains(t time.Time) bool {
	ns := t.UnixNano()
	start := w.start.Load()
	if start == 0 || ns < start {
		return false
	}
	end := w.end.Load()
	return end == 0 || ns < end
}

// lagShards is the number of histograms lag samples are spread over. One
// histogram per client would cost ~23 KiB each (230 MiB at 10k clients); one
// under a single mutex would have every client contend for it at the same
// instant, since a tick wakes them all together. A few dozen shards, picked
// by client number, keep both small.
const lagShards = 64

// lagRecorder collects delivery lags: local receive time minus the batch's
// at. It is safe for concurrent use.
type lagRecorder struct {
	shards [lagShards]lagShard
}

// lagShard is one mutex-guarded histogram, padded so that neighbouring
// shards' mutexes do not share a cache line.
type lagShard struct {
	mu sync.Mutex
	h  *stats.Histogram
	_  [64]byte
}

// newLagRecorder returns an empty recorder.
func newLagRecorder() *lagRecorder {
	r := &lagRecorder{}
	for i := range r.shards {
		r.shards[i].h = stats.NewHistogram()
	}
	return r
}

// record adds one lag for client id.
func (r *lagRecorder) record(id int, lag time.Duration) {
	s := &r.shards[id%lagShards]
	s.mu.Lock()
	s.h.Record(lag)
	s.mu.Unlock()
}

// merged returns every shard merged into one histogram. Call it once the
// clients have stopped.
func (r *lagRecorder) merged() *stats.Histogram {
	all := stats.NewHistogram()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		all.Merge(s.h)
		s.mu.Unlock()
	}
	return all
}

// clientKind is the transport of a client.
type clientKind uint8

// The kinds.
const (
	kindSSE clientKind = iota
	kindWS
)

// String names the kind as the flags do.
func (k clientKind) String() string {
	if k == kindWS {
		return "ws"
	}
	return "sse"
}

// clientStats is one client's record. Only the client's goroutine writes it,
// and the summary reads it after every client has stopped, so it needs no
// lock.
type clientStats struct {
	kind       clientKind
	slow       bool // a never-reading client
	connected  bool // the first connection succeeded
	connectErr error
	streamErr  error  // what ended the stream before the run did
	received   int64  // batches inside the window
	gaps       int64  // times seq jumped (or the server said reset)
	missed     int64  // batches skipped over by the jumps
	resets     int64  // reset events (SSE) and messages (WebSocket)
	backwards  int64  // batches whose seq did not move forward
	firstSeq   uint64 // first and last seq received inside the window
	lastSeq    uint64
	// seen is the last seq received, inside the window or after it (while
	// batches still in flight at its end arrive); atomic because the
	// runner polls it to end that grace time.
	seen atomic.Uint64
	// reading is true while a normal client's stream is open.
	reading   atomic.Bool
	tickMs    int64 // from the first batch
	cycles    int64 // churn: connect-read-disconnect cycles completed
	cycleErrs int64 // churn: cycles that failed
	cycleErr  error // churn: the first failure
}

// tracker checks one client's seq continuity across its connections (churn
// clients resume where they left off) and counts what falls in the window.
type tracker struct {
	id   int
	st   *clientStats
	last uint64 // last seq seen, 0 before the first batch
	// epoch is the numbering of last (the server's run); with last it is
	// the position a churn client resumes after.
	epoch    int64
	hasEpoch bool
	win      *window
	lags     *lagRecorder
	live     *atomic.Int64 // batches received by every client, for progress
}

// batch accounts for one received batch.
func (t *tracker) batch(h head, now time.Time) {
	if t.st.tickMs == 0 && h.has&hasTick != 0 {
		t.st.tickMs = h.tickMs
	}
	in := t.win.contains(now)
	switch {
	case t.last == 0 || h.seq == t.last+1:
	case h.seq > t.last+1:
		if in {
			t.st.gaps++
			t.st.missed += int64(h.seq - t.last - 1)
		}
	default:
		// A repeat, or seq restarted because the server did.
		if in {
			t.st.backwards++
		}
	}
	t.last = h.seq
	t.epoch, t.hasEpoch = h.epoch, h.has&hasEpoch != 0
	t.st.seen.Store(h.seq)
	if !in {
		return
	}
	t.win.saw(h.seq)
	if t.st.firstSeq == 0 {
		t.st.firstSeq = h.seq
	}
	t.st.lastSeq = h.seq
	t.st.received++
	t.live.Add(1)
	// at has millisecond resolution: the lag is overstated by up to 1 ms.
	t.lags.record(t.id, time.Duration(now.UnixMicro()-h.at*1000)*time.Microsecond)
}

// position is where a resuming client asks to continue: "<epoch>-<seq>"
// of the last batch seen, or "" (the newest) before any.
func (t *tracker) position() string {
	if t.last == 0 || !t.hasEpoch {
		return ""
	}
	return strconv.FormatInt(t.epoch, 10) + "-" + strconv.FormatUint(t.last, 10)
}

// reset accounts for a reset: the server says batches were lost (or the
// position resumed was not one of its own) and the next one is h.seq, of
// h.epoch. It counts as one gap, and the jump to seq is not counted again
// when that batch arrives.
func (t *tracker) reset(h head, now time.Time) {
	seq := h.seq
	if t.epoch != h.epoch {
		// Another run: its seqs say nothing about ours.
		t.last = 0
	}
	t.epoch, t.hasEpoch = h.epoch, true
	if !t.win.contains(now) {
		if seq > 0 {
			t.last = seq - 1
		}
		return
	}
	t.st.resets++
	t.st.gaps++
	if t.last > 0 && seq > t.last+1 {
		t.st.missed += int64(seq - t.last - 1)
	}
	if seq > 0 {
		t.last = seq - 1
	}
}
