package pipeline

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/event"
)

// lateTick is a tick's due time and how late it fired.
type lateTick struct {
	due  time.Time
	late time.Duration
}

// countingRecorder counts admissions and outcomes without allocating.
type countingRecorder struct{ admitted, finished atomic.Int64 }

func (r *countingRecorder) Admit(event.Event)     { r.admitted.Add(1) }
func (r *countingRecorder) Finish(_ event.Result) { r.finished.Add(1) }

// BenchmarkTickJitterMillionQueued measures how late a periodic tick fires
// while a pipeline's queue fills to a million events (deadlines an hour or
// two away, in random order), stays full under overload (every push evicts
// or is refused), switches policy twice (every event moved), and drains.
// The tick does what a coalescer's does to the heap: it allocates a batch's
// worth (32 KiB) each time. It reports the tick's lateness, p50, p99 and
// max, in ms, while the queue is full (fill, overload, switches) and while
// the pipeline drains it at shutdown (drain-*: the last batch waits for
// the drain). A queue of a thousand, under the same load, is the control:
// how late the tick is on this machine with a short queue. One iteration
// is one whole run: use -benchtime 1x.
//
//	go test -run '^$' -bench TickJitterMillionQueued -benchtime 1x ./internal/pipeline
func BenchmarkTickJitterMillionQueued(b *testing.B) {
	const tick = 25 * time.Millisecond
	for _, c := range []struct {
		pol    Policy
		queued int
	}{{EDF, 1_000_000}, {LIFO, 1_000_000}, {EDF, 1000}} {
		pol, queued := c.pol, c.queued
		b.Run(fmt.Sprintf("%s/%d", pol, queued), func(b *testing.B) {
			for b.Loop() {
				rec := &countingRecorder{}
				p, err := New(Config{Workers: 4, QueueCap: queued, QueueBytes: 1 << 30, Policy: pol, DrainTimeout: time.Millisecond},
					Sleep(Work{Mean: 5 * time.Millisecond}), rec)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				ran := make(chan error, 1)
				go func() { ran <- p.Run(ctx) }()

				stopTick := make(chan struct{})
				lateness := make(chan []lateTick, 1)
				go func() {
					var late []lateTick
					var sink []byte
					start := time.Now()
					for k := 1; ; k++ {
						due := start.Add(time.Duration(k) * tick)
						t := time.NewTimer(time.Until(due))
						select {
						case <-stopTick:
							t.Stop()
							lateness <- late
							_ = sink
							return
						case now := <-t.C:
							late = append(late, lateTick{due, now.Sub(due)})
							sink = make([]byte, 32<<10)
							sink[len(sink)-1] = 1
						}
					}
				}()

				rng := rand.New(rand.NewPCG(1, 2))
				var id uuid.UUID
				n := uint64(0)
				submit := func() {
					n++
					binary.BigEndian.PutUint64(id[8:], n)
					d := time.Hour + time.Duration(rng.Int64N(int64(time.Hour)))
					p.Submit(event.Event{ID: id, Source: "generator", CreatedAt: time.Now(), Deadline: d})
				}
				// Fill, then overload for 3 s at 100k events/s.
				for p.Gauges().QueueDepth < queued {
					submit()
				}
				overload := func(d time.Duration) {
					end := time.Now().Add(d)
					for time.Now().Before(end) {
						for range 1000 {
							submit()
						}
						time.Sleep(10 * time.Millisecond)
					}
				}
				overload(3 * time.Second)
				other := LIFO
				if pol == LIFO {
					other = EDF
				}
				if err := p.SetQueue(queued, other); err != nil {
					b.Fatal(err)
				}
				overload(time.Second)
				if err := p.SetQueue(queued, pol); err != nil {
					b.Fatal(err)
				}
				overload(time.Second)
				stopped := time.Now()
				cancel()
				if err := <-ran; err != nil {
					b.Fatal(err)
				}
				time.Sleep(500 * time.Millisecond)
				close(stopTick)
				late := <-lateness
				if rec.admitted.Load() != rec.finished.Load() {
					b.Fatalf("admitted %d, finished %d", rec.admitted.Load(), rec.finished.Load())
				}
				var running, draining []time.Duration
				for _, l := range late {
					if l.due.Before(stopped) {
						running = append(running, l.late)
					} else {
						draining = append(draining, l.late)
					}
				}
				q := func(ds []time.Duration, f float64) float64 {
					slices.Sort(ds)
					return float64(ds[int(f*float64(len(ds)-1))]) / 1e6
				}
				b.ReportMetric(q(running, 0.5), "p50-ms")
				b.ReportMetric(q(running, 0.99), "p99-ms")
				b.ReportMetric(q(running, 1), "max-ms")
				b.ReportMetric(q(draining, 0.99), "drain-p99-ms")
				b.ReportMetric(q(draining, 1), "drain-max-ms")
				b.ReportMetric(float64(len(late)), "ticks")
			}
		})
	}
}
