package server

import (
	"container/list"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/ontime-rt/ontime/internal/httperr"
)

// WriteGuard protects the routes that change state (ingest, settings):
// an optional bearer token; without one, a refusal of every write that
// comes from another machine or through a proxy (or of every write at all
// when the server is reachable from elsewhere); a request rate limit and a
// cap of concurrent requests per client address, which count refused
// requests too; and a deadline for reading each request.
type WriteGuard struct {
	// Token, when set, must be presented as "Authorization: Bearer <token>"
	// (or, for the HTML forms, a "token" form field, read only when the
	// header is absent, under ReadTimeout and a 16 KiB limit).
	Token string
	// Exposed tells that the server listens on a non-loopback address;
	// without a Token, writes are then refused with 403.
	Exposed bool
	// Proxied tells that the server is meant to be reached through a
	// reverse proxy (it has a public URL, or trusts proxies' headers):
	// without a Token, writes are then refused with 403, since a proxy
	// that adds no forwarding header makes every write look local. New
	// sets it from its Config.
	Proxied bool
	// Rate is the writes per second allowed per client address, with a
	// burst of twice that. Zero or less means no limit.
	Rate float64
	// MaxTracked bounds the client addresses whose rate is tracked; when a
	// new one comes to a full table, the least recently seen is forgotten
	// (it starts afresh if it comes back). Default 10000.
	MaxTracked int
	// MaxConcurrent bounds the write requests in progress per client
	// address; beyond it 429. Default 8.
	MaxConcurrent int
	// ReadTimeout bounds reading a write request, body included, counted
	// from when the guard sees it (the route may extend it). Default 10s.
	ReadTimeout time.Duration
	// Now is the clock of the rate limiter. Default time.Now.
	Now func() time.Time

	once sync.Once
	hash [32]byte
	mu   sync.Mutex
	// limiters holds one rate limiter per client address, in recent, ordered
	// by when each was last seen (front: most recent).
	limiters map[string]*list.Element
	recent   list.List // of *clientLimit
	// inFlight counts requests in progress per client address; an entry
	// goes when its count reaches zero, so it holds at most one entry per
	// request in progress.
	inFlight map[string]int
}

type clientLimit struct {
	key  string
	lim  *rate.Limiter
	seen time.Time
}

// maxFormBytes bounds a settings form read by the guard.
const maxFormBytes = 16 << 10

func (g *WriteGuard) init() {
	g.once.Do(func() {
		g.hash = sha256.Sum256([]byte(g.Token))
		g.limiters = make(map[string]*list.Element)
		if g.MaxTracked <= 0 {
			g.MaxTracked = 10000
		}
		g.inFlight = make(map[string]int)
		if g.MaxConcurrent <= 0 {
			g.MaxConcurrent = 8
		}
		if g.ReadTimeout <= 0 {
			g.ReadTimeout = 10 * time.Second
		}
		if g.Now == nil {
			g.Now = time.Now
		}
	})
}

// authorized compares in constant time (of hashes, so the token's length
// leaks nothing either). The header is read first; a form body only when
// there is no header, bounded in size (and, by Wrap, in time).
func (g *WriteGuard) authorized(w http.ResponseWriter, r *http.Request) bool {
	presented := ""
	if h := r.Header.Get("Authorization"); h != "" {
		if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			presented = strings.TrimSpace(h[7:])
		}
	} else if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		// The HTML form carries the token as a field. Bound the body first:
		// parsing it here would otherwise allow net/http's 10 MB default.
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		presented = r.PostFormValue("token")
	}
	if presented == "" {
		return false
	}
	sum := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(sum[:], g.hash[:]) == 1
}

// enter counts a request of client in; false when the client already has
// MaxConcurrent in progress.
func (g *WriteGuard) enter(client string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inFlight[client] >= g.MaxConcurrent {
		return false
	}
	g.inFlight[client]++
	return true
}

func (g *WriteGuard) leave(client string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inFlight[client]--; g.inFlight[client] <= 0 {
		delete(g.inFlight, client)
	}
}

// allow takes one request of client from its rate limiter; false, with the
// wait, when the limit is reached.
//
// The table of limiters is no lever on other clients: a new address never
// shares another's limiter. When the table is full, the limiters whose
// bucket has refilled (those idle for burst/rate: forgetting them changes
// nothing) go first, then the least recently seen; a client forgotten that
// way only starts afresh. So whoever fills the table from many addresses
// gets one allowance per address, and no client, with a valid token or not,
// is refused for the traffic of others.
func (g *WriteGuard) allow(client string) (bool, time.Duration) {
	if g.Rate <= 0 {
		return true, 0
	}
	now := g.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	var c *clientLimit
	if e, ok := g.limiters[client]; ok {
		g.recent.MoveToFront(e)
		c = e.Value.(*clientLimit)
	} else {
		burst := max(1, int(math.Ceil(2*g.Rate)))
		refill := time.Duration(float64(burst) / g.Rate * float64(time.Second))
		// Limiters idle long enough to have refilled are as good as new.
		for e := g.recent.Back(); e != nil && now.Sub(e.Value.(*clientLimit).seen) >= refill; e = g.recent.Back() {
			g.forget(e)
		}
		if len(g.limiters) >= g.MaxTracked {
			g.forget(g.recent.Back())
		}
		c = &clientLimit{key: client, lim: rate.NewLimiter(rate.Limit(g.Rate), burst)}
		g.limiters[client] = g.recent.PushFront(c)
	}
	c.seen = now
	res := c.lim.ReserveN(now, 1)
	delay := res.DelayFrom(now)
	if delay > 0 {
		res.CancelAt(now)
	}
	return delay == 0, delay
}

// forget drops a limiter from the table. Called with g.mu held.
func (g *WriteGuard) forget(e *list.Element) {
	delete(g.limiters, g.recent.Remove(e).(*clientLimit).key)
}

// Wrap guards next. Order: the rate limit (refused requests count too),
// the cap of concurrent requests, the rules for writes without a token, the
// read deadline, then the token (header first; a form body only without
// one), so a refused request costs little and holds nothing for long.
func (g *WriteGuard) Wrap(next http.Handler) http.Handler {
	g.init()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := clientKey(r)
		if ok, delay := g.allow(client); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(delay.Seconds()))))
			refuse(w, r, http.StatusTooManyRequests, fmt.Sprintf("too many writes from this address (limit %g/s): retry later", g.Rate))
			return
		}
		if !g.enter(client) {
			w.Header().Set("Retry-After", "1")
			refuse(w, r, http.StatusTooManyRequests, fmt.Sprintf("too many writes in progress from this address (at most %d at once): retry later", g.MaxConcurrent))
			return
		}
		defer g.leave(client)
		if g.Token == "" {
			if g.Exposed {
				refuse(w, r, http.StatusForbidden, "writes are disabled: this server listens on a non-loopback address without a token; start it with --token (or ONTIME_TOKEN) to allow them")
				return
			}
			if g.Proxied {
				refuse(w, r, http.StatusForbidden, "writes are disabled: this server is served through a proxy (--public-url or --trust-proxy is set) without a token; start it with --token (or ONTIME_TOKEN) to allow them")
				return
			}
			if proxied(r) || !loopbackPeer(r) {
				refuse(w, r, http.StatusForbidden, "writes are disabled for requests through a proxy or from another machine: this server has no token; start it with --token (or ONTIME_TOKEN) to allow them")
				return
			}
		}
		// Not every ResponseWriter supports deadlines (tests' recorders).
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(g.ReadTimeout))
		if g.Token != "" && !g.authorized(w, r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="ontime"`)
			refuse(w, r, http.StatusUnauthorized, "missing or wrong bearer token: send Authorization: Bearer <token>")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackPeer tells whether the connection comes from this machine. A
// RemoteAddr that is no address (not a TCP connection) counts as local.
func loopbackPeer(r *http.Request) bool {
	a, ok := peerAddr(r.RemoteAddr)
	return !ok || a.IsLoopback()
}

// refuseGrace is how long the rest of a refused request's body may still
// arrive: a client sending it at once finishes and reads the answer (a
// connection closed on unread data would be reset, and the answer lost),
// and a client that sends less than it announced is cut off soon.
const refuseGrace = time.Second

// refuse answers a request that is not let through. Over HTTP/1.x the
// connection is closed after the answer, and its read deadline is brought
// to refuseGrace from now: after the handler returns, net/http still reads
// what is left of the body (up to 256 KiB) before closing, and without a
// deadline a client that announced a body and never sends it would hold
// the connection and its goroutine for good.
func refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
		// Not every ResponseWriter supports deadlines (tests' recorders).
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(refuseGrace))
	}
	httperr.Write(w, status, msg)
}
