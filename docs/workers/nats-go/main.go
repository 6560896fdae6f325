// Command worker is a minimal ontime worker over NATS in Go.
//
//	NATS_URL=nats://127.0.0.1:4222 go run ./docs/workers/nats-go
//	bin/ontime --nats nats://127.0.0.1:4222 --processor nats --worker-subject ontime.work
//
// It joins the queue group "ontime-workers" on the subject, so that each
// event reaches one of however many copies run, and answers each event
// with a small JSON result. An event whose payload has "workMs" makes it
// work that long first; it gives up when the event's budget
// (Ontime-Timeout-Ms) runs out, answering the error code 504.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// event is the body ontime sends.
type event struct {
	ID         string          `json:"id"`
	Source     string          `json:"source"`
	CreatedAt  int64           `json:"createdAt"` // Unix ms
	DeadlineMs float64         `json:"deadlineMs"`
	Payload    json.RawMessage `json:"payload"` // absent for generated events
}

// fail answers an error the way ontime reads it: the NATS services
// convention's headers (a number from 100 to 999 makes the event's
// failure kind status-NNN).
func fail(m *nats.Msg, code int, why string) {
	m.RespondMsg(&nats.Msg{Header: nats.Header{
		"Nats-Service-Error-Code": {strconv.Itoa(code)},
		"Nats-Service-Error":      {why},
	}})
}

func work(m *nats.Msg) {
	var ev event
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		fail(m, 400, "not an event: "+err.Error())
		return
	}
	// NATS does not tell a worker that ontime stopped waiting: the budget
	// is how it knows.
	ctx := context.Background()
	if ms, err := strconv.ParseInt(m.Header.Get("Ontime-Timeout-Ms"), 10, 64); err == nil {
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
		fail(m, 504, "out of time")
		return
	}

	out, _ := json.Marshal(map[string]any{"worker": "go", "id": ev.ID, "payloadBytes": len(ev.Payload)})
	m.Respond(out)
}

func main() {
	url := cmp.Or(os.Getenv("NATS_URL"), nats.DefaultURL)
	subject := cmp.Or(os.Getenv("SUBJECT"), "ontime.work")
	nc, err := nats.Connect(url, nats.Name("worker go"))
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	// nats.go calls a subscription's handler one message at a time: each
	// event gets its own goroutine so that slow ones do not hold up the
	// rest. ontime bounds the calls in flight (--workers, the adaptive
	// limit), and so the goroutines.
	if _, err := nc.QueueSubscribe(subject, "ontime-workers", func(m *nats.Msg) { go work(m) }); err != nil {
		log.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("subscribed to %s on %s\n", subject, nc.ConnectedUrl())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt)
	<-stop
}
