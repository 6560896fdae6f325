package config

import (
	"fmt"
	"net/url"
	"strings"
)

// DefaultSubject is the NATS subject events are sent on when none is
// named.
const DefaultSubject = "ontime.work"

// ExampleWorkerURL is a worker URL as the examples show it.
const ExampleWorkerURL = "http://127.0.0.1:8090/work"

// ParseWorkerURL checks a worker URL: http or https, with a host.
func ParseWorkerURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("worker URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("worker URL %q: want an http:// or https:// URL, like %s", raw, ExampleWorkerURL)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("worker URL %q: no host (want e.g. %s)", raw, ExampleWorkerURL)
	}
	return u, nil
}

// SubjectError says why a worker subject cannot be used.
type SubjectError struct {
	// Subject is the subject given.
	Subject string
	// Reason says what is wrong with it.
	Reason string
}

func (e *SubjectError) Error() string {
	return fmt.Sprintf("worker subject %q: %s", e.Subject, e.Reason)
}

// CheckSubject says with a *SubjectError what is wrong with a worker
// subject, if anything: it must be a NATS subject one can publish to
// (dot-separated tokens of printable ASCII, none empty, no wildcard * or
// >), at most MaxWorkerSubject bytes, and not start with $, which NATS
// reserves for its own APIs ($SYS, $JS).
func CheckSubject(s string) error {
	const example = "like " + DefaultSubject
	bad := func(reason string) error { return &SubjectError{Subject: s, Reason: reason} }
	switch {
	case s == "":
		return bad("empty (want a NATS subject " + example + ")")
	case len(s) > MaxWorkerSubject:
		return bad(fmt.Sprintf("longer than %d bytes", MaxWorkerSubject))
	case s[0] == '$':
		return bad("subjects starting with $ are NATS's own (want one " + example + ")")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '*' || c == '>':
			return bad("no wildcards (* or >): events are sent to one subject, " + example)
		case c <= ' ' || c > '~':
			return bad("only printable ASCII without spaces, " + example)
		}
	}
	if strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return bad("an empty token (dots separate names, " + example + ")")
	}
	return nil
}
