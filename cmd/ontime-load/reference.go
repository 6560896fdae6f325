package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// referenceCommand is the subcommand that runs the reference server.
const referenceCommand = "serve-reference"

// The reference server is the floor ontime's fan-out is measured against: the
// least a Go server can do to send every client one batch per tick over the
// same wire format. One ticker goroutine builds one batch per tick (its JSON,
// and that JSON in SSE framing) and publishes it by closing a channel; each
// SSE client is one goroutine doing one write and one flush per tick, each
// WebSocket client one writer goroutine doing one WriteMessage per tick plus
// the reader gorilla/websocket needs for control frames. There is no history,
// no resume (Last-Event-ID and ?since= are ignored), no client limit, no
// heartbeat or ping, no slow-client handling and no write deadline: a client
// that stops reading blocks its goroutine, which then holds every tick built
// since (about 1 KiB each, shared by all such clients) until it goes. ?events
// is ignored too: every client gets the summary batch, which is what
// ontime-load asks for unless --events is given.
//
// A run of ontime-load against it measures what the transports cost by
// themselves (sockets, HTTP chunking, WebSocket framing, goroutine wake-ups),
// so ontime's CPU per delivered batch can be put as a ratio of it.

// referenceTemplate is a summary batch (GET /api/stream?events=0) captured
// from ontime at its default settings. Its seq, at, startedAt and tickMs are
// replaced on every tick (and an epoch, the startedAt, added after it); the rest is sent as it is, so the reference's
// messages have the size and shape of ontime's.
const referenceTemplate = `{"seq":22,"at":1795736619560,"startedAt":1795736617358,"tickMs":100,"counts":{"received":3,"onTime":3,"late":0,"dropped":0,"droppedBy":{}},"totals":{"received":45,"onTime":44,"late":0,"dropped":0,"droppedBy":{},"inFlight":1},"latency":{"count":3,"p50":51.455,"p90":51.931,"p99":51.931,"max":51.931},"health":{"queueDepth":0,"queueCap":64,"workers":4,"busy":1,"status":"ok","tickJitterMs":0.672,"scheduleErrorMs":0.844},"config":{"rate":20,"deadlineMs":100,"workMs":50,"workDist":"fixed","processor":"sleep","arrivals":"constant","workers":4,"queueCap":64,"policy":"edf","tickMs":100}}`

// referenceRest is the template after its head members (seq, at, startedAt,
// tickMs), from the comma that follows them.
var referenceRest = func() string {
	_, rest, ok := strings.Cut(referenceTemplate, `"tickMs":100`)
	if !ok || !strings.HasPrefix(rest, ",") {
		panic("reference template: no tickMs member followed by more")
	}
	return rest
}()

// refOptions are the reference server's command line.
type refOptions struct {
	addr      string
	tick      time.Duration
	profiling bool
}

// parseReference reads the reference server's command line; args[0] is the
// subcommand's name. Help goes to out.
func parseReference(args []string, out io.Writer) (refOptions, error) {
	o := refOptions{}
	fs := flag.NewFlagSet("ontime-load "+referenceCommand, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8090", "listen address (host:port)")
	fs.DurationVar(&o.tick, "tick", 100*time.Millisecond, "batch period: one message per tick to every client")
	fs.BoolVar(&o.profiling, "pprof", false, "serve Go profiles under /debug/pprof/, as ontime --pprof does (keep it on loopback)")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: ontime-load %s [flags]\n\nServes a trivial reference stream to measure ontime against: GET /api/stream\n(SSE) and GET /ws (WebSocket) send every client one batch per tick, shaped\nlike ontime's summary batch, with one goroutine and one write per client per\ntick and nothing else (no history, resume, limits, heartbeats or deadlines).\nPoint ontime-load at it as at ontime. Stops on SIGINT or SIGTERM.\n\nFlags:\n", referenceCommand)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args[1:], referenceCommand+" -h"); err != nil {
		return o, err
	}
	var errs []error
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr %q: want host:port: %w", o.addr, err))
	}
	if o.tick < time.Millisecond || o.tick > time.Minute {
		errs = append(errs, fmt.Errorf("--tick %s: want 1ms to 1m", o.tick))
	}
	if err := errors.Join(errs...); err != nil {
		return o, usageError{err}
	}
	return o, nil
}

// runReference is the serve-reference subcommand: it listens on --addr and
// serves until ctx ends. args[0] is the subcommand's name.
func runReference(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parseReference(args, stderr)
	if err != nil {
		return err
	}
	if _, err := raiseFileLimit(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "ontime-load: reference server (pid %d) on http://%s: GET /api/stream and /ws, one batch every %s\n", os.Getpid(), ln.Addr(), o.tick)
	return serveReference(ctx, ln, o.tick, o.profiling)
}

// refTick is one published batch. Ticks form a list: done is closed once
// next is set, so a client waiting for the tick after this one wakes up to
// find it. A client holds only the tick it last sent; the rest are garbage.
type refTick struct {
	seq  uint64
	json []byte // a WebSocket message
	sse  []byte // the same batch as an SSE event
	next *refTick
	done chan struct{}
}

// refFeed is the newest tick.
type refFeed struct{ head atomic.Pointer[refTick] }

// run publishes one tick per period until ctx ends.
func (f *refFeed) run(ctx context.Context, period time.Duration, startedAt int64) {
	t := time.NewTicker(period)
	defer t.Stop()
	for seq := uint64(1); ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		nt := buildTick(seq, time.Now().UnixMilli(), startedAt, period.Milliseconds())
		cur := f.head.Load()
		cur.next = nt
		f.head.Store(nt)
		close(cur.done) // publishes cur.next to every client waiting on cur
	}
}

// buildTick makes the batch seq: the template with its head members set, as
// JSON and as an SSE event.
func buildTick(seq uint64, at, startedAt, tickMs int64) *refTick {
	js := make([]byte, 0, len(referenceTemplate)+16)
	js = append(js, `{"seq":`...)
	js = strconv.AppendUint(js, seq, 10)
	js = append(js, `,"at":`...)
	js = strconv.AppendInt(js, at, 10)
	js = append(js, `,"startedAt":`...)
	js = strconv.AppendInt(js, startedAt, 10)
	js = append(js, `,"epoch":`...)
	js = strconv.AppendInt(js, startedAt, 10)
	js = append(js, `,"tickMs":`...)
	js = strconv.AppendInt(js, tickMs, 10)
	js = append(js, referenceRest...)

	ev := make([]byte, 0, len(js)+48)
	ev = append(ev, "id: "...)
	ev = strconv.AppendInt(ev, startedAt, 10)
	ev = append(ev, '-')
	ev = strconv.AppendUint(ev, seq, 10)
	ev = append(ev, "\nevent: batch\ndata: "...)
	ev = append(ev, js...)
	ev = append(ev, "\n\n"...)
	return &refTick{seq: seq, json: js, sse: ev, done: make(chan struct{})}
}

// serveReference serves the reference stream on ln until ctx ends, then
// ends every stream and returns once every goroutine it started is gone.
// profiling adds the Go profiles under /debug/pprof/.
func serveReference(ctx context.Context, ln net.Listener, period time.Duration, profiling bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	feed := &refFeed{}
	// A sentinel before the first batch: clients wait on it like on any
	// tick, and send nothing for it.
	feed.head.Store(&refTick{done: make(chan struct{})})

	// Every stream goroutine, waited for at the end: http.Server forgets
	// hijacked connections, and Close does not wait for handlers. A
	// handler counts itself in before its connection can be hijacked, so
	// while Shutdown still waits for it.
	var streams sync.WaitGroup
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/stream", func(w http.ResponseWriter, r *http.Request) {
		streams.Add(1)
		defer streams.Done()
		refSSE(r.Context(), w, feed)
	})
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		streams.Add(1)
		defer streams.Done()
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered
		}
		refWS(ctx, conn, feed, &streams)
	})
	if profiling {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		// Requests see ctx end, so streams stop at shutdown.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}

	var ticker sync.WaitGroup
	ticker.Go(func() { feed.run(ctx, period, time.Now().UnixMilli()) })
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		serveErr <- nil // Serve has returned: nothing to wait for below
	}
	cancel()
	sctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	if serr := srv.Shutdown(sctx); serr != nil {
		srv.Close() // SSE streams blocked on a client that does not read
	}
	stop()
	<-serveErr
	ticker.Wait()
	streams.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// refSSE streams ticks to one SSE client: one write and one flush per tick.
func refSSE(ctx context.Context, w http.ResponseWriter, feed *refFeed) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	cur := feed.head.Load()
	if cur.seq > 0 {
		// The newest batch at once, as ontime does for a new client.
		if _, err := w.Write(cur.sse); err != nil {
			return
		}
		flusher.Flush()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-cur.done:
		}
		cur = cur.next
		if _, err := w.Write(cur.sse); err != nil {
			return
		}
		flusher.Flush()
	}
}

// refWS streams ticks to one WebSocket client from the calling goroutine,
// one WriteMessage per tick, with a reader goroutine that handles control
// frames and notices the client going. ctx ending closes the connection.
func refWS(ctx context.Context, conn *websocket.Conn, feed *refFeed, streams *sync.WaitGroup) {
	gone := make(chan struct{})
	streams.Go(func() {
		defer close(gone)
		conn.SetReadLimit(4096)
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	})
	stop := context.AfterFunc(ctx, func() { conn.Close() }) // unblocks the reader and a blocked write
	defer func() {
		stop()
		conn.Close()
		<-gone
	}()
	cur := feed.head.Load()
	if cur.seq > 0 {
		if err := conn.WriteMessage(websocket.TextMessage, cur.json); err != nil {
			return
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-gone:
			return
		case <-cur.done:
		}
		cur = cur.next
		if err := conn.WriteMessage(websocket.TextMessage, cur.json); err != nil {
			return
		}
	}
}
