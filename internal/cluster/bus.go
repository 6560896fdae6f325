package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/ontime-rt/ontime/internal/event"
)

// Submitter takes events without blocking and reports whether each was
// queued; *pipeline.Pipeline implements it.
type Submitter interface {
	Submit(ev event.Event) (bool, event.Reason)
}

// Recorder is told about the events the bus accounts for itself (those it
// could not publish, and those it knows were lost), so they are counted like
// any other drop; pipeline.Recorder has the same methods.
type Recorder interface {
	Admit(ev event.Event)
	Finish(r event.Result)
}

// BusConfig configures an EventBus. Zero values take the defaults.
type BusConfig struct {
	// Subject is the prefix of the event subjects: node X takes its events
	// on Subject + "." + OutcomeToken(X). Default "ontime.events".
	Subject string
	// PendingMsgs and PendingBytes bound the events a consumer holds
	// before its handler takes them; beyond them NATS drops events (a slow
	// consumer), which the bus then finds missing on their route and
	// counts (see Recorder). Negative means no limit. Default 65536 events
	// and 64 MiB, the client's defaults: the handler only decodes and
	// submits, which never blocks, so the buffer stays short.
	PendingMsgs, PendingBytes int
	// DrainTimeout bounds how long Consume, once its context ends, keeps
	// handing over the events already delivered to it. Default 2s.
	DrainTimeout time.Duration
	// Recorder, when set, records as admitted and dropped every event
	// Submit could not publish (event.BusUnavailable), every event found
	// missing on a route into this node (event.Bus: NATS lost it), and
	// every event this node sent to a node that then ended without taking
	// it (see EventBus.Retire), so that the cluster's totals count them.
	Recorder Recorder
	// Now stamps those drops. Default time.Now.
	Now func() time.Time
	// Origin is this node's id, carried by every event Submit publishes
	// so that its outcome can be routed back here (see OutcomeRouter) and
	// so that its destination can account for its route.
	Origin string
	// PublishOnly lets Submit route events to this node itself while none
	// of this bus's own consumers is subscribed, for tests whose consumer
	// is another bus. By default Submit then refuses events that have no
	// peer to go to (event.BusUnavailable): core NATS drops, without a
	// trace, an event published while nobody is subscribed.
	PublishOnly bool
	// ConfirmTimeout bounds how long a submitter from Confirmed waits for
	// the NATS server to have an event (through a reconnection). Default
	// 10s.
	ConfirmTimeout time.Duration
}

func (c BusConfig) withDefaults() BusConfig {
	if c.Subject == "" {
		c.Subject = "ontime.events"
	}
	if c.PendingMsgs == 0 {
		c.PendingMsgs = nats.DefaultSubPendingMsgsLimit
	}
	if c.PendingBytes == 0 {
		c.PendingBytes = nats.DefaultSubPendingBytesLimit
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 2 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ConfirmTimeout <= 0 {
		c.ConfirmTimeout = 10 * time.Second
	}
	return c
}

// Peer is a node the bus may send events to: its id and its bus's
// incarnation (EventBus.Incarnation, which its partials carry).
type Peer struct {
	ID  string
	Inc int64
}

// EventBus sends events to the nodes' workers over core NATS and consumes
// the events sent to this node. It is safe for concurrent use.
//
// Every event travels on a route, from one incarnation of a bus to one
// incarnation of another (or the same), and is numbered on it: 1, 2, 3...
// The receiving bus admits them in order, so it knows exactly which events
// of a route it took (up to its mark) and, from a number that skips, how
// many NATS lost (it counts them, event.Bus). The sender sends a marker with
// the route's count every poll, so that a loss at the end of a burst is
// found too. When a destination ends (lost for good, left, restarted), the
// sender counts the events it sent beyond the destination's final mark
// (Retire): those the destination never took. Every event is so counted
// once, by the node that took it or, if none did, by exactly one of its two
// ends. Submit sends to the peers in turn and to this node itself only
// when it has none: an event taken by a node that is then killed is
// accounted by another node only if it went to another node.
type EventBus struct {
	nc  *nats.Conn
	cfg BusConfig
	inc int64
	buf sync.Pool // *[]byte encoding buffers

	published, unpub, consumed, refused, malformed atomic.Uint64
	slowDrops, abandoned, stale, missing, orphans  atomic.Uint64
	markers, unconfirmed, noResponders             atomic.Uint64

	// drainTimedOut, when set (by tests), is called when a Consume's drain
	// times out and what is still pending is left to its senders.
	drainTimedOut func()
	consumers     atomic.Int64
	lastPubErr    atomic.Pointer[string]

	// Sending, under sendMu: Submit holds it from choosing a route to its
	// publish, so that a route's events go out in their numbers' order.
	sendMu sync.Mutex
	peers  []Peer
	gone   map[string]time.Time // subject -> when NATS said nobody takes it; one per peer at most
	turn   int
	sent   map[Peer]*sentRoute // routes out, until retired
	// retired holds one entry per destination incarnation that ended
	// (about 60 bytes each): a node restarted a thousand times costs 60 KB.
	retired    map[Peer]bool
	subscribed int           // own consumers taking events
	consuming  chan struct{} // closed when a consumer first subscribes
	startOnce  sync.Once
	pubGen     atomic.Uint64 // events published, for Confirmed

	// Receiving, under recvMu: a route's mark moves with the admission
	// that it counts, so Marks reads both at one instant.
	recvMu sync.Mutex
	routes map[routeKey]*recvRoute

	// noResp is the reply subject of every event: NATS answers there, with
	// a 503 status naming the subject, an event nobody was subscribed to.
	noResp string

	// Confirmed's flushes, under flMu.
	flMu      sync.Mutex
	flCond    *sync.Cond
	flushing  bool
	confirmed uint64
}

// sentRoute is what a sender knows of one route.
type sentRoute struct {
	n        uint64    // events sent
	marked   uint64    // the count in the latest marker
	markedAt time.Time // when that marker went
}

// routeKey names a route into this node by its sender's incarnation.
type routeKey struct {
	origin string
	inc    int64
}

// recvRoute is what a receiver knows of one route.
type recvRoute struct {
	last uint64    // the highest number taken or counted missing
	at   time.Time // when it last moved
}

// NewEventBus returns a bus on nc. The connection stays the caller's: the
// bus neither drains nor closes it.
func NewEventBus(nc *nats.Conn, cfg BusConfig) (*EventBus, error) {
	if nc == nil {
		return nil, errors.New("cluster: nil NATS connection")
	}
	b := &EventBus{nc: nc, cfg: cfg.withDefaults(), consuming: make(chan struct{}),
		inc: time.Now().UnixMicro(), sent: map[Peer]*sentRoute{}, retired: map[Peer]bool{}, routes: map[routeKey]*recvRoute{},
		gone: map[string]time.Time{}, noResp: nats.NewInbox()}
	b.buf.New = func() any { s := make([]byte, 0, 256); return &s }
	b.flCond = sync.NewCond(&b.flMu)
	return b, nil
}

// Incarnation identifies this bus among all the buses ever made for its
// node id (it is the time it was made, in unix microseconds). Partials
// carry it so that peers can address this bus.
func (b *EventBus) Incarnation() int64 { return b.inc }

// subject is the subject node id takes its events on.
func (b *EventBus) subject(id string) string { return b.cfg.Subject + "." + OutcomeToken(id) }

// self is this bus as a destination.
func (b *EventBus) self() Peer { return Peer{ID: b.cfg.Origin, Inc: b.inc} }

// SetPeers sets the nodes Submit sends events to, in turn; this node
// itself, and destinations retired, are left out. With none, Submit sends
// to this node.
func (b *EventBus) SetPeers(peers []Peer) {
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	b.peers = b.peers[:0]
	for _, p := range peers {
		if p.ID != b.cfg.Origin && !b.retired[p] {
			b.peers = append(b.peers, p)
		}
	}
}

// errNoConsumer is Submit's error when it has no peer and none of the
// bus's own consumers is subscribed (see BusConfig.PublishOnly).
var errNoConsumer = errors.New("cluster: no peer, and no consumer of this node is subscribed to its event subject")

// Submit publishes ev to the next peer (or to this node if it has none).
// It never waits for a consumer: the client appends the message to its
// outgoing buffer and a background flusher writes it (it can only block if
// the socket itself stays full, which the connection's FlusherTimeout
// bounds). It reports false with event.BusUnavailable when the connection
// cannot take the event, or when it has no peer and none of the bus's own
// consumers is subscribed (unless PublishOnly); the event is then recorded
// as dropped if a Recorder was configured.
func (b *EventBus) Submit(ev event.Event) (bool, event.Reason) {
	if ev.Origin == "" {
		ev.Origin = b.cfg.Origin
	}
	p := b.buf.Get().(*[]byte)
	err := errNoConsumer
	b.sendMu.Lock()
	dest, ok := b.pick()
	if ok {
		st := b.sent[dest]
		if st == nil {
			st = &sentRoute{}
			b.sent[dest] = st
		}
		r := route{Origin: b.cfg.Origin, OriginInc: b.inc, DestInc: dest.Inc, Seq: st.n + 1}
		*p = appendRoute(appendEvent((*p)[:0], ev, wireVersion), r)
		// Publish copies the data into the connection's buffer before it
		// returns; under sendMu, the route's events go out in order.
		if err = b.nc.PublishRequest(b.subject(dest.ID), b.noResp, *p); err == nil {
			st.n++
			b.pubGen.Add(1)
		}
	}
	b.sendMu.Unlock()
	b.buf.Put(p)
	if err != nil {
		b.unpub.Add(1)
		msg := err.Error()
		b.lastPubErr.Store(&msg)
		if r := b.cfg.Recorder; r != nil {
			r.Admit(ev)
			r.Finish(event.Result{Event: ev, ProcessedAt: b.cfg.Now(), Status: event.Dropped, Reason: event.BusUnavailable})
		}
		return false, event.BusUnavailable
	}
	b.published.Add(1)
	return true, event.ReasonNone
}

// goneFor is how long a peer NATS said nobody takes events for is skipped:
// a node killed is found so within a round trip, long before its Merger
// finds it silent; one that was only resubscribing is sent events again
// after it.
const goneFor = time.Second

// pick chooses the next destination. Called with sendMu held.
func (b *EventBus) pick() (Peer, bool) {
	for range len(b.peers) {
		b.turn = (b.turn + 1) % len(b.peers)
		p := b.peers[b.turn]
		if at, ok := b.gone[b.subject(p.ID)]; ok {
			if time.Since(at) < goneFor {
				continue
			}
			delete(b.gone, b.subject(p.ID))
		}
		return p, true
	}
	if (b.subscribed > 0 || b.cfg.PublishOnly) && !b.retired[b.self()] {
		// The route to itself ends with its first Consume (it counts what
		// it did not take then): a bus serves one.
		return b.self(), true
	}
	return Peer{}, false
}

// Confirmed returns a Submitter for ingest: its Submit is the bus's, and
// its Sync returns once the NATS server has every event published so far
// (a flush: the server answered a PING sent after them), for at most
// ConfirmTimeout. An event a node answered for is then on the server,
// which delivers it even if the node is killed the next instant. Concurrent
// Syncs share their flushes. While the connection is down Sync does not
// wait: the events wait in the connection's reconnect buffer and go first
// once NATS is back (they are lost only if this node dies before that;
// Stats counts such Syncs as Unconfirmed).
func (b *EventBus) Confirmed() interface {
	Submitter
	Sync()
} {
	return confirmed{b}
}

type confirmed struct{ b *EventBus }

func (c confirmed) Submit(ev event.Event) (bool, event.Reason) { return c.b.Submit(ev) }

func (c confirmed) Sync() { c.b.confirm(c.b.pubGen.Load()) }

// confirm waits until the server has every event published up to
// generation gen, the connection is down, or ConfirmTimeout passes.
func (b *EventBus) confirm(gen uint64) {
	deadline := time.Now().Add(b.cfg.ConfirmTimeout)
	b.flMu.Lock()
	defer b.flMu.Unlock()
	for b.confirmed < gen {
		if b.flushing {
			b.flCond.Wait()
			continue
		}
		if time.Now().After(deadline) || b.nc.Status() != nats.CONNECTED {
			b.unconfirmed.Add(1)
			return
		}
		b.flushing = true
		target := b.pubGen.Load()
		b.flMu.Unlock()
		err := b.nc.FlushTimeout(b.cfg.ConfirmTimeout)
		b.flMu.Lock()
		b.flushing = false
		if err == nil && target > b.confirmed {
			b.confirmed = target
		}
		b.flCond.Broadcast()
	}
}

// Retire ends the route to dest, a destination that ended (lost for good,
// left, or replaced by a new incarnation; or this node's own consumer,
// when Consume returns) after taking the first taken events this node sent
// it (its final mark for this node's incarnation):
// the rest are counted as admitted and dropped for reason, and dest is
// never routed to again. It returns how many were counted; a route retired
// already counts nothing.
func (b *EventBus) Retire(dest Peer, taken uint64, reason event.Reason) uint64 {
	b.sendMu.Lock()
	var n uint64
	if st := b.sent[dest]; st != nil && st.n > taken {
		n = st.n - taken
	}
	delete(b.sent, dest)
	b.retired[dest] = true
	b.peers = slices.DeleteFunc(b.peers, func(p Peer) bool { return p == dest })
	b.sendMu.Unlock()
	if n > 0 {
		b.orphans.Add(n)
		b.lose(int(n), reason)
	}
	return n
}

// Mark is how far a route into this node was taken: the events Seq and
// before, sent by the bus incarnation Inc of node Origin, were admitted
// (or counted missing) by this node.
type Mark struct {
	Origin string `json:"o"`
	Inc    int64  `json:"i"`
	Seq    uint64 `json:"n"`
}

// Marks returns the marks of the routes into this node, and calls read (if
// not nil) at the same instant: an admission moves its route's mark and is
// recorded at once, under one lock, so that what read reads of the
// recorder counts exactly the events the marks cover. Routes from an
// incarnation replaced by a newer one of its node are forgotten after a
// minute without traffic.
func (b *EventBus) Marks(read func()) []Mark {
	now := b.cfg.Now()
	b.recvMu.Lock()
	defer b.recvMu.Unlock()
	if read != nil {
		read()
	}
	newest := map[string]int64{}
	for k := range b.routes {
		newest[k.origin] = max(newest[k.origin], k.inc)
	}
	marks := make([]Mark, 0, len(b.routes))
	for k, r := range b.routes {
		if k.inc < newest[k.origin] && now.Sub(r.at) > time.Minute {
			delete(b.routes, k)
			continue
		}
		marks = append(marks, Mark{Origin: k.origin, Inc: k.inc, Seq: r.last})
	}
	slices.SortFunc(marks, func(a, c Mark) int {
		if a.Origin != c.Origin {
			if a.Origin < c.Origin {
				return -1
			}
			return 1
		}
		return int(a.Inc - c.Inc)
	})
	return marks
}

// Consume subscribes to this node's event subject and submits each event it
// is given to sub, until ctx ends or the connection closes. Messages that do
// not decode are counted and skipped (their route shows them missing).
// When ctx ends it drains: the events NATS already delivered are still
// submitted (for at most DrainTimeout); those it then leaves are not
// admitted, and their senders count them once this node has gone (see
// Retire). Stop Consume before the pipeline. sub is never called after
// Consume returns. Run one Consume per bus.
func (b *EventBus) Consume(ctx context.Context, sub Submitter) error {
	if sub == nil {
		return errors.New("cluster: nil Submitter")
	}
	// gate lets Consume wait out a handler that is running when it stops.
	var gate sync.RWMutex
	var stopped atomic.Bool // not under gate: a handler may be held in Submit
	gone := false
	s, err := b.nc.Subscribe(b.subject(b.cfg.Origin), func(m *nats.Msg) {
		gate.RLock()
		defer gate.RUnlock()
		if gone {
			return
		}
		if stopped.Load() {
			b.abandoned.Add(1)
			return
		}
		b.receive(m.Data, sub)
	})
	if err != nil {
		return fmt.Errorf("cluster: subscribe %s: %w", b.subject(b.cfg.Origin), err)
	}
	if err := s.SetPendingLimits(b.cfg.PendingMsgs, b.cfg.PendingBytes); err != nil {
		_ = s.Unsubscribe()
		return fmt.Errorf("cluster: pending limits: %w", err)
	}
	// NATS tells, on the reply subject, of every event sent to a subject
	// nobody takes: that peer is skipped at once.
	nr, err := b.nc.Subscribe(b.noResp, func(m *nats.Msg) {
		if m.Header.Get("Status") != "503" {
			return
		}
		b.sendMu.Lock()
		b.gone[m.Header.Get("Nats-Subject")] = time.Now()
		b.sendMu.Unlock()
		b.noResponders.Add(1)
	})
	if err != nil {
		_ = s.Unsubscribe()
		return fmt.Errorf("cluster: subscribe %s: %w", b.noResp, err)
	}
	defer func() { _ = nr.Unsubscribe() }()
	b.consumers.Add(1)
	defer b.consumers.Add(-1)
	// The subscription is in the connection's buffer: what Submit
	// publishes to this node from now on reaches the server after it.
	taking := b.taking(true)
	closed := s.StatusChanged(nats.SubscriptionClosed)
	connClosed := b.nc.StatusChanged(nats.CLOSED)
	defer b.nc.RemoveStatusListener(connClosed)
	var result error
	if b.nc.IsClosed() {
		connClosed <- nats.CLOSED
	}
	poll := time.NewTicker(slowDropPoll)
	defer poll.Stop()
	var seenDrops int
wait:
	for {
		select {
		case <-poll.C:
			seenDrops = b.countDrops(s, seenDrops)
			b.mark()
			continue
		case <-connClosed:
			result = errors.New("cluster: event subscription closed (connection closed)")
		case <-ctx.Done():
			seenDrops = b.countDrops(s, seenDrops)
			b.mark()
			taking = b.taking(false)
			if err := s.Drain(); err == nil {
				t := time.NewTimer(b.cfg.DrainTimeout)
				select {
				case <-closed:
				case <-t.C:
					stopped.Store(true)
					if b.drainTimedOut != nil {
						b.drainTimedOut()
					}
					t.Reset(b.cfg.DrainTimeout)
					select {
					case <-closed:
					case <-t.C:
					}
				}
				t.Stop()
			}
		case <-closed:
			result = errors.New("cluster: event subscription closed")
		}
		break wait
	}
	if taking {
		b.taking(false)
	}
	gate.Lock()
	gone = true
	if n, _, err := s.Pending(); err == nil && n > 0 {
		b.abandoned.Add(uint64(n))
	}
	gate.Unlock()
	_ = s.Unsubscribe() // a no-op once drained
	// Of the events this node sent itself, it is the one to count those
	// it did not take.
	b.recvMu.Lock()
	var taken uint64
	if rt := b.routes[routeKey{b.cfg.Origin, b.inc}]; rt != nil {
		taken = rt.last
	}
	b.recvMu.Unlock()
	b.Retire(b.self(), taken, event.Bus)
	return result
}

// receive takes one message of this node's subject: an event, admitted in
// its route's order, or a marker.
func (b *EventBus) receive(data []byte, sub Submitter) {
	if len(data) > 0 && data[0] == markerVersion {
		r, err := decodeMarker(data)
		if err != nil {
			b.malformed.Add(1)
			return
		}
		b.markers.Add(1)
		if r.DestInc != b.inc {
			return
		}
		b.recvMu.Lock()
		rt := b.route(r)
		if r.Seq > rt.last {
			b.missing.Add(r.Seq - rt.last)
			b.lose(int(r.Seq-rt.last), event.Bus)
			rt.last, rt.at = r.Seq, b.cfg.Now()
		}
		b.recvMu.Unlock()
		return
	}
	ev, r, err := decodeRouted(data)
	if err != nil {
		b.malformed.Add(1)
		return
	}
	if r.Seq == 0 {
		// A version 2 event, without a route: nothing to account for.
		b.admit(ev, sub)
		return
	}
	if r.DestInc != b.inc {
		// Sent to an earlier incarnation of this node: its sender counts
		// it when it retires that route.
		b.stale.Add(1)
		return
	}
	b.recvMu.Lock()
	defer b.recvMu.Unlock()
	rt := b.route(r)
	if r.Seq <= rt.last {
		b.stale.Add(1)
		return
	}
	if gap := r.Seq - rt.last - 1; gap > 0 {
		b.missing.Add(gap)
		b.lose(int(gap), event.Bus)
	}
	b.admit(ev, sub)
	rt.last, rt.at = r.Seq, b.cfg.Now()
}

// route returns the state of r's route into this node. Called with recvMu
// held.
func (b *EventBus) route(r route) *recvRoute {
	k := routeKey{r.Origin, r.OriginInc}
	rt := b.routes[k]
	if rt == nil {
		rt = &recvRoute{}
		b.routes[k] = rt
	}
	return rt
}

func (b *EventBus) admit(ev event.Event, sub Submitter) {
	b.consumed.Add(1)
	if ok, _ := sub.Submit(ev); !ok {
		b.refused.Add(1)
	}
}

// markerEvery is how often a route with nothing new sent is marked again,
// in case its last marker was lost.
const markerEvery = time.Second

// mark sends each route's marker: its count, if it changed or its last
// marker is markerEvery old.
func (b *EventBus) mark() {
	now := b.cfg.Now()
	p := b.buf.Get().(*[]byte)
	b.sendMu.Lock()
	for dest, st := range b.sent {
		if st.n == 0 || (st.n == st.marked && now.Sub(st.markedAt) < markerEvery) {
			continue
		}
		*p = appendMarker((*p)[:0], route{Origin: b.cfg.Origin, OriginInc: b.inc, DestInc: dest.Inc, Seq: st.n})
		if b.nc.Publish(b.subject(dest.ID), *p) == nil {
			st.marked, st.markedAt = st.n, now
		}
	}
	b.sendMu.Unlock()
	b.buf.Put(p)
}

// taking counts a consumer in (on) or out of the subscribed ones, and
// returns on.
func (b *EventBus) taking(on bool) bool {
	b.sendMu.Lock()
	defer b.sendMu.Unlock()
	if on {
		b.subscribed++
		b.startOnce.Do(func() { close(b.consuming) })
	} else {
		b.subscribed--
	}
	return on
}

// Consuming is closed once a consumer of the bus has subscribed (the first
// time).
func (b *EventBus) Consuming() <-chan struct{} { return b.consuming }

// slowDropPoll is how often Consume reads a slow consumer's drop count and
// sends its routes' markers.
const slowDropPoll = 100 * time.Millisecond

// countDrops notes the events NATS dropped for s since it had counted seen
// (they are counted as missing on their routes), and returns the count
// now. It must be called while s is valid.
func (b *EventBus) countDrops(s *nats.Subscription, seen int) int {
	n, err := s.Dropped()
	if err != nil || n <= seen {
		return seen
	}
	b.slowDrops.Add(uint64(n - seen))
	return n
}

// lose records n events this node accounts for as lost (admitted and
// dropped for reason), as events standing for them with ids of their own:
// the bus does not know them.
func (b *EventBus) lose(n int, reason event.Reason) {
	r := b.cfg.Recorder
	if r == nil {
		return
	}
	now := b.cfg.Now()
	for range n {
		e := event.Event{ID: uuid.New(), Source: lostSource, CreatedAt: now}
		r.Admit(e)
		r.Finish(event.Result{Event: e, ProcessedAt: now, Status: event.Dropped, Reason: reason})
	}
}

// lostSource is the Source of the events recorded for events the bus lost.
const lostSource = "bus"

// BusStats counts what a bus did since it was made.
type BusStats struct {
	// Published events, and events Submit could not publish.
	Published, Unpublished uint64
	// Consumed events handed to the local Submitter; Refused of them it
	// did not queue (it recorded them as dropped).
	Consumed, Refused uint64
	// Malformed messages skipped.
	Malformed uint64
	// SlowConsumerDrops are events NATS dropped because the consumer's
	// pending buffer was full (counted in Missing once their route shows
	// them).
	SlowConsumerDrops uint64
	// Abandoned are events delivered to a consumer that stopped before
	// taking them (their senders count them).
	Abandoned uint64
	// Stale are events sent to an earlier incarnation of this node, or
	// repeated (their senders count them).
	Stale uint64
	// Missing are events sent to this node that NATS lost, found from
	// their routes' numbers and counted as dropped (bus).
	Missing uint64
	// Orphans are events this node sent to a node that ended without
	// taking them, counted as dropped here (see EventBus.Retire).
	Orphans uint64
	// Markers received.
	Markers uint64
	// NoResponders are events NATS said nobody was subscribed to (their
	// destination had gone; they are counted when it is retired).
	NoResponders uint64
	// Unconfirmed are Syncs (see Confirmed) that returned without the
	// server's confirmation: the connection was down, or ConfirmTimeout
	// passed.
	Unconfirmed uint64
	// Consumers running now.
	Consumers int
	// LastPublishError is the last error Publish returned, if any.
	LastPublishError string
}

// Stats returns the bus's counters.
func (b *EventBus) Stats() BusStats {
	s := BusStats{
		Published: b.published.Load(), Unpublished: b.unpub.Load(),
		Consumed: b.consumed.Load(), Refused: b.refused.Load(),
		Malformed: b.malformed.Load(), SlowConsumerDrops: b.slowDrops.Load(), Abandoned: b.abandoned.Load(),
		Stale: b.stale.Load(), Missing: b.missing.Load(), Orphans: b.orphans.Load(),
		Markers: b.markers.Load(), Unconfirmed: b.unconfirmed.Load(), NoResponders: b.noResponders.Load(),
		Consumers: int(b.consumers.Load()),
	}
	if p := b.lastPubErr.Load(); p != nil {
		s.LastPublishError = *p
	}
	return s
}
