package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// waitCommand posts events with wait=1 and measures how soon each outcome
// line arrives after the event's processedAt:
//
//	ontime-load wait --url http://127.0.0.1:8080 --rate 5000 --batch 25 --duration 10s
//
// The server and this client must share a clock (run both on one machine).
// processedAt is in whole milliseconds, so each figure overstates the delay
// by up to 1 ms.
const waitCommand = "wait"

type waitOptions struct {
	base     string
	rate     float64
	batch    int
	duration time.Duration
	deadline time.Duration
	work     time.Duration
}

// waitSummary is the one-line JSON report of a wait run.
type waitSummary struct {
	Requests    int            `json:"requests"`
	Failed      int            `json:"failedRequests"`
	Events      int            `json:"events"`
	Accepted    int            `json:"accepted"`
	Lines       int            `json:"lines"`
	Missing     int            `json:"missing"`
	Statuses    map[string]int `json:"statuses"`
	OfferedRate float64        `json:"offeredRate"`
	LineDelayMs delayDigest    `json:"lineDelayMs"`
	FirstError  string         `json:"firstError,omitempty"`
}

type delayDigest struct {
	P50, P90, P99, P999, Max float64
}

func runWait(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ontime-load wait", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o waitOptions
	fs.StringVar(&o.base, "url", "http://127.0.0.1:8080", "the server's base URL")
	fs.Float64Var(&o.rate, "rate", 5000, "events per second")
	fs.IntVar(&o.batch, "batch", 25, "events per request (NDJSON)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to send")
	fs.DurationVar(&o.deadline, "deadline", 100*time.Millisecond, "each event's deadline")
	fs.DurationVar(&o.work, "work", 0, "each event's simulated work (workMs); 0 for the server's")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	if o.rate <= 0 || o.batch < 1 || o.duration <= 0 || o.deadline < time.Millisecond {
		return usageError{errors.New("want --rate > 0, --batch >= 1, --duration > 0, --deadline >= 1ms")}
	}
	var ev strings.Builder
	fmt.Fprintf(&ev, `{"deadlineMs":%g`, float64(o.deadline)/float64(time.Millisecond))
	if o.work > 0 {
		fmt.Fprintf(&ev, `,"workMs":%g`, float64(o.work)/float64(time.Millisecond))
	}
	ev.WriteString("}\n")
	body := []byte(strings.Repeat(ev.String(), o.batch))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
	defer client.CloseIdleConnections()

	var (
		mu     sync.Mutex
		sum    = waitSummary{Statuses: map[string]int{}}
		delays []float64
		wg     sync.WaitGroup
	)
	interval := time.Duration(float64(time.Second) * float64(o.batch) / o.rate)
	start := time.Now()
	for k := 0; ; k++ {
		at := start.Add(time.Duration(k) * interval)
		if at.Sub(start) >= o.duration {
			break
		}
		if d := time.Until(at); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			res, err := postWait(ctx, client, o.base, body)
			mu.Lock()
			defer mu.Unlock()
			sum.Requests++
			sum.Events += o.batch
			if err != nil {
				sum.Failed++
				if sum.FirstError == "" {
					sum.FirstError = err.Error()
				}
			}
			sum.Accepted += res.accepted
			sum.Lines += len(res.delays)
			sum.Missing += res.missing
			for s, n := range res.statuses {
				sum.Statuses[s] += n
			}
			delays = append(delays, res.delays...)
		})
	}
	wg.Wait()
	sum.OfferedRate = float64(sum.Events) / time.Since(start).Seconds()
	slices.Sort(delays)
	q := func(p float64) float64 {
		if len(delays) == 0 {
			return 0
		}
		return delays[min(len(delays)-1, int(math.Ceil(p*float64(len(delays))))-1)]
	}
	sum.LineDelayMs = delayDigest{P50: q(0.5), P90: q(0.9), P99: q(0.99), P999: q(0.999)}
	if len(delays) > 0 {
		sum.LineDelayMs.Max = delays[len(delays)-1]
	}
	return json.NewEncoder(stdout).Encode(sum)
}

type waitResult struct {
	accepted, missing int
	statuses          map[string]int
	delays            []float64 // line arrival minus processedAt, ms
}

// postWait posts one batch with wait=1 and reads its outcome lines, noting
// when each arrived.
func postWait(ctx context.Context, client *http.Client, base string, body []byte) (waitResult, error) {
	res := waitResult{statuses: map[string]int{}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/events?wait=1", bytes.NewReader(body))
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := client.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return res, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(raw))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	first := true
	for sc.Scan() {
		now := time.Now()
		var line struct {
			Accepted    int      `json:"accepted"`
			Status      string   `json:"status"`
			ProcessedAt int64    `json:"processedAt"`
			Missing     []string `json:"missing"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return res, fmt.Errorf("line %q: %w", sc.Text(), err)
		}
		if first {
			res.accepted, first = line.Accepted, false
			continue
		}
		if line.Missing != nil {
			res.missing += len(line.Missing)
			continue
		}
		res.statuses[line.Status]++
		res.delays = append(res.delays, float64(now.UnixMicro()-line.ProcessedAt*1000)/1000)
	}
	return res, sc.Err()
}
