// Package httperr writes the JSON error responses every ontime endpoint
// shares: {"error": "message"} with a matching HTTP status.
package httperr

import (
	"net/http"

	json "github.com/go-json-experiment/json/v1"
)

// Body is the shape of every error response.
type Body struct {
	Error string `json:"error"`
}

// Write sends status with {"error": msg}.
func Write(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// The client may be gone; there is no one left to tell.
	_ = json.NewEncoder(w).Encode(Body{Error: msg})
}
