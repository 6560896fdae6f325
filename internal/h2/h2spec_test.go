package h2_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/h2"
)

// Go's own HTTP/2 server (net/http and x/net/http2, Go 1.26) fails four
// h2spec cases; h2.Server passes them all, and this test holds it to that:
//   - http2/4.2/3: h2spec sends a 20 KB HEADERS frame, assuming the server
//     advertised the default SETTINGS_MAX_FRAME_SIZE 16384; Go advertises
//     1 MiB and rightly takes it. A server advertising more than 16384 may
//     excuse this case.
//   - http2/6.5.3/1: Go rejects a SETTINGS frame that repeats a setting,
//     which RFC 9113 section 6.5.3 allows.
//   - http2/8.1.2.2/1 and /2: Go answers a request with a connection-specific
//     header, or TE other than "trailers", 400 where h2spec wants a stream
//     error (RFC 9113 section 8.1.1 lets a server answer first).

// TestH2spec runs the h2spec conformance suite (pinned in go.mod as a
// tool) against an h2.Server and fails with every case it fails.
func TestH2spec(t *testing.T) {
	if testing.Short() {
		t.Skip("h2spec takes about 20 s")
	}
	ts := startServer(t, &h2.Server{}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello from "+r.Method+"\n")
	}))
	cases := runH2spec(t, ts.addr)
	var failed []string
	for _, c := range cases {
		if c.skipped {
			t.Logf("h2spec skipped %s %s", c.id, c.desc)
		}
		if c.failure == "" {
			continue
		}
		failed = append(failed, fmt.Sprintf("%s %s\n    expected, then what came:\n    %s", c.id, c.desc, strings.ReplaceAll(c.failure, "\n", "\n    ")))
	}
	if len(failed) > 0 {
		t.Errorf("h2spec: %d of %d cases failed:\n%s", len(failed), len(cases), strings.Join(failed, "\n"))
	}
	t.Logf("h2spec: %d cases run", len(cases))
}

// h2specCase is one case of an h2spec run.
type h2specCase struct {
	id      string // as h2spec names it on its command line, like "http2/6.5.3/1"
	desc    string
	failure string // empty when it passed or was skipped
	skipped bool
}

// parseJUnit reads h2spec's JUnit report. A case's id is its suite's
// package and its position in the suite.
func parseJUnit(raw []byte) ([]h2specCase, error) {
	var doc struct {
		Suites []struct {
			Package string `xml:"package,attr"`
			Cases   []struct {
				Name    string  `xml:"classname,attr"`
				Error   *string `xml:"error"`
				Failure *string `xml:"failure"`
				Skipped *string `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	var cases []h2specCase
	for _, s := range doc.Suites {
		for i, c := range s.Cases {
			hc := h2specCase{id: fmt.Sprintf("%s/%d", s.Package, i+1), desc: c.Name, skipped: c.Skipped != nil}
			for _, msg := range []*string{c.Error, c.Failure} {
				if msg != nil {
					hc.failure = strings.TrimSpace(*msg)
					if hc.failure == "" {
						hc.failure = "(no message)"
					}
				}
			}
			cases = append(cases, hc)
		}
	}
	if !slices.ContainsFunc(cases, func(c h2specCase) bool { return c.id == "http2/6.5.3/1" }) {
		return cases, fmt.Errorf("no case http2/6.5.3/1 among %d: ids are not what h2spec names them", len(cases))
	}
	return cases, nil
}

// runH2spec runs h2spec against the TLS server at addr and returns its cases.
func runH2spec(t *testing.T, addr string) []h2specCase {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	report := filepath.Join(t.TempDir(), "h2spec.xml")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// -o 5: a case that waits for the server to close the connection waits
	// up to 5 s; the default 2 s is short for a server under -race.
	cmd := exec.CommandContext(ctx, "go", "tool", "h2spec", "-h", host, "-p", port, "-t", "-k", "-o", "5", "-j", report)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("h2spec did not finish in time:\n%s", out)
	}
	raw, rerr := os.ReadFile(report)
	if rerr != nil {
		// h2spec exits 1 when a case fails; only a missing report means it did not run.
		t.Fatalf("h2spec wrote no report (%v, exit: %v):\n%s", rerr, err, out)
	}
	cases, perr := parseJUnit(raw)
	if perr != nil {
		t.Fatalf("h2spec report: %v", perr)
	}
	// h2spec 2.2.1 has 145 cases (146 with --strict); far fewer means it
	// stopped early.
	if len(cases) < 140 {
		t.Fatalf("h2spec ran %d cases, want about 145:\n%s", len(cases), out)
	}
	return cases
}
