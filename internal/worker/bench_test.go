package worker_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/natstest"
	"github.com/ontime-rt/ontime/internal/worker"
)

// cpuTime is the CPU this process has used, user and system.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureCPU reports the process's CPU per operation as cpu-ns/op when
// the benchmark ends: the caller's, the worker's and (for NATS) the
// server's, all in this process.
func measureCPU(b *testing.B) {
	start := cpuTime(b)
	b.Cleanup(func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
		}
	})
}

// noop is a worker that answers every call with a tiny result.
func noop(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"ok":true}`)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// benchProcess runs process in parallel on one event with a payload,
// each call under the event's deadline.
func benchProcess(b *testing.B, process func(context.Context, event.Event) ([]byte, error)) {
	ev := newEvent(time.Hour, `{"sensor":"t1","celsius":21.5}`)
	b.ReportAllocs()
	measureCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithDeadline(context.Background(), ev.DeadlineAt())
			if _, err := process(ctx, ev); err != nil {
				b.Error(err)
			}
			cancel()
		}
	})
}

// BenchmarkProcess is one call through the HTTP processor to a no-op
// worker on this machine, the worker's own cost included; compare with
// BenchmarkPlainClient, the same calls from a bare net/http loop.
func BenchmarkProcess(b *testing.B) {
	srv := noop(b)
	h, err := worker.New(worker.Config{URL: srv.URL, MaxConns: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	benchProcess(b, h.Process)
}

// BenchmarkPlainClient is the reference: a POST of a similar body and a
// read of the answer with a default-configured client.
func BenchmarkPlainClient(b *testing.B) {
	srv := noop(b)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 64, MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	body := []byte(`{"id":"5b0f4a52-2f6e-4f4b-9d55-0d7bd2b1c1e4","source":"ingest","createdAt":1795732463479,"deadlineMs":100,"payload":{"sensor":"t1","celsius":21.5}}`)
	b.ReportAllocs()
	measureCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				cancel()
				continue
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			cancel()
		}
	})
}

// noopNATS is a worker on subject that answers every event with a tiny
// result, on its own connection.
func noopNATS(b *testing.B, url string) {
	nc := natstest.Connect(b, url)
	reply := []byte(`{"ok":true}`)
	if _, err := nc.QueueSubscribe(worker.DefaultSubject, queue, func(m *nats.Msg) { m.Respond(reply) }); err != nil {
		b.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkNATSProcess is one call through the NATS processor to a no-op
// worker, through a nats-server in this process: the server's and the
// worker's costs are included (as the HTTP worker's are in
// BenchmarkProcess); compare with BenchmarkNATSPlainRequest, the same
// requests from a bare nats.go loop.
func BenchmarkNATSProcess(b *testing.B) {
	url := natstest.Start(b)
	noopNATS(b, url)
	p, err := worker.NewNATS(worker.NATSConfig{Conn: natstest.Connect(b, url)})
	if err != nil {
		b.Fatal(err)
	}
	benchProcess(b, p.Process)
}

// BenchmarkNATSPlainRequest is the reference: a request of a similar body
// with a context, and no headers.
func BenchmarkNATSPlainRequest(b *testing.B) {
	url := natstest.Start(b)
	noopNATS(b, url)
	nc := natstest.Connect(b, url)
	body := []byte(`{"id":"5b0f4a52-2f6e-4f4b-9d55-0d7bd2b1c1e4","source":"ingest","createdAt":1795732463479,"deadlineMs":100,"payload":{"sensor":"t1","celsius":21.5}}`)
	b.ReportAllocs()
	measureCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			if _, err := nc.RequestWithContext(ctx, worker.DefaultSubject, body); err != nil {
				b.Error(err)
			}
			cancel()
		}
	})
}
