package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/history"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/stats"
	"github.com/ontime-rt/ontime/internal/web"
)

// GET /api/history serves each range with its step; GET /api/incidents the
// incidents; a bad range is a JSON 400 that lists the valid ones.
func TestHistoryRoutes(t *testing.T) {
	defer goleak.VerifyNone(t)
	h, err := hub.New(hub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	start := time.Now().Add(-2 * time.Minute).Truncate(time.Minute)
	now := start
	hist, err := history.New(history.Config{Next: h, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	// 90 s of ticks: 2 on time, one shed, overloaded from 30 s to 40 s.
	for i := 1; i <= 900; i++ {
		now = start.Add(time.Duration(i) * 100 * time.Millisecond)
		b := &batch.Batch{Seq: uint64(i), At: now.UnixMilli(), Counts: stats.Counts{Received: 3, OnTime: 2}, Health: batch.Health{QueueCap: 64, Workers: 4, Limit: 4, Status: batch.OK}}
		lat := stats.NewHistogram()
		lat.Record(20 * time.Millisecond)
		lat.Record(40 * time.Millisecond)
		if i > 300 && i <= 400 {
			b.Counts.Dropped, b.Counts.DroppedBy = 1, map[event.Reason]uint64{event.Shed: 1}
			b.Health.Status = batch.Overloaded
		}
		hist.PublishWithLatencies(b, lat)
	}
	srv := httptest.NewServer(New(Config{History: hist}, h, zeroStats{}, fixedSettings{}, web.NewRenderer(func() bool { return false })))
	defer srv.Close()

	get := func(path string, want int, into any) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("GET %s: %d %s, want %d JSON", path, resp.StatusCode, resp.Header.Get("Content-Type"), want)
		}
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	type point struct {
		T         int64             `json:"t"`
		Received  uint64            `json:"received"`
		OnTime    uint64            `json:"onTime"`
		Dropped   uint64            `json:"dropped"`
		DroppedBy map[string]uint64 `json:"droppedBy"`
		P50       float64           `json:"p50"`
		Max       float64           `json:"max"`
		Status    string            `json:"status"`
		QueueCap  int               `json:"queueCap"`
	}
	type series struct {
		Range     string  `json:"range"`
		StepMs    int64   `json:"stepMs"`
		Now       int64   `json:"now"`
		StartedAt int64   `json:"startedAt"`
		Points    []point `json:"points"`
	}
	for _, c := range []struct {
		q      string
		name   string
		stepMs int64
		points int
		ticks  uint64 // in the last point
	}{{"", "1h", 1000, 90, 10}, {"?range=1h", "1h", 1000, 90, 10}, {"?range=1m", "1m", 1000, 60, 10}, {"?range=15m", "15m", 1000, 90, 10}, {"?range=24h", "24h", 60000, 1, 599}} {
		var s series
		get("/api/history"+c.q, http.StatusOK, &s)
		if s.Range != c.name || s.StepMs != c.stepMs || len(s.Points) != c.points || s.Now != now.UnixMilli() || s.StartedAt != start.UnixMilli() {
			t.Fatalf("%q: range %s step %d, %d points, now %d startedAt %d", c.q, s.Range, s.StepMs, len(s.Points), s.Now, s.StartedAt)
		}
		p := s.Points[len(s.Points)-1]
		per := c.ticks
		if p.Received != 3*per || p.OnTime != 2*per || p.P50 < 20 || p.P50 > 20.2 || p.Max != 40 || p.QueueCap != 64 || p.DroppedBy == nil {
			t.Fatalf("%q: last point %+v", c.q, p)
		}
	}
	var day series
	get("/api/history?range=24h", http.StatusOK, &day)
	if d := day.Points[0]; d.Dropped != 100 || d.DroppedBy["shed"] != 100 || d.Status != "overloaded" || d.T != start.UnixMilli() {
		t.Fatalf("the first minute %+v", d)
	}
	for _, q := range []string{"2h", "", "1h&range=1m", "%201h"} {
		var e struct{ Error string }
		get("/api/history?range="+q, http.StatusBadRequest, &e)
		if !strings.Contains(e.Error, "1m, 15m, 1h, 24h") {
			t.Fatalf("range %q: error %q does not list the ranges", q, e.Error)
		}
	}
	var in struct {
		Incidents []map[string]any `json:"incidents"`
	}
	get("/api/incidents", http.StatusOK, &in)
	if len(in.Incidents) != 2 {
		t.Fatalf("incidents %+v", in.Incidents)
	}
	o, r := in.Incidents[0], in.Incidents[1]
	if o["kind"] != "health" || o["status"] != "overloaded" || o["start"] != float64(start.Add(30100*time.Millisecond).UnixMilli()) ||
		o["end"] != float64(start.Add(40100*time.Millisecond).UnixMilli()) || o["worstMissRate"] != 1.0/3 {
		t.Fatalf("health incident %v", o)
	}
	if tr, _ := o["topReasons"].([]any); len(tr) != 1 || tr[0].(map[string]any)["reason"] != "shed" || tr[0].(map[string]any)["count"] != 100.0 {
		t.Fatalf("top reasons %v", o["topReasons"])
	}
	if _, has := o["node"]; has {
		t.Fatalf("a health incident names a node: %v", o)
	}
	if r["kind"] != "restart" || r["start"] != float64(start.UnixMilli()) || r["end"] != r["start"] {
		t.Fatalf("restart %v", r)
	}
}
