package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/orchestrator"
)

// Polling routes: run a polling pipeline now, see its schedule, and
// preview any spec (source, mapping and validation once, nothing stored).

// RunNowBody answers a run-now request.
type RunNowBody struct {
	Pipeline uuid.UUID `json:"pipeline"`
	Due      time.Time `json:"due" doc:"When the poll was scheduled: now."`
}

// ScheduleBody is a polling pipeline's schedule.
type ScheduleBody struct {
	Pipeline uuid.UUID  `json:"pipeline"`
	Status   string     `json:"status" enum:"active,paused,failing"`
	Interval string     `json:"interval"`
	NextDue  *time.Time `json:"next_due,omitempty" doc:"When the next poll is due; absent while the pipeline is paused or before its first poll is scheduled."`
	Running  bool       `json:"running" doc:"Whether a poll runs now."`
}

// PreviewInput is a preview request.
type PreviewInput struct {
	// Spec is a whole pipeline spec, as for create.
	Spec json.RawMessage `json:"spec" doc:"A pipeline spec, as for create; it is checked the same way."`
	// Input replaces fetching: records as a webhook would receive them
	// (an object or an array). Required for webhook and p2p pipelines.
	Input json.RawMessage `json:"input,omitempty" doc:"Records to map instead of fetching, as a webhook would receive them. Required for webhook and p2p pipelines."`
	// State is the incremental state to poll from; absent means the
	// initial values of source.state.
	State map[string]any `json:"state,omitempty" doc:"The state variables to poll from; absent means their initial values."`
	// Limit bounds the records shown (1 to 100, default 20).
	Limit int `json:"limit,omitempty" minimum:"0" maximum:"100"`
	// MaxPages bounds the pages fetched (1 to 5, default 1).
	MaxPages int `json:"max_pages,omitempty" minimum:"0" maximum:"5"`
}

// PreviewBody is what a preview found.
type PreviewBody struct {
	Error    string            `json:"error,omitempty" doc:"Why fetching failed, as a run would record it."`
	Fetched  int               `json:"fetched" doc:"Records fetched (or given as input)."`
	Accepted int               `json:"accepted"`
	Rejected int               `json:"rejected"`
	Requests int               `json:"requests"`
	More     bool              `json:"more" doc:"The API had more pages than the preview fetched."`
	Raw      []json.RawMessage `json:"raw" doc:"The first records as fetched, before mapping."`
	Records  []PreviewRecord   `json:"records" doc:"The first mapped records."`
	Errors   []PreviewError    `json:"errors" doc:"The first records that failed mapping or validation."`
	State    json.RawMessage   `json:"state,omitempty" doc:"The state the next poll would start from."`
	Sample   string            `json:"sample,omitempty" doc:"The beginning of the first response body."`
}

// PreviewRecord is one mapped record.
type PreviewRecord struct {
	Index int             `json:"index" doc:"The input record it came from."`
	TS    time.Time       `json:"ts"`
	Data  json.RawMessage `json:"data"`
}

// PreviewError is one record that failed.
type PreviewError struct {
	Index  int             `json:"index" doc:"The input record that failed."`
	Reason string          `json:"reason"`
	Raw    json.RawMessage `json:"raw"`
}

type previewInput struct {
	TeamScope
	Body PreviewInput
}

func (r *pipelineRoutes) registerPollingRoutes() {
	api := r.s.api
	tags := []string{"Pipelines"}

	huma.Register(api, huma.Operation{
		OperationID: "run-pipeline", Method: http.MethodPost, Path: "/api/v1/pipelines/{id}/run", Tags: tags,
		Summary: "Poll a polling pipeline now",
		Description: "Moves the pipeline's next poll to now; its schedule goes on from there. The run appears in the pipeline's runs " +
			"with trigger manual. Needs editor.",
		DefaultStatus: http.StatusAccepted,
	}, r.runNow)

	huma.Register(api, huma.Operation{
		OperationID: "get-pipeline-schedule", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}/schedule", Tags: tags,
		Summary: "When a polling pipeline polls next",
	}, r.schedule)

	huma.Register(api, huma.Operation{
		OperationID: "preview-pipeline", Method: http.MethodPost, Path: "/api/v1/pipelines/preview", Tags: tags,
		Summary: "Try a pipeline spec without saving it",
		Description: "Runs the spec's source once (or maps the given input), then its mapping and validation, and returns the raw " +
			"records, the mapped records and the reason of every record that failed. Nothing is stored and no state moves. " +
			"Requests go through the same SSRF guard as polls and use the team's secrets, which never appear in the answer. Needs editor.",
	}, r.preview)
}

func (r *pipelineRoutes) runNow(ctx context.Context, in *PipelineScope) (*struct{ Body RunNowBody }, error) {
	p, due, err := r.svc.RunNow(ctx, caller(ctx, in.TeamScope), in.ID)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &struct{ Body RunNowBody }{RunNowBody{Pipeline: p.ID, Due: due}}, nil
}

func (r *pipelineRoutes) schedule(ctx context.Context, in *PipelineScope) (*struct{ Body ScheduleBody }, error) {
	sc, err := r.svc.Schedule(ctx, caller(ctx, in.TeamScope), in.ID)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return &struct{ Body ScheduleBody }{ScheduleBody{Pipeline: sc.Pipeline.ID, Status: string(sc.Pipeline.Status),
		Interval: sc.Interval, NextDue: sc.NextDue, Running: sc.Running}}, nil
}

func (r *pipelineRoutes) preview(ctx context.Context, in *previewInput) (*struct{ Body PreviewBody }, error) {
	pv, err := r.svc.Preview(ctx, caller(ctx, in.TeamScope), orchestrator.PreviewRequest{
		Spec: in.Body.Spec, Input: in.Body.Input, State: in.Body.State, Limit: in.Body.Limit, MaxPages: in.Body.MaxPages,
	})
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	out := PreviewBody{Error: pv.Error, Fetched: pv.Fetched, Accepted: pv.Accepted, Rejected: pv.Rejected, Requests: pv.Requests,
		More: pv.More, Raw: pv.Raw, Records: make([]PreviewRecord, len(pv.Records)), Errors: make([]PreviewError, len(pv.Errors)),
		State: pv.State, Sample: pv.Sample}
	for i, rec := range pv.Records {
		out.Records[i] = PreviewRecord{Index: rec.Index, TS: rec.TS, Data: rec.Data}
	}
	for i, e := range pv.Errors {
		out.Errors[i] = PreviewError{Index: e.Index, Reason: e.Reason, Raw: e.Raw}
	}
	return &struct{ Body PreviewBody }{out}, nil
}
