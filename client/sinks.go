package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// ListSourceKinds lists the source parts the server knows, with the JSON
// Schema of their settings (operation list-source-kinds).
func (c *Client) ListSourceKinds(ctx context.Context) ([]SourceKind, error) {
	var out struct {
		Kinds []SourceKind `json:"kinds"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/source-kinds"}, &out)
	return out.Kinds, err
}

// ListSinkKinds lists the kinds of sink the server offers (operation
// list-sink-kinds).
func (c *Client) ListSinkKinds(ctx context.Context) ([]SinkKind, error) {
	var out struct {
		Kinds []SinkKind `json:"kinds"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/sink-kinds"}, &out)
	return out.Kinds, err
}

// ListSinks lists a pipeline's sinks (operation list-sinks).
func (c *Client) ListSinks(ctx context.Context, pipelineID string) ([]Sink, error) {
	var out struct {
		Sinks []Sink `json:"sinks"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: pipelinePath(pipelineID, "/sinks")}, &out)
	return out.Sinks, err
}

// Sink returns one sink of a pipeline (operation get-sink).
func (c *Client) Sink(ctx context.Context, pipelineID, name string) (*Sink, error) {
	var out Sink
	if err := c.do(ctx, request{method: http.MethodGet, path: sinkPath(pipelineID, name, "")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateSink adds a sink to a pipeline (operation create-sink). The sink
// is a JSON object {"name": …, "enabled": …, "<kind>": {settings}}. A
// version above 0 is the pipeline version the change is based on.
func (c *Client) CreateSink(ctx context.Context, pipelineID string, sink json.RawMessage, version int) (*Sink, error) {
	var out Sink
	r := request{method: http.MethodPost, path: pipelinePath(pipelineID, "/sinks"), body: sink, header: ifMatch(version)}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateSink replaces a sink of a pipeline (operation update-sink).
func (c *Client) UpdateSink(ctx context.Context, pipelineID, name string, sink json.RawMessage, version int) (*Sink, error) {
	var out Sink
	r := request{method: http.MethodPut, path: sinkPath(pipelineID, name, ""), body: sink, header: ifMatch(version)}
	if err := c.do(ctx, r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteSink removes a sink from a pipeline (operation delete-sink).
func (c *Client) DeleteSink(ctx context.Context, pipelineID, name string, version int) error {
	return c.do(ctx, request{method: http.MethodDelete, path: sinkPath(pipelineID, name, ""), header: ifMatch(version)}, nil)
}

// Deliveries returns a page of a sink's deliveries, newest first
// (operation list-deliveries).
func (c *Client) Deliveries(ctx context.Context, pipelineID, sink string, q DeliveryQuery) (*DeliveryPage, error) {
	v := url.Values{}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	setPage(v, q.Limit, q.Cursor)
	var out DeliveryPage
	if err := c.do(ctx, request{method: http.MethodGet, path: sinkPath(pipelineID, sink, "/deliveries"), query: v}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Delivery returns one delivery (operation get-delivery).
func (c *Client) Delivery(ctx context.Context, pipelineID, sink, id string) (*Delivery, error) {
	var out Delivery
	if err := c.do(ctx, request{method: http.MethodGet, path: sinkPath(pipelineID, sink, "/deliveries/"+pathEscape(id))}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RetryDelivery tries a dead or failing delivery again now (operation
// retry-delivery).
func (c *Client) RetryDelivery(ctx context.Context, pipelineID, sink, id string) (*Delivery, error) {
	var out Delivery
	if err := c.do(ctx, request{method: http.MethodPost, path: sinkPath(pipelineID, sink, "/deliveries/"+pathEscape(id)+"/retry")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// StartReplay delivers a time range of records to a sink again
// (operation start-replay).
func (c *Client) StartReplay(ctx context.Context, pipelineID, sink string, r ReplayRequest) (*Replay, error) {
	var out Replay
	if err := c.do(ctx, request{method: http.MethodPost, path: sinkPath(pipelineID, sink, "/replays"), body: r}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListReplays lists a sink's replays (operation list-replays).
func (c *Client) ListReplays(ctx context.Context, pipelineID, sink string) ([]Replay, error) {
	var out struct {
		Replays []Replay `json:"replays"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: sinkPath(pipelineID, sink, "/replays")}, &out)
	return out.Replays, err
}

// Replay returns one replay (operation get-replay).
func (c *Client) Replay(ctx context.Context, pipelineID, sink, id string) (*Replay, error) {
	var out Replay
	if err := c.do(ctx, request{method: http.MethodGet, path: sinkPath(pipelineID, sink, "/replays/"+pathEscape(id))}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func sinkPath(pipelineID, sink, rest string) string {
	return pipelinePath(pipelineID, "/sinks/"+pathEscape(sink)+rest)
}

func ifMatch(version int) http.Header {
	if version <= 0 {
		return nil
	}
	return http.Header{"If-Match": {strconv.Quote(strconv.Itoa(version))}}
}
