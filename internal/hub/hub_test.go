package hub

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
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

func takeAll(t *testing.T, s *Subscriber) (got []uint64, gap bool) {
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
		gap = gap || g
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
		if fmt.Sprint(got) != "[1 2 3 4 5]" || gap {
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
	if fmt.Sprint(got) != "[3]" || gap {
		t.Fatalf("got %v gap %v, want [3] without gap", got, gap)
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
	if fmt.Sprint(got) != "[10]" || !gap {
		t.Fatalf("slow subscriber got %v (gap %v), want to skip to [10]", got, gap)
	}
	if slow.Skipped() != 9 || h.Skipped() != 9 {
		t.Fatalf("skipped %d (hub %d), want 9", slow.Skipped(), h.Skipped())
	}
}

// Resume replays every frame after the client's last seq while the ring
// holds them, in bounded chunks; an older seq starts at the newest with a gap.
func TestResume(t *testing.T) {
	var calls int
	h := newHub(t, Config{History: 50, MaxLag: 4}, &calls)
	publish(h, 1, 60) // the ring holds 11..60
	cases := []struct {
		after   uint64
		want    string
		wantGap bool
	}{
		{after: 50, want: "[51 52 53 54 55 56 57 58 59 60]"},
		{after: 60, want: "[]"},
		{after: 10, want: "[11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60]"},
		{after: 3, want: "[60]", wantGap: true},
		{after: 900, want: "[60]", wantGap: true}, // from an earlier run of the server
	}
	for _, c := range cases {
		s := h.Subscribe(Resume{After: c.after, Set: true})
		got, gap := takeAll(t, s)
		if fmt.Sprint(got) != c.want && !(c.want == "[]" && got == nil) || gap != c.wantGap {
			t.Errorf("resume after %d: got %v gap %v, want %s gap %v", c.after, got, gap, c.want, c.wantGap)
		}
		s.Close()
	}
	if h.Subscribers() != 0 {
		t.Fatalf("%d subscribers left after Close", h.Subscribers())
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
	if _, gap, err := s.Take(); err != nil || !gap {
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
	s := h.Subscribe(Resume{After: 0, Set: true})
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
