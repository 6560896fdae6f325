package stats

import (
	"maps"
	"testing"

	"github.com/ontime-rt/ontime/internal/event"
)

func outcome(s event.Status, r event.Reason) event.Result {
	return event.Result{Status: s, Reason: r}
}

// Finish counts each status once, and splits drops (only drops) by reason.
func TestCountsFinish(t *testing.T) {
	var c Counts
	for range 7 {
		c.Admit()
	}
	for _, r := range []event.Result{
		outcome(event.OnTime, event.ReasonNone),
		outcome(event.OnTime, event.ReasonNone),
		outcome(event.Late, event.Cancelled), // late: not a drop, whatever its reason
		outcome(event.Dropped, event.QueueFull),
		outcome(event.Dropped, event.QueueFull),
		outcome(event.Dropped, event.Expired),
	} {
		c.Finish(r)
	}
	if c.Received != 7 || c.OnTime != 2 || c.Late != 1 || c.Dropped != 3 || c.Finished() != 6 {
		t.Fatalf("counts %+v, want 7 received, 2 on time, 1 late, 3 dropped", c)
	}
	if want := map[event.Reason]uint64{event.QueueFull: 2, event.Expired: 1}; !maps.Equal(c.DroppedBy, want) {
		t.Fatalf("droppedBy %v, want %v", c.DroppedBy, want)
	}
	var none Counts
	none.Finish(outcome(event.OnTime, event.ReasonNone))
	if none.DroppedBy != nil {
		t.Fatalf("droppedBy %v without a drop, want none", none.DroppedBy)
	}
}

// Add sums every field and merges the reasons, whichever side has none.
func TestCountsAdd(t *testing.T) {
	a := Counts{Received: 5, OnTime: 2, Late: 1, Dropped: 2, DroppedBy: map[event.Reason]uint64{event.Shed: 2}}
	b := Counts{Received: 4, OnTime: 1, Dropped: 3, DroppedBy: map[event.Reason]uint64{event.Shed: 1, event.Failed: 2}}
	var sum Counts // no map yet
	sum.Add(a)
	sum.Add(b)
	sum.Add(Counts{}) // adds nothing
	want := Counts{Received: 9, OnTime: 3, Late: 1, Dropped: 5}
	if got := sum; got.Received != want.Received || got.OnTime != want.OnTime || got.Late != want.Late || got.Dropped != want.Dropped {
		t.Fatalf("sum %+v, want %+v", got, want)
	}
	if wantBy := map[event.Reason]uint64{event.Shed: 3, event.Failed: 2}; !maps.Equal(sum.DroppedBy, wantBy) {
		t.Fatalf("droppedBy %v, want %v", sum.DroppedBy, wantBy)
	}
	// The sum has a map of its own: adding did not alias a's.
	sum.DroppedBy[event.Shed] = 100
	if a.DroppedBy[event.Shed] != 2 {
		t.Fatal("Add shares its argument's map")
	}
}

// A clone shares nothing with the original.
func TestCountsClone(t *testing.T) {
	c := Counts{Received: 2, Dropped: 1, DroppedBy: map[event.Reason]uint64{event.Expired: 1}}
	d := c.Clone()
	d.DroppedBy[event.Expired]++
	d.Received++
	if c.DroppedBy[event.Expired] != 1 || c.Received != 2 {
		t.Fatalf("changing the clone changed the original: %+v", c)
	}
	if e := (Counts{}).Clone(); e.DroppedBy == nil || len(e.DroppedBy) != 0 {
		t.Fatalf("clone of empty counts: droppedBy %v, want an empty map", e.DroppedBy)
	}
}

// Totals hold received = on time + late + dropped + in flight, and copy the
// outcomes.
func TestTotalsOf(t *testing.T) {
	finished := Counts{Received: 3, OnTime: 5, Late: 2, Dropped: 1, DroppedBy: map[event.Reason]uint64{event.Shutdown: 1}}
	tot := TotalsOf(finished, 10)
	if tot.Received != 10 || tot.InFlight != 2 {
		t.Fatalf("totals %+v, want 10 received, 2 in flight", tot)
	}
	if tot.Received != tot.OnTime+tot.Late+tot.Dropped+tot.InFlight {
		t.Fatalf("totals %+v break received = finished + in flight", tot)
	}
	tot.DroppedBy[event.Shutdown]++
	if finished.DroppedBy[event.Shutdown] != 1 {
		t.Fatal("the totals share the outcomes' map")
	}
}
