package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/ontime-rt/ontime/internal/event"
)

// OutcomeConfig configures an OutcomeRouter. Zero values take the defaults.
type OutcomeConfig struct {
	// NodeID is this node's id, the Origin its bus stamps on the events it
	// publishes. Required.
	NodeID string
	// Prefix of the subjects: a node receives the outcomes of its events on
	// Prefix + "." + OutcomeToken(its id). Default "ontime.outcomes".
	Prefix string
	// Delay is how long outcomes bound to one node are gathered into one
	// message after the first of them: it bounds the message rate to one
	// per Delay per pair of nodes, and adds at most Delay to an outcome's
	// way home. Default 1ms.
	Delay time.Duration
	// MaxBatch is the size in bytes at which a batch is published at once,
	// without waiting for Delay. Default 64 KiB.
	MaxBatch int
}

func (c OutcomeConfig) withDefaults() OutcomeConfig {
	if c.Prefix == "" {
		c.Prefix = "ontime.outcomes"
	}
	if c.Delay <= 0 {
		c.Delay = time.Millisecond
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 64 << 10
	}
	return c
}

// OutcomeToken is the subject token naming a node's outcome subject: a
// node id may hold characters a subject cannot ('.', '*', '>', spaces),
// so the token is the first 8 bytes of its SHA-256, in hex.
func OutcomeToken(nodeID string) string {
	h := sha256.Sum256([]byte(nodeID))
	return hex.EncodeToString(h[:8])
}

// OutcomeRouter sends the final outcome of every event this node processed
// for another node (the event's Origin) back to that node, and receives the
// outcomes of this node's events processed elsewhere. Outcomes bound to one
// node are batched for Delay; the wire format is binary (about 45 bytes an
// outcome plus its result). Like the event bus it is core NATS, at most
// once: an outcome lost on the way is missing at its origin, never
// redelivered. It is safe for concurrent use.
type OutcomeRouter struct {
	nc  *nats.Conn
	cfg OutcomeConfig

	mu      sync.Mutex
	pending map[string][]byte // origin -> encoded outcomes
	kick    chan struct{}     // one slot: a batch is pending

	routed, published, received, malformed atomic.Uint64
}

// NewOutcomeRouter returns a router on nc; Run starts it. The connection
// stays the caller's.
func NewOutcomeRouter(nc *nats.Conn, cfg OutcomeConfig) (*OutcomeRouter, error) {
	if nc == nil {
		return nil, errors.New("cluster: nil NATS connection")
	}
	if cfg.NodeID == "" {
		return nil, errors.New("cluster: an outcome router needs the node id")
	}
	return &OutcomeRouter{nc: nc, cfg: cfg.withDefaults(), pending: make(map[string][]byte), kick: make(chan struct{}, 1)}, nil
}

// Recorder returns a recorder that passes everything on to next and routes
// the outcome of every event whose Origin is another node.
func (o *OutcomeRouter) Recorder(next Recorder) Recorder { return routing{o, next} }

type routing struct {
	o    *OutcomeRouter
	next Recorder
}

func (r routing) Admit(ev event.Event) { r.next.Admit(ev) }

func (r routing) Finish(res event.Result) {
	r.next.Finish(res)
	if res.Origin != "" && res.Origin != r.o.cfg.NodeID {
		r.o.route(res)
	}
}

// route adds r to its origin's batch. It never blocks on the network: a
// full batch is handed to the connection's buffer, like any publish.
func (o *OutcomeRouter) route(r event.Result) {
	o.routed.Add(1)
	o.mu.Lock()
	b := o.pending[r.Origin]
	if len(b) == 0 {
		b = append(b, outcomeVersion)
	}
	b = appendOutcome(b, r)
	full := len(b) >= o.cfg.MaxBatch
	if full {
		delete(o.pending, r.Origin)
	} else {
		o.pending[r.Origin] = b
	}
	o.mu.Unlock()
	if full {
		o.publish(r.Origin, b)
		return
	}
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

func (o *OutcomeRouter) publish(origin string, b []byte) {
	// Counted before it goes, so that whoever receives it finds it
	// counted.
	o.published.Add(1)
	if err := o.nc.Publish(o.cfg.Prefix+"."+OutcomeToken(origin), b); err != nil {
		o.published.Add(^uint64(0))
	}
}

// flush publishes every pending batch.
func (o *OutcomeRouter) flush() {
	o.mu.Lock()
	batches := o.pending
	if len(batches) == 0 {
		o.mu.Unlock()
		return
	}
	o.pending = make(map[string][]byte, len(batches))
	o.mu.Unlock()
	for origin, b := range batches {
		o.publish(origin, b)
	}
}

// Run receives the outcomes of this node's events processed elsewhere and
// hands each to sink (from the connection's delivery goroutine, one at a
// time), and publishes routed outcomes every Delay, until ctx ends or the
// connection closes. On its way out it publishes what is pending.
func (o *OutcomeRouter) Run(ctx context.Context, sink func(event.Result)) error {
	if sink == nil {
		return errors.New("cluster: nil outcome sink")
	}
	subject := o.cfg.Prefix + "." + OutcomeToken(o.cfg.NodeID)
	count := func(r event.Result) {
		o.received.Add(1)
		sink(r)
	}
	s, err := o.nc.Subscribe(subject, func(m *nats.Msg) {
		if err := decodeOutcomes(m.Data, count); err != nil {
			o.malformed.Add(1)
		}
	})
	if err != nil {
		return fmt.Errorf("cluster: subscribe %s: %w", subject, err)
	}
	defer func() { _ = s.Unsubscribe() }()
	connClosed := o.nc.StatusChanged(nats.CLOSED)
	defer o.nc.RemoveStatusListener(connClosed)
	if o.nc.IsClosed() {
		return errors.New("cluster: outcome router: connection closed")
	}
	timer := time.NewTimer(o.cfg.Delay)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			o.flush()
			return nil
		case <-connClosed:
			return errors.New("cluster: outcome router: connection closed")
		case <-o.kick:
		}
		timer.Reset(o.cfg.Delay)
		select {
		case <-ctx.Done():
			o.flush()
			return nil
		case <-timer.C:
		}
		o.flush()
	}
}

// OutcomeStats counts what a router did since it was made.
type OutcomeStats struct {
	// Routed outcomes of other nodes' events, in Published messages.
	Routed, Published uint64
	// Received outcomes of this node's events, and Malformed messages
	// skipped.
	Received, Malformed uint64
}

// Stats returns the router's counters.
func (o *OutcomeRouter) Stats() OutcomeStats {
	return OutcomeStats{Routed: o.routed.Load(), Published: o.published.Load(), Received: o.received.Load(), Malformed: o.malformed.Load()}
}

// The outcome wire format, version 1: a version byte, then outcomes until
// the end of the message, each:
//
//	16 bytes ID
//	varint   CreatedAt, unix nanoseconds
//	varint   ProcessedAt, unix nanoseconds
//	uvarint  len(Status), then Status
//	uvarint  len(Reason), then Reason
//	uvarint  len(Failure), then Failure
//	uvarint  len(Output), then Output
//
// The event's source, payload and deadline do not travel: its origin has
// them, or has no use for them.
const outcomeVersion = 1

const (
	maxWireWord    = 64  // status, reason
	maxWireFailure = 256 // failure kind
)

func appendOutcome(dst []byte, r event.Result) []byte {
	dst = append(dst, r.ID[:]...)
	dst = binary.AppendVarint(dst, r.CreatedAt.UnixNano())
	dst = binary.AppendVarint(dst, r.ProcessedAt.UnixNano())
	for _, s := range [...]string{string(r.Status), string(r.Reason), r.Failure} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(r.Output)))
	return append(dst, r.Output...)
}

// decodeOutcomes calls sink for each outcome in data, in order, and stops at
// the first malformed one.
func decodeOutcomes(data []byte, sink func(event.Result)) error {
	d := decoder{b: data}
	if v := d.byte(); v != outcomeVersion {
		if d.err != nil {
			return d.err
		}
		return fmt.Errorf("%w: outcome version %d", ErrMalformed, v)
	}
	for len(d.b) > 0 {
		var r event.Result
		copy(r.ID[:], d.bytes(len(uuid.UUID{})))
		created, processed := d.varint(), d.varint()
		status := d.bytes(d.length(maxWireWord, "status"))
		reason := d.bytes(d.length(maxWireWord, "reason"))
		failure := d.bytes(d.length(maxWireFailure, "failure"))
		output := d.bytes(d.length(maxWirePayload, "output"))
		if d.err != nil {
			return d.err
		}
		r.CreatedAt, r.ProcessedAt = time.Unix(0, created), time.Unix(0, processed)
		r.Status, r.Reason, r.Failure = event.Status(status), event.Reason(reason), string(failure)
		if len(output) > 0 {
			r.Output = append([]byte(nil), output...)
		}
		sink(r)
	}
	return nil
}
