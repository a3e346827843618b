package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	coderws "github.com/coder/websocket"
)

// wsImplementation is gqlgen's adapter of github.com/coder/websocket
// (transport.CoderWebsocketImplementation, MIT licence, gqlgen authors),
// with one change: WriteJSON writes a protocol message whose payload
// gqlgen has already encoded without encoding the payload again. gqlgen
// hands it a struct {Payload json.RawMessage; ID string; Type <string>},
// and encoding/json would copy and re-validate the whole payload — for a
// subscription, once per subscriber and event, the largest cost after the
// executor itself.
type wsImplementation struct {
	AcceptOptions coderws.AcceptOptions
}

var _ transport.WebsocketImplementation = wsImplementation{}

// Accept implements transport.WebsocketImplementation.
func (u wsImplementation) Accept(w http.ResponseWriter, r *http.Request, options transport.WebsocketAcceptOptions) (transport.WebsocketConn, error) {
	for key, values := range options.ResponseHeader {
		for _, value := range values {
			w.Header().Add(key, value)
		}
	}
	acceptOptions := u.AcceptOptions
	for _, p := range options.Subprotocols {
		if !slices.Contains(acceptOptions.Subprotocols, p) {
			acceptOptions.Subprotocols = append(acceptOptions.Subprotocols, p)
		}
	}
	conn, err := coderws.Accept(w, r, &acceptOptions)
	if err != nil {
		return nil, err
	}
	return &wsConn{conn: conn}, nil
}

type wsConn struct {
	conn *coderws.Conn

	mu                sync.Mutex
	readDeadlineTimer *time.Timer
	closeHandshakeCh  chan struct{}
}

var (
	_ transport.WebsocketConn          = (*wsConn)(nil)
	_ transport.WebsocketReadLimiter   = (*wsConn)(nil)
	_ transport.WebsocketReadDeadliner = (*wsConn)(nil)
)

func (c *wsConn) Close() error {
	c.clearReadDeadlineTimer()
	c.mu.Lock()
	handshake := c.closeHandshakeCh != nil
	c.mu.Unlock()
	// A close handshake started by WriteClose owns closing the connection.
	if handshake {
		return nil
	}
	return c.conn.CloseNow()
}

func (c *wsConn) NextReader() (int, io.Reader, error) {
	typ, data, err := c.conn.Read(context.Background())
	if err != nil {
		switch coderws.CloseStatus(err) {
		case coderws.StatusNormalClosure, coderws.StatusNoStatusRcvd:
			return int(typ), nil, transport.ErrWebsocketClosed
		}
		return int(typ), nil, err
	}
	return int(typ), bytes.NewReader(data), nil
}

func (c *wsConn) WriteJSON(v any) error {
	data, ok := encodeMessage(v)
	if !ok {
		var err error
		if data, err = json.Marshal(v); err != nil {
			return err
		}
	}
	return c.conn.Write(context.Background(), coderws.MessageText, data)
}

// encodeMessage writes gqlgen's protocol message {Payload, ID, Type} as
// {"id":…,"type":…,"payload":…} (id and payload left out when empty, as
// their omitempty tags say), with the payload as it is: gqlgen encoded it
// with encoding/json. ok is false for any other value.
func encodeMessage(v any) ([]byte, bool) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	rv = rv.Elem()
	payload, id, typ := rv.FieldByName("Payload"), rv.FieldByName("ID"), rv.FieldByName("Type")
	if !payload.IsValid() || payload.Type() != reflect.TypeFor[json.RawMessage]() ||
		!id.IsValid() || id.Kind() != reflect.String || !typ.IsValid() || typ.Kind() != reflect.String {
		return nil, false
	}
	raw := payload.Bytes()
	out := make([]byte, 0, len(raw)+len(id.String())+48)
	out = append(out, '{')
	if s := id.String(); s != "" {
		q, err := json.Marshal(s)
		if err != nil {
			return nil, false
		}
		out = append(append(append(out, `"id":`...), q...), ',')
	}
	q, err := json.Marshal(typ.String())
	if err != nil {
		return nil, false
	}
	out = append(append(out, `"type":`...), q...)
	if len(raw) > 0 {
		out = append(append(out, `,"payload":`...), raw...)
	}
	return append(out, '}'), true
}

func (c *wsConn) WriteClose(code int, message string) error {
	c.clearReadDeadlineTimer()
	// coder/websocket's Close waits up to 5 s for the peer's close frame:
	// run it in the background so the transport's teardown does not wait.
	c.mu.Lock()
	if c.closeHandshakeCh != nil {
		c.mu.Unlock()
		return nil
	}
	done := make(chan struct{})
	c.closeHandshakeCh = done
	c.mu.Unlock()
	go func() {
		defer close(done)
		_ = c.conn.Close(coderws.StatusCode(code), message)
	}()
	return nil
}

func (c *wsConn) Subprotocol() string { return c.conn.Subprotocol() }

func (c *wsConn) SetReadLimit(limit int64) { c.conn.SetReadLimit(limit) }

func (c *wsConn) SetReadDeadline(deadline time.Time) error {
	closeNow := false
	c.mu.Lock()
	c.stopReadDeadlineTimerLocked()
	if !deadline.IsZero() {
		if d := time.Until(deadline); d <= 0 {
			closeNow = true
		} else {
			c.readDeadlineTimer = time.AfterFunc(d, func() { _ = c.conn.CloseNow() })
		}
	}
	c.mu.Unlock()
	if closeNow {
		return c.conn.CloseNow()
	}
	return nil
}

func (c *wsConn) clearReadDeadlineTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopReadDeadlineTimerLocked()
}

func (c *wsConn) stopReadDeadlineTimerLocked() {
	if c.readDeadlineTimer != nil {
		c.readDeadlineTimer.Stop()
		c.readDeadlineTimer = nil
	}
}
