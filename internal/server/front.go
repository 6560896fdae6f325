package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// ParsePublicURL checks the origin users type to reach the server
// (scheme://host[:port], http or https, no path beyond "/") and returns it
// in the form browsers send as Origin: lower-case, no trailing slash, no
// default port.
func ParsePublicURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: want an http:// or https:// URL", raw)
	}
	if u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("%q: want scheme://host[:port]", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q: want the origin only (scheme://host[:port]), without a path, query or fragment: ontime is served at the root", raw)
	}
	host, port := u.Hostname(), u.Port()
	if port != "" {
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("%q: bad port %q", raw, port)
		}
	}
	if port == defaultPort(u.Scheme) {
		port = ""
	}
	out := &url.URL{Scheme: u.Scheme, Host: strings.ToLower(host)}
	if strings.Contains(host, ":") {
		out.Host = "[" + out.Host + "]"
	}
	if port != "" {
		out.Host += ":" + port
	}
	return out, nil
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// ParseCIDRs reads a comma-separated list of CIDR prefixes (a bare address
// stands for itself: /32 or /128).
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var errs []error
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				errs = append(errs, fmt.Errorf("%q is not an address or CIDR prefix (like 10.0.0.0/8)", f))
				continue
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("%q is not a CIDR prefix (like 10.0.0.0/8)", f))
			continue
		}
		out = append(out, p.Masked())
	}
	return out, errors.Join(errs...)
}

// proxied tells whether the request says it was forwarded by a proxy.
// A client could add these headers itself; that only makes its writes need a
// token, which is the safe direction.
func proxied(r *http.Request) bool {
	h := r.Header
	return h.Get("Forwarded") != "" || h.Get("X-Forwarded-For") != "" || h.Get("X-Real-Ip") != ""
}

// peerAddr is the address of the connection's peer, or false when
// RemoteAddr is not an address (a test's request, a Unix socket).
func peerAddr(remote string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(remote)
	return a.Unmap(), err == nil
}

// trusted tells whether a is one of the prefixes.
func trusted(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// realClient rewrites RemoteAddr to the client's address when the peer is a
// trusted proxy, so that rate limits and logs key on the real client: the
// right-most address of X-Forwarded-For (or Forwarded's for=) that is not a
// trusted proxy itself, else X-Real-IP. Headers from any other peer are not
// believed. The port of a rewritten address is 0.
func realClient(trust []netip.Prefix) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if len(trust) == 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			peer, ok := peerAddr(r.RemoteAddr)
			if !ok || !trusted(peer, trust) {
				next.ServeHTTP(w, r)
				return
			}
			if c, ok := forwardedClient(r.Header, trust); ok {
				r2 := r.Clone(r.Context())
				r2.RemoteAddr = netip.AddrPortFrom(c, 0).String()
				r = r2
			}
			next.ServeHTTP(w, r)
		})
	}
}

// forwardedClient reads the client's address from the forwarding headers,
// walking the chain from the right (the hop nearest to us) past trusted
// proxies.
func forwardedClient(h http.Header, trust []netip.Prefix) (netip.Addr, bool) {
	var chain []string
	for _, v := range h.Values("X-Forwarded-For") {
		chain = append(chain, strings.Split(v, ",")...)
	}
	if len(chain) == 0 {
		for _, v := range h.Values("Forwarded") {
			for _, elem := range strings.Split(v, ",") {
				for _, pair := range strings.Split(elem, ";") {
					k, val, _ := strings.Cut(strings.TrimSpace(pair), "=")
					if strings.EqualFold(k, "for") {
						val = strings.Trim(val, `"`)
						if strings.HasPrefix(val, "[") { // [v6]:port
							val, _, _ = strings.Cut(val[1:], "]")
						} else if host, _, err := net.SplitHostPort(val); err == nil {
							val = host
						}
						chain = append(chain, val)
					}
				}
			}
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(chain[i]))
		if err != nil {
			return netip.Addr{}, false // a hop we cannot read: believe nothing beyond it
		}
		if a = a.Unmap(); !trusted(a, trust) || i == 0 {
			return a, true
		}
	}
	if a, err := netip.ParseAddr(strings.TrimSpace(h.Get("X-Real-Ip"))); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

// hostCheck refuses requests whose Host is not one of the server's own
// names, with 421: a page of another site that rebinds its DNS name to this
// server's address (DNS rebinding) sends its own name as Host (and as
// Origin), and must neither change state nor read what the server shows.
//
// The server's own names are the address the connection came in on
// (host:port as the client dialled it: the listen address, or this
// interface's address when listening on all), localhost, 127.0.0.1 and
// [::1] on that port, the other names given (the machine's hostname) on
// that port, and the public URL's host. A request without a local address
// in its context (served outside net/http's server, as in tests) is not
// checked.
func hostCheck(public *url.URL, names []string) func(http.Handler) http.Handler {
	own := make([]string, 0, len(names))
	for _, n := range names {
		if n = strings.ToLower(strings.TrimSuffix(n, ".")); n != "" {
			own = append(own, n)
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !ownHost(r, public, own) {
				refuse(w, r, http.StatusMisdirectedRequest, fmt.Sprintf("host %q is not this server's name: use the address it listens on, localhost, its hostname, or its public URL (--public-url)", r.Host))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func ownHost(r *http.Request, public *url.URL, names []string) bool {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return true
	}
	host, port := splitHost(r.Host)
	if public != nil {
		// The proxy in front may speak another scheme to us than the
		// browser to it: compare with the public URL's own default port.
		ph, pp := splitHost(public.Host)
		if host == ph && (port == pp || pp == "" && port == defaultPort(public.Scheme)) {
			return true
		}
	}
	if port == "" {
		port = "80"
		if r.TLS != nil {
			port = "443"
		}
	}
	lh, lp, err := net.SplitHostPort(local.String())
	if err != nil || port != lp {
		return false
	}
	if a, err := netip.ParseAddr(lh); err == nil {
		lh = a.Unmap().String()
	}
	switch host {
	case "localhost", "127.0.0.1", "::1", strings.ToLower(lh):
		return true
	}
	return slices.Contains(names, host)
}

// splitHost splits a Host header into a lower-case host (IPv6 without
// brackets) and its port, "" when absent.
func splitHost(hostPort string) (host, port string) {
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		host, port = strings.Trim(hostPort, "[]"), ""
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.Unmap().String()
	}
	return host, port
}

// clientKey is what rate limits and the concurrency cap count per: the
// client's address without its port; for IPv6, its /64 prefix, the least
// a site is given (one host may hold a whole /64, and would otherwise have
// 2^64 addresses to spread its requests over).
func clientKey(r *http.Request) string {
	a, ok := peerAddr(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}
