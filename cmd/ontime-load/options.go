package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
)

// mode is what the clients do.
type mode string

// The modes.
const (
	// modeNormal clients connect once and read every batch for the run.
	modeNormal mode = "normal"
	// modeNeverRead clients connect and never read a byte, to check that the
	// server contains clients that do not keep up.
	modeNeverRead mode = "never-read"
	// modeChurn clients connect, read a few batches, disconnect and start
	// over, to exercise subscription, resume and teardown.
	modeChurn mode = "churn"
)

// Bounds on the flags: a typo must not ask for a million sockets or a run of
// a year.
const (
	maxClients  = 100_000
	maxDuration = 24 * time.Hour
	maxCycles   = 100_000_000
)

// options are the command line, parsed and validated.
type options struct {
	base     *url.URL // the server, without a trailing slash
	sse, ws  int
	slow     int
	ramp     int // connections opened per second; 0 opens all at once
	duration time.Duration
	mode     mode
	cycles   int
	pid      int
	events   bool
	// h2 sends the SSE clients over HTTP/2 (https only), perConn of them
	// multiplexed on each connection, as a browser's tabs share one.
	h2       bool
	perConn  int
	caFile   string // PEM certificates trusted besides the system's
	insecure bool   // trust any server certificate
}

// usageError is a bad command line: main exits 2 for it, as flag does.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// parse reads the command line. Help goes to out.
func parse(args []string, out io.Writer) (options, error) {
	o := options{}
	fs := flag.NewFlagSet("ontime-load", flag.ContinueOnError)
	fs.SetOutput(out)
	var rawURL, rawMode string
	fs.StringVar(&rawURL, "url", "http://127.0.0.1:8080", "the server's base URL (http or https)")
	fs.IntVar(&o.sse, "sse", 100, "SSE clients (GET /api/stream)")
	fs.IntVar(&o.ws, "ws", 100, "WebSocket clients (GET /ws)")
	fs.IntVar(&o.slow, "slow", 0, "additional never-reading clients (half SSE, half WebSocket) opened alongside the others")
	fs.IntVar(&o.ramp, "ramp", 500, "connections opened per second (0: all at once)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "measurement time, counted once every client has connected")
	fs.StringVar(&rawMode, "mode", string(modeNormal), "normal (read every batch), never-read (connect and never read a byte) or churn (connect, read a few batches, disconnect, repeat)")
	fs.IntVar(&o.cycles, "cycles", 0, "churn mode: stop after this many connect-read-disconnect cycles in all (0: run for --duration)")
	fs.IntVar(&o.pid, "pid", 0, "the server's process id, to report its CPU time and memory (Linux /proc; 0: don't)")
	fs.BoolVar(&o.events, "events", false, "ask for batches with their events; false asks for summary batches with ?events=0 (servers that do not know the parameter ignore it)")
	fs.BoolVar(&o.h2, "h2", false, "SSE clients over HTTP/2 (needs an https --url): --per-conn clients share each connection, as a browser's tabs do; without it every SSE client has its own HTTP/1.1 connection. WebSocket clients always use HTTP/1.1")
	fs.IntVar(&o.perConn, "per-conn", 100, "with --h2: SSE clients per HTTP/2 connection (the server allows 250 streams per connection)")
	fs.StringVar(&o.caFile, "ca", "", "PEM `file` of certificates to trust for an https --url, besides the system's")
	fs.BoolVar(&o.insecure, "insecure", false, "accept any certificate from an https --url (a self-signed test server)")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: ontime-load [flags]\n       ontime-load %[1]s [--addr host:port] [--tick d]\n\nOpens SSE and WebSocket clients against a running ontime server, checks that\nevery client gets every batch, and prints a one-line JSON summary on stdout.\nThe %[1]s subcommand serves a trivial stream to compare ontime with\n(see ontime-load %[1]s -h).\n\nFlags:\n", referenceCommand)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args[1:], "-h"); err != nil {
		return o, err
	}
	var errs []error
	o.mode = mode(rawMode)
	switch o.mode {
	case modeNormal, modeNeverRead, modeChurn:
	default:
		errs = append(errs, fmt.Errorf("--mode %q: want normal, never-read or churn", rawMode))
	}
	base, err := parseBase(rawURL)
	if err != nil {
		errs = append(errs, err)
	}
	o.base = base
	for _, c := range []struct {
		name string
		n    int
	}{{"sse", o.sse}, {"ws", o.ws}, {"slow", o.slow}} {
		if c.n < 0 || c.n > maxClients {
			errs = append(errs, fmt.Errorf("--%s %d: want 0 to %d clients", c.name, c.n, maxClients))
		}
	}
	if o.sse+o.ws == 0 {
		errs = append(errs, errors.New("--sse and --ws are both 0: nothing to do"))
	}
	if o.ramp < 0 || o.ramp > 1_000_000 {
		errs = append(errs, fmt.Errorf("--ramp %d: want 0 (all at once) to 1000000 connections per second", o.ramp))
	}
	if o.duration <= 0 || o.duration > maxDuration {
		errs = append(errs, fmt.Errorf("--duration %s: want more than 0 and at most %s", o.duration, maxDuration))
	}
	if o.cycles < 0 || o.cycles > maxCycles {
		errs = append(errs, fmt.Errorf("--cycles %d: want 0 to %d", o.cycles, maxCycles))
	}
	if o.cycles > 0 && o.mode != modeChurn {
		errs = append(errs, fmt.Errorf("--cycles applies to --mode churn only (mode is %s)", o.mode))
	}
	if o.slow > 0 && o.mode == modeNeverRead {
		errs = append(errs, errors.New("--slow adds never-reading clients to the normal and churn modes; in never-read mode every --sse and --ws client is one"))
	}
	if o.h2 && (base == nil || base.Scheme != "https") {
		errs = append(errs, errors.New("--h2 needs an https --url (browsers speak HTTP/2 over TLS only)"))
	}
	if o.perConn < 1 || o.perConn > 250 {
		errs = append(errs, fmt.Errorf("--per-conn %d: want 1 to 250 streams per connection", o.perConn))
	}
	if o.pid < 0 {
		errs = append(errs, fmt.Errorf("--pid %d: want a process id (0: none)", o.pid))
	}
	if err := errors.Join(errs...); err != nil {
		return o, usageError{err}
	}
	return o, nil
}

// parseBase checks the server URL: http or https, with a host. A path is kept
// as a prefix, for servers mounted under one behind a proxy.
func parseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("--url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("--url %q: want an http:// or https:// URL", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("--url %q: no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("--url %q: want the server's base URL, without a query or fragment", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// streamURL is the SSE endpoint, with the summary-batch query unless events
// were asked for.
func (o options) streamURL() string {
	u := *o.base
	u.Path += "/api/stream"
	if !o.events {
		u.RawQuery = "events=0"
	}
	return u.String()
}

// wsURL is the WebSocket endpoint, with the summary-batch query unless events
// were asked for.
func (o options) wsURL() string {
	u := *o.base
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	u.Path += "/ws"
	if !o.events {
		u.RawQuery = "events=0"
	}
	return u.String()
}

// parseFlags parses args into fs and refuses positional arguments. Help is
// returned as flag.ErrHelp; anything else is a usageError naming where to
// look (hint).
func parseFlags(fs *flag.FlagSet, args []string, hint string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q: every setting is a flag (see %s)", fs.Args(), hint)}
	}
	return nil
}
