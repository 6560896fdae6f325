package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/sse"
)

// bigBatch is a batch with the most events the contract allows, so its JSON
// is far longer than a client's read buffer.
func bigBatch(t *testing.T) (*batch.Batch, []byte) {
	t.Helper()
	b := &batch.Batch{Seq: 123456, At: 1764198299123, StartedAt: 1764198000000, TickMs: 100}
	for i := range batch.MaxEvents {
		b.Events = append(b.Events, batch.Event{ID: strings.Repeat("e", 36), Source: "generator \"quoted\" {x}", CreatedAt: int64(i), DeadlineMs: 100, LatencyMs: 1.5, Status: "on_time"})
	}
	data, err := batch.JSON(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) <= readBuffer {
		t.Fatalf("batch of %d bytes fits the %d-byte buffer", len(data), readBuffer)
	}
	return b, data
}

func TestScanHeadReadsTheWireBatch(t *testing.T) {
	b, data := bigBatch(t)
	h, err := scanHead(data, hasSeq|hasAt)
	if err != nil || h.seq != b.Seq || h.at != b.At || h.tickMs != b.TickMs || h.has != allFields {
		t.Fatalf("scanHead: %+v, %v", h, err)
	}
	// Every prefix is either too short (errTruncated) or enough: never an
	// error, never a wrong value.
	for n := range len(data) {
		h, err := scanHead(data[:n], hasSeq|hasAt)
		switch {
		case err == errTruncated:
		case err != nil:
			t.Fatalf("prefix %d: %v", n, err)
		case h.seq != b.Seq || h.at != b.At:
			t.Fatalf("prefix %d (%q): %+v", n, data[:n], h)
		}
	}
}

func TestScanHeadAnyOrder(t *testing.T) {
	for _, c := range []struct {
		in      string
		seq     uint64
		at      int64
		tick    int64
		wantErr bool
	}{
		{in: `{"events":[{"seq":9,"at":9}],"x":{"at":"}"},"tickMs":20,"at":-5,"seq":7}`, seq: 7, at: -5, tick: 20},
		{in: ` { "seq" : 1 , "at" : 2 } `, seq: 1, at: 2},
		{in: `{"s\"eq":5,"seq":6,"at":7,"n":null,"t":true}`, seq: 6, at: 7},
		{in: `{"at":1}`, wantErr: true},
		{in: `{}`, wantErr: true},
		{in: `[1]`, wantErr: true},
		{in: `{"seq":1.5,"at":2}`, wantErr: true},
		{in: `{"seq":-1,"at":2}`, wantErr: true},
		{in: `{"seq":99999999999999999999,"at":2}`, wantErr: true},
		{in: `{"seq":1 "at":2}`, wantErr: true},
		{in: `{"seq":,"at":2}`, wantErr: true},
	} {
		h, err := scanHead([]byte(c.in), hasSeq|hasAt)
		if c.wantErr {
			if err == nil || err == errTruncated {
				t.Errorf("%s: %+v, %v, want an error", c.in, h, err)
			}
			continue
		}
		if err != nil || h.seq != c.seq || h.at != c.at || h.tickMs != c.tick {
			t.Errorf("%s: %+v, %v", c.in, h, err)
		}
	}
	// A reset event carries only seq.
	if h, err := scanHead([]byte(`{"seq":42}`), hasSeq); err != nil || h.seq != 42 {
		t.Errorf("reset data: %+v, %v", h, err)
	}
}

// fakeSSE is an sseStream over canned bytes.
func fakeSSE(body string) *sseStream {
	rc := io.NopCloser(strings.NewReader(body))
	return &sseStream{resp: &http.Response{Body: rc}, br: bufio.NewReaderSize(rc, readBuffer)}
}

func TestSSEParser(t *testing.T) {
	_, big := bigBatch(t)
	// A batch whose head members come last, in a line longer than the
	// buffer: it must be read whole.
	late := `{"pad":"` + strings.Repeat("p", 2*readBuffer) + `","seq":8,"at":80}`
	var stream []byte
	stream = append(stream, "retry: 1000\n\n: heartbeat\n\n"...)
	stream = sse.AppendEvent(stream, sse.Event{ID: "123456", Name: "batch", Data: big})
	stream = sse.AppendEvent(stream, sse.Event{Name: "reset", Data: []byte(`{"seq":5,"epoch":3,"reason":"too-old"}`)})
	stream = sse.AppendEvent(stream, sse.Event{ID: "7", Name: "batch", Data: []byte("{\"tickMs\":1,\n\"seq\":7,\r\n\"at\":70}")})
	stream = append(stream, "event: stats\ndata: <div>"+strings.Repeat("x", 3*readBuffer)+"</div>\n\n"...)
	stream = sse.AppendEvent(stream, sse.Event{Name: "batch", Data: []byte(late)})
	stream = append(stream, "id: 9\r\nevent: batch\r\ndata: {\"seq\":9,\"at\":90}\r\n\r\n"...)

	s := fakeSSE(string(stream))
	for i, want := range []struct {
		kind msgKind
		seq  uint64
		at   int64
	}{
		{msgBatch, 123456, 1764198299123},
		{msgReset, 5, 0},
		{msgBatch, 7, 70},
		{msgBatch, 8, 80},
		{msgBatch, 9, 90},
	} {
		kind, h, err := s.next()
		if err != nil || kind != want.kind || h.seq != want.seq || h.at != want.at {
			t.Fatalf("event %d: %v %+v %v, want %+v", i, kind, h, err, want)
		}
	}
	if _, _, err := s.next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("end of stream: %v", err)
	}

	for _, bad := range []string{
		"event: batch\ndata: {\"at\":1}\n\n",
		"event: batch\ndata: not json\n\n",
		"event: batch\ndata: {\"seq\":1,\n\n",
		"event: batch\ndata: {\"pad\":\"" + strings.Repeat("p", maxMessage) + "\"}\n\n",
	} {
		if _, _, err := fakeSSE(bad).next(); err == nil || err == io.ErrUnexpectedEOF {
			t.Errorf("%.40q...: %v, want a parse error", bad, err)
		}
	}
}

func TestTracker(t *testing.T) {
	var w window
	w.open(time.Now().Add(-time.Second))
	var live atomic.Int64
	st := &clientStats{}
	tr := &tracker{st: st, win: &w, lags: newLagRecorder(), live: &live}
	now := time.Now()
	at := now.UnixMilli() - 5
	for _, seq := range []uint64{10, 11, 14, 15, 15} { // a jump of 2, a repeat
		tr.batch(head{seq: seq, at: at, tickMs: 100, epoch: 3, has: allFields}, now)
	}
	if tr.position() != "3-15" {
		t.Fatalf("position %q, want 3-15", tr.position())
	}
	tr.reset(head{seq: 20, epoch: 3, has: hasSeq | hasEpoch}, now) // 16..19 lost, said the server
	tr.batch(head{seq: 20, at: at, epoch: 3, has: allFields}, now)
	tr.batch(head{seq: 21, at: at, epoch: 3, has: allFields}, now)
	if st.received != 7 || st.gaps != 2 || st.missed != 2+4 || st.resets != 1 || st.backwards != 1 || st.tickMs != 100 || live.Load() != 7 {
		t.Fatalf("%+v", st)
	}
	// A reset to another run (a restarted server) is one gap; its seqs,
	// lower than ours, are not "backwards", and the position is the new run's.
	tr.reset(head{seq: 4, epoch: 9, has: hasSeq | hasEpoch}, now)
	tr.batch(head{seq: 4, at: at, epoch: 9, has: allFields}, now)
	if st.gaps != 3 || st.resets != 2 || st.backwards != 1 || st.missed != 6 || tr.position() != "9-4" {
		t.Fatalf("after a reset to another run: %+v position %q", st, tr.position())
	}
	lag := tr.lags.merged()
	if lag.Count() != 8 || lag.Max() < 5*time.Millisecond || lag.Max() > time.Second {
		t.Fatalf("lag count %d max %s", lag.Count(), lag.Max())
	}
	// Outside the window nothing counts, but continuity is still followed.
	w.close(now)
	tr.batch(head{seq: 30, at: at}, now.Add(time.Second))
	if st.received != 8 || st.gaps != 3 || tr.last != 30 {
		t.Fatalf("after the window: %+v last %d", st, tr.last)
	}
}

func TestProc(t *testing.T) {
	if tck := clockTicks(); tck <= 0 || tck > 10000 {
		t.Fatalf("clock ticks %d", tck)
	}
	s, err := readProc(os.Getpid())
	if err != nil {
		if _, statErr := os.Stat("/proc/self/stat"); statErr != nil {
			t.Skip("no /proc")
		}
		t.Fatal(err)
	}
	if s.rssKiB <= 0 || s.cpuTicks < 0 {
		t.Fatalf("%+v", s)
	}
	if lim, err := raiseFileLimit(); err != nil || lim < 64 {
		t.Fatalf("file limit %d, %v", lim, err)
	}
}

// Reading a batch costs no allocation: with thousands of clients, garbage
// per message would make the generator's GC part of the measurement.
func TestSSEReadsWithoutAllocating(t *testing.T) {
	_, big := bigBatch(t)
	var stream []byte
	const n = 200
	for range n + 10 { // AllocsPerRun makes one warm-up call
		stream = append(stream, ": heartbeat\n\n"...)
		stream = sse.AppendEvent(stream, sse.Event{ID: "1", Name: "batch", Data: big})
	}
	s := fakeSSE(string(stream))
	allocs := testing.AllocsPerRun(n, func() {
		if _, _, err := s.next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per batch", allocs)
	}
}

// The delivered ratios count in seq over the window's span: from the
// latest first seq any client received in the window to the newest seq any
// client received in it; batches that arrived after the window (seen)
// count, lost ones (missed) do not, never-reading clients are left out.
func TestDelivered(t *testing.T) {
	r := &runner{clients: make([]clientStats, 4)}
	r.win.saw(120) // the newest batch received inside the window
	set := func(i int, first, seen uint64, missed int64) {
		c := &r.clients[i]
		c.connected, c.received, c.firstSeq, c.missed = true, 1, first, missed
		c.seen.Store(seen)
	}
	set(0, 100, 125, 0) // everything, and more after the window
	set(1, 101, 120, 0) // the span starts here: 101..120, 20 batches
	set(2, 99, 115, 2)  // 101..115 less 2 lost: 13 of 20
	r.clients[3] = clientStats{slow: true, connected: true}
	span, avg, lowest := r.delivered()
	if *span != 20 || *lowest != 0.65 || *avg != round((1+1+0.65)/3, 4) {
		t.Fatalf("span %d, average %v, lowest %v; want 20, %v, 0.65", *span, *avg, *lowest, round((1+1+0.65)/3, 4))
	}
}
