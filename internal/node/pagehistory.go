package node

import "github.com/ontime-rt/ontime/internal/history"

// pageHistory gives the page (web.History) the server's history: the same
// series and incidents GET /api/history and GET /api/incidents answer.
type pageHistory struct{ *history.History }
