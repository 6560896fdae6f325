package node

import (
	"testing"
	"time"

	"github.com/ontime-rt/ontime/internal/config"
)

// A lone cluster node sends its generator's events to itself from its first
// one on, only once its own consumer is subscribed (an event published
// before would reach no node and be counted nowhere), and keeps accounting
// for every one through its shutdown: each event published was consumed or
// counted as a bus loss, and none was refused.
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
	if got := bus.Consumed + bus.Missing + bus.Orphans; got != bus.Published {
		t.Fatalf("bus %+v: %d published, %d consumed or counted lost", bus, bus.Published, got)
	}
}
