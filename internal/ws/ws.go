// Package ws serves hub frames over WebSocket: one text message per batch.
//
// Each connection has exactly two goroutines, as gorilla/websocket requires:
// a reader that handles control frames (pong, close) and discards client
// messages, and a writer that owns every write (frames and pings), each with
// a deadline. Whichever ends first ends the other. Both are fresh goroutines
// (the handler returns after the upgrade, see Handler.Streams), and the
// connection borrows a write buffer from a shared pool only while it writes,
// so an idle client costs two small stacks and a socket.
package ws

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/ontime-rt/ontime/internal/httperr"
	"github.com/ontime-rt/ontime/internal/hub"
	"github.com/ontime-rt/ontime/internal/stream"
)

// Handler upgrades requests to WebSocket and streams one hub format.
type Handler struct {
	// Hub is the source of frames.
	Hub *hub.Hub
	// Format is the hub format sent, one text message per frame.
	Format string
	// SummaryFormat, when set, is sent instead to clients that ask for
	// ?events=0 (batches without their events).
	SummaryFormat string
	// Gate bounds the clients; when full, new clients get 503 with
	// Retry-After. Nil admits everyone.
	Gate *stream.Gate
	// Streams, when set, owns the upgraded connections: the handler returns
	// after the upgrade and the stream runs in goroutines of its own, so the
	// handler's stack is let go. Nil: the handler's goroutine streams.
	Streams *stream.Streams
	// AllowedOrigins lists origins (scheme://host[:port]) allowed besides
	// the server's own. "*" allows any. Requests without an Origin header
	// (non-browser clients) are allowed: Origin checks protect browsers.
	AllowedOrigins []string
	// WriteTimeout bounds every write; a client that cannot take a write in
	// that time is too slow and is disconnected. Default 5s.
	WriteTimeout time.Duration
	// PingInterval is the time between pings; a peer that does not answer
	// within two intervals is disconnected. Default 20s.
	PingInterval time.Duration
	// Logger reports failures. Default slog.Default().
	Logger *slog.Logger

	// writeBuffers is shared by all connections: each holds a buffer only
	// while it writes a message.
	writeBuffers sync.Pool
}

// readBufferSize is the connection's read buffer: clients only send
// control frames (at most 125 bytes of payload), and the messages they
// might send are read in pieces and discarded.
const readBufferSize = 512

// maxClientMessage bounds what a client may send; clients have nothing to
// say yet, so anything larger is a protocol violation. Text messages are
// read whole (to check their UTF-8), so this is also the reader's buffer.
const maxClientMessage = 4096

// sameOrigin reports whether origin names the host the request was sent to.
func sameOrigin(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

func (h *Handler) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || sameOrigin(r, origin) {
		return true
	}
	for _, o := range h.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

// ServeHTTP upgrades the connection and streams until either side goes or
// the hub closes. ?since=<epoch>-<seq> resumes after that position (see
// hub.ParseResume); a message of type "reset" precedes the first batch when
// it does not follow the client's position. Requests that are not upgrades
// get 426, disallowed origins 403, and a bad ?since= 400, all with a JSON
// error.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	if !websocket.IsWebSocketUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		httperr.Write(w, http.StatusUpgradeRequired, "this endpoint speaks WebSocket only: connect with a WebSocket client (for a plain HTTP stream use GET /api/stream)")
		return
	}
	if !h.originAllowed(r) {
		httperr.Write(w, http.StatusForbidden, "origin "+r.Header.Get("Origin")+" is not allowed: add it with --allowed-origins")
		return
	}
	resume, err := hub.ParseResume(r.URL.Query().Get("since"))
	if err != nil {
		httperr.Write(w, http.StatusBadRequest, "since: "+err.Error())
		return
	}
	format, err := stream.Format(r, h.Format, h.SummaryFormat)
	if err != nil {
		httperr.Write(w, http.StatusBadRequest, err.Error())
		return
	}
	leave, ok := stream.Admit(w, h.Gate, "WebSocket")
	if !ok {
		return
	}
	up := websocket.Upgrader{
		ReadBufferSize:  readBufferSize,
		WriteBufferPool: &h.writeBuffers,
		// The origin was checked above, with a JSON error for refusals.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			httperr.Write(w, status, "websocket upgrade failed: "+reason.Error())
		},
	}
	// Subscribed before the handshake completes: a client whose connection
	// is open misses no batch published after it.
	sub := h.Hub.Subscribe(resume)
	end := func() {
		sub.Close()
		leave()
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		end()
		log.Debug("websocket upgrade failed", "err", err)
		return
	}
	stream.LimitConnSendBuffer(conn.NetConn())
	if h.Streams == nil {
		defer end()
		h.serve(conn, sub, format, nil, log)
		return
	}
	if !h.Streams.Go(conn.NetConn(), func(stop <-chan struct{}) {
		defer end()
		h.serve(conn, sub, format, stop, log)
	}) {
		end() // shutting down: the connection is closed
	}
}

// resetMessage is the message that precedes a batch that does not follow
// the client's position: {"type":"reset","seq":N,"epoch":E,"reason":R},
// the position of that batch and why (a hub.Gap).
func resetMessage(first hub.Position, why hub.Gap) []byte {
	return fmt.Appendf(nil, `{"type":"reset","seq":%d,"epoch":%d,"reason":%q}`, first.Seq, first.Epoch, string(why))
}

// serve streams sub's frames to conn until either side goes, the hub closes
// or stop is closed.
func (h *Handler) serve(conn *websocket.Conn, sub *hub.Subscriber, format string, stop <-chan struct{}, log *slog.Logger) {
	writeTimeout := h.WriteTimeout
	if writeTimeout <= 0 {
		writeTimeout = 5 * time.Second
	}
	ping := h.PingInterval
	if ping <= 0 {
		ping = 20 * time.Second
	}
	// The request's context says nothing about a hijacked connection: the
	// hub closing is what ends streams, or the reader ending.
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		conn.SetReadLimit(maxClientMessage)
		_ = conn.SetReadDeadline(time.Now().Add(2 * ping))
		conn.SetPongHandler(func(string) error {
			return conn.SetReadDeadline(time.Now().Add(2 * ping))
		})
		for {
			kind, rd, err := conn.NextReader()
			if err != nil {
				// No pong within two ping intervals: the peer has stopped
				// reading (or vanished); that is a slow client too.
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					h.Hub.NoteSlow()
				}
				return
			}
			if kind != websocket.TextMessage {
				continue
			}
			// Client messages are ignored, but a text message must be
			// UTF-8 (RFC 6455 8.1), which gorilla does not check. The read
			// limit bounds the message.
			data, err := io.ReadAll(rd)
			if err != nil {
				return
			}
			if !utf8.Valid(data) {
				// WriteControl may run beside the writer's writes.
				_ = conn.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseInvalidFramePayloadData, "text message is not valid UTF-8"),
					time.Now().Add(writeTimeout))
				return
			}
		}
	}()

	pinger := time.NewTicker(ping)
	defer pinger.Stop()
	closeMsg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")
	err := func() error {
		for {
			select {
			case <-readDone:
				closeMsg = nil
				return nil
			case <-stop:
				return nil
			case <-pinger.C:
				if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
					return err
				}
				continue
			case <-sub.Ready():
			}
			frames, gap, err := sub.Take()
			if errors.Is(err, hub.ErrTooSlow) {
				closeMsg = websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "too slow: kept falling behind the stream")
				log.Info("websocket client too slow, disconnected", "remote", conn.RemoteAddr().String())
				return nil
			}
			if err != nil {
				return nil // hub closed: going away
			}
			// One deadline for everything taken: a client that reads just
			// fast enough for each message must not stretch a take of
			// MaxLag frames (and the frames it keeps alive) to MaxLag
			// times the timeout.
			_ = conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			if gap != hub.NoGap && len(frames) > 0 {
				// What follows does not continue from the client's
				// position: say so, as SSE's reset event does.
				if err := conn.WriteMessage(websocket.TextMessage, resetMessage(frames[0].Position(), gap)); err != nil {
					return err
				}
			}
			for _, f := range frames {
				data := f.Bytes(format)
				if data == nil {
					continue
				}
				if err := conn.WriteMessage(websocket.TextMessage, data); err != nil {
					return err
				}
			}
		}
	}()
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			h.Hub.NoteSlow()
		}
		log.Debug("websocket client gone", "err", err)
		closeMsg = nil
	}
	if closeMsg != nil {
		_ = conn.WriteControl(websocket.CloseMessage, closeMsg, time.Now().Add(writeTimeout))
	}
	conn.Close()
	<-readDone
}
