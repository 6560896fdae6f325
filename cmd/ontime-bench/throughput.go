package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/pipeline"
)

// throughput measures zero-work events per second through admission, the
// pipeline and the coalescer, beside a bare buffered channel moving the
// same events from one producer to the same number of consumers. Events are
// made without the generator (IDs from a counter), so the figure is the
// pipeline's own cost.
func throughput(ctx context.Context, o options, out io.Writer) error {
	consumers := runtime.GOMAXPROCS(0)
	const queue = 1 << 16
	n := o.zeroN
	fmt.Fprintf(out, "Zero-work throughput: %d events, 1 producer, %d workers/consumers, queue %d (median of 3 runs each).\n\n", n, consumers, queue)
	fmt.Fprintln(out, "| path | events/s | ns/event | vs channel |")
	fmt.Fprintln(out, "|---|---|---|---|")
	var chanRates, pipeRates []float64
	for range 3 {
		chanRates = append(chanRates, channelBaseline(n, consumers, queue))
		r, err := pipelineRate(ctx, o, n, consumers, queue)
		if err != nil {
			return err
		}
		pipeRates = append(pipeRates, r)
	}
	c, p := median(chanRates), median(pipeRates)
	fmt.Fprintf(out, "| buffered channel (baseline) | %.0f | %.0f | 1.00 |\n", c, 1e9/c)
	fmt.Fprintf(out, "| ontime pipeline + coalescer (edf) | %.0f | %.0f | %.2f |\n\n", p, 1e9/p, p/c)
	return nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

func makeEvent(i int, now time.Time) event.Event {
	ev := event.Event{Source: "bench", CreatedAt: now, Deadline: time.Minute}
	binary.LittleEndian.PutUint64(ev.ID[:], uint64(i))
	return ev
}

func channelBaseline(n, consumers, queue int) float64 {
	ch := make(chan event.Event, queue)
	var done atomic.Int64
	var wg sync.WaitGroup
	for range consumers {
		wg.Go(func() {
			for ev := range ch {
				if ev.Deadline > 0 {
					done.Add(1)
				}
			}
		})
	}
	now := time.Now()
	start := time.Now()
	for i := range n {
		ch <- makeEvent(i, now)
	}
	close(ch)
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds()
}

// counter is the recorder beside the coalescer that tells when every event
// has finished.
type counter struct {
	next     pipeline.Recorder
	finished atomic.Int64
}

func (c *counter) Admit(ev event.Event) { c.next.Admit(ev) }
func (c *counter) Finish(r event.Result) {
	c.next.Finish(r)
	c.finished.Add(1)
}

func pipelineRate(ctx context.Context, o options, n, workers, queue int) (float64, error) {
	zo := o
	zo.workers, zo.queue = workers, queue
	count := &counter{}
	rg, err := startRigWith(zo, pipeline.EDF, false, 0, time.Minute, func(next pipeline.Recorder) pipeline.Recorder {
		count.next = next
		return count
	})
	if err != nil {
		return 0, err
	}
	now := time.Now()
	start := time.Now()
	offered := 0
	for accepted := 0; accepted < n; offered++ {
		if ok, _ := rg.pipe.Submit(makeEvent(offered, now)); ok {
			accepted++
		} else {
			// A full queue dropped the event (counted); let the workers
			// catch up, as a paced producer would.
			runtime.Gosched()
		}
	}
	for count.finished.Load() < int64(offered) {
		if ctx.Err() != nil {
			rg.cancel()
			return 0, ctx.Err()
		}
		runtime.Gosched()
	}
	el := time.Since(start)
	snap := rg.coal.Snapshot()
	rg.cancel()
	return float64(snap.Totals.OnTime) / el.Seconds(), nil
}
