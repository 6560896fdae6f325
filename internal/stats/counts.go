package stats

import "github.com/ontime-rt/ontime/internal/event"

// Counts tallies outcomes. The same shape serves one tick (a batch's
// "counts") and the whole run (the "totals", which add InFlight).
type Counts struct {
	Received uint64 `json:"received"`
	OnTime   uint64 `json:"onTime"`
	Late     uint64 `json:"late"`
	Dropped  uint64 `json:"dropped"`
	// DroppedBy splits Dropped by reason; only reasons seen are present.
	DroppedBy map[event.Reason]uint64 `json:"droppedBy"`
	// FailedBy splits the drops of reason failed by the kind of failure
	// ("http-503", "connect", ...); only kinds seen are present, and it is
	// absent when none failed.
	FailedBy map[string]uint64 `json:"failedBy,omitempty"`
}

// Admit counts one received event.
func (c *Counts) Admit() { c.Received++ }

// Finish counts one final outcome.
func (c *Counts) Finish(r event.Result) {
	switch r.Status {
	case event.OnTime:
		c.OnTime++
	case event.Late:
		c.Late++
	case event.Dropped:
		c.Dropped++
		if c.DroppedBy == nil {
			c.DroppedBy = make(map[event.Reason]uint64, 4)
		}
		c.DroppedBy[r.Reason]++
		if r.Reason == event.Failed {
			if c.FailedBy == nil {
				c.FailedBy = make(map[string]uint64, 4)
			}
			c.FailedBy[r.Failure]++
		}
	}
}

// Finished is the number of events that reached a final status.
func (c Counts) Finished() uint64 { return c.OnTime + c.Late + c.Dropped }

// Add adds o into c.
func (c *Counts) Add(o Counts) {
	c.Received += o.Received
	c.OnTime += o.OnTime
	c.Late += o.Late
	c.Dropped += o.Dropped
	for r, n := range o.DroppedBy {
		if c.DroppedBy == nil {
			c.DroppedBy = make(map[event.Reason]uint64, len(o.DroppedBy))
		}
		c.DroppedBy[r] += n
	}
	for k, n := range o.FailedBy {
		if c.FailedBy == nil {
			c.FailedBy = make(map[string]uint64, len(o.FailedBy))
		}
		c.FailedBy[k] += n
	}
}

// Clone returns a deep copy, safe to hand to another goroutine.
func (c Counts) Clone() Counts {
	out := c
	out.DroppedBy = make(map[event.Reason]uint64, len(c.DroppedBy))
	for r, n := range c.DroppedBy {
		out.DroppedBy[r] = n
	}
	if c.FailedBy != nil {
		out.FailedBy = make(map[string]uint64, len(c.FailedBy))
		for k, n := range c.FailedBy {
			out.FailedBy[k] = n
		}
	}
	return out
}

// Totals are the counts since start plus the events still in flight. At every
// instant Received == OnTime + Late + Dropped + InFlight.
type Totals struct {
	Counts
	InFlight uint64 `json:"inFlight"`
}

// TotalsOf makes the totals from the cumulative outcomes and the number of
// events received. received must be read after the outcomes were: an event
// is received before it can finish, so it is then at least their sum, and
// the difference is what is still in flight.
func TotalsOf(finished Counts, received uint64) Totals {
	t := Totals{Counts: finished.Clone()}
	t.Received = received
	t.InFlight = received - t.Finished()
	return t
}
