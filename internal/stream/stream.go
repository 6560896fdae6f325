// Package stream holds what every streaming transport (SSE, WebSocket)
// does with a request before it streams: pick the format the client asked
// for, and admit it through the transport's client limit.
package stream

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"

	"github.com/ontime-rt/ontime/internal/httperr"
	"github.com/ontime-rt/ontime/internal/hub"
)

// Format picks the hub format for r: summary (batches without events) for
// ?events=0 when the transport has one, full otherwise.
func Format(r *http.Request, full, summary string) (string, error) {
	switch r.URL.Query().Get("events") {
	case "", "1", "true":
		return full, nil
	case "0", "false":
		if summary != "" {
			return summary, nil
		}
		return full, nil
	default:
		return "", errors.New("events must be 0 or 1")
	}
}

// Admit lets one client through g, or answers 503 with a Retry-After spread
// over 1-5 s (so refused clients do not all come back at once) and reports
// false. A nil gate admits everyone. Call leave when the client goes.
func Admit(w http.ResponseWriter, g *hub.Gate, what string) (leave func(), ok bool) {
	if g == nil {
		return func() {}, true
	}
	if !g.Enter() {
		w.Header().Set("Retry-After", strconv.Itoa(1+rand.IntN(5)))
		httperr.Write(w, http.StatusServiceUnavailable, fmt.Sprintf("too many %s clients (limit %d): retry later", what, g.Max()))
		return nil, false
	}
	return g.Leave, true
}
