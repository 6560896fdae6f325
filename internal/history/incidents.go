package history

import (
	"cmp"
	"slices"
	"time"

	"github.com/ontime-rt/ontime/internal/batch"
)

// Bounds and timing of incidents.
const (
	// MaxIncidents bounds the incidents kept; beyond it the oldest goes.
	MaxIncidents = 1000
	// IncidentAge is how long an incident is listed after it ended.
	IncidentAge = 24 * time.Hour
	// Settle is how long the verdict must stay ok to end a health
	// incident: a verdict that flaps within it continues the incident.
	Settle = 3 * time.Second
	// maxReasons bounds the drop reasons an open incident counts; beyond
	// them drops count as Other.
	maxReasons = 32
)

// Incident kinds.
const (
	// KindHealth: the verdict left ok. It starts with the first batch not
	// ok and ends with the first ok batch of Settle of them.
	KindHealth = "health"
	// KindRestart: a process started (this one, or in a cluster a node's
	// new incarnation); Start and End are its start.
	KindRestart = "restart"
	// KindNodeLost: a cluster node stopped reporting; it ends when the
	// node reports again (or restarts).
	KindNodeLost = "node-lost"
	// KindNodeRejoined: a lost node reports again; Start and End are when.
	KindNodeRejoined = "node-rejoined"
)

// Incident is one episode on the wire (GET /api/incidents). Times are unix
// ms.
type Incident struct {
	ID   int64  `json:"id"`
	Kind string `json:"kind"`
	// Status is the worst verdict reached (health incidents only).
	Status batch.Status `json:"status,omitempty"`
	Start  int64        `json:"start"`
	// End is nil while the incident is open.
	End *int64 `json:"end"`
	// WorstMissRate is the largest share of events finished late or
	// dropped in any one-second step of the incident (0 to 1).
	WorstMissRate float64 `json:"worstMissRate"`
	// TopReasons are the incident's most frequent drop reasons, at most 3,
	// most frequent first.
	TopReasons []ReasonCount `json:"topReasons"`
	// Node is the cluster node concerned (cluster kinds and a node's
	// restart).
	Node string `json:"node,omitempty"`
}

// ReasonCount is a drop reason and how many events it dropped.
type ReasonCount struct {
	Reason string `json:"reason"`
	Count  uint64 `json:"count"`
}

type incident struct {
	Incident
	drops map[string]uint64 // while open
}

// nodeSeen is what the latest batch said of a cluster node.
type nodeSeen struct {
	startedAt int64
	lost      *incident // its open node-lost incident
}

// incidents derives incidents from the batches. Owned by History, under
// its lock.
type incidents struct {
	lastID  int64
	all     []*incident // oldest first, at most MaxIncidents
	health  *incident   // the open health incident
	okSince int64       // since when the open one's verdict is ok; 0: not ok
	nodes   map[string]*nodeSeen
}

func (in *incidents) add(kind string, start int64, node string) *incident {
	in.lastID++
	i := &incident{Incident: Incident{ID: in.lastID, Kind: kind, Start: start, Node: node, TopReasons: []ReasonCount{}}}
	if len(in.all) == MaxIncidents {
		copy(in.all, in.all[1:])
		in.all = in.all[:len(in.all)-1]
	}
	in.all = append(in.all, i)
	return i
}

func (in *incidents) restart(at int64, node string) {
	i := in.add(KindRestart, at, node)
	i.End = &at
}

// batch advances the incidents with batch b, made at at.
func (in *incidents) batch(b *batch.Batch, at int64) {
	in.verdict(b, at)
	if b.Nodes != nil {
		in.cluster(b.Nodes, at)
	}
}

func (in *incidents) verdict(b *batch.Batch, at int64) {
	s := b.Health.Status
	if in.health == nil {
		if severity(s) == 0 {
			return
		}
		in.health = in.add(KindHealth, at, "")
		in.health.Status = s
		in.health.drops = map[string]uint64{}
	}
	i := in.health
	for r, n := range b.Counts.DroppedBy {
		name := string(r)
		if _, ok := i.drops[name]; !ok && len(i.drops) >= maxReasons {
			name = Other
		}
		i.drops[name] += n
	}
	if severity(s) > 0 {
		if severity(s) > severity(i.Status) {
			i.Status = s
		}
		in.okSince = 0
		return
	}
	if in.okSince == 0 {
		in.okSince = at
	}
	if at-in.okSince >= Settle.Milliseconds() {
		end := in.okSince
		i.End = &end
		i.TopReasons = top(i.drops)
		i.drops = nil
		in.health, in.okSince = nil, 0
	}
}

// second takes a closed one-second step into the open health incident's
// worst miss rate, if the step overlaps its episode (before the verdict
// went back to ok).
func (in *incidents) second(p *point) {
	i := in.health
	if i == nil || p.t+1000 <= i.Start || in.okSince != 0 && p.t >= in.okSince {
		return
	}
	if done := p.onTime + p.late + p.dropped; done > 0 {
		i.WorstMissRate = max(i.WorstMissRate, float64(p.late+p.dropped)/float64(done))
	}
}

// cluster notes nodes lost, back, and restarted, from a batch's node list.
func (in *incidents) cluster(nodes []batch.NodeStatus, at int64) {
	if in.nodes == nil {
		in.nodes = map[string]*nodeSeen{}
	}
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		seen[n.ID] = true
		prev := in.nodes[n.ID]
		if prev == nil {
			prev = &nodeSeen{startedAt: n.StartedAt}
			in.nodes[n.ID] = prev
		} else if prev.startedAt == 0 {
			prev.startedAt = n.StartedAt
		} else if n.StartedAt != prev.startedAt && n.StartedAt != 0 {
			// A new incarnation: a restart, which ends a loss.
			prev.startedAt = n.StartedAt
			in.endLoss(prev, at)
			in.restart(n.StartedAt, n.ID)
		}
		switch lost := n.Status == batch.NodeLost; {
		case lost && prev.lost == nil:
			prev.lost = in.add(KindNodeLost, at, n.ID)
		case !lost && prev.lost != nil:
			in.endLoss(prev, at)
			back := in.add(KindNodeRejoined, at, n.ID)
			back.End = &back.Start
		}
	}
	for id, n := range in.nodes {
		if !seen[id] {
			in.endLoss(n, at)
			delete(in.nodes, id)
		}
	}
}

func (in *incidents) endLoss(n *nodeSeen, at int64) {
	if n.lost != nil {
		end := at
		n.lost.End = &end
		n.lost = nil
	}
}

// list returns the incidents that ended within IncidentAge of now (and the
// open ones), newest first.
func (in *incidents) list(now int64) []Incident {
	out := make([]Incident, 0, len(in.all))
	oldest := now - IncidentAge.Milliseconds()
	for _, i := range in.all {
		if i.End != nil && *i.End < oldest {
			continue
		}
		c := i.Incident
		if i.drops != nil {
			c.TopReasons = top(i.drops)
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b Incident) int {
		return cmp.Or(cmp.Compare(b.Start, a.Start), cmp.Compare(b.ID, a.ID))
	})
	return out
}

// top returns the three most frequent reasons, most frequent first (ties
// by name).
func top(drops map[string]uint64) []ReasonCount {
	out := make([]ReasonCount, 0, len(drops))
	for r, n := range drops {
		if n > 0 {
			out = append(out, ReasonCount{r, n})
		}
	}
	slices.SortFunc(out, func(a, b ReasonCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Reason, b.Reason))
	})
	// A copy of exactly the top: it is kept for a day.
	return slices.Clone(out[:min(len(out), 3)])
}
