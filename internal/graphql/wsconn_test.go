package graphql

import (
	"encoding/json"
	"reflect"
	"testing"
)

// msgType stands for gqlgen's message type names (a string type).
type msgType string

// protoMessage has the shape of gqlgen's graphql-transport-ws message.
type protoMessage struct {
	Payload json.RawMessage `json:"payload,omitempty"`
	ID      string          `json:"id,omitempty"`
	Type    msgType         `json:"type"`
}

func TestEncodeMessage(t *testing.T) {
	for _, m := range []*protoMessage{
		{Type: "next", ID: "1", Payload: json.RawMessage(`{"data":{"records":{"kind":"RECORDS","records":[{"id":"a","data":{"v":1}}]}}}`)},
		{Type: "connection_ack"},
		{Type: "error", ID: `we"ird\id` + "\u2028", Payload: json.RawMessage(`[{"message":"no"}]`)},
		{Type: "complete", ID: "x"},
	} {
		got, ok := encodeMessage(m)
		if !ok {
			t.Fatalf("%+v: not encoded", m)
		}
		want, _ := json.Marshal(m)
		var g, w any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%+v: %s is not JSON: %v", m, got, err)
		}
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("encodeMessage = %s, json.Marshal = %s", got, want)
		}
	}
	for _, v := range []any{nil, "text", struct{ Type string }{"x"}, &struct{ Payload string }{}} {
		if _, ok := encodeMessage(v); ok {
			t.Errorf("%#v: encoded, want the fallback", v)
		}
	}
}
