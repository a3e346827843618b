package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/jobs"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/source"
	"github.com/tributary-dev/tributary/internal/store"
)

// Polling routes: run a polling pipeline now, see its schedule, and
// preview any spec (source, mapping and validation once, nothing stored).

// Polls is what the routes need of the poll scheduler; *jobs.Polling is
// one.
type Polls interface {
	// Schedule arms the pipeline's next poll at due, replacing the
	// pending one.
	Schedule(ctx context.Context, p core.Pipeline, due time.Time, manual bool) (time.Time, error)
	// NextPoll returns the pipeline's schedule.
	NextPoll(ctx context.Context, teamID, pipelineID uuid.UUID) (store.PollSchedule, error)
	// Preview fetches once with the team's secrets and stores nothing.
	Preview(ctx context.Context, teamID uuid.UUID, c *pipeline.Compiled, state source.Values, lim jobs.PreviewLimits) (*source.Result, error)
}

var _ Polls = (*jobs.Polling)(nil)

// pollChanged arms the schedule of a polling pipeline that was created,
// resumed or changed, so that it polls now. A failure is logged, not
// returned: the change is saved, and the scheduler's periodic check arms
// any polling pipeline without a pending poll.
func (r *pipelineRoutes) pollChanged(ctx context.Context, p core.Pipeline) {
	if r.polls == nil || p.Kind != core.KindPolling || p.Status == core.StatusPaused {
		return
	}
	if _, err := r.polls.Schedule(context.WithoutCancel(ctx), p, core.Now(), false); err != nil {
		r.s.log.WarnContext(ctx, "schedule poll; the periodic check will", logAttrs(ctx), "pipeline", p.ID, "err", err)
	}
}

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

const maxSampleBytes = 4 << 10

func (r *pipelineRoutes) registerPollingRoutes() {
	api := r.s.api
	tags := []string{"Pipelines"}

	huma.Register(api, huma.Operation{
		OperationID: "run-pipeline", Method: http.MethodPost, Path: "/api/v1/pipelines/{id}/run", Tags: tags,
		Summary: "Poll a polling pipeline now",
		Description: "Moves the pipeline's next poll to now; its schedule goes on from there. The run appears in the pipeline's runs " +
			"with trigger manual. Needs editor.",
		DefaultStatus: http.StatusAccepted,
	}, func(ctx context.Context, in *PipelineScope) (*struct{ Body RunNowBody }, error) {
		p, err := r.pipeline(ctx, *in, auth.Editor)
		if err != nil {
			return nil, err
		}
		switch {
		case p.Kind != core.KindPolling:
			return nil, huma.Error409Conflict(fmt.Sprintf("Only polling pipelines run on a schedule; this one is %s.", p.Kind))
		case p.Status == core.StatusPaused:
			return nil, huma.Error409Conflict("The pipeline is paused; resume it first.")
		case r.polls == nil:
			return nil, huma.Error503ServiceUnavailable("Polling is not running on this server.")
		}
		due, err := r.polls.Schedule(ctx, p, core.Now(), true)
		if err != nil {
			return nil, r.pipelineProblem(ctx, err)
		}
		return &struct{ Body RunNowBody }{RunNowBody{Pipeline: p.ID, Due: due}}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-pipeline-schedule", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}/schedule", Tags: tags,
		Summary: "When a polling pipeline polls next",
	}, func(ctx context.Context, in *PipelineScope) (*struct{ Body ScheduleBody }, error) {
		p, err := r.pipeline(ctx, *in, auth.Viewer)
		if err != nil {
			return nil, err
		}
		if p.Kind != core.KindPolling {
			return nil, huma.Error409Conflict(fmt.Sprintf("Only polling pipelines run on a schedule; this one is %s.", p.Kind))
		}
		out := ScheduleBody{Pipeline: p.ID, Status: string(p.Status)}
		if c, err := r.engine.Compiled(p); err == nil {
			out.Interval = c.Interval.String()
		}
		if r.polls != nil {
			ps, err := r.polls.NextPoll(ctx, p.TeamID, p.ID)
			switch {
			case err == nil:
				if p.Status != core.StatusPaused {
					out.NextDue = &ps.NextDue
				}
				out.Running = ps.LeaseUntil != nil && ps.LeaseUntil.After(core.Now())
			case !errors.Is(err, core.ErrNotFound):
				return nil, r.s.problem(ctx, err)
			}
		}
		return &struct{ Body ScheduleBody }{out}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "preview-pipeline", Method: http.MethodPost, Path: "/api/v1/pipelines/preview", Tags: tags,
		Summary: "Try a pipeline spec without saving it",
		Description: "Runs the spec's source once (or maps the given input), then its mapping and validation, and returns the raw " +
			"records, the mapped records and the reason of every record that failed. Nothing is stored and no state moves. " +
			"Requests go through the same SSRF guard as polls and use the team's secrets, which never appear in the answer. Needs editor.",
	}, func(ctx context.Context, in *struct {
		TeamScope
		Body PreviewInput
	}) (*struct{ Body PreviewBody }, error) {
		team, _, err := r.s.teamRole(ctx, in.TeamScope, auth.Editor)
		if err != nil {
			return nil, err
		}
		return r.preview(ctx, team, &in.Body)
	})
}

// preview implements the preview route.
func (r *pipelineRoutes) preview(ctx context.Context, team uuid.UUID, in *PreviewInput) (*struct{ Body PreviewBody }, error) {
	if len(bytes.TrimSpace(in.Spec)) == 0 {
		return nil, huma.Error422UnprocessableEntity("The preview needs a spec.", &huma.ErrorDetail{Location: "body.spec", Message: "is required"})
	}
	c, err := r.s.compiler.Parse(in.Spec)
	if se, ok := errors.AsType[*pipeline.SpecError](err); ok {
		return nil, previewSpecProblem(se)
	}
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	if err := r.checkSecrets(ctx, team, c); err != nil {
		return nil, err
	}
	limit := in.Limit
	if limit <= 0 {
		limit = 20
	}
	out := PreviewBody{Raw: []json.RawMessage{}, Records: []PreviewRecord{}, Errors: []PreviewError{}}
	var inputs []any
	var res *source.Result
	switch {
	case len(bytes.TrimSpace(in.Input)) > 0:
		dec := json.NewDecoder(bytes.NewReader(in.Input))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, huma.Error422UnprocessableEntity("The input is not JSON.", &huma.ErrorDetail{Location: "body.input", Message: err.Error()})
		}
		inputs = []any{v}
		if arr, ok := v.([]any); ok && c.Mapping == nil {
			inputs = arr // without a mapping each element is a record: show them one by one
		}
	case c.Source != nil:
		if r.polls == nil {
			return nil, huma.Error503ServiceUnavailable("Polling is not running on this server.")
		}
		res, err = r.polls.Preview(ctx, team, c, source.Values(in.State), jobs.PreviewLimits{MaxPages: in.MaxPages, MaxRecords: 1000})
		var se *source.Error
		switch {
		case errors.As(err, &se):
			out.Error = se.Msg
			return &struct{ Body PreviewBody }{out}, nil
		case err != nil:
			return nil, r.s.problem(ctx, err)
		}
		inputs = res.Records
		out.Requests, out.More = res.Requests, res.More
		if st, err := json.Marshal(res.State); err == nil {
			out.State = json.RawMessage(res.Redact(string(st)))
		}
		out.Sample = res.Redact(string(res.Sample[:min(len(res.Sample), maxSampleBytes)]))
	default:
		return nil, huma.Error422UnprocessableEntity(fmt.Sprintf("A %s pipeline has no source to fetch from; send records in input.", c.Spec.Kind),
			&huma.ErrorDetail{Location: "body.input", Message: "is required for a " + string(c.Spec.Kind) + " pipeline"})
	}
	out.Fetched = len(inputs)
	now := time.Now()
	for i, input := range inputs {
		accepted, rejected := r.engine.Process(c, []any{input}, now)
		out.Accepted += len(accepted)
		out.Rejected += len(rejected)
		if len(out.Raw) < limit {
			if raw, err := json.Marshal(input); err == nil {
				out.Raw = append(out.Raw, redactRaw(res, raw))
			}
		}
		for _, m := range accepted {
			if len(out.Records) < limit {
				out.Records = append(out.Records, PreviewRecord{Index: i, TS: m.TS, Data: redactRaw(res, m.Data)})
			}
		}
		for _, rej := range rejected {
			if len(out.Errors) < limit {
				out.Errors = append(out.Errors, PreviewError{Index: i, Reason: res.Redact(rej.Reason), Raw: redactRaw(res, rej.Raw)})
			}
		}
	}
	return &struct{ Body PreviewBody }{out}, nil
}

// redactRaw removes the credentials of a fetch from a JSON value; the
// replacement keeps it valid JSON (it only replaces text inside strings,
// where credentials appear).
func redactRaw(res *source.Result, raw json.RawMessage) json.RawMessage {
	if res == nil {
		return raw
	}
	out := json.RawMessage(res.Redact(string(raw)))
	if !json.Valid(out) {
		return json.RawMessage(`"[redacted]"`)
	}
	return out
}

// previewSpecProblem is the 422 of a preview's spec, with paths under
// body.spec.
func previewSpecProblem(se *pipeline.SpecError) error {
	details := make([]error, len(se.Problems))
	for i, p := range se.Problems {
		loc := "body.spec"
		if p.Path != "" {
			loc += "." + p.Path
		}
		details[i] = &huma.ErrorDetail{Location: loc, Message: p.Message}
	}
	return huma.Error422UnprocessableEntity("The pipeline spec has a problem; see errors.", details...)
}
