package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/httperr"
)

// reloadConfig answers POST /api/config/reload: the configuration file is
// read again and its live settings applied, all or nothing. 200 with what
// changed and what takes a restart; 422 with every problem, each with the
// file's line, when nothing changed; 409 without a file. Cross-site
// browser requests are refused (net/http's CrossOriginProtection): the
// request has no body whose type would make a browser ask first, and a
// loopback server without a token takes writes from this machine's
// browsers.
func reloadConfig(reload func() (config.Reload, error)) http.Handler {
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		httperr.Write(w, http.StatusForbidden, "cross-site requests may not reload the configuration")
	}))
	return csrf.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r, err := reload()
		switch {
		case errors.Is(err, config.ErrNoFile):
			httperr.Write(w, http.StatusConflict, err.Error())
		case err != nil:
			var msgs []string
			for _, e := range config.Flatten(err) {
				msgs = append(msgs, e.Error())
			}
			httperr.Write(w, http.StatusUnprocessableEntity, "configuration not reloaded, nothing changed: "+strings.Join(msgs, "; "))
		default:
			writeJSON(w, http.StatusOK, r)
		}
	}))
}
