package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// unmatchedRoute labels requests no route matched (404s): their paths are
// arbitrary, so they must not become label values.
const unmatchedRoute = "unmatched"

// Middleware measures every request's duration by route pattern, method and
// status code into ontime_http_request_duration_seconds. Install it with Use
// on the root chi router, first, so it also sees the 500s the recoverer
// writes: chi fills in the route pattern while routing, so it is read after
// the handler returns, and chi's routing context is recycled once the
// router's ServeHTTP returns, so wrapping the router from outside would see
// no pattern. Paths in Config.SkipRoutes (streams) are passed through
// untouched: no timing, and the ResponseWriter is not even wrapped.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := m.skip[r.URL.Path]; ok {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		// chi's wrapper keeps http.Flusher, http.Hijacker and io.ReaderFrom
		// when the underlying writer has them, and Unwrap for
		// http.ResponseController.
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		returned := false
		// Deferred so a request whose handler panics is still measured; the
		// panic itself goes on untouched to whoever recovers it.
		defer func() {
			route := chi.RouteContext(r.Context()).RoutePattern() // nil-safe
			if _, ok := m.skip[route]; ok {
				return
			}
			if route == "" {
				route = unmatchedRoute
			}
			m.requests.WithLabelValues(route, methodLabel(r.Method), codeLabel(ww.Status(), returned)).
				Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(ww, r)
		returned = true
	})
}

// methodLabel bounds the method label: clients may send any token as a
// method, and each would be a new series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// codeLabel is the status the client got. A handler that wrote nothing
// gets net/http's implicit 200; one that panicked before writing gets a 500
// (the recoverer's, or a dropped connection).
func codeLabel(status int, returned bool) string {
	switch {
	case status != 0:
		return strconv.Itoa(status)
	case returned:
		return "200"
	}
	return "500"
}
