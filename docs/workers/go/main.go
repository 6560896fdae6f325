// Command worker is a minimal ontime worker in Go, standard library only.
//
//	ADDR=127.0.0.1:8091 go run ./docs/workers/go
//	bin/ontime --processor http --worker-url http://127.0.0.1:8091/work
//
// It answers each event with a small JSON result. An event whose payload
// has "workMs" makes it work that long first; it gives up when the event's
// budget (Ontime-Timeout-Ms) runs out or ontime hangs up, whichever comes
// first.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// event is the body ontime sends.
type event struct {
	ID         string          `json:"id"`
	Source     string          `json:"source"`
	CreatedAt  int64           `json:"createdAt"` // Unix ms
	DeadlineMs float64         `json:"deadlineMs"`
	Payload    json.RawMessage `json:"payload"` // absent for generated events
}

func work(w http.ResponseWriter, r *http.Request) {
	// Read the whole body before working: net/http notices that the
	// caller hung up (ontime cancelling at the deadline) only after that.
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	var ev event
	if err == nil {
		err = json.Unmarshal(body, &ev)
	}
	if err != nil {
		http.Error(w, "not an event: "+err.Error(), http.StatusBadRequest)
		return
	}
	// r.Context() ends when ontime hangs up; the budget ends it too, for
	// when a proxy in between does not pass the hang-up on.
	ctx := r.Context()
	if ms, err := strconv.ParseInt(r.Header.Get("Ontime-Timeout-Ms"), 10, 64); err == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}

	var p struct {
		WorkMs float64 `json:"workMs"`
	}
	_ = json.Unmarshal(ev.Payload, &p) // no payload, or not an object: no work asked
	t := time.NewTimer(time.Duration(p.WorkMs * float64(time.Millisecond)))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		// Nobody is waiting for the answer any more.
		http.Error(w, "out of time", http.StatusGatewayTimeout)
		return
	}

	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"worker":       "go",
		"id":           ev.ID,
		"payloadBytes": len(ev.Payload),
	})
}

func main() {
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8091"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on http://%s/work\n", ln.Addr())
	http.HandleFunc("POST /work", work)
	log.Fatal(http.Serve(ln, nil))
}
