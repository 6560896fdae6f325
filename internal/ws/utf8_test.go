package ws

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ontime-rt/ontime/internal/stream"
)

// A text message that is not valid UTF-8 ends the connection with close
// code 1007 (RFC 6455 7.4.1); a valid one, or a binary one, is ignored.
func TestInvalidUTF8TextCloses1007(t *testing.T) {
	h := newTestHub(t)
	defer h.Close()
	var streams stream.Streams
	srv := httptest.NewServer(&Handler{Hub: h, Format: "json", Streams: &streams})
	defer srv.Close()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range []struct {
		kind int
		data []byte
	}{{websocket.TextMessage, []byte("héllo")}, {websocket.BinaryMessage, []byte{0xff, 0xfe}}, {websocket.TextMessage, []byte{'o', 'k', 0xc3, 0x28}}} {
		if err := c.WriteMessage(m.kind, m.data); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := c.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != websocket.CloseInvalidFramePayloadData {
				t.Fatalf("closed with %d %q, want 1007", ce.Code, ce.Text)
			}
			return
		}
		if err != nil {
			t.Fatalf("read: %v, want a 1007 close", err)
		}
	}
}
