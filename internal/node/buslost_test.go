package node

import (
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/natstest"
)

// An event published on the bus that no node admits (here, one that does
// not decode) is counted in the cluster view: received, and dropped as
// bus, so the totals still add up.
func TestClusterCountsBusLosses(t *testing.T) {
	url := startNATS(t)
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 0; s.TickMs = 20 }), NATSURL: url, NodeID: "solo"})
	c := dialSSE(t, tn.srv.URL+"/api/stream", nil)
	for b := c.nextBatch(t); members(b) < 1; b = c.nextBatch(t) {
	}
	nc := natstest.Connect(t, url)
	if err := nc.Publish("ontime.events", []byte("not an event")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b := c.nextBatch(t)
		if b.Totals.DroppedBy[event.Bus] == 1 {
			if b.Totals.Received != 1 || b.Totals.Dropped != 1 || !addsUp(b.Totals) {
				t.Fatalf("cluster totals %+v: want the lost event received and dropped", b.Totals)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no bus drop in the cluster totals: %+v", b.Totals)
		}
	}
}

// A lone cluster node publishes its generator's events from its first one
// on, only once its own consumer is subscribed (it is the only consumer:
// an event published before would reach no node and be counted nowhere),
// and keeps accounting for every one through its shutdown: each event
// published was consumed or counted as a bus loss, and none was refused.
func TestClusterSoloNodeAccountsForEveryPublish(t *testing.T) {
	url := startNATS(t)
	tn := startNode(t, Config{Settings: with(func(s *config.Settings) { s.Rate = 2000; s.Workers = 8; s.WorkMs = 1 }), NATSURL: url, NodeID: "solo"})
	deadline := time.Now().Add(10 * time.Second)
	for tn.Snapshot().Totals.Finished() < 200 {
		if time.Now().After(deadline) {
			t.Fatalf("the node finished %d events in 10s", tn.Snapshot().Totals.Finished())
		}
		time.Sleep(10 * time.Millisecond)
	}
	tn.stop()
	bus, _ := tn.ClusterStats()
	if bus.Published == 0 || bus.Unpublished != 0 {
		t.Fatalf("bus %+v: want events published and none refused (the generator starts after the subscription)", bus)
	}
	if got := bus.Consumed + bus.Abandoned + bus.SlowConsumerDrops + bus.Malformed; got != bus.Published {
		t.Fatalf("bus %+v: %d published, %d consumed or counted lost", bus, bus.Published, got)
	}
}
