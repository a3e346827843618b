package graphql_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// wsMessage is a message of the graphql-transport-ws protocol.
type wsMessage struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsClient is a graphql-transport-ws client.
type wsClient struct {
	c       *websocket.Conn
	pending map[string][]wsMessage // read for other operations
}

// dialWS opens a socket to /graphql and sends connection_init with
// payload; it returns the client once acknowledged, or the close error.
func dialWS(ctx context.Context, url string, header http.Header, payload map[string]any) (*wsClient, error) {
	c, _, err := websocket.Dial(ctx, strings.Replace(url, "http", "ws", 1)+"/graphql", &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"}, HTTPHeader: header,
	})
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(16 << 20)
	w := &wsClient{c: c, pending: map[string][]wsMessage{}}
	if err := wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": payload}); err != nil {
		c.CloseNow()
		return nil, err
	}
	for {
		m, err := w.read(ctx)
		if err != nil {
			c.CloseNow()
			return nil, err
		}
		switch m.Type {
		case "connection_ack":
			return w, nil
		case "ping":
			_ = wsjson.Write(ctx, c, map[string]any{"type": "pong"})
		default:
			c.CloseNow()
			return nil, errors.New("unexpected message " + m.Type)
		}
	}
}

func (w *wsClient) close() { w.c.CloseNow() }

func (w *wsClient) read(ctx context.Context) (wsMessage, error) {
	var m wsMessage
	err := wsjson.Read(ctx, w.c, &m)
	return m, err
}

// subscribe starts an operation with id.
func (w *wsClient) subscribe(ctx context.Context, id, query string, vars map[string]any) error {
	return wsjson.Write(ctx, w.c, map[string]any{"type": "subscribe", "id": id,
		"payload": map[string]any{"query": query, "variables": vars}})
}

// next returns the next message of operation id other than pings.
func (w *wsClient) next(ctx context.Context, id string) (wsMessage, error) {
	if q := w.pending[id]; len(q) > 0 {
		w.pending[id] = q[1:]
		return q[0], nil
	}
	for {
		m, err := w.read(ctx)
		if err != nil {
			return m, err
		}
		switch {
		case m.Type == "ping":
			_ = wsjson.Write(ctx, w.c, map[string]any{"type": "pong"})
		case m.ID == id:
			return m, nil
		default:
			w.pending[m.ID] = append(w.pending[m.ID], m)
		}
	}
}

// nextData returns the data of the next "next" message of operation id
// under field, failing on an error or the end of the operation.
func (w *wsClient) nextData(t testing.TB, ctx context.Context, id, field string) map[string]any {
	t.Helper()
	m, err := w.next(ctx, id)
	if err != nil {
		t.Fatalf("subscription %s: %v", id, err)
	}
	if m.Type != "next" {
		t.Fatalf("subscription %s: %s %s", id, m.Type, m.Payload)
	}
	var p struct {
		Data   map[string]map[string]any `json:"data"`
		Errors []gqlError                `json:"errors"`
	}
	if err := json.Unmarshal(m.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Errors) > 0 {
		t.Fatalf("subscription %s: errors %+v", id, p.Errors)
	}
	return p.Data[field]
}

// subscriptionError returns the code of the error ending operation id.
func (w *wsClient) subscriptionError(t testing.TB, ctx context.Context, id string) gqlError {
	t.Helper()
	m, err := w.next(ctx, id)
	if err != nil {
		t.Fatalf("subscription %s: %v", id, err)
	}
	switch m.Type {
	case "error":
		var errs []gqlError
		if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) == 0 {
			t.Fatalf("subscription %s: error payload %s", id, m.Payload)
		}
		return errs[0]
	case "next":
		var p struct {
			Errors []gqlError `json:"errors"`
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil || len(p.Errors) == 0 {
			t.Fatalf("subscription %s: want an error, got %s", id, m.Payload)
		}
		return p.Errors[0]
	}
	t.Fatalf("subscription %s: want an error, got %s %s", id, m.Type, m.Payload)
	return gqlError{}
}

// closeStatus is the close code of err, or -1.
func closeStatus(err error) websocket.StatusCode { return websocket.CloseStatus(err) }

var _ = time.Second
