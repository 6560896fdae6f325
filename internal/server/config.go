package server

import (
	"errors"
	"mime"
	"net/http"
	"strings"

	json "github.com/go-json-experiment/json/v1"

	"github.com/ontime-rt/ontime/internal/config"
	"github.com/ontime-rt/ontime/internal/httperr"
)

// Configurator reads and changes the live settings; *node.Node implements it.
type Configurator interface {
	Settings() config.Settings
	Apply(p config.Patch) (config.Settings, error)
}

// configError is a 400 answer naming each bad setting, so a UI can show
// the message next to its field.
type configError struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields,omitempty"`
}

func getConfig(c Configurator) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, c.Settings())
	}
}

// getSchema answers GET /api/config/schema: every setting as package
// config describes it, for clients that build their settings form from it.
func getSchema(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, config.TheSchema())
}

func patchConfig(c Configurator) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !isJSON(r) {
			httperr.Write(w, http.StatusUnsupportedMediaType, "send the settings as application/json")
			return
		}
		p, err := config.DecodePatch(r.Body)
		if err == nil {
			var s config.Settings
			if s, err = c.Apply(p); err == nil {
				writeJSON(w, http.StatusOK, s)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(configErrorOf(err))
	}
}

// configErrorOf puts each *config.FieldError in err under its field, and
// every problem, in the order found, in the message.
func configErrorOf(err error) configError {
	var body configError
	var msgs []string
	for _, e := range config.Flatten(err) {
		msgs = append(msgs, e.Error())
		var fe *config.FieldError
		if errors.As(e, &fe) {
			if body.Fields == nil {
				body.Fields = map[string]string{}
			}
			body.Fields[fe.Field] = fe.Msg
		}
	}
	body.Error = strings.Join(msgs, "; ")
	if body.Fields != nil {
		body.Error = "invalid settings: " + body.Error
	}
	return body
}

func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}
