package node

import (
	"context"
	"sync"

	"github.com/ontime-rt/ontime/internal/cluster"
	"github.com/ontime-rt/ontime/internal/event"
	"github.com/ontime-rt/ontime/internal/outcomes"
	"github.com/ontime-rt/ontime/internal/pipeline"
)

// tee records into first, then into then: the totals count an outcome
// before a waiter can report it.
type tee struct{ first, then pipeline.Recorder }

func (t tee) Admit(ev event.Event) {
	t.first.Admit(ev)
	t.then.Admit(ev)
}

func (t tee) Finish(r event.Result) {
	t.first.Finish(r)
	t.then.Finish(r)
}

// withOutcomes makes the outcome window and returns rec extended to record
// into it; in cluster mode also to route the outcomes of other nodes'
// events back to them.
func (n *Node) withOutcomes(rec pipeline.Recorder) (pipeline.Recorder, error) {
	n.outs = outcomes.New(outcomes.Config{Max: n.cfg.Outcomes})
	rec = tee{rec, n.outs}
	if n.nc == nil {
		return rec, nil
	}
	var err error
	n.router, err = cluster.NewOutcomeRouter(n.nc, cluster.OutcomeConfig{NodeID: n.cfg.NodeID})
	if err != nil {
		return nil, err
	}
	return n.router.Recorder(rec), nil
}

// startOutcomes runs the outcome router (cluster mode), whose outcomes from
// other nodes go to the window only: they are counted in the totals of
// the node that processed them. The returned stop, called once the
// pipeline has drained, publishes the router's last outcomes, stops it,
// and closes the window, which ends the waits still open.
func (n *Node) startOutcomes(ctx context.Context) (stop func()) {
	if n.router == nil {
		return sync.OnceFunc(n.outs.Close)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.router.Run(rctx, n.outs.Finish); err != nil {
			n.log.Error("cluster: outcome router stopped", "err", err)
		}
	}()
	return sync.OnceFunc(func() {
		cancel()
		<-done
		n.outs.Close()
	})
}

// OutcomeStats reports the outcome router's counters; zero for a single
// node.
func (n *Node) OutcomeStats() cluster.OutcomeStats {
	if n.router == nil {
		return cluster.OutcomeStats{}
	}
	return n.router.Stats()
}
