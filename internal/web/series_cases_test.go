package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/ontime-rt/ontime/internal/batch"
)

// seriesCases is testdata/series-cases.json, which the React dashboard's
// series.cases.test.ts reads too: both UIs must draw the same values
// from the same batches.
type seriesCases struct {
	About []string `json:"about"`
	Cases []struct {
		Name    string            `json:"name"`
		How     string            `json:"how"`
		Batches []json.RawMessage `json:"batches"`
		Want    []seriesRow       `json:"want"`
	} `json:"cases"`
}

// seriesRow is one tick's chart values; nil is a gap (no value).
type seriesRow struct {
	OnTime   float64  `json:"onTime"`
	Late     float64  `json:"late"`
	Dropped  float64  `json:"dropped"`
	Miss     *float64 `json:"miss"`
	P50      *float64 `json:"p50"`
	P99      *float64 `json:"p99"`
	Deadline *float64 `json:"deadline"`
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// rowOf is what the charts draw for p, with the functions build draws it
// with.
func rowOf(p *point) seriesRow {
	r := seriesRow{
		OnTime:  p.rOnTime,
		Late:    p.rLate,
		Dropped: p.rDropped,
	}
	if v, ok := missPct(p); ok {
		r.Miss = &v
	}
	if p.hasLat {
		r.P50, r.P99 = &p.p50, &p.p99
	}
	// 0 is "no deadline known": stepMarker draws nothing for it.
	if p.deadline > 0 {
		r.Deadline = &p.deadline
	}
	return r
}

func TestSeriesCases(t *testing.T) {
	data, err := os.ReadFile("testdata/series-cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var sc seriesCases
	if err := decodeStrict(data, &sc); err != nil {
		t.Fatalf("series-cases.json: %v", err)
	}
	if len(sc.Cases) == 0 {
		t.Fatal("series-cases.json has no cases")
	}
	for _, c := range sc.Cases {
		t.Run(c.Name, func(t *testing.T) {
			if len(c.Batches) != len(c.Want) {
				t.Fatalf("%d batches, %d rows wanted: one row per batch", len(c.Batches), len(c.Want))
			}
			// The page's real path: Encode keeps the charts' history
			// (no page watching: no HTML rendered).
			r := NewRenderer(func() bool { return false })
			for i, raw := range c.Batches {
				var b batch.Batch
				if err := decodeStrict(raw, &b); err != nil {
					t.Fatalf("batch %d: %v", i, err)
				}
				if _, err := r.Encode(&b); err != nil {
					t.Fatalf("Encode batch %d: %v", i, err)
				}
			}
			if r.hist.n != len(c.Want) {
				t.Fatalf("history holds %d points, want %d", r.hist.n, len(c.Want))
			}
			for i, want := range c.Want {
				got := rowOf(r.hist.get(i))
				for _, f := range []struct {
					name      string
					got, want *float64
				}{
					{"onTime", &got.OnTime, &want.OnTime},
					{"late", &got.Late, &want.Late},
					{"dropped", &got.Dropped, &want.Dropped},
					{"miss", got.Miss, want.Miss},
					{"p50", got.P50, want.P50},
					{"p99", got.P99, want.P99},
					{"deadline", got.Deadline, want.Deadline},
				} {
					if !sameValue(f.got, f.want) {
						t.Errorf("point %d %s = %s, want %s (%s)", i, f.name, show(f.got), show(f.want), c.How)
					}
				}
			}
		})
	}
}

// sameValue: both gaps, or both numbers within 1e-9 × max(1, |want|), the
// fixture's tolerance.
func sameValue(got, want *float64) bool {
	if got == nil || want == nil {
		return got == nil && want == nil
	}
	return math.Abs(*got-*want) <= 1e-9*max(1, math.Abs(*want))
}

func show(v *float64) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprint(*v)
}
