package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"
)

// gqlRecordsEvent is one event of a GraphQL records subscription, with
// the seq and batch fields of its records and when it was read.
type gqlRecordsEvent struct {
	kind          string
	seqs, batches []int
	at            time.Time
}

// subscribeRecords subscribes to a pipeline's records over GraphQL
// (graphql-transport-ws) on base, authenticated with token; the channel
// closes when the subscription ends.
func subscribeRecords(t *testing.T, base, token string, id uuid.UUID) <-chan gqlRecordsEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(64 << 20)
	type message struct {
		Type    string          `json:"type"`
		ID      string          `json:"id,omitempty"`
		Payload json.RawMessage `json:"payload,omitempty"`
	}
	if err := wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"token": token}}); err != nil {
		t.Fatal(err)
	}
	var ack message
	if err := wsjson.Read(ctx, c, &ack); err != nil || ack.Type != "connection_ack" {
		t.Fatalf("graphql-transport-ws init: %v %+v", err, ack)
	}
	if err := wsjson.Write(ctx, c, map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{
		"query":     `subscription($id: ID!) { records(pipelineId: $id) { kind records } }`,
		"variables": map[string]any{"id": id},
	}}); err != nil {
		t.Fatal(err)
	}
	events := make(chan gqlRecordsEvent, 4096)
	go func() {
		defer close(events)
		defer c.CloseNow()
		for {
			var m message
			if err := wsjson.Read(ctx, c, &m); err != nil {
				return
			}
			switch m.Type {
			case "ping":
				_ = wsjson.Write(ctx, c, map[string]any{"type": "pong"})
				continue
			case "next":
			default:
				return // error or complete
			}
			var p struct {
				Data struct {
					Records struct {
						Kind    string          `json:"kind"`
						Records json.RawMessage `json:"records"`
					} `json:"records"`
				} `json:"data"`
			}
			if json.Unmarshal(m.Payload, &p) != nil {
				return
			}
			raw := p.Data.Records.Records
			var s string
			if json.Unmarshal(raw, &s) == nil {
				raw = json.RawMessage(s) // the JSON scalar as a string
			}
			var recs []struct {
				Data struct {
					Seq   int `json:"seq"`
					Batch int `json:"batch"`
				} `json:"data"`
			}
			_ = json.Unmarshal(raw, &recs)
			ev := gqlRecordsEvent{kind: p.Data.Records.Kind, at: time.Now()}
			for _, r := range recs {
				ev.seqs = append(ev.seqs, r.Data.Seq)
				ev.batches = append(ev.batches, r.Data.Batch)
			}
			events <- ev
		}
	}()
	return events
}

// nextGQLEvent returns the next subscription event, failing after 10 s.
func nextGQLEvent(t *testing.T, events <-chan gqlRecordsEvent) gqlRecordsEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the GraphQL subscription ended")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no GraphQL event within 10s")
	}
	return gqlRecordsEvent{}
}
