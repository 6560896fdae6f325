package outcomes

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/event"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func idOf(n int) uuid.UUID {
	var id uuid.UUID
	id[0], id[1], id[2], id[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	id[15] = 1
	return id
}

func result(n int, s event.Status, r event.Reason) event.Result {
	created := time.UnixMilli(1_750_000_000_000)
	return event.Result{Event: event.Event{ID: idOf(n), CreatedAt: created, Deadline: 100 * time.Millisecond},
		ProcessedAt: created.Add(12345 * time.Microsecond), Status: s, Reason: r}
}

// Lookups before, during and after the window's age, on a fake clock.
func TestWindowAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := New(Config{Age: time.Minute})
		id := idOf(1)
		if _, ok := s.Lookup(id); ok {
			t.Fatal("an id never seen is found")
		}
		if !s.Claim(id, nil) {
			t.Fatal("first claim refused")
		}
		if o, ok := s.Lookup(id); !ok || o.Final {
			t.Fatalf("in flight: %+v %v", o, ok)
		}
		time.Sleep(30 * time.Second)
		s.Finish(result(1, event.OnTime, ""))
		if o, ok := s.Lookup(id); !ok || !o.Final || o.Status != event.OnTime {
			t.Fatalf("finished: %+v %v", o, ok)
		}
		if s.Claim(id, nil) {
			t.Fatal("a duplicate within the window is claimed")
		}
		// The age counts from admission, not from the outcome.
		time.Sleep(30*time.Second - time.Nanosecond)
		if _, ok := s.Lookup(id); !ok {
			t.Fatal("gone before its age")
		}
		time.Sleep(2 * time.Nanosecond)
		if _, ok := s.Lookup(id); ok {
			t.Fatal("found after the window")
		}
		if s.Len() != 0 {
			t.Fatalf("%d entries held after the window", s.Len())
		}
		if !s.Claim(id, nil) {
			t.Fatal("an id out of the window is refused")
		}
	})
}

// The window holds at most Max entries, newest first kept.
func TestWindowCount(t *testing.T) {
	s := New(Config{Max: 3})
	for i := range 5 {
		if !s.Claim(idOf(i), nil) {
			t.Fatalf("claim %d refused", i)
		}
	}
	for i := range 5 {
		if _, ok := s.Lookup(idOf(i)); ok != (i >= 2) {
			t.Errorf("id %d found %v", i, ok)
		}
	}
	// An outcome whose entry was evicted is held again, as the newest.
	s.Finish(result(0, event.Dropped, event.QueueFull))
	if o, ok := s.Lookup(idOf(0)); !ok || o.Reason != event.QueueFull {
		t.Fatalf("re-added outcome: %+v %v", o, ok)
	}
	if _, ok := s.Lookup(idOf(2)); ok {
		t.Fatal("the oldest entry was not evicted for it")
	}
}

// Results shorten the window instead of growing memory past their budget.
func TestWindowResultBudget(t *testing.T) {
	s := New(Config{MaxResultBytes: 10 << 10})
	big := []byte(`"` + string(make([]byte, 0)) + `"`)
	for len(big) < 4<<10 {
		big = slices.Insert(big, 1, 'x')
	}
	for i := range 4 {
		s.Claim(idOf(i), nil)
	}
	for i := range 4 {
		r := result(i, event.OnTime, "")
		r.Output = big
		s.Finish(r)
	}
	for i := range 4 {
		if _, ok := s.Lookup(idOf(i)); ok != (i >= 2) {
			t.Errorf("id %d found %v with results of 4 KiB in a 10 KiB budget", i, ok)
		}
	}
	if s.resultBytes > 10<<10 || s.resultBytes != int64(2*len(big)) {
		t.Fatalf("result bytes %d", s.resultBytes)
	}
}

// The store matches a plain FIFO model under random claims, admissions,
// finishes and clock steps, through the ring's growth and wrap-around.
func TestWindowModel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		const max = 1500
		s := New(Config{Max: max, Age: time.Second})
		type entry struct {
			id    int
			at    time.Time
			final bool
		}
		var model []entry
		find := func(id int) int {
			return slices.IndexFunc(model, func(e entry) bool { return e.id == id })
		}
		expire := func() {
			limit := time.Now().Add(-time.Second)
			for len(model) > 0 && model[0].at.Before(limit) {
				model = model[1:]
			}
		}
		add := func(e entry) {
			if len(model) == max {
				model = model[1:]
			}
			model = append(model, e)
		}
		for step := range 20000 {
			id := rng.IntN(4000)
			switch op := rng.IntN(10); {
			case op < 4:
				expire()
				want := find(id) < 0
				if got := s.Claim(idOf(id), nil); got != want {
					t.Fatalf("step %d: claim %d = %v, want %v", step, id, got, want)
				}
				if want {
					add(entry{id: id, at: time.Now()})
				}
			case op < 7:
				expire()
				s.Finish(result(id, event.OnTime, ""))
				if i := find(id); i >= 0 {
					model[i].final = true
				} else {
					add(entry{id: id, at: time.Now(), final: true})
				}
			case op < 9:
				expire()
				o, ok := s.Lookup(idOf(id))
				i := find(id)
				if ok != (i >= 0) || ok && o.Final != model[i].final {
					t.Fatalf("step %d: lookup %d = %+v %v, model index %d", step, id, o, ok, i)
				}
			default:
				time.Sleep(time.Duration(rng.IntN(4)) * time.Millisecond)
			}
			if s.Len() != len(model) {
				t.Fatalf("step %d: %d entries, model %d", step, s.Len(), len(model))
			}
		}
	})
}

// A waiter gets the outcomes of its ids only, once each, in finish order;
// delivering never blocks, and Close unregisters what is left.
func TestWaiter(t *testing.T) {
	s := New(Config{})
	w := s.NewWaiter()
	for i := range 3 {
		s.Claim(idOf(i), w)
	}
	s.Claim(idOf(9), nil)
	s.Finish(result(2, event.Late, event.Cancelled))
	s.Finish(result(9, event.OnTime, ""))
	s.Finish(result(0, event.OnTime, ""))
	s.Finish(result(0, event.OnTime, "")) // a second outcome for an id is not delivered twice
	<-w.Ready()
	got := w.Take()
	if len(got) != 2 || got[0].ID != idOf(2) || got[0].Reason != event.Cancelled || got[1].ID != idOf(0) {
		t.Fatalf("delivered %+v", got)
	}
	w.Close()
	if len(s.waiters) != 0 {
		t.Fatalf("%d waiters registered after Close", len(s.waiters))
	}
	s.Finish(result(1, event.OnTime, ""))
	if got := w.Take(); len(got) != 0 {
		t.Fatalf("delivered after Close: %+v", got)
	}
	select {
	case <-w.Closed():
		t.Fatal("closed before the store")
	default:
	}
	s.Close()
	<-w.Closed()
}

func TestOutcomeJSON(t *testing.T) {
	r := result(7, event.Dropped, event.Failed)
	r.Failure = "http-503"
	r.Output = []byte(`{"ok":false}`)
	var got map[string]any
	if err := json.Unmarshal(Of(r).AppendJSON(nil), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": idOf(7).String(), "status": "dropped", "reason": "failed", "latencyMs": 12.345,
		"processedAt": float64(r.ProcessedAt.UnixMilli()), "result": map[string]any{"ok": false}, "failure": "http-503"}
	if !mapsEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	got = nil
	if err := json.Unmarshal(Outcome{ID: idOf(7)}.AppendJSON(nil), &got); err != nil || len(got) != 2 || got["status"] != InFlight {
		t.Fatalf("in flight: %v %v", got, err)
	}
	on := Of(result(8, event.OnTime, ""))
	got = nil
	if err := json.Unmarshal(on.AppendJSON(nil), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"reason", "result", "failure"} {
		if _, ok := got[k]; ok {
			t.Errorf("on-time outcome has %q: %v", k, got)
		}
	}
}

func mapsEqual(a, b map[string]any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
