package worker_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/worker"
)

// noop is a worker that answers every call with a tiny result.
func noop(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"ok":true}`)
	}))
	b.Cleanup(srv.Close)
	return srv
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
	ev := newEvent(time.Hour, `{"sensor":"t1","celsius":21.5}`)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithDeadline(context.Background(), ev.DeadlineAt())
			if _, err := h.Process(ctx, ev); err != nil {
				b.Error(err)
			}
			cancel()
		}
	})
}

// BenchmarkPlainClient is the reference: a POST of a similar body and a
// read of the answer with a default-configured client.
func BenchmarkPlainClient(b *testing.B) {
	srv := noop(b)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 64, MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	body := []byte(`{"id":"5b0f4a52-2f6e-4f4b-9d55-0d7bd2b1c1e4","source":"ingest","createdAt":1795732463479,"deadlineMs":100,"payload":{"sensor":"t1","celsius":21.5}}`)
	b.ReportAllocs()
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
