package cluster

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ontime-rt/ontime/internal/event"
)

type finishRecorder struct {
	mu       sync.Mutex
	finished []event.Result
}

func (*finishRecorder) Admit(event.Event) {}
func (r *finishRecorder) Finish(res event.Result) {
	r.mu.Lock()
	r.finished = append(r.finished, res)
	r.mu.Unlock()
}

func sampleResult(origin string) event.Result {
	created := time.Unix(1767225600, 5)
	return event.Result{Event: event.Event{ID: uuid.New(), CreatedAt: created, Origin: origin}, ProcessedAt: created.Add(7 * time.Millisecond),
		Status: event.Dropped, Reason: event.Failed, Failure: "http-503", Output: []byte(`{"x":1}`)}
}

func TestOutcomeWireRoundTrip(t *testing.T) {
	in := []event.Result{sampleResult("a"), {Event: event.Event{ID: uuid.New(), CreatedAt: time.Unix(0, 1)}, ProcessedAt: time.Unix(0, 2), Status: event.OnTime}}
	data := []byte{outcomeVersion}
	for _, r := range in {
		data = appendOutcome(data, r)
	}
	var out []event.Result
	if err := decodeOutcomes(data, func(r event.Result) { out = append(out, r) }); err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 {
		t.Fatalf("%d outcomes", len(out))
	}
	for i := range in {
		a, b := in[i], out[i]
		if a.ID != b.ID || !a.CreatedAt.Equal(b.CreatedAt) || !a.ProcessedAt.Equal(b.ProcessedAt) || a.Status != b.Status ||
			a.Reason != b.Reason || a.Failure != b.Failure || string(a.Output) != string(b.Output) {
			t.Fatalf("outcome %d: got %+v, want %+v", i, b, a)
		}
	}
	if n := len(appendOutcome(nil, in[1])); n > 45 {
		t.Errorf("an on-time outcome without result encodes in %d bytes", n)
	}
	for name, bad := range map[string][]byte{"empty": nil, "version": {9}, "truncated": data[:len(data)-1]} {
		if err := decodeOutcomes(bad, func(event.Result) {}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Outcomes of foreign events go to their origin, batched; a node's own
// events' outcomes stay home; every outcome is still recorded locally.
func TestOutcomeRouter(t *testing.T) {
	url := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	routers := map[string]*OutcomeRouter{}
	got := map[string]chan event.Result{}
	var wg sync.WaitGroup
	for _, id := range []string{"a", "b.example:80"} { // a dot in a node id is no subject token
		r, err := NewOutcomeRouter(connect(t, url), OutcomeConfig{NodeID: id, MaxBatch: 200})
		if err != nil {
			t.Fatal(err)
		}
		routers[id] = r
		ch := make(chan event.Result, 100)
		got[id] = ch
		wg.Go(func() {
			if err := r.Run(ctx, func(res event.Result) { ch <- res }); err != nil {
				t.Errorf("run %s: %v", id, err)
			}
		})
	}
	// Both subscribed: a message from each side gets through.
	local := &finishRecorder{}
	rec := routers["a"].Recorder(local)
	waitFor(t, 5*time.Second, "subscriptions", func() bool {
		rec.Finish(sampleResult("b.example:80"))
		select {
		case <-got["b.example:80"]:
			return true
		case <-time.After(20 * time.Millisecond):
			return false
		}
	})
	time.Sleep(50 * time.Millisecond) // let warm-up outcomes still batched arrive (not an assertion)
	for len(got["b.example:80"]) > 0 {
		<-got["b.example:80"]
	}
	before := routers["a"].Stats()
	sent := []event.Result{sampleResult("b.example:80"), sampleResult("b.example:80"), sampleResult("b.example:80"), sampleResult("a"), sampleResult("")}
	for _, r := range sent {
		rec.Finish(r)
	}
	for i := range 3 {
		select {
		case r := <-got["b.example:80"]:
			if r.ID != sent[i].ID {
				t.Fatalf("outcome %d: %s, want %s", i, r.ID, sent[i].ID)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("outcome %d never arrived", i)
		}
	}
	st := routers["a"].Stats()
	if st.Routed-before.Routed != 3 {
		t.Fatalf("routed %d, want the 3 foreign outcomes", st.Routed-before.Routed)
	}
	// Three outcomes of ~60 bytes in batches of at most 200: fewer
	// messages than outcomes.
	if n := st.Published - before.Published; n < 1 || n > 3 {
		t.Fatalf("%d messages for 3 outcomes", n)
	}
	local.mu.Lock()
	if n := len(local.finished); n < len(sent) {
		t.Fatalf("%d outcomes recorded locally, want every one", n)
	}
	local.mu.Unlock()
	if len(got["a"]) != 0 {
		t.Fatal("a received its own outcomes")
	}
	cancel()
	wg.Wait()
}

// The bus stamps the events it publishes with its origin.
func TestBusStampsOrigin(t *testing.T) {
	url := startServer(t)
	nc := connect(t, url)
	bus, err := NewEventBus(nc, BusConfig{Origin: "n1", PublishOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := nc.SubscribeSync(bus.subject("n1"))
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := bus.Submit(event.Event{ID: uuid.New()}); !ok {
		t.Fatal("not published")
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := DecodeEvent(m.Data)
	if err != nil || ev.Origin != "n1" {
		t.Fatalf("decoded %+v %v", ev, err)
	}
}
