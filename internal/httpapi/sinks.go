package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/store"
)

// Sink routes: a pipeline's sinks live in its spec (the sinks array), so
// creating, changing and removing one saves a new version of the spec,
// with every check a whole-spec update makes. Around them: the sinks'
// health and counters, their deliveries (with a retry by hand of a dead
// one) and replays of stored records. Downstream p2p pipelines are listed
// with the sinks, read-only, as sinks of kind "pipeline".

// RegisterSinks adds the sink API under /api/v1/pipelines/{id}/sinks.
// Call it after RegisterPipelines, before serving.
func (s *Server) RegisterSinks(p *Pipelines) {
	p.r.registerSinkRoutes()
}

// Wire types of the sink API.

// SinkBody is a sink of a pipeline with its health and counters.
type SinkBody struct {
	Name    string `json:"name"`
	Kind    string `json:"kind" doc:"The kind: http, blob, postgres, kafka; pipeline for a downstream p2p pipeline."`
	Enabled bool   `json:"enabled"`
	// Settings are the kind's settings; secrets appear by name only.
	Settings json.RawMessage `json:"settings,omitempty" doc:"The kind's settings as saved; they name team secrets, never hold them."`
	ReadOnly bool            `json:"read_only,omitempty" doc:"Set for downstream p2p pipelines: change them on that pipeline."`
	Pipeline *PipelineRef    `json:"pipeline,omitempty" doc:"The downstream pipeline of a sink of kind pipeline."`
	Status   string          `json:"status" enum:"active,failing,disabled"`
	Reason   string          `json:"reason,omitempty" doc:"Why the sink is failing or disabled."`
	Notes    []string        `json:"notes,omitempty" doc:"How the server reads settings that do not mean what they seem to, such as a blob file:// URL, which is written under the server's sink root in the team's directory."`
	Stats    SinkStatsBody   `json:"stats"`
}

// PipelineRef names a pipeline.
type PipelineRef struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
}

// SinkStatsBody are a sink's counters since it was created.
type SinkStatsBody struct {
	Sink                string     `json:"sink,omitempty"`
	Delivered           int64      `json:"delivered" doc:"Deliveries acknowledged."`
	Records             int64      `json:"records" doc:"Records acknowledged."`
	Failed              int64      `json:"failed" doc:"Failed attempts (each retried or dead)."`
	Dead                int64      `json:"dead" doc:"Deliveries that died."`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	AvgLatencyMS        float64    `json:"avg_latency_ms" doc:"Mean time from a batch's commit to the sink's acknowledgement."`
	LastSuccessAt       *time.Time `json:"last_success_at,omitempty"`
	LastFailureAt       *time.Time `json:"last_failure_at,omitempty"`
}

func sinkStats(st core.SinkState) SinkStatsBody {
	b := SinkStatsBody{Sink: st.Sink, Delivered: st.Delivered, Records: st.Records, Failed: st.Failed, Dead: st.Dead,
		ConsecutiveFailures: st.ConsecutiveFailures, LastSuccessAt: st.LastSuccessAt, LastFailureAt: st.LastFailureAt}
	if st.Delivered > 0 {
		b.AvgLatencyMS = float64(st.LatencyTotal) / float64(st.Delivered) / float64(time.Millisecond)
	}
	return b
}

func sinkBody(sk orchestrator.Sink) SinkBody {
	b := SinkBody{Name: sk.Name, Kind: sk.Kind, Enabled: sk.Enabled, Settings: sk.Settings, Status: string(sk.Status), Reason: sk.Reason,
		Notes: sk.Notes}
	if d := sk.Downstream; d != nil {
		b.ReadOnly, b.Pipeline = true, &PipelineRef{ID: d.ID, Name: d.Name}
		return b
	}
	b.Stats = sinkStats(sk.State)
	b.Stats.Sink = ""
	return b
}

// DeliveryBody is one delivery of a batch to a sink.
type DeliveryBody struct {
	ID            uuid.UUID  `json:"id"`
	Key           string     `json:"key" doc:"The idempotency id the destination sees (webhook-id of HTTP sinks): the same in every attempt and replay of the same records."`
	RunID         *uuid.UUID `json:"run_id,omitempty" doc:"The run that committed the batch."`
	ReplayID      *uuid.UUID `json:"replay_id,omitempty" doc:"The replay that made the delivery."`
	Records       int        `json:"records"`
	From          time.Time  `json:"from" doc:"The oldest event time among the records."`
	To            time.Time  `json:"to" doc:"The newest event time among the records."`
	Status        string     `json:"status" enum:"pending,retrying,delivered,dead"`
	Attempts      int        `json:"attempts" doc:"How many times the records were sent to the destination, whatever its answer. Tries that failed before sending (the sink held back while a probe tests it after failures, a sink that could not be opened) are not counted; they use up the delivery's schedule all the same."`
	LastError     string     `json:"last_error,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	DeliveredAt   *time.Time `json:"delivered_at,omitempty"`
	DurationMS    float64    `json:"duration_ms" doc:"How long the last attempt took."`
	LatencyMS     float64    `json:"latency_ms,omitempty" doc:"From the batch's commit to the acknowledgement."`
}

func deliveryBody(d core.Delivery) DeliveryBody {
	b := DeliveryBody{ID: d.ID, Key: d.Key, Records: d.Records, From: d.From, To: d.To, Status: string(d.Status), Attempts: d.Attempts,
		LastError: d.LastError, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, LastAttemptAt: d.LastAttemptAt,
		NextAttemptAt: d.NextAttemptAt, DeliveredAt: d.DeliveredAt,
		DurationMS: float64(d.Duration) / float64(time.Millisecond), LatencyMS: float64(d.Latency) / float64(time.Millisecond)}
	if d.RunID != uuid.Nil {
		b.RunID = &d.RunID
	}
	if d.ReplayID != uuid.Nil {
		b.ReplayID = &d.ReplayID
	}
	return b
}

// ReplayBody is a replay with its progress.
type ReplayBody struct {
	ID               uuid.UUID      `json:"id"`
	Sink             string         `json:"sink"`
	From             time.Time      `json:"from"`
	To               time.Time      `json:"to"`
	Status           string         `json:"status" enum:"running,done,failed" doc:"done once every record was handed to a delivery; the deliveries may still be on their way."`
	Total            int64          `json:"total" doc:"Records in the range when the replay started."`
	Enqueued         int64          `json:"enqueued" doc:"Records handed to deliveries so far."`
	RecordsDelivered int64          `json:"records_delivered"`
	Deliveries       map[string]int `json:"deliveries" doc:"The replay's deliveries by status."`
	Progress         float64        `json:"progress" doc:"Records delivered over total, 0 to 1."`
	Error            string         `json:"error,omitempty"`
	CreatedAt        time.Time      `json:"created_at"`
	FinishedAt       *time.Time     `json:"finished_at,omitempty"`
}

func replayBody(r core.Replay) ReplayBody {
	b := ReplayBody{ID: r.ID, Sink: r.Sink, From: r.From, To: r.To, Status: string(r.Status), Total: r.Total, Enqueued: r.Enqueued,
		RecordsDelivered: r.RecordsDelivered, Deliveries: map[string]int{}, Error: r.Error, CreatedAt: r.CreatedAt, FinishedAt: r.FinishedAt}
	for _, s := range []core.DeliveryStatus{core.DeliveryPending, core.DeliveryRetrying, core.DeliveryDelivered, core.DeliveryDead} {
		b.Deliveries[string(s)] = r.Deliveries[s]
	}
	switch {
	case r.Total > 0:
		b.Progress = min(float64(r.RecordsDelivered)/float64(r.Total), 1)
	case r.Status == core.ReplayDone:
		b.Progress = 1
	}
	return b
}

// SinkScope selects one sink of a pipeline.
type SinkScope struct {
	PipelineScope
	Sink string `path:"sink" maxLength:"64" doc:"The sink's name."`
}

type sinkOutput struct {
	ETag string `header:"ETag" doc:"The pipeline's version after the change, for If-Match."`
	Body SinkBody
}

// sinkDoc documents a sink object in requests.
type sinkDoc struct {
	Name    string          `json:"name" doc:"Unique in the pipeline: letters, digits, '_' and '-'."`
	Enabled *bool           `json:"enabled,omitempty" doc:"Default true."`
	HTTP    json.RawMessage `json:"http,omitempty" doc:"Settings of an http sink (or of one other kind: blob, postgres, kafka): exactly one kind per sink."`
}

const cursorDeliveries byte = 'd'

type sinksOutput struct {
	Body struct {
		Sinks []SinkBody `json:"sinks"`
	}
}

type sinkChangeInput struct {
	SinkScope
	IfMatch string `header:"If-Match" doc:"The ETag of the pipeline version the change is based on."`
	RawBody []byte
}

type createSinkInput struct {
	PipelineScope
	IfMatch string `header:"If-Match" doc:"The ETag of the pipeline version the change is based on."`
	RawBody []byte
}

type deleteSinkInput struct {
	SinkScope
	IfMatch string `header:"If-Match" doc:"The ETag of the pipeline version the change is based on."`
}

type listDeliveriesInput struct {
	SinkScope
	Status string `query:"status" enum:"pending,retrying,delivered,dead" doc:"Only deliveries of this status."`
	PageParams
}

type deliveriesOutput struct {
	Body struct {
		Deliveries []DeliveryBody `json:"deliveries"`
		NextCursor string         `json:"next_cursor,omitempty"`
	}
}

type deliveryScope struct {
	SinkScope
	Delivery uuid.UUID `path:"delivery" doc:"The delivery's id."`
}

type deliveryOutput struct{ Body DeliveryBody }

type startReplayInput struct {
	SinkScope
	Body struct {
		From time.Time `json:"from" doc:"Oldest event time, inclusive (RFC 3339)."`
		To   time.Time `json:"to" doc:"Newest event time, exclusive (RFC 3339)."`
	}
}

type replayScope struct {
	SinkScope
	Replay uuid.UUID `path:"replay" doc:"The replay's id."`
}

type replayOutput struct{ Body ReplayBody }

type replaysOutput struct {
	Body struct {
		Replays []ReplayBody `json:"replays"`
	}
}

func (r *pipelineRoutes) registerSinkRoutes() {
	api := r.s.api
	tags := []string{"Sinks"}
	base := "/api/v1/pipelines/{id}/sinks"

	huma.Register(api, huma.Operation{
		OperationID: "list-sinks", Method: http.MethodGet, Path: base, Tags: tags,
		Summary:     "List a pipeline's sinks",
		Description: "The sinks of the pipeline's spec with their health and counters, then its downstream p2p pipelines as read-only sinks of kind pipeline.",
	}, r.listSinks)
	huma.Register(api, huma.Operation{
		OperationID: "get-sink", Method: http.MethodGet, Path: base + "/{sink}", Tags: tags,
		Summary: "Get a sink of a pipeline",
	}, r.getSink)
	huma.Register(api, huma.Operation{
		OperationID: "create-sink", Method: http.MethodPost, Path: base, Tags: tags,
		Summary: "Add a sink to a pipeline",
		Description: "The body is a sink: `{\"name\": \"alerts\", \"http\": {\"url\": \"https://…\", \"signing_secret\": \"alerts-key\"}}`. " +
			"It is checked as a spec update checks it (kind, settings, URL against the SSRF rules, secrets) and saved as a new version of the pipeline. " +
			"Batches committed from then on are delivered to it; to send it older records, start a replay. Needs editor.",
		DefaultStatus: http.StatusCreated,
	}, r.createSink)
	documentRawJSON(api, http.MethodPost, base, reflect.TypeFor[sinkDoc]())
	huma.Register(api, huma.Operation{
		OperationID: "update-sink", Method: http.MethodPut, Path: base + "/{sink}", Tags: tags,
		Summary: "Replace a sink of a pipeline",
		Description: "The body is the whole sink; its name, if given, must be the one in the path. Setting enabled to true " +
			"switches a disabled sink (also one disabled because its endpoint answered 410 Gone) back on and clears its failures. Needs editor.",
	}, r.updateSink)
	documentRawJSON(api, http.MethodPut, base+"/{sink}", reflect.TypeFor[sinkDoc]())
	r.s.documentSinkBodies(base)
	huma.Register(api, huma.Operation{
		OperationID: "delete-sink", Method: http.MethodDelete, Path: base + "/{sink}", Tags: tags,
		Summary:       "Remove a sink from a pipeline",
		Description:   "Saves a new version of the pipeline without the sink. Its pending deliveries die; its delivery history stays until cleaned up. Needs editor.",
		DefaultStatus: http.StatusNoContent,
	}, r.deleteSink)
	huma.Register(api, huma.Operation{
		OperationID: "list-deliveries", Method: http.MethodGet, Path: base + "/{sink}/deliveries", Tags: tags,
		Summary:     "List a sink's deliveries",
		Description: "Newest first, optionally of one status: pending, retrying, delivered or dead (with the last error).",
	}, r.listDeliveries)
	huma.Register(api, huma.Operation{
		OperationID: "get-delivery", Method: http.MethodGet, Path: base + "/{sink}/deliveries/{delivery}", Tags: tags,
		Summary: "Get a delivery",
	}, r.getDelivery)
	huma.Register(api, huma.Operation{
		OperationID: "retry-delivery", Method: http.MethodPost, Path: base + "/{sink}/deliveries/{delivery}/retry", Tags: tags,
		Summary: "Retry a dead delivery",
		Description: "Enqueues the dead delivery again, with the same records and idempotency id: it is pending, then delivered " +
			"or, after its attempts, dead again. A delivery that is not dead gives 409. Needs editor.",
		DefaultStatus: http.StatusAccepted,
	}, r.retryDelivery)
	huma.Register(api, huma.Operation{
		OperationID: "start-replay", Method: http.MethodPost, Path: base + "/{sink}/replays", Tags: tags,
		Summary: "Replay stored records to a sink",
		Description: "Re-delivers every stored record with an event time in [from, to) to the sink, as the batches they were committed in " +
			"(parts of up to 1000 records, each whole) with the same idempotency ids as their first deliveries: a backfill for a sink " +
			"added later. Watch it with GET …/replays/{replay}. Needs editor.",
		DefaultStatus: http.StatusAccepted,
	}, r.startReplay)
	huma.Register(api, huma.Operation{
		OperationID: "list-replays", Method: http.MethodGet, Path: base + "/{sink}/replays", Tags: tags,
		Summary: "List a sink's replays", Description: "Newest first, at most 100.",
	}, r.listReplays)
	huma.Register(api, huma.Operation{
		OperationID: "get-replay", Method: http.MethodGet, Path: base + "/{sink}/replays/{replay}", Tags: tags,
		Summary: "Get a replay and its progress",
	}, r.getReplay)
}

func (r *pipelineRoutes) listSinks(ctx context.Context, in *PipelineScope) (*sinksOutput, error) {
	sinks, err := r.svc.Sinks(ctx, caller(ctx, in.TeamScope), in.ID)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	out := &sinksOutput{}
	out.Body.Sinks = make([]SinkBody, 0, len(sinks))
	for _, sk := range sinks {
		out.Body.Sinks = append(out.Body.Sinks, sinkBody(sk))
	}
	return out, nil
}

func (r *pipelineRoutes) getSink(ctx context.Context, in *SinkScope) (*sinkOutput, error) {
	p, sk, err := r.svc.Sink(ctx, caller(ctx, in.TeamScope), in.ID, in.Sink)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &sinkOutput{ETag: etag(p.Version), Body: sinkBody(sk)}, nil
}

func (r *pipelineRoutes) createSink(ctx context.Context, in *createSinkInput) (*sinkOutput, error) {
	v, err := parseIfMatch(in.IfMatch)
	if err != nil {
		return nil, err
	}
	p, sk, err := r.svc.CreateSink(ctx, caller(ctx, in.TeamScope), in.ID, v, in.RawBody)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &sinkOutput{ETag: etag(p.Version), Body: sinkBody(sk)}, nil
}

func (r *pipelineRoutes) updateSink(ctx context.Context, in *sinkChangeInput) (*sinkOutput, error) {
	v, err := parseIfMatch(in.IfMatch)
	if err != nil {
		return nil, err
	}
	p, sk, err := r.svc.UpdateSink(ctx, caller(ctx, in.TeamScope), in.ID, in.Sink, v, in.RawBody)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &sinkOutput{ETag: etag(p.Version), Body: sinkBody(sk)}, nil
}

func (r *pipelineRoutes) deleteSink(ctx context.Context, in *deleteSinkInput) (*struct{}, error) {
	v, err := parseIfMatch(in.IfMatch)
	if err != nil {
		return nil, err
	}
	if err := r.svc.DeleteSink(ctx, caller(ctx, in.TeamScope), in.ID, in.Sink, v); err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return nil, nil
}

func (r *pipelineRoutes) listDeliveries(ctx context.Context, in *listDeliveriesInput) (*deliveriesOutput, error) {
	q := store.DeliveryQuery{Sink: in.Sink, Status: core.DeliveryStatus(in.Status), Limit: in.Limit}
	if in.Cursor != "" {
		b, err := decodeCursor(in.Cursor, cursorDeliveries, 16)
		if err != nil {
			return nil, err
		}
		q.BeforeID = uuid.UUID(b)
	}
	ds, err := r.svc.Deliveries(ctx, caller(ctx, in.TeamScope), in.ID, q)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	out := &deliveriesOutput{}
	out.Body.Deliveries = make([]DeliveryBody, 0, len(ds))
	for _, d := range ds {
		out.Body.Deliveries = append(out.Body.Deliveries, deliveryBody(d))
	}
	if len(ds) == q.Limit {
		out.Body.NextCursor = encodeCursor(cursorDeliveries, ds[len(ds)-1].ID[:])
	}
	return out, nil
}

func (r *pipelineRoutes) getDelivery(ctx context.Context, in *deliveryScope) (*deliveryOutput, error) {
	d, err := r.svc.Delivery(ctx, caller(ctx, in.TeamScope), in.ID, in.Sink, in.Delivery)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &deliveryOutput{Body: deliveryBody(d)}, nil
}

func (r *pipelineRoutes) retryDelivery(ctx context.Context, in *deliveryScope) (*deliveryOutput, error) {
	d, err := r.svc.RetryDelivery(ctx, caller(ctx, in.TeamScope), in.ID, in.Sink, in.Delivery)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &deliveryOutput{Body: deliveryBody(d)}, nil
}

func (r *pipelineRoutes) startReplay(ctx context.Context, in *startReplayInput) (*replayOutput, error) {
	rp, err := r.svc.StartReplay(ctx, caller(ctx, in.TeamScope), in.ID, in.Sink, in.Body.From, in.Body.To)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &replayOutput{Body: replayBody(rp)}, nil
}

func (r *pipelineRoutes) listReplays(ctx context.Context, in *SinkScope) (*replaysOutput, error) {
	rs, err := r.svc.Replays(ctx, caller(ctx, in.TeamScope), in.ID, in.Sink)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	out := &replaysOutput{}
	out.Body.Replays = make([]ReplayBody, 0, len(rs))
	for _, rp := range rs {
		out.Body.Replays = append(out.Body.Replays, replayBody(rp))
	}
	return out, nil
}

func (r *pipelineRoutes) getReplay(ctx context.Context, in *replayScope) (*replayOutput, error) {
	rp, err := r.svc.Replay(ctx, caller(ctx, in.TeamScope), in.ID, in.Sink, in.Replay)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &replayOutput{Body: replayBody(rp)}, nil
}
