// Command ontime-load is the load-testing client of ontime: it opens N SSE
// and WebSocket clients against a running server, checks that every client
// gets every batch in order and on time, and prints a one-line JSON summary.
//
// Modes: normal clients read every batch for --duration; never-read clients
// connect and never read a byte (the server must contain them); churn clients
// connect, read a few batches, disconnect and resume, over and over. --slow
// adds never-reading clients to a normal or churn run, and --pid reports the
// server's CPU time and memory from /proc.
//
//	ontime-load --url http://127.0.0.1:8080 --sse 500 --ws 500 --duration 10s --pid $(pidof ontime)
//
// Reading the summary: batches count when they arrive inside the window
// (which opens once every client has connected), so receivedRatio is a
// wall-clock ratio. With zero gaps, a ratio below 1 means batches were late,
// not lost: either the server's ticks fell behind (batchesMade below
// expectedPerClient) or delivery lag grew during the window. lagMs includes
// the load generator's own scheduling delay; loadCpuPercent tells when that
// matters. deliveredRatio and minDeliveredRatio count in seq instead: of
// the batches in the window's seq span, the fraction each client received,
// late or not (batches in flight when the window closes are waited for). For memory figures, start the server a couple of minutes ahead:
// its RSS grows while its batch history fills.
//
// The serve-reference subcommand runs a trivial server of the same stream,
// one goroutine and one write per client per tick, to measure ontime against:
//
//	ontime-load serve-reference --addr 127.0.0.1:8090
//
// The wait subcommand posts events with wait=1 at a given rate and reports
// how soon after each event's processedAt its outcome line arrived:
//
//	ontime-load wait --url http://127.0.0.1:8080 --rate 5000 --batch 25 --duration 10s
//
// The halfsent subcommand opens connections that each send the head of a
// refused write, announcing a body, and no body, and reports how soon the
// server closed them and its goroutines came back:
//
//	ontime-load halfsent --url http://127.0.0.1:8080 --n 10000 --kind host
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args, os.Stdout, os.Stderr)
	var usage usageError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "ontime-load:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "ontime-load:", err)
		os.Exit(1)
	}
}

// Timing of the run's bookkeeping.
const (
	// rssPollInterval is how often the server's RSS is sampled for its
	// peak.
	rssPollInterval = 500 * time.Millisecond
	// progressInterval is how often progress is reported on stderr.
	progressInterval = 5 * time.Second
	// youngServer is the server age under which its memory figures are
	// warned to include warm-up growth: the default history is 60 s.
	youngServer = 2 * time.Minute
	// churnBatches is how many batches a churn client reads per cycle: the
	// first is a replay (or the newest batch), the others live ones.
	churnBatches = 3
	// churnBackoff is the pause after a failed churn cycle, so a refusing
	// server is not hammered in a tight loop.
	churnBackoff = 100 * time.Millisecond
)

// run is the whole command: it parses args, runs the clients, and writes the
// summary to stdout and progress to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 1 && args[1] == referenceCommand {
		return runReference(ctx, args[1:], stderr)
	}
	if len(args) > 1 && args[1] == waitCommand {
		return runWait(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 1 && args[1] == halfSentCommand {
		return runHalfSent(ctx, args[1:], stdout, stderr)
	}
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	limit, err := raiseFileLimit()
	if err != nil {
		return err
	}
	total := o.sse + o.ws + o.slow
	// Each client is one socket; the rest covers stdio, /proc reads and
	// the Go runtime.
	if need := uint64(total) + 64; need > limit {
		fmt.Fprintf(stderr, "ontime-load: warning: %d clients need about %d file descriptors, the limit is %d: raise it (ulimit -Hn) or expect failed connects\n", total, need, limit)
	}
	d, err := newDialers(o)
	if err != nil {
		return usageError{err}
	}
	r := &runner{o: o, d: d, lags: newLagRecorder(), stderr: stderr, churnDone: make(chan struct{})}
	defer r.d.close()
	r.clients = layout(o)
	r.sseURL, r.wsURL = o.streamURL(), o.wsURL()
	for _, u := range []string{r.sseURL, r.wsURL} {
		p, err := url.Parse(u)
		if err != nil {
			return err
		}
		r.paths = append(r.paths, p.RequestURI())
	}
	return r.run(ctx, stdout)
}

// runner is one run's shared state. The clients each own one entry of
// clients; everything else they touch is atomic or internally locked.
type runner struct {
	o       options
	d       *dialers
	stderr  io.Writer
	sseURL  string
	wsURL   string
	paths   []string // request URIs of the SSE and WebSocket endpoints, for raw connections
	clients []clientStats
	win     window
	lags    *lagRecorder

	open    atomic.Int64 // connections open now
	batches atomic.Int64 // batches received inside the window, all clients

	// Churn: cycles claimed and finished against --cycles, and a channel
	// closed when the last one finishes.
	churnClaimed  atomic.Int64
	churnFinished atomic.Int64
	churnDone     chan struct{}
	churnOnce     sync.Once
}

// layout lists the clients, spreading the kinds evenly through the list so
// that a ramp opens SSE, WebSocket and slow clients side by side rather than
// one kind after another.
func layout(o options) []clientStats {
	groups := []struct {
		n    int
		kind clientKind
		slow bool
	}{
		{o.sse, kindSSE, o.mode == modeNeverRead},
		{o.ws, kindWS, o.mode == modeNeverRead},
		{(o.slow + 1) / 2, kindSSE, true},
		{o.slow / 2, kindWS, true},
	}
	taken := make([]int, len(groups))
	out := make([]clientStats, 0, o.sse+o.ws+o.slow)
	for len(out) < cap(out) {
		// Take from the group whose next client is due earliest in its own
		// even spacing over the list.
		best, bestPos := -1, math.Inf(1)
		for g, grp := range groups {
			if taken[g] < grp.n {
				if pos := (float64(taken[g]) + 0.5) / float64(grp.n); pos < bestPos {
					best, bestPos = g, pos
				}
			}
		}
		taken[best]++
		out = append(out, clientStats{kind: groups[best].kind, slow: groups[best].slow})
	}
	return out
}

// run opens the clients at the ramp rate, measures for the duration once they
// have all connected (or failed), stops them, and writes the summary.
func (r *runner) run(ctx context.Context, stdout io.Writer) error {
	o := r.o
	var srv *serverSampler
	if o.pid > 0 {
		var err error
		if srv, err = startServerSampler(ctx, o.pid); err != nil {
			return err
		}
		defer srv.stop()
		if srv.age > 0 && srv.age < youngServer {
			fmt.Fprintf(r.stderr, "ontime-load: warning: the server started %.0fs ago; its memory still grows as its batch history fills (for a minute at the default tick and history), and rssPerClientKiB will count that growth: start it a few minutes ahead for memory figures\n", srv.age.Seconds())
		}
	}

	clientCtx, stopClients := context.WithCancel(ctx)
	var clients, settled sync.WaitGroup
	defer func() { // on every path, so that no client outlives run
		stopClients()
		clients.Wait()
	}()

	rampStart, rampCPU := time.Now(), selfCPU()
	if o.mode == modeChurn {
		// Churn counts every cycle, the ones during the ramp included.
		r.win.open(rampStart)
	}
	desc := fmt.Sprintf("%d SSE and %d WebSocket clients (%s)", o.sse, o.ws, o.mode)
	if o.slow > 0 {
		desc += fmt.Sprintf(" and %d never-reading ones", o.slow)
	}
	rate := "all at once"
	if o.ramp > 0 {
		rate = fmt.Sprintf("%d per second", o.ramp)
	}
	fmt.Fprintf(r.stderr, "ontime-load: opening %s against %s, %s\n", desc, o.base, rate)

	lastReport := rampStart
	timer := time.NewTimer(time.Hour)
	timer.Stop() // armed by Reset below, for each client that must wait
	defer timer.Stop()
ramp:
	for i := range r.clients {
		if o.ramp > 0 && i > 0 {
			due := rampStart.Add(time.Duration(i) * time.Second / time.Duration(o.ramp))
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					break ramp
				case <-timer.C:
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		if now := time.Now(); now.Sub(lastReport) >= progressInterval {
			fmt.Fprintf(r.stderr, "ontime-load: %d of %d clients started, %d connections open\n", i, len(r.clients), r.open.Load())
			lastReport = now
		}
		settled.Add(1)
		clients.Go(func() { r.client(clientCtx, i, settled.Done) })
	}
	// Every started client settles promptly: its first connection succeeds
	// or fails within the dial and handshake timeouts, or on cancellation.
	settled.Wait()
	rampTime := time.Since(rampStart)
	open := r.open.Load()
	switch {
	case open == 0 && o.mode != modeChurn:
		// Nothing to measure: report the failures at once.
		fmt.Fprintf(r.stderr, "ontime-load: no connection opened in %.1fs\n", rampTime.Seconds())
	case o.mode == modeChurn && o.cycles > 0:
		fmt.Fprintf(r.stderr, "ontime-load: %d connections open after %.1fs; churning until %d cycles are done or for %s\n", open, rampTime.Seconds(), o.cycles, o.duration)
	default:
		fmt.Fprintf(r.stderr, "ontime-load: %d connections open after %.1fs; measuring for %s\n", open, rampTime.Seconds(), o.duration)
	}

	winStart := time.Now()
	if o.mode != modeChurn {
		r.win.open(winStart)
	}
	// The window the summary covers; for churn, from the first client on.
	covered := winStart
	if o.mode == modeChurn {
		covered = rampStart
	}
	if srv != nil {
		srv.windowStart()
	}
	cpuStart := selfCPU()
	if open > 0 || o.mode == modeChurn {
		r.wait(ctx, winStart)
	}
	interrupted := ctx.Err() != nil // during the ramp-up, too
	winEnd := time.Now()
	r.win.close(winEnd)
	tcpConns := r.d.conns.open.Load()
	loadCPU := selfCPU() - cpuStart
	if srv != nil {
		srv.windowEnd()
	}
	if o.mode == modeNormal && !interrupted {
		r.awaitInFlight(ctx, r.win.newest.Load(), 2*time.Second)
	}
	stopClients()
	clients.Wait()

	if o.mode == modeChurn {
		loadCPU += cpuStart - rampCPU
	}
	sum := r.summarize(rampTime, winEnd.Sub(covered), loadCPU, interrupted)
	sum.TCPConns = tcpConns
	sum.SSEProto = "http/1.1"
	if o.h2 {
		sum.SSEProto = "h2"
	}
	if srv != nil {
		sum.Server = srv.summary(winEnd.Sub(winStart), sum.Connected+sum.SlowConnected)
	}
	line, err := json.Marshal(sum)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", line); err != nil {
		return err
	}
	if sum.Connected+sum.SlowConnected == 0 {
		return fmt.Errorf("no client could connect: %s", sum.FirstError)
	}
	return nil
}

// awaitInFlight lets the batches still in flight when the window closed
// arrive: it waits until every reading client has received last (the
// newest batch received inside the window), for at most grace. Batches
// that arrive after the window count toward the delivered ratio only, not
// toward the wall-clock ratios or the lag.
func (r *runner) awaitInFlight(ctx context.Context, last uint64, grace time.Duration) {
	deadline := time.Now().Add(grace)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		behind := false
		for i := range r.clients {
			if c := &r.clients[i]; !c.slow && c.reading.Load() && c.seen.Load() < last {
				behind = true
				break
			}
		}
		if !behind || time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// wait blocks for the measurement window, reporting progress, until it ends
// or ctx does. Churn runs end early once every cycle is done.
func (r *runner) wait(ctx context.Context, start time.Time) {
	end := time.NewTimer(r.o.duration)
	defer end.Stop()
	progress := time.NewTicker(progressInterval)
	defer progress.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(r.stderr, "ontime-load: interrupted; summarizing what was measured")
			return
		case <-end.C:
			return
		case <-r.churnDone:
			return
		case now := <-progress.C:
			msg := fmt.Sprintf("ontime-load: %.0fs: %d connections open, %d batches received", now.Sub(start).Seconds(), r.open.Load(), r.batches.Load())
			if r.o.mode == modeChurn {
				msg += fmt.Sprintf(", %d cycles", r.churnFinished.Load())
			}
			fmt.Fprintln(r.stderr, msg)
		}
	}
}

// client runs client id until ctx ends. settled is called once, when its
// first connection is open or has failed.
func (r *runner) client(ctx context.Context, id int, settled func()) {
	// The run waits for every client to settle: make sure each does, once,
	// whichever way it ends.
	var once sync.Once
	settle := func() { once.Do(settled) }
	defer settle()
	st := &r.clients[id]
	switch {
	case st.slow:
		r.neverReadClient(ctx, st, settle)
	case r.o.mode == modeChurn:
		r.churnClient(ctx, id, st, settle)
	default:
		r.normalClient(ctx, id, st, settle)
	}
}

// conn holds a client's reusable buffers, so that churning connections do
// not allocate them anew every cycle.
type conn struct {
	br  *bufio.Reader // SSE lines
	buf []byte        // WebSocket message prefixes
}

// dial opens one stream of the client's kind, resuming after position after
// (none when empty).
func (r *runner) dial(ctx context.Context, id int, kind clientKind, after string, c *conn) (stream, error) {
	if kind == kindWS {
		if c.buf == nil {
			c.buf = make([]byte, readBuffer)
		}
		return dialWS(ctx, r.d, r.wsURL, after, c.buf, nil)
	}
	if c.br == nil {
		c.br = bufio.NewReaderSize(nil, readBuffer)
	}
	return dialSSE(ctx, r.d.sseClient(id), r.sseURL, after, c.br, nil)
}

// tracker returns the seq tracker of client id.
func (r *runner) tracker(id int) *tracker {
	return &tracker{id: id, st: &r.clients[id], win: &r.win, lags: r.lags, live: &r.batches}
}

// connected records the outcome of a client's connection attempt and tells
// the ramp it is settled; on success the client counts as open until it
// calls r.open.Add(-1).
func (r *runner) connected(st *clientStats, err error, settled func()) bool {
	settled()
	if err != nil {
		st.connectErr = err
		return false
	}
	st.connected = true
	r.open.Add(1)
	return true
}

// normalClient connects once and reads every batch until ctx ends. A stream
// the server ends early is recorded, not reopened: the summary must show it.
func (r *runner) normalClient(ctx context.Context, id int, st *clientStats, settled func()) {
	var c conn
	s, err := r.dial(ctx, id, st.kind, "", &c)
	if !r.connected(st, err, settled) {
		return
	}
	defer r.open.Add(-1)
	defer s.close()
	st.reading.Store(true)
	defer st.reading.Store(false)
	t := r.tracker(id)
	for {
		kind, h, err := s.next()
		if err != nil {
			if ctx.Err() == nil {
				st.streamErr = err
			}
			return
		}
		now := time.Now()
		if kind == msgReset {
			t.reset(h, now)
		} else {
			t.batch(h, now)
		}
	}
}

// churnClient connects, reads churnBatches batches, disconnects, and starts
// over, resuming after the last seq it saw (as a reconnecting browser does),
// so continuity is checked across its connections too.
func (r *runner) churnClient(ctx context.Context, id int, st *clientStats, settled func()) {
	var c conn
	t := r.tracker(id)
	target := int64(r.o.cycles)
	for first := true; ctx.Err() == nil; first = false {
		if target > 0 && r.churnClaimed.Add(1) > target {
			return
		}
		err := r.churnCycle(ctx, t, &c, func(err error) {
			if first {
				st.connected = err == nil
				st.connectErr = err
				settled()
			}
		})
		if ctx.Err() != nil {
			return // a cycle cut short by the end of the run counts for nothing
		}
		if err != nil {
			st.cycleErrs++
			if st.cycleErr == nil {
				st.cycleErr = err
			}
		} else {
			st.cycles++
		}
		if r.churnFinished.Add(1) == target {
			r.churnOnce.Do(func() { close(r.churnDone) })
		}
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(churnBackoff):
			}
		}
	}
}

// churnCycle is one connect-read-disconnect cycle. connected is called with
// the outcome of the connection attempt.
func (r *runner) churnCycle(ctx context.Context, t *tracker, c *conn, connected func(error)) error {
	s, err := r.dial(ctx, t.id, t.st.kind, t.position(), c)
	connected(err)
	if err != nil {
		return err
	}
	r.open.Add(1)
	defer r.open.Add(-1)
	defer s.close()
	for n := 0; n < churnBatches; {
		kind, h, err := s.next()
		if err != nil {
			return err
		}
		now := time.Now()
		if kind == msgReset {
			t.reset(h, now)
			continue
		}
		t.batch(h, now)
		n++
	}
	return nil
}

// neverReadClient opens a connection that never reads and holds it until
// ctx ends.
func (r *runner) neverReadClient(ctx context.Context, st *clientStats, settled func()) {
	path := r.paths[0]
	if st.kind == kindWS {
		path = r.paths[1]
	}
	c, err := neverRead(ctx, r.d, r.o.base, path)
	if !r.connected(st, err, settled) {
		return
	}
	defer r.open.Add(-1)
	<-ctx.Done()
	c.Close()
}

// serverSampler follows the server process named by --pid.
type serverSampler struct {
	pid      int
	tck      int64 // clock ticks per second of the CPU times
	age      time.Duration
	start    procSample // before the first connection
	winStart procSample // when the window opened
	end      procSample // when it closed
	endErr   error
	stopPoll context.CancelFunc
	polled   chan struct{} // closed when the poller has stored peakKiB
	peakKiB  int64
}

// startServerSampler takes the first sample and starts polling RSS.
func startServerSampler(ctx context.Context, pid int) (*serverSampler, error) {
	s0, err := readProc(pid)
	if err != nil {
		return nil, fmt.Errorf("--pid: %w", err)
	}
	pctx, cancel := context.WithCancel(ctx)
	tck := clockTicks()
	s := &serverSampler{pid: pid, tck: tck, age: processAge(s0.startTicks, tck), start: s0, winStart: s0, stopPoll: cancel, polled: make(chan struct{})}
	go func() {
		defer close(s.polled)
		s.peakKiB = pollPeakRSS(pctx, pid, rssPollInterval)
	}()
	return s, nil
}

// windowStart samples CPU time as the measurement starts.
func (s *serverSampler) windowStart() {
	if x, err := readProc(s.pid); err == nil {
		s.winStart = x
	}
}

// windowEnd samples CPU time and RSS as the measurement ends.
func (s *serverSampler) windowEnd() { s.end, s.endErr = readProc(s.pid) }

// stop ends the polling and waits for the poller; it may be called more
// than once.
func (s *serverSampler) stop() {
	s.stopPoll()
	<-s.polled
}

// summary reports the server's use over the window; clients is the number
// of connections the RSS growth is shared by.
func (s *serverSampler) summary(window time.Duration, clients int) *serverSummary {
	s.stop()
	if s.endErr != nil {
		return &serverSummary{Error: s.endErr.Error(), AgeS: round(s.age.Seconds(), 1), RSSStartKiB: s.start.rssKiB, RSSPeakKiB: max(s.peakKiB, s.start.rssKiB)}
	}
	cpu := float64(s.end.cpuTicks-s.winStart.cpuTicks) / float64(s.tck)
	sum := &serverSummary{
		AgeS:        round(s.age.Seconds(), 1),
		CPUSeconds:  round(cpu, 2),
		RSSStartKiB: s.start.rssKiB,
		RSSEndKiB:   s.end.rssKiB,
		RSSPeakKiB:  max(s.peakKiB, s.start.rssKiB, s.end.rssKiB),
	}
	if window > 0 {
		sum.CPUPercent = round(100*cpu/window.Seconds(), 1)
	}
	if clients > 0 {
		sum.RSSPerClientKiB = round(float64(s.end.rssKiB-s.start.rssKiB)/float64(clients), 1)
	}
	return sum
}

// round rounds x to n decimals, for a summary a person reads.
func round(x float64, n int) float64 {
	p := math.Pow(10, float64(n))
	return math.Round(x*p) / p
}
