package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// halfSentCommand opens N connections that each send the head of a write
// the server refuses, announcing a body of 100,000 bytes, and no body; and
// reports how soon the server answered and closed each one, and how soon
// its goroutines (go_goroutines in /metrics) came back to what they were:
//
//	ontime-load halfsent --url http://127.0.0.1:8080 --n 10000 --kind host
//
// Kinds: host (a foreign Host: 421), proxy (X-Forwarded-For to a server
// without a token: 403, then 429 past the rate), token (a wrong token to a
// server with one: 401, then 429 past the rate).
const halfSentCommand = "halfsent"

// halfSentSummary is the one-line JSON report of a halfsent run.
type halfSentSummary struct {
	Kind        string         `json:"kind"`
	Connections int            `json:"connections"`
	Answers     map[string]int `json:"answers"`
	// Closed counts the connections the server closed, ClosedInLimit
	// those it closed within --limit of their head being sent, Held those
	// still open after --wait (the client then closes them).
	Closed        int         `json:"closed"`
	ClosedInLimit int         `json:"closedInLimit"`
	Held          int         `json:"held"`
	CloseMs       delayDigest `json:"closeMs"`
	// Goroutines of the server: before, at the height of the attack, and
	// once back within 5 of the baseline (or at --wait past the last
	// close), BackMs after the attack began.
	GoroutinesBefore int     `json:"goroutinesBefore"`
	GoroutinesPeak   int     `json:"goroutinesPeak"`
	GoroutinesAfter  int     `json:"goroutinesAfter"`
	BackMs           float64 `json:"backMs"`
}

func runHalfSent(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ontime-load "+halfSentCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "the server's base URL (http)")
	n := fs.Int("n", 10000, "connections")
	kind := fs.String("kind", "host", "host (421), proxy (403) or token (401), each 429 past the rate")
	limit := fs.Duration("limit", 10*time.Second, "the close time to count connections within")
	wait := fs.Duration("wait", 30*time.Second, "how long a connection is kept waiting for the server to close it")
	if err := parseFlags(fs, args[1:], halfSentCommand+" -h"); err != nil {
		return err
	}
	u, err := url.Parse(*base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return usageError{fmt.Errorf("--url %q: want http://host:port", *base)}
	}
	if *n < 1 || *limit <= 0 || *wait <= 0 {
		return usageError{errors.New("want --n >= 1, --limit > 0 and --wait > 0")}
	}
	head := "PATCH /api/config HTTP/1.1\r\n"
	switch *kind {
	case "host":
		head += "Host: rebind.attacker.example\r\n"
	case "proxy":
		head += "Host: " + u.Host + "\r\nX-Forwarded-For: 203.0.113.7\r\n"
	case "token":
		head += "Host: " + u.Host + "\r\nAuthorization: Bearer wrong\r\n"
	default:
		return usageError{fmt.Errorf("--kind %q: want host, proxy or token", *kind)}
	}
	head += "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"

	goroutines := func() int {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, *base+"/metrics", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				return int(f)
			}
		}
		return -1
	}
	sum := halfSentSummary{Kind: *kind, Connections: *n, Answers: map[string]int{}, GoroutinesBefore: goroutines()}
	var (
		mu     sync.Mutex
		closes []float64
		wg     sync.WaitGroup
		dials  = make(chan struct{}, 256) // connections being dialled at once
	)
	start := time.Now()
	for range *n {
		dials <- struct{}{}
		wg.Go(func() {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", u.Host)
			<-dials
			if err != nil {
				mu.Lock()
				sum.Answers["dial error"]++
				mu.Unlock()
				return
			}
			defer c.Close()
			sent := time.Now()
			if _, err := io.WriteString(c, head); err != nil {
				mu.Lock()
				sum.Answers["write error"]++
				mu.Unlock()
				return
			}
			_ = c.SetReadDeadline(sent.Add(*wait))
			br := bufio.NewReader(c)
			answer := "none"
			if resp, err := http.ReadResponse(br, nil); err == nil {
				answer = strconv.Itoa(resp.StatusCode)
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			_, err = br.ReadByte() // the server's close, or the wait's end
			took := time.Since(sent)
			mu.Lock()
			defer mu.Unlock()
			sum.Answers[answer]++
			if !errors.Is(err, io.EOF) {
				sum.Held++
				return
			}
			sum.Closed++
			if took <= *limit {
				sum.ClosedInLimit++
			}
			closes = append(closes, float64(took)/float64(time.Millisecond))
		})
	}
	sum.GoroutinesPeak = goroutines()
	wg.Wait()
	slices.Sort(closes)
	if len(closes) > 0 {
		q := func(f float64) float64 { return closes[int(f*float64(len(closes)-1))] }
		sum.CloseMs = delayDigest{P50: q(0.5), P90: q(0.9), P99: q(0.99), P999: q(0.999), Max: q(1)}
	}
	end := time.Now().Add(*wait)
	for sum.GoroutinesAfter = goroutines(); sum.GoroutinesAfter > sum.GoroutinesBefore+5 && time.Now().Before(end) && ctx.Err() == nil; sum.GoroutinesAfter = goroutines() {
		time.Sleep(50 * time.Millisecond)
	}
	sum.BackMs = float64(time.Since(start)) / float64(time.Millisecond)
	return json.NewEncoder(stdout).Encode(sum)
}
