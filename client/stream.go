package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Event types of a pipeline's live stream.
const (
	// EventRecent carries the cached recent records, oldest first: on
	// connect and again after EventLagged. It replaces what the reader
	// holds.
	EventRecent = "recent"
	// EventRecords carries one committed batch.
	EventRecords = "records"
	// EventLagged says batches were dropped because the reader was slow;
	// an EventRecent follows.
	EventLagged = "lagged"
	// EventControl reports a change of the pipeline: paused, resumed,
	// updated or deleted. The stream ends after deleted.
	EventControl = "control"
)

// StreamEvent is one event of a pipeline's live stream.
type StreamEvent struct {
	// Type is one of EventRecent, EventRecords, EventLagged, EventControl.
	Type string `json:"type"`
	// Pipeline is the pipeline's id (recent, records).
	Pipeline string `json:"pipeline,omitempty"`
	// Version is the pipeline version that produced a batch.
	Version int64 `json:"version,omitempty"`
	// Records are the records of recent and records events.
	Records []Record `json:"records,omitempty"`
	// Rejected counts the records of a batch that failed mapping or
	// validation.
	Rejected int `json:"rejected,omitempty"`
	// Dropped is how many batches a lagged event says were lost.
	Dropped int `json:"dropped,omitempty"`
	// Control is the change a control event reports.
	Control *Control `json:"control,omitempty"`
}

// Control is the data of a control event.
type Control struct {
	Event    string `json:"event"`
	Pipeline string `json:"pipeline"`
	Version  int    `json:"version,omitempty"`
}

// Stream is an open live stream. Next returns its events; Close ends it.
type Stream struct {
	body io.ReadCloser
	r    *bufio.Reader
}

// StreamRecords opens a pipeline's live stream (operation
// stream-records). The caller reads it with Next and closes it.
func (c *Client) StreamRecords(ctx context.Context, pipelineID string) (*Stream, error) {
	r := request{method: http.MethodGet, path: pipelinePath(pipelineID, "/stream"),
		header: http.Header{"Accept": {"text/event-stream"}}}
	req, err := c.newRequest(ctx, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", c.base.Host, unwrapURLError(err))
	}
	if res.StatusCode >= 300 {
		defer res.Body.Close()
		return nil, decodeError(res)
	}
	return &Stream{body: res.Body, r: bufio.NewReaderSize(res.Body, 64<<10)}, nil
}

// Next returns the next event, skipping heartbeats. It returns io.EOF when
// the server ends the stream.
func (s *Stream) Next() (StreamEvent, error) {
	var event string
	var data strings.Builder
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && line == "" {
				return StreamEvent{}, io.EOF
			}
			if !errors.Is(err, io.EOF) {
				return StreamEvent{}, fmt.Errorf("read the live stream: %w", err)
			}
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if event == "" && data.Len() == 0 {
				if err != nil {
					return StreamEvent{}, io.EOF
				}
				continue // a heartbeat's end
			}
			return parseEvent(event, data.String())
		case strings.HasPrefix(line, ":"):
			// a comment: heartbeat
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
		if err != nil {
			return StreamEvent{}, io.EOF
		}
	}
}

// Close ends the stream.
func (s *Stream) Close() error { return s.body.Close() }

// parseEvent decodes one event's data.
func parseEvent(event, data string) (StreamEvent, error) {
	ev := StreamEvent{Type: event}
	var err error
	switch event {
	case EventRecent, EventRecords:
		var b struct {
			Pipeline string   `json:"pipeline"`
			Version  int64    `json:"version"`
			Rejected int      `json:"rejected"`
			Records  []Record `json:"records"`
		}
		err = json.Unmarshal([]byte(data), &b)
		ev.Pipeline, ev.Version, ev.Rejected, ev.Records = b.Pipeline, b.Version, b.Rejected, b.Records
	case EventLagged:
		var b struct {
			Dropped int `json:"dropped"`
		}
		err = json.Unmarshal([]byte(data), &b)
		ev.Dropped = b.Dropped
	case EventControl:
		ev.Control = &Control{}
		err = json.Unmarshal([]byte(data), ev.Control)
		ev.Pipeline = ev.Control.Pipeline
	}
	if err != nil {
		return ev, fmt.Errorf("decode a %s event of the live stream: %w", event, err)
	}
	return ev, nil
}

// FollowOptions tune Follow.
type FollowOptions struct {
	// MinBackoff and MaxBackoff bound the wait before reconnecting after
	// the connection broke: 500 ms and 30 s when zero.
	MinBackoff, MaxBackoff time.Duration
	// OnReconnect, when set, is told of every broken connection before
	// the wait.
	OnReconnect func(err error, wait time.Duration)
}

// Follow reads a pipeline's live stream and calls fn with every event,
// reconnecting with backoff when the connection breaks. On reconnect the
// first event is EventRecent again; records carry ids to tell those seen
// before. Follow returns nil when the pipeline is deleted, ctx's error
// when ctx ends, fn's error when fn fails, and an *Error when the server
// refuses the stream (no such pipeline, no access), which does not heal by
// reconnecting.
func (c *Client) Follow(ctx context.Context, pipelineID string, o FollowOptions, fn func(StreamEvent) error) error {
	if o.MinBackoff <= 0 {
		o.MinBackoff = 500 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	wait := o.MinBackoff
	for {
		s, err := c.StreamRecords(ctx, pipelineID)
		if err == nil {
			err = follow(s, fn, &wait, o.MinBackoff)
			if err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.Status < 500 {
			return err
		}
		var fnErr callbackError
		if errors.As(err, &fnErr) {
			return fnErr.err
		}
		if o.OnReconnect != nil {
			o.OnReconnect(err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, o.MaxBackoff)
	}
}

// callbackError marks an error of Follow's callback.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// follow reads one connection until it ends; nil means the pipeline was
// deleted.
func follow(s *Stream, fn func(StreamEvent) error, wait *time.Duration, minWait time.Duration) error {
	defer s.Close()
	for {
		ev, err := s.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the server ended the live stream")
			}
			return err
		}
		*wait = minWait // a working connection resets the backoff
		if err := fn(ev); err != nil {
			return callbackError{err}
		}
		if ev.Type == EventControl && ev.Control != nil && ev.Control.Event == "deleted" {
			return nil
		}
	}
}
