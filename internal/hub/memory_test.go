package hub_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	json "github.com/go-json-experiment/json/v1"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/sse"
	"github.com/ontime-rt/ontime/internal/stream"
)

// hostileBatch is the worst a tick can carry: MaxEvents results whose
// payload and worker result are 4 KiB (the most ingest and the worker
// client accept) of '<', which HTML-escaping JSON would make 24 KiB each.
func hostileBatch(seq uint64, startedAt int64) *batch.Batch {
	b := &batch.Batch{Seq: seq, StartedAt: startedAt, At: startedAt + int64(seq)*100, TickMs: 100}
	for i := range batch.MaxEvents {
		text := `"` + strings.Repeat("<", 4094) + `"`
		b.Events = append(b.Events, batch.Event{
			ID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i), Source: "hostile", Status: "on-time",
			Payload: json.RawMessage(text), Result: json.RawMessage(text),
		})
	}
	return b
}

// liveHeap is the heap that survives a full collection: what the process
// really keeps (the race detector's shadow memory is not in it).
func liveHeap() int64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// vmRSS is the process's resident set from /proc, 0 where there is none.
func vmRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}

// Hostile producers fill the history with the largest batches a tick can
// carry while SSE clients stream and others resume from the oldest
// position held and stall: the heap the hub keeps stays within its byte
// budget plus the newest frame's batch and a little, as docs/design.md
// states. (Before: 600 frames of 2.4 MB escaped JSON, a copy of it as the
// SSE frame, and the batch itself, about 3 GB; and every client replaying
// copied up to 20 frames into a buffer of its own.)
func TestHostileProducersStayWithinHistoryBytes(t *testing.T) {
	const budget = 16 << 20
	h, err := hub.New(hub.Config{
		HistoryBytes: budget,
		Logger:       slog.New(slog.DiscardHandler),
		Encoders:     map[string]hub.Encoder{"json": batch.JSON, "json-summary": batch.SummaryJSON},
		Wraps:        map[string]hub.Wrap{"sse": sse.BatchWrap("json"), "sse-summary": sse.BatchWrap("json-summary")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var streams stream.Streams
	// A client holds its position for at most one write, under this
	// timeout: the frames published meanwhile are what the hub may keep
	// beyond its history.
	const writeTimeout = time.Second
	srv := httptest.NewServer(&sse.Handler{Hub: h, Format: "sse", Streams: &streams, WriteTimeout: writeTimeout, Logger: slog.New(slog.DiscardHandler)})
	defer func() {
		h.Close()
		_ = streams.Shutdown(t.Context())
		srv.Close()
	}()
	const startedAt = 1795732462127
	probe := hostileBatch(1, startedAt)
	frameJSON, _ := batch.JSON(probe)
	if bytes.Contains(frameJSON, []byte(`\u003c`)) {
		t.Fatal("the batch JSON is HTML-escaped")
	}
	frame := int64(len(frameJSON))
	baseline := liveHeap()

	// Two clients keep up with the stream throughout.
	live := make(chan error, 2)
	for range 2 {
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		go func() {
			_, err := io.Copy(io.Discard, resp.Body)
			live <- err
		}()
	}

	var peak int64
	sample := func(when string) {
		t.Helper()
		heap := liveHeap() - baseline
		peak = max(peak, heap)
		held, frames := h.HistoryBytes()
		t.Logf("%s: live heap +%.1f MiB, history %.1f MiB in %d frames, VmRSS %.0f MiB", when, float64(heap)/(1<<20), float64(held)/(1<<20), frames, float64(vmRSS())/(1<<20))
	}
	seq := uint64(0)
	var published []time.Time
	publish := func(n int) {
		for range n {
			seq++
			h.Publish(hostileBatch(seq, startedAt))
			published = append(published, time.Now())
		}
	}
	// mostWithin is the most batches published within any span of d.
	mostWithin := func(d time.Duration) int64 {
		most, from := 0, 0
		for i, at := range published {
			for at.Sub(published[from]) > d {
				from++
			}
			most = max(most, i-from+1)
		}
		return int64(most)
	}
	for range 8 {
		publish(25)
		sample(fmt.Sprintf("after %d hostile batches", seq))
	}
	held, frames := h.HistoryBytes()
	if held > budget || frames < 2 {
		t.Fatalf("history holds %d bytes in %d frames, budget %d", held, frames, budget)
	}

	// Clients resume from the oldest position held and stall after a
	// little: each one's stream is blocked in a write of up to MaxLag
	// frames of the history.
	oldest := seq - uint64(frames) + 1
	var stalled []io.Closer
	for i := range 4 {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
		req.Header.Set("Last-Event-ID", hub.Position{Epoch: startedAt, Seq: oldest - 1}.String())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, resp.Body)
		br := bufio.NewReaderSize(resp.Body, 64<<10)
		line, err := br.ReadString('\n')
		for err == nil && !strings.HasPrefix(line, "id: ") {
			line, err = br.ReadString('\n')
		}
		if want := fmt.Sprintf("id: %d-%d\n", startedAt, oldest); line != want {
			t.Fatalf("resuming client %d: first id %q (%v), want %q", i, line, err, want)
		}
	}
	sample("4 resuming clients stalled")
	// Batches published while they stand still stay alive through them,
	// beyond the budget, until their writes time out.
	publish(50)
	sample(fmt.Sprintf("after %d hostile batches", seq))

	// The hub keeps its history, the newest frame's batch (about one
	// frame of raw payloads), and the frames published during one write
	// of a client (the write timeout, plus a second for the deadline's
	// renewal and scheduling on a loaded machine); a few MiB of slack
	// cover the HTTP server and clients of the test.
	slack := int64(8 << 20)
	during := mostWithin(writeTimeout + time.Second)
	bound := int64(budget) + frame + during*frame + slack
	t.Logf("frame %.0f KiB, at most %d published within a write; peak live heap +%.1f MiB, bound %.1f MiB", float64(frame)/1024, during, float64(peak)/(1<<20), float64(bound)/(1<<20))
	if peak > bound {
		t.Fatalf("live heap grew by %d bytes, more than the %d bound (history budget %d)", peak, bound, budget)
	}
	// Once the stalled clients are gone (their streams end when a write
	// fails), what they kept goes too: the live clients alone keep no
	// more than the frames published during one of their writes.
	for _, c := range stalled {
		c.Close()
	}
	for deadline := time.Now().Add(20 * time.Second); h.Subscribers() > 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers 20 s after the stalled clients left, want the 2 live ones", h.Subscribers())
		}
	}
	for range 5 {
		publish(10)
	}
	after := liveHeap() - baseline
	bound = int64(budget) + frame + mostWithin(writeTimeout+time.Second)*frame + slack
	t.Logf("stalled clients gone, 50 more batches: live heap +%.1f MiB (bound %.1f MiB)", float64(after)/(1<<20), float64(bound)/(1<<20))
	if after > bound {
		t.Fatalf("live heap +%d bytes after the stalled clients left, more than the %d bound", after, bound)
	}
	select {
	case err := <-live:
		t.Fatalf("a live client's stream ended: %v", err)
	default:
	}
}

// BenchmarkFrameBytes reports what the history holds per frame of the JSON
// stream's formats ("history-B/frame": the JSON and its summary, shared by
// the SSE events, whose heads are a few dozen bytes), against what
// encoding each SSE event separately with HTML-escaped JSON held
// ("escaped-copies-B/frame": JSON, summary, and both again as SSE events),
// for a generated batch and for the hostile one.
func BenchmarkFrameBytes(b *testing.B) {
	generated := hostileBatch(1, 1795732462127)
	for i := range generated.Events {
		generated.Events[i].Payload, generated.Events[i].Result = nil, nil
	}
	for _, c := range []struct {
		name string
		b    *batch.Batch
	}{{"generated", generated}, {"hostile", hostileBatch(1, 1795732462127)}} {
		b.Run(c.name, func(b *testing.B) {
			h, err := hub.New(hub.Config{
				Logger:   slog.New(slog.DiscardHandler),
				Encoders: map[string]hub.Encoder{"json": batch.JSON, "json-summary": batch.SummaryJSON},
				Wraps:    map[string]hub.Wrap{"sse": sse.BatchWrap("json"), "sse-summary": sse.BatchWrap("json-summary")},
			})
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; i++ {
				c.b.Seq = uint64(i + 1)
				h.Publish(c.b)
			}
			held, frames := h.HistoryBytes()
			full, _ := json.Marshal(c.b)
			type summary struct {
				*batch.Batch
				Events []batch.Event `json:"events,omitempty"`
			}
			sum, _ := json.Marshal(summary{Batch: c.b})
			old := 2*len(full) + 2*len(sum) + 2*64
			b.ReportMetric(float64(held)/float64(frames), "history-B/frame")
			b.ReportMetric(float64(old), "escaped-copies-B/frame")
		})
	}
}
