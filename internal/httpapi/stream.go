package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/pubsub"
)

// The live stream of a pipeline, as Server-Sent Events:
//
//	event: recent   the cached recent records, oldest first: on connect
//	                and again after "lagged"; replaces what the client holds
//	event: records  one committed batch (pubsub.Batch JSON); appends
//	event: lagged   {"dropped": n}: batches were lost because the client
//	                read too slowly; a "recent" event follows
//	event: control  a change of the pipeline (paused, resumed, updated,
//	                deleted); the stream ends after "deleted"
//	event: reconnect {"reason": "…", "retry_ms": n}: the node is stopping;
//	                the stream ends, and the client should connect again
//	                (a load balancer sends it to another node); sent with
//	                an SSE retry field, so EventSource comes back by itself
//	: ping          a comment every StreamHeartbeat, keeping proxies from
//	                closing an idle connection
//
// The subscription starts before the cache is read, so no batch committed
// during the connect is lost; one may arrive both in "recent" and as
// "records" (records carry ids to tell).

const streamPath = "/api/v1/pipelines/{id}/stream"

// streamWriteTimeout bounds every write: a client that stops reading is
// dropped instead of holding the handler forever.
const streamWriteTimeout = 10 * time.Second

// reconnectRetryMS is the reconnection delay a draining node asks of
// EventSource clients.
const reconnectRetryMS = 1000

// reconnectEvent is the data of the "reconnect" event.
var reconnectEvent = []byte(`{"reason":"the node is stopping; connect again","retry_ms":1000}`)

// ControlBody is the data of a "control" event.
type ControlBody struct {
	Event    string    `json:"event" enum:"paused,resumed,updated,deleted"`
	Pipeline uuid.UUID `json:"pipeline"`
	Version  int       `json:"version,omitempty"`
}

// stream serves GET /api/v1/pipelines/{id}/stream.
func (r *pipelineRoutes) stream(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	p := account.PrincipalFrom(ctx)
	if p == nil {
		writeProblem(w, http.StatusUnauthorized, "Sign in or send a valid API token.")
		return
	}
	var want uuid.UUID
	if t := req.URL.Query().Get("team"); t != "" {
		var err error
		if want, err = uuid.Parse(t); err != nil {
			writeProblem(w, http.StatusUnprocessableEntity, "The team parameter is not a team id.")
			return
		}
	}
	id, err := uuid.Parse(req.PathValue("id"))
	if err != nil {
		writeProblem(w, http.StatusNotFound, "There is no such pipeline in the team.")
		return
	}
	pl, err := r.svc.Pipeline(ctx, orchestrator.Caller{Principal: p, Team: want}, id)
	switch {
	case err == nil:
	case errors.Is(err, account.ErrForbidden):
		writeProblem(w, http.StatusForbidden, err.Error())
		return
	case errors.Is(err, core.ErrNotFound): // no such pipeline, or not the caller's team
		writeProblem(w, http.StatusNotFound, err.Error())
		return
	default:
		r.streamFailed(ctx, w, "load pipeline", err)
		return
	}

	if r.closing.Err() != nil {
		// The node drains: send the client to another one.
		w.Header().Set("Retry-After", "1")
		writeProblem(w, http.StatusServiceUnavailable, "This node is stopping; connect again.")
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.closing, cancel)
	defer stop()
	sub, err := r.broker.Subscribe(ctx, pubsub.PipelineTopic(pl.ID), r.cfg.StreamBuffer)
	if err != nil {
		r.streamFailed(ctx, w, "subscribe", err)
		return
	}
	defer sub.Close()
	if err := r.warm(ctx, pl); err != nil {
		r.streamFailed(ctx, w, "warm cache", err)
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	sw := &sseWriter{w: w, rc: http.NewResponseController(w)}
	// The server sets no write deadlines of its own, so one left behind
	// would cut off the next response on this connection.
	defer func() { _ = sw.rc.SetWriteDeadline(time.Time{}) }()
	if err := sw.recent(pl.ID, r.cache.Recent(pl.ID, 0)); err != nil {
		return
	}

	// A stream ended by a drain tells its client to come back elsewhere.
	defer func() {
		if r.closing.Err() != nil {
			_ = sw.send("reconnect", reconnectEvent, "retry: "+strconv.Itoa(reconnectRetryMS))
		}
	}()
	heartbeat := time.NewTicker(r.cfg.StreamHeartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			if sw.send("", nil, ": ping") != nil {
				return
			}
		case msg, ok := <-sub.C():
			if !ok {
				return // the broker closed
			}
			var err error
			switch msg.Kind {
			case pubsub.KindRecords:
				err = sw.send("records", msg.Payload, "")
			case pubsub.KindLagged:
				lag, _ := json.Marshal(map[string]int{"dropped": msg.Dropped})
				if err = sw.send("lagged", lag, ""); err == nil {
					err = sw.recent(pl.ID, r.cache.Recent(pl.ID, 0))
				}
			case pubsub.KindControl:
				err = sw.send("control", msg.Payload, "")
				var c ControlBody
				if err == nil && json.Unmarshal(msg.Payload, &c) == nil && c.Event == "deleted" {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
}

func (r *pipelineRoutes) streamFailed(ctx context.Context, w http.ResponseWriter, what string, err error) {
	if ctx.Err() != nil {
		return // the client left
	}
	r.s.log.ErrorContext(ctx, "stream: "+what, logAttrs(ctx), "err", err)
	w.Header().Set("Retry-After", "5")
	writeProblem(w, http.StatusServiceUnavailable, "The live stream is unavailable; try again shortly.")
}

// sseWriter writes events, each under its own deadline, and flushes them.
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	buf bytes.Buffer
}

// send writes one event; data must be JSON on one line (it is: encoding/json
// escapes newlines), comment is a line starting with ':'.
func (s *sseWriter) send(event string, data []byte, comment string) error {
	s.buf.Reset()
	if comment != "" {
		s.buf.WriteString(comment)
		s.buf.WriteByte('\n')
	}
	if event != "" {
		s.buf.WriteString("event: ")
		s.buf.WriteString(event)
		s.buf.WriteByte('\n')
		s.buf.WriteString("data: ")
		s.buf.Write(data)
		s.buf.WriteByte('\n')
	}
	s.buf.WriteByte('\n')
	// A deadline the writer does not support is no reason to stop; the
	// write itself still fails on a dead connection.
	_ = s.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if _, err := s.w.Write(s.buf.Bytes()); err != nil {
		return err
	}
	return s.rc.Flush()
}

// recent sends the cached records, given newest first, oldest first, in
// the form the engine publishes them.
func (s *sseWriter) recent(pipeline uuid.UUID, entries []cache.Entry) error {
	size := 64
	for _, e := range entries {
		size += len(e.Data) + 64
	}
	data := make([]byte, 0, size)
	data = append(data, `{"pipeline":"`...)
	data = append(data, pipeline.String()...)
	data = append(data, `","count":`...)
	data = strconv.AppendInt(data, int64(len(entries)), 10)
	data = append(data, `,"records":[`...)
	for i, e := range slices.Backward(entries) {
		if i < len(entries)-1 {
			data = append(data, ',')
		}
		data = engine.AppendRecord(data, e.ID, e.TS, e.Data)
	}
	data = append(data, "]}"...)
	return s.send("recent", data, "")
}

// documentStream adds the stream to the OpenAPI document; it is served by
// a plain handler because it writes for as long as the client listens.
func documentStream(api huma.API) {
	api.OpenAPI().AddOperation(&huma.Operation{
		OperationID: "stream-records", Method: http.MethodGet, Path: streamPath, Tags: []string{"Records"},
		Summary: "Watch a pipeline's records live",
		Description: "Server-Sent Events. On connect, event `recent` carries the cached recent records (oldest first). " +
			"Then each committed batch arrives as event `records` (data: {pipeline, version, count, rejected, records}). " +
			"A client that reads too slowly gets event `lagged` ({dropped}) followed by a fresh `recent`. " +
			"Event `control` ({event, pipeline, version}) reports pause, resume, update and deletion; the stream ends after deletion. " +
			"A comment line is sent every " + strconv.Itoa(int(DefaultStreamHeartbeat/time.Second)) + " seconds.",
		Parameters: []*huma.Param{
			{Name: "id", In: "path", Required: true, Schema: &huma.Schema{Type: "string", Format: "uuid"}},
			{Name: "team", In: "query", Description: "Team id to act on.", Schema: &huma.Schema{Type: "string", Format: "uuid"}},
		},
		Responses: map[string]*huma.Response{
			"200": {Description: "An event stream.", Content: map[string]*huma.MediaType{"text/event-stream": {Schema: &huma.Schema{Type: "string"}}}},
			"401": {Description: "Not signed in."},
			"404": {Description: "No such pipeline in the team."},
		},
	})
}
