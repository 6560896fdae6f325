package cluster

import (
	"errors"
	"fmt"

	json "github.com/go-json-experiment/json/v1"

	"github.com/ontime-rt/ontime/internal/batch"
	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/stats"
)

// partialVersion is the version of the partial's JSON.
const partialVersion = 1

// maxNodeID bounds a node id on the wire, maxLedger the facts of a
// partial's ledger (one per restart or rejoin of a node).
const (
	maxNodeID = 128
	maxLedger = 1024
)

// addsUp reports whether t conserves events: received = on time + late +
// dropped + in flight.
func addsUp(t stats.Totals) bool {
	return t.Received >= t.Finished() && t.InFlight == t.Received-t.Finished()
}

// partial is one node's summary of one tick, as published on the ticks
// subject. Times are unix milliseconds unless named otherwise.
type partial struct {
	V    int    `json:"v"`
	Node string `json:"node"`
	// K is the tick index: floor(cut time / TickMs), made strictly
	// increasing per node (a batch cut a hair early takes the next index).
	K int64 `json:"k"`
	// FirstK is the node's first tick index in this incarnation; a node
	// whose FirstK is K has just started.
	FirstK int64 `json:"firstK"`
	TickMs int64 `json:"tickMs"`
	// StartedAt identifies the incarnation: a restarted node has a new one.
	StartedAt int64 `json:"startedAt"`
	// SentAtUs is the node's wall clock at publish, unix microseconds, for
	// estimating clock skew.
	SentAtUs int64 `json:"sentAtUs"`
	// Counts are this tick's; Totals the node's since StartedAt.
	Counts stats.Counts `json:"counts"`
	Totals stats.Totals `json:"totals"`
	// Hist is the tick's latency histogram (histogram.MarshalBinary).
	Hist   []byte        `json:"hist"`
	Events []batch.Event `json:"events,omitempty"`
	Health batch.Health  `json:"health"`
	// Ledger is the sender's Merger's record of what no live incarnation
	// reports any more, by node id, so that a Merger that starts late (a
	// restarted node) learns the totals of nodes and incarnations it never
	// saw. Usually empty.
	Ledger map[string]ledgerEntry `json:"ledger,omitempty"`
	// Bus is the incarnation of the node's event bus, which peers address
	// events to; Marks how far it took each route into it, exactly as of
	// Totals (see EventBus.Marks).
	Bus   int64  `json:"bus,omitempty"`
	Marks []Mark `json:"marks,omitempty"`
	// Left tells that the node stopped on purpose: this is its final
	// partial.
	Left bool `json:"left,omitempty"`

	// Not sent: set by the receiver.
	hist   *stats.Histogram
	recvUs int64
	// config is the local node's settings, on its own partials only.
	config *config.Settings
}

// ledgerEntry is a Merger's record of one node beyond its live incarnation.
type ledgerEntry struct {
	// Facts are the final totals of the node's past incarnations (their
	// in-flight events dropped as node-lost) and the corrections of its
	// rejoins, by key.
	Facts map[string]stats.Totals `json:"facts,omitempty"`
	// StartedAt, LostAt and Last are set when the node is lost: its
	// incarnation, the tick it was lost in, and its last totals.
	StartedAt int64         `json:"startedAt,omitempty"`
	LostAt    int64         `json:"lostAt,omitempty"`
	Last      *stats.Totals `json:"last,omitempty"`
	// WrittenOff tells that its in-flight events were written off.
	WrittenOff bool `json:"writtenOff,omitempty"`
}

// encode returns p's wire form. Should an event's payload not be valid JSON
// (ingest validates it, so it should not happen), the partial goes without
// its events rather than not at all.
func (p *partial) encode() ([]byte, error) {
	data, err := json.Marshal(p)
	if err != nil && len(p.Events) > 0 {
		q := *p
		q.Events = nil
		data, err = json.Marshal(&q)
	}
	return data, err
}

// decodePartial parses and checks a partial from the wire. It returns nil
// (and no error) for a partial of node skip.
func decodePartial(data []byte, skip string) (*partial, error) {
	p := &partial{}
	if err := json.Unmarshal(data, p); err != nil {
		return nil, err
	}
	if p.Node == skip && skip != "" {
		return nil, nil
	}
	switch {
	case p.V != partialVersion:
		return nil, fmt.Errorf("version %d", p.V)
	case p.Node == "" || len(p.Node) > maxNodeID:
		return nil, errors.New("bad node id")
	case p.TickMs <= 0 || p.K <= 0 || p.FirstK <= 0 || p.FirstK > p.K:
		return nil, errors.New("bad tick")
	case len(p.Events) > batch.MaxEvents:
		return nil, errors.New("too many events")
	case len(p.Marks) > maxLedger:
		return nil, errors.New("too many marks")
	case !addsUp(p.Totals):
		// The cluster's conservation rests on every node's.
		return nil, errors.New("totals do not add up")
	}
	facts := 0
	for id, e := range p.Ledger {
		if id == "" || len(id) > maxNodeID || (e.Last != nil && !addsUp(*e.Last)) {
			return nil, errors.New("bad ledger entry")
		}
		for key, f := range e.Facts {
			if facts++; facts > maxLedger || len(key) > 64 || !addsUp(f) {
				return nil, errors.New("bad ledger fact")
			}
		}
	}
	p.hist = stats.NewHistogram()
	if err := p.hist.UnmarshalBinary(p.Hist); err != nil {
		return nil, err
	}
	p.Hist = nil
	return p, nil
}
