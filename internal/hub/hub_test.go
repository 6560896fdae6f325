package hub

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/batch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newHub(t testing.TB, cfg Config, calls *int) *Hub {
	t.Helper()
	var mu sync.Mutex
	cfg.Encoders = map[string]Encoder{"txt": func(b *batch.Batch) ([]byte, error) {
		mu.Lock()
		*calls++
		mu.Unlock()
		return fmt.Appendf(nil, "batch %d", b.Seq), nil
	}}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func publish(h *Hub, from, to uint64) {
	for s := from; s <= to; s++ {
		h.Publish(&batch.Batch{Seq: s})
	}
}

func seqs(frames []*Frame) []uint64 {
	var out []uint64
	for _, f := range frames {
		out = append(out, f.Seq())
	}
	return out
}

func takeAll(t *testing.T, s *Subscriber) (got []uint64, gap Gap) {
	t.Helper()
	for {
		select {
		case <-s.Ready():
		default:
			return got, gap
		}
		frames, g, err := s.Take()
		if errors.Is(err, ErrClosed) {
			return got, gap
		}
		if err != nil {
			t.Fatalf("Take: %v", err)
		}
		if gap == NoGap {
			gap = g
		}
		got = append(got, seqs(frames)...)
	}
}

// Every subscriber sees every batch; each batch is encoded once, however
// many subscribers there are.
func TestFanOutEncodesOnce(t *testing.T) {
	var calls int
	h := newHub(t, Config{}, &calls)
	subs := make([]*Subscriber, 100)
	for i := range subs {
		subs[i] = h.Subscribe(Resume{})
	}
	publish(h, 1, 5)
	if calls != 5 {
		t.Fatalf("encoder called %d times for 5 batches and 100 subscribers, want 5", calls)
	}
	for i, s := range subs {
		got, gap := takeAll(t, s)
		if fmt.Sprint(got) != "[1 2 3 4 5]" || gap != NoGap {
			t.Fatalf("subscriber %d got %v (gap %v)", i, got, gap)
		}
	}
	f := h.Latest()
	if string(f.Bytes("txt")) != "batch 5" || f.Bytes("nope") != nil {
		t.Fatalf("latest frame bytes: %q", f.Bytes("txt"))
	}
}

// A new subscriber starts with the newest frame, so it has something to show.
func TestNewSubscriberGetsNewest(t *testing.T) {
	var calls int
	h := newHub(t, Config{}, &calls)
	publish(h, 1, 3)
	s := h.Subscribe(Resume{})
	got, gap := takeAll(t, s)
	if fmt.Sprint(got) != "[3]" || gap != NoGap {
		t.Fatalf("got %v gap %q, want [3] without gap", got, gap)
	}
}

// A subscriber that stops taking delays no one and, when it falls more than
// MaxLag behind, skips to the newest frame, counted.
func TestSlowSubscriberSkips(t *testing.T) {
	var calls int
	h := newHub(t, Config{History: 100, MaxLag: 4}, &calls)
	fast, slow := h.Subscribe(Resume{}), h.Subscribe(Resume{})
	var fastGot []uint64
	for s := uint64(1); s <= 10; s++ {
		publish(h, s, s)
		got, _ := takeAll(t, fast)
		fastGot = append(fastGot, got...)
	}
	if len(fastGot) != 10 {
		t.Fatalf("fast subscriber got %v", fastGot)
	}
	got, gap := takeAll(t, slow)
	if fmt.Sprint(got) != "[10]" || gap != GapLagged {
		t.Fatalf("slow subscriber got %v (gap %v), want to skip to [10]", got, gap)
	}
	if slow.Skipped() != 9 || h.Skipped() != 9 {
		t.Fatalf("skipped %d (hub %d), want 9", slow.Skipped(), h.Skipped())
	}
}

// Resume replays every frame after the client's position while the ring
// holds them, in bounded chunks; a position from another run, too old or
// ahead starts at the newest with the reason.
func TestResume(t *testing.T) {
	var calls int
	h := newHub(t, Config{History: 50, MaxLag: 4}, &calls)
	publishRun(h, 7, 1, 60) // the ring holds 11..60 of epoch 7
	cases := []struct {
		after   Position
		want    string
		wantGap Gap
	}{
		{after: Position{7, 50}, want: "[51 52 53 54 55 56 57 58 59 60]"},
		{after: Position{7, 60}, want: "[]"},
		{after: Position{7, 10}, want: "[11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60]"},
		{after: Position{7, 3}, want: "[60]", wantGap: GapTooOld},
		{after: Position{7, 900}, want: "[60]", wantGap: GapFuture},
		// Another run, even at a seq the ring holds: its seqs are not ours.
		{after: Position{6, 50}, want: "[60]", wantGap: GapOtherRun},
		{after: Position{NoEpoch, 50}, want: "[60]", wantGap: GapOtherRun},
	}
	for _, c := range cases {
		s := h.Subscribe(Resume{After: c.after, Set: true})
		got, gap := takeAll(t, s)
		if fmt.Sprint(got) != c.want && !(c.want == "[]" && got == nil) || gap != c.wantGap {
			t.Errorf("resume after %v: got %v gap %q, want %s gap %q", c.after, got, gap, c.want, c.wantGap)
		}
		s.Close()
	}
	if h.Subscribers() != 0 {
		t.Fatalf("%d subscribers left after Close", h.Subscribers())
	}
}

// publishRun publishes seqs from..to of the run that started at epoch.
func publishRun(h *Hub, epoch int64, from, to uint64) {
	for s := from; s <= to; s++ {
		h.Publish(&batch.Batch{Seq: s, StartedAt: epoch})
	}
}

// A client that resumes before a restarted server has published anything
// is told of the restart with the first frame; one whose position the first
// frame follows is not.
func TestResumeBeforeFirstPublish(t *testing.T) {
	cases := []struct {
		after   Position
		first   uint64 // the first seq published, then two more
		want    string
		wantGap Gap
	}{
		{after: Position{5, 50}, first: 51, want: "[51 52 53]", wantGap: NoGap},
		{after: Position{4, 50}, first: 1, want: "[3]", wantGap: GapOtherRun},
		{after: Position{NoEpoch, 50}, first: 1, want: "[3]", wantGap: GapOtherRun},
		{after: Position{5, 70}, first: 1, want: "[3]", wantGap: GapFuture},
		{after: Position{5, 40}, first: 45, want: "[47]", wantGap: GapTooOld},
	}
	for _, c := range cases {
		var calls int
		h := newHub(t, Config{}, &calls)
		s := h.Subscribe(Resume{After: c.after, Set: true})
		publishRun(h, 5, c.first, c.first+2)
		got, gap := takeAll(t, s)
		if fmt.Sprint(got) != c.want || gap != c.wantGap {
			t.Errorf("resume after %v: got %v gap %q, want %s gap %q", c.after, got, gap, c.want, c.wantGap)
		}
	}
}

// Positions read from clients: "<epoch>-<seq>", a bare seq (no run), or
// nothing; anything else is refused.
func TestParseResume(t *testing.T) {
	good := map[string]Resume{
		"":                Resume{},
		"1795732462127-0": {After: Position{1795732462127, 0}, Set: true},
		"100-17957324621": {After: Position{100, 17957324621}, Set: true},
		"42":              {After: Position{NoEpoch, 42}, Set: true},
	}
	for in, want := range good {
		got, err := ParseResume(in)
		if err != nil || got != want {
			t.Errorf("ParseResume(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if want.Set && want.After.Epoch != NoEpoch && want.After.String() != in {
			t.Errorf("%+v prints as %q, want %q", want.After, want.After.String(), in)
		}
	}
	for _, in := range []string{"x", "-1", "1-", "-5-3", "+5-3", "5-+3", "5--3", "5-3-2", "1.5-3", "5-3 ", "99999999999999999999-1"} {
		if _, err := ParseResume(in); err == nil || !strings.Contains(err.Error(), "epoch-seq") {
			t.Errorf("ParseResume(%q): %v, want an error naming the form", in, err)
		}
	}
}

// The history holds at most HistoryBytes: bigger frames leave fewer of
// them, the oldest go first (counted), a resume from one of those gets a
// reset, and the newest frame is kept whatever its size.
func TestHistoryByteBudget(t *testing.T) {
	size := 10 << 10
	h, err := New(Config{History: 600, HistoryBytes: 100 << 10, Encoders: map[string]Encoder{
		"json": func(b *batch.Batch) ([]byte, error) { return make([]byte, int(b.TickMs)), nil },
	}})
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 100; seq++ {
		h.Publish(&batch.Batch{Seq: seq, StartedAt: 1, TickMs: int64(size)})
	}
	bytes, frames := h.HistoryBytes()
	perFrame := int64(size + frameOverhead)
	if bytes > 100<<10 || frames != int((100<<10)/perFrame) {
		t.Fatalf("history holds %d bytes in %d frames, want at most %d bytes in %d frames", bytes, frames, 100<<10, (100<<10)/perFrame)
	}
	if h.Evicted() != uint64(100-frames) {
		t.Fatalf("evicted %d, want %d", h.Evicted(), 100-frames)
	}
	oldest := uint64(100 - frames + 1)
	got, gap := takeAll(t, h.Subscribe(Resume{After: Position{1, oldest - 1}, Set: true}))
	if gap != NoGap || len(got) != frames {
		t.Fatalf("resume from the oldest held: %v gap %q", got, gap)
	}
	got, gap = takeAll(t, h.Subscribe(Resume{After: Position{1, oldest - 2}, Set: true}))
	if gap != GapTooOld || fmt.Sprint(got) != "[100]" {
		t.Fatalf("resume from an evicted frame: %v gap %q, want [100] too-old", got, gap)
	}
	// A frame bigger than the whole budget is kept alone.
	h.Publish(&batch.Batch{Seq: 101, StartedAt: 1, TickMs: 200 << 10})
	if bytes, frames := h.HistoryBytes(); frames != 1 || bytes != 200<<10+frameOverhead {
		t.Fatalf("after a huge frame the history holds %d bytes in %d frames", bytes, frames)
	}
	if h.Latest().Seq() != 101 || h.LatestBatch().Seq != 101 {
		t.Fatal("the huge frame is not the newest")
	}
}

// A subscriber whose next frame the history has let go (it stood still,
// or replayed slowly, while the byte budget turned over) skips to the
// newest with a gap instead of keeping every frame since alive.
func TestSubscriberSkipsEvictedFrames(t *testing.T) {
	h, err := New(Config{History: 600, MaxLag: 20, HistoryBytes: 10 * (1000 + frameOverhead), Encoders: map[string]Encoder{
		"json": func(b *batch.Batch) ([]byte, error) { return make([]byte, 1000), nil },
	}})
	if err != nil {
		t.Fatal(err)
	}
	publishRun(h, 1, 1, 10)
	replaying := h.Subscribe(Resume{After: Position{1, 0}, Set: true})
	frames, gap, err := replaying.Take()
	if err != nil || gap != NoGap || len(frames) != 10 {
		t.Fatalf("replay: %d frames, gap %q, %v", len(frames), gap, err)
	}
	standing := h.Subscribe(Resume{After: Position{1, 3}, Set: true}) // pending: frame 4
	publishRun(h, 1, 11, 15)                                          // 1..5 let go
	got, gap := takeAll(t, standing)
	if fmt.Sprint(got) != "[15]" || gap != GapLagged {
		t.Fatalf("after its next frame was let go: %v gap %q, want [15] lagged", got, gap)
	}
	if got, gap := takeAll(t, replaying); fmt.Sprint(got) != "[11 12 13 14 15]" || gap != NoGap {
		t.Fatalf("a subscriber whose next frame is held: %v gap %q", got, gap)
	}
}

// Only the newest frame keeps its batch: the history keeps encodings.
func TestOnlyTheNewestKeepsItsBatch(t *testing.T) {
	var calls int
	h := newHub(t, Config{}, &calls)
	if h.Latest() != nil || h.LatestBatch() != nil {
		t.Fatal("a frame before the first publish")
	}
	s := h.Subscribe(Resume{After: Position{3, 0}, Set: true})
	publishRun(h, 3, 1, 2)
	frames, _, err := s.Take()
	if err != nil || len(frames) != 2 {
		t.Fatalf("take: %d frames, %v", len(frames), err)
	}
	if frames[0].Batch() != nil || frames[1].Batch() == nil || frames[1].Batch().Epoch != 3 {
		t.Fatal("an older frame kept its batch, or the newest lost it (or its epoch)")
	}
	if frames[0].Position() != (Position{3, 1}) || string(frames[0].Bytes("txt")) != "batch 1" {
		t.Fatalf("older frame: %v %q", frames[0].Position(), frames[0].Bytes("txt"))
	}
}

// A Wrap's frame is its head, the wrapped format's very bytes, and its
// tail; a Wrap of nothing is refused.
func TestWrapSharesBytes(t *testing.T) {
	h, err := New(Config{
		Encoders: map[string]Encoder{"json": func(b *batch.Batch) ([]byte, error) { return fmt.Appendf(nil, `{"seq":%d}`, b.Seq), nil }},
		Wraps: map[string]Wrap{"sse": {Of: "json", Tail: []byte("\n\n"), Head: func(p Position, _ *batch.Batch) []byte {
			return []byte("id: " + p.String() + "\ndata: ")
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Publish(&batch.Batch{Seq: 4, StartedAt: 9})
	f := h.Latest()
	parts := f.AppendParts(nil, "sse")
	if len(parts) != 3 || string(bytes.Join(parts, nil)) != "id: 9-4\ndata: {\"seq\":4}\n\n" {
		t.Fatalf("parts %q", parts)
	}
	if &parts[1][0] != &f.Bytes("json")[0] {
		t.Fatal("the wrapped bytes were copied")
	}
	if f.Bytes("sse") != nil || len(f.AppendParts(nil, "nope")) != 0 {
		t.Fatal("bytes for a wrap, or parts for no format")
	}
	if _, err := New(Config{Wraps: map[string]Wrap{"sse": {Of: "json", Head: func(Position, *batch.Batch) []byte { return nil }}}}); err == nil {
		t.Fatal("a wrap of no encoder accepted")
	}
}

func TestCloseEndsSubscriptions(t *testing.T) {
	var calls int
	h := newHub(t, Config{}, &calls)
	s := h.Subscribe(Resume{})
	publish(h, 1, 2)
	h.Close()
	publish(h, 3, 3) // ignored
	got, _ := takeAll(t, s)
	if fmt.Sprint(got) != "[1 2]" {
		t.Fatalf("got %v before close, want [1 2]", got)
	}
	if _, _, err := s.Take(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Take after close: %v, want ErrClosed", err)
	}
}

// Concurrent publishing and taking (run with -race): every subscriber sees
// strictly increasing seqs ending at the last one.
func TestConcurrentTake(t *testing.T) {
	var calls int
	h := newHub(t, Config{History: 16, MaxLag: 8}, &calls)
	const n = 2000
	var wg sync.WaitGroup
	for range 8 {
		s := h.Subscribe(Resume{})
		wg.Go(func() {
			var last uint64
			for {
				<-s.Ready()
				frames, _, err := s.Take()
				if err != nil {
					if last != n {
						t.Errorf("ended at %d, want %d", last, n)
					}
					return
				}
				for _, f := range frames {
					if f.Seq() <= last {
						t.Errorf("seq %d after %d", f.Seq(), last)
						return
					}
					last = f.Seq()
				}
			}
		})
	}
	publish(h, 1, n)
	h.Close()
	wg.Wait()
}

// BenchmarkFanOut measures delivery through the hub to N subscribers, each
// with its own goroutine taking frames and writing their bytes (to a
// discarding writer), as a transport does. One op is one batch published
// and delivered to every subscriber; ns/delivery and allocs/delivery are
// per subscriber and batch.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			frame := bytes.Repeat([]byte("x"), 600) // a small batch as an SSE frame
			h, err := New(Config{Encoders: map[string]Encoder{"sse": func(*batch.Batch) ([]byte, error) { return frame, nil }}})
			if err != nil {
				b.Fatal(err)
			}
			var delivered sync.WaitGroup
			var done sync.WaitGroup
			for range n {
				s := h.Subscribe(Resume{})
				done.Go(func() {
					defer s.Close()
					for {
						<-s.Ready()
						frames, _, err := s.Take()
						if err != nil {
							return
						}
						for _, f := range frames {
							_, _ = io.Discard.Write(f.Bytes("sse"))
							delivered.Done()
						}
					}
				})
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				delivered.Add(n)
				h.Publish(&batch.Batch{Seq: uint64(i + 1)})
				delivered.Wait()
			}
			b.StopTimer()
			runtime.ReadMemStats(&after)
			deliveries := float64(b.N * n)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/deliveries, "allocs/delivery")
			h.Close()
			done.Wait()
		})
	}
}

// A subscriber that keeps lagging for longer than SlowAfter is given up on;
// one that lags once and catches up is not.
func TestSubscriberTooSlow(t *testing.T) {
	now := time.Unix(0, 0)
	var calls int
	h := newHub(t, Config{History: 100, MaxLag: 2, SlowAfter: 5 * time.Second, Now: func() time.Time { return now }}, &calls)
	s := h.Subscribe(Resume{})
	publish(h, 1, 5)
	if _, gap, err := s.Take(); err != nil || gap != GapLagged {
		t.Fatalf("first lagging take: gap %v err %v, want a skip", gap, err)
	}
	now = now.Add(3 * time.Second)
	publish(h, 6, 10)
	if _, _, err := s.Take(); err != nil {
		t.Fatalf("lagging for 3s: %v", err)
	}
	now = now.Add(3 * time.Second)
	publish(h, 11, 15)
	if _, _, err := s.Take(); !errors.Is(err, ErrTooSlow) {
		t.Fatalf("lagging for 6s: %v, want ErrTooSlow", err)
	}
	if h.SlowDisconnects() != 1 {
		t.Fatalf("slow disconnects %d", h.SlowDisconnects())
	}
	// Catching up resets the clock.
	ok := h.Subscribe(Resume{})
	publish(h, 16, 20)
	ok.Take()
	now = now.Add(10 * time.Second)
	publish(h, 21, 21)
	if _, _, err := ok.Take(); err != nil {
		t.Fatalf("a subscriber that caught up: %v", err)
	}
}

// Ephemeral formats are kept for the newest frame only.
func TestEphemeralFormats(t *testing.T) {
	h, err := New(Config{
		Ephemeral: []string{"page"},
		Encoders: map[string]Encoder{
			"page": func(b *batch.Batch) ([]byte, error) { return fmt.Appendf(nil, "page %d", b.Seq), nil },
			"json": func(b *batch.Batch) ([]byte, error) { return fmt.Appendf(nil, "json %d", b.Seq), nil },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := h.Subscribe(Resume{Set: true})
	publish(h, 1, 3)
	frames, _, err := s.Take()
	if err != nil || len(frames) != 3 {
		t.Fatalf("take: %d frames, %v", len(frames), err)
	}
	if frames[0].Bytes("page") != nil || frames[1].Bytes("page") != nil || string(frames[2].Bytes("page")) != "page 3" {
		t.Fatal("older frames kept their ephemeral bytes, or the newest lost them")
	}
	if string(frames[0].Bytes("json")) != "json 1" {
		t.Fatal("a replayable format was let go")
	}
}
