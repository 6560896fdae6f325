package main

import (
	"math"
	"time"
)

// summary is the one-line JSON report. Counts of batches, gaps and lags cover
// the measurement window (in churn mode, the whole run); connection counts
// cover the run.
type summary struct {
	Mode     string `json:"mode"`
	URL      string `json:"url"`
	SSE      int    `json:"sse"`
	WS       int    `json:"ws"`
	Slow     int    `json:"slow"`
	RampPerS int    `json:"rampPerS"`
	// RampS is how long opening every connection took.
	RampS float64 `json:"rampS"`
	// DurationS is the measurement window as it was, which may differ from
	// --duration by scheduling noise (or by much, when interrupted or when
	// churn reached --cycles early).
	DurationS float64 `json:"durationS"`
	// TickMs is the server's tick, from the first batch.
	TickMs int64 `json:"tickMs"`
	// SSEProto is the protocol of the SSE clients: http/1.1 (a connection
	// each) or h2 (--per-conn clients per connection).
	SSEProto string `json:"sseProto"`
	// TCPConns counts the reading clients' connections open at the end of
	// the window (never-reading clients' are not counted).
	TCPConns int64 `json:"tcpConns"`

	// Connected counts the reading (SSE and WebSocket) clients whose first
	// connection opened; in never-read mode, the never-reading ones.
	Connected int `json:"connected"`
	// SlowConnected counts the --slow clients that connected.
	SlowConnected  int    `json:"slowConnected"`
	FailedConnects int    `json:"failedConnects"`
	FirstError     string `json:"firstError,omitempty"`
	// Disconnects counts normal clients whose stream the server ended
	// before the run did.
	Disconnects     int    `json:"disconnects"`
	FirstDisconnect string `json:"firstDisconnect,omitempty"`

	BatchesReceived int64 `json:"batchesReceived"`
	// The ratios are over the connected clients (failures are counted
	// above) and only in normal mode: received / (connected x expected),
	// where expected is the window divided by the tick. They are wall-clock
	// ratios, so a client may get one batch more or less than expected.
	ExpectedPerClient *float64 `json:"expectedPerClient,omitempty"`
	// BatchesMade is how many batches the server published during the
	// window as the clients saw it: the largest seq span one client
	// received. Below expectedPerClient, the server's ticks fell behind
	// the wall clock (late ticks on a saturated machine); above
	// minPerClient, some client lost or had not yet received batches.
	BatchesMade      *int64   `json:"batchesMade,omitempty"`
	MinPerClient     *int64   `json:"minPerClient,omitempty"`
	ReceivedRatio    *float64 `json:"receivedRatio,omitempty"`
	MinReceivedRatio *float64 `json:"minReceivedRatio,omitempty"`
	// The delivered ratios count in seq, not in wall-clock time, over the
	// window's span: from the latest first seq any client received inside
	// the window to the newest seq any client received in it (spanBatches
	// batches). Each client should have every batch of the span; batches
	// still in flight when the window closed are waited for (up to 2 s) and
	// count. So a batch that is late still counts as delivered (lagMs
	// tells how late), and a lost one does not: this is the fraction of
	// batches that reached the clients, per client at minimum.
	SpanBatches       *int64   `json:"spanBatches,omitempty"`
	DeliveredRatio    *float64 `json:"deliveredRatio,omitempty"`
	MinDeliveredRatio *float64 `json:"minDeliveredRatio,omitempty"`

	// Gaps counts seq jumps and SSE reset events; Missed the batches the
	// jumps skipped; Resets the reset events among the gaps; Backwards the
	// batches whose seq did not move forward (a repeat, or a server
	// restart).
	Gaps      int64 `json:"gaps"`
	Missed    int64 `json:"missed"`
	Resets    int64 `json:"resets"`
	Backwards int64 `json:"backwards"`

	// LagMs is the delivery lag: local receive time minus the batch's at.
	LagMs lagSummary `json:"lagMs"`

	// LoadCPUPercent is this load generator's own CPU use over the window,
	// in percent of one core: when it nears the machine's capacity, lags
	// measure the client as much as the server.
	LoadCPUPercent float64 `json:"loadCpuPercent"`

	Server *serverSummary `json:"server,omitempty"`
	Churn  *churnSummary  `json:"churn,omitempty"`

	// Interrupted tells that a signal cut the run short.
	Interrupted bool `json:"interrupted,omitempty"`
}

// lagSummary is the delivery lag distribution, in milliseconds. The batch's
// at has millisecond resolution, so lags are overstated by up to 1 ms.
type lagSummary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// serverSummary is the server process's resource use. CPU covers the
// measurement window; RSS growth is from before the first connection to the
// end of the window.
type serverSummary struct {
	// AgeS is how long the server had been running when the load began.
	// A young server's RSS still grows as its batch history fills, and
	// the growth is counted in rssPerClientKiB.
	AgeS            float64 `json:"ageS"`
	CPUSeconds      float64 `json:"cpuSeconds"`
	CPUPercent      float64 `json:"cpuPercent"` // of one core
	RSSStartKiB     int64   `json:"rssStartKiB"`
	RSSEndKiB       int64   `json:"rssEndKiB"`
	RSSPeakKiB      int64   `json:"rssPeakKiB"`
	RSSPerClientKiB float64 `json:"rssPerClientKiB"`
	// Error tells why the end sample failed (the server exited).
	Error string `json:"error,omitempty"`
}

// churnSummary counts churn cycles.
type churnSummary struct {
	Cycles     int64   `json:"cycles"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"firstError,omitempty"`
	CyclesPerS float64 `json:"cyclesPerS"`
}

// summarize merges the clients' records. Call it once they have stopped.
// loadCPU is the generator's own CPU time over the window.
func (r *runner) summarize(rampTime, win, loadCPU time.Duration, interrupted bool) summary {
	o := r.o
	s := summary{
		Mode:        string(o.mode),
		URL:         o.base.String(),
		SSE:         o.sse,
		WS:          o.ws,
		Slow:        o.slow,
		RampPerS:    o.ramp,
		RampS:       round(rampTime.Seconds(), 2),
		DurationS:   round(win.Seconds(), 3),
		Interrupted: interrupted,
	}
	if win > 0 {
		s.LoadCPUPercent = round(100*loadCPU.Seconds()/win.Seconds(), 1)
	}
	var (
		minReceived int64 = math.MaxInt64
		made        int64
		churn       churnSummary
	)
	for i := range r.clients {
		c := &r.clients[i]
		if c.connectErr != nil {
			s.FailedConnects++
			if s.FirstError == "" {
				s.FirstError = c.connectErr.Error()
			}
		}
		if c.slow && o.mode != modeNeverRead {
			if c.connected {
				s.SlowConnected++
			}
			continue
		}
		// Churn clients cycle on even when their first connection failed.
		churn.Cycles += c.cycles
		churn.Errors += c.cycleErrs
		if churn.FirstError == "" && c.cycleErr != nil {
			churn.FirstError = c.cycleErr.Error()
		}
		if !c.connected {
			continue
		}
		s.Connected++
		if c.streamErr != nil {
			s.Disconnects++
			if s.FirstDisconnect == "" {
				s.FirstDisconnect = c.streamErr.Error()
			}
		}
		if s.TickMs == 0 {
			s.TickMs = c.tickMs
		}
		if c.received > 0 {
			made = max(made, int64(c.lastSeq-c.firstSeq)+1)
		}
		s.BatchesReceived += c.received
		minReceived = min(minReceived, c.received)
		s.Gaps += c.gaps
		s.Missed += c.missed
		s.Resets += c.resets
		s.Backwards += c.backwards
	}

	if o.mode == modeNormal {
		s.SpanBatches, s.DeliveredRatio, s.MinDeliveredRatio = r.delivered()
	}

	h := r.lags.merged()
	ms := func(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 1) }
	s.LagMs = lagSummary{Count: h.Count(), P50: ms(h.Quantile(0.5)), P99: ms(h.Quantile(0.99)), Max: ms(h.Max())}

	switch o.mode {
	case modeNormal:
		if s.Connected > 0 && s.TickMs > 0 {
			expected := float64(win.Milliseconds()) / float64(s.TickMs)
			ratio := float64(s.BatchesReceived) / (float64(s.Connected) * expected)
			minRatio := float64(minReceived) / expected
			e, mr := round(expected, 1), minReceived
			ratio, minRatio = round(ratio, 3), round(minRatio, 3)
			s.ExpectedPerClient, s.MinPerClient, s.ReceivedRatio, s.MinReceivedRatio = &e, &mr, &ratio, &minRatio
			s.BatchesMade = &made
		} else {
			// Nothing arrived (or nothing connected): every ratio is 0.
			var zero float64
			var zeroN int64
			s.ExpectedPerClient, s.MinPerClient, s.ReceivedRatio, s.MinReceivedRatio = &zero, &zeroN, &zero, &zero
			s.BatchesMade = &zeroN
		}
	case modeChurn:
		if win > 0 {
			churn.CyclesPerS = round(float64(churn.Cycles)/win.Seconds(), 1)
		}
		s.Churn = &churn
	}
	return s
}

// delivered computes the delivered ratios over the window's seq span (see
// summary.DeliveredRatio). Called after every client has stopped.
func (r *runner) delivered() (span *int64, ratio, minRatio *float64) {
	first, last := uint64(0), r.win.newest.Load()
	clients := 0
	for i := range r.clients {
		if c := &r.clients[i]; c.connected && !c.slow && c.received > 0 {
			first = max(first, c.firstSeq)
			clients++
		}
	}
	n := int64(0)
	if clients > 0 && last >= first {
		n = int64(last-first) + 1
	}
	count, sum, lowest := 0, 0.0, 1.0
	for i := range r.clients {
		c := &r.clients[i]
		if !c.connected || c.slow {
			continue
		}
		ratio := 0.0
		if seen := c.seen.Load(); n > 0 && c.received > 0 && seen >= first {
			// Seqs are contiguous per client but for the gaps it counted.
			got := max(0, float64(min(seen, last)-first+1)-float64(c.missed))
			ratio = got / float64(n)
		}
		count++
		sum += ratio
		lowest = min(lowest, ratio)
	}
	avg := 0.0
	if count == 0 {
		lowest = 0
	} else {
		avg = round(sum/float64(count), 4)
	}
	lowest = round(lowest, 4)
	return &n, &avg, &lowest
}
