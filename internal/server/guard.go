package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/ontime-rt/ontime/internal/httperr"
)

// WriteGuard protects the routes that change state (ingest, settings):
// an optional bearer token, a refusal of every write when the server is
// reachable from other machines without a token, and a request rate limit
// per client address.
type WriteGuard struct {
	// Token, when set, must be presented as "Authorization: Bearer <token>"
	// (or, for the HTML forms, a "token" form field).
	Token string
	// Exposed tells that the server listens on a non-loopback address;
	// without a Token, writes are then refused with 403.
	Exposed bool
	// Rate is the writes per second allowed per client address, with a
	// burst of twice that. Zero or less means no limit.
	Rate float64
	// Now is the clock of the rate limiter. Default time.Now.
	Now func() time.Time

	once     sync.Once
	hash     [32]byte
	mu       sync.Mutex
	limiters map[string]*clientLimit
	swept    time.Time
}

type clientLimit struct {
	lim  *rate.Limiter
	seen time.Time
}

// maxFormBytes bounds a settings form read by the guard.
const maxFormBytes = 16 << 10

// maxTrackedClients bounds the per-address limiters; idle ones are swept
// when it is reached, and beyond it new addresses share one limiter.
const maxTrackedClients = 10000

func (g *WriteGuard) init() {
	g.once.Do(func() {
		g.hash = sha256.Sum256([]byte(g.Token))
		g.limiters = make(map[string]*clientLimit)
		if g.Now == nil {
			g.Now = time.Now
		}
	})
}

// authorized compares in constant time (of hashes, so the token's length
// leaks nothing either).
func (g *WriteGuard) authorized(r *http.Request) bool {
	presented := ""
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		presented = strings.TrimSpace(h[7:])
	} else if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		// The HTML form carries the token as a field. Bound the body first:
		// parsing it here would otherwise allow net/http's 10 MB default.
		r.Body = http.MaxBytesReader(nil, r.Body, maxFormBytes)
		presented = r.PostFormValue("token")
	}
	if presented == "" {
		return false
	}
	sum := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(sum[:], g.hash[:]) == 1
}

func (g *WriteGuard) allow(r *http.Request) (bool, time.Duration) {
	if g.Rate <= 0 {
		return true, 0
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	now := g.Now()
	g.mu.Lock()
	c, ok := g.limiters[host]
	if !ok {
		if len(g.limiters) >= maxTrackedClients && now.Sub(g.swept) > time.Second {
			for k, v := range g.limiters {
				if now.Sub(v.seen) > time.Minute {
					delete(g.limiters, k)
				}
			}
			g.swept = now
		}
		if len(g.limiters) >= maxTrackedClients {
			host = "" // everyone else shares one limiter
			c = g.limiters[host]
		}
		if c == nil {
			c = &clientLimit{lim: rate.NewLimiter(rate.Limit(g.Rate), max(1, int(math.Ceil(2*g.Rate))))}
			g.limiters[host] = c
		}
	}
	c.seen = now
	res := c.lim.ReserveN(now, 1)
	delay := res.DelayFrom(now)
	if delay > 0 {
		res.CancelAt(now)
	}
	g.mu.Unlock()
	return delay == 0, delay
}

// Wrap guards next. Order: the exposure rule, then the token, then the
// rate limit, so refused requests change nothing and cost little.
func (g *WriteGuard) Wrap(next http.Handler) http.Handler {
	g.init()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case g.Token == "" && g.Exposed:
			httperr.Write(w, http.StatusForbidden, "writes are disabled: this server listens on a non-loopback address without a token; start it with --token (or ONTIME_TOKEN) to allow them")
			return
		case g.Token != "" && !g.authorized(r):
			w.Header().Set("WWW-Authenticate", `Bearer realm="ontime"`)
			httperr.Write(w, http.StatusUnauthorized, "missing or wrong bearer token: send Authorization: Bearer <token>")
			return
		}
		if ok, delay := g.allow(r); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(delay.Seconds()))))
			httperr.Write(w, http.StatusTooManyRequests, fmt.Sprintf("too many writes from this address (limit %g/s): retry later", g.Rate))
			return
		}
		next.ServeHTTP(w, r)
	})
}
