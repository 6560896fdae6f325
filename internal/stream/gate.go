package stream

import "sync/atomic"

// Gate bounds the clients of one transport. Its zero value admits no one;
// make it with NewGate.
type Gate struct {
	max int64
	n   atomic.Int64
}

// NewGate returns a gate admitting at most max clients at once.
func NewGate(max int) *Gate { return &Gate{max: int64(max)} }

// Enter admits one client, or reports false when the gate is full. Every
// successful Enter must be paired with one Leave.
func (g *Gate) Enter() bool {
	if g.n.Add(1) > g.max {
		g.n.Add(-1)
		return false
	}
	return true
}

// Leave lets one client out.
func (g *Gate) Leave() { g.n.Add(-1) }

// Clients is the number of clients inside.
func (g *Gate) Clients() int { return int(g.n.Load()) }

// Max is the gate's limit.
func (g *Gate) Max() int { return int(g.max) }
