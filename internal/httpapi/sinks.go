package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/delivery"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/store"
)

// Sink routes: a pipeline's sinks live in its spec (the sinks array), so
// creating, changing and removing one saves a new version of the spec,
// with every check a whole-spec update makes. Around them: the sinks'
// health and counters, their deliveries (with a retry by hand of a dead
// one) and replays of stored records. Downstream p2p pipelines are listed
// with the sinks, read-only, as sinks of kind "pipeline".

// SinkService is what the sink routes need of the delivery machinery;
// *delivery.Service is one.
type SinkService interface {
	// Check validates a spec's sinks (see delivery.Service.Check).
	Check(sinks []json.RawMessage) ([]pipeline.Problem, []delivery.SecretRef)
	// SinkChanged closes the open sink of a changed or removed sink.
	SinkChanged(pipelineID uuid.UUID, name string)
	Retry(ctx context.Context, teamID, pipelineID uuid.UUID, sinkName string, id uuid.UUID) (core.Delivery, error)
	StartReplay(ctx context.Context, teamID, pipelineID uuid.UUID, sinkName string, from, to time.Time) (core.Replay, error)
	Registry() *sink.Registry
}

var _ SinkService = (*delivery.Service)(nil)

// SinksDeps are the parts the sink routes call.
type SinksDeps struct {
	Store    store.Deliveries
	Delivery SinkService
}

type sinkRoutes struct {
	st  store.Deliveries
	svc SinkService
}

// RegisterSinks adds the sink API under /api/v1/pipelines/{id}/sinks and
// makes every save of a pipeline spec check its sinks. Call it after
// RegisterPipelines, before serving.
func (s *Server) RegisterSinks(p *Pipelines, d SinksDeps) {
	r := p.r
	r.sinks = &sinkRoutes{st: d.Store, svc: d.Delivery}
	r.registerSinkRoutes()
}

// checkSinks refuses a spec whose sinks do not check out: unknown kinds,
// bad or forbidden URLs, malformed settings, secrets the team lacks.
func (r *pipelineRoutes) checkSinks(ctx context.Context, team uuid.UUID, c *pipeline.Compiled) error {
	if r.sinks == nil || len(c.Spec.Sinks) == 0 {
		return nil
	}
	ps, extra := r.sinks.svc.Check(c.Spec.Sinks)
	var details []error
	for _, p := range ps {
		details = append(details, &huma.ErrorDetail{Location: "body." + p.Path, Message: p.Message})
	}
	for _, ref := range extra {
		_, err := r.vault.Get(ctx, team, ref.Name)
		switch {
		case errors.Is(err, core.ErrNotFound):
			details = append(details, secretRefErr("body."+ref.Path, ref.Name))
		case err != nil:
			return r.s.problem(ctx, err)
		}
	}
	if len(details) == 0 {
		return nil
	}
	msg := "The pipeline's sinks have a problem; see errors."
	if len(details) > 1 {
		msg = fmt.Sprintf("The pipeline's sinks have %d problems; see errors.", len(details))
	}
	return huma.Error422UnprocessableEntity(msg, details...)
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

func sinkBody(s delivery.SinkSpec, st core.SinkState) SinkBody {
	b := SinkBody{Name: s.Name, Kind: s.Kind, Enabled: s.Enabled, Settings: s.Settings, Status: string(core.SinkActive), Stats: sinkStats(st)}
	b.Stats.Sink = ""
	switch {
	case !s.Enabled:
		b.Status, b.Reason = string(core.SinkDisabled), "disabled in the pipeline's spec"
		if st.Status == core.SinkDisabled && st.Reason != "" {
			b.Reason = st.Reason
		}
	case st.Status == core.SinkFailing:
		b.Status, b.Reason = string(core.SinkFailing), st.Reason
	}
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
	Attempts      int        `json:"attempts"`
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

// sinkState returns the state of one sink (zero when it has none yet).
func (r *pipelineRoutes) sinkStates(ctx context.Context, p core.Pipeline) (map[string]core.SinkState, error) {
	sts, err := r.sinks.st.SinkStates(ctx, p.TeamID, p.ID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]core.SinkState, len(sts))
	for _, st := range sts {
		out[st.Sink] = st
	}
	return out, nil
}

// pipelineSinks returns the parsed sinks of a pipeline's spec.
func pipelineSinks(p core.Pipeline) (pipeline.Spec, []delivery.SinkSpec, error) {
	spec, err := pipeline.Decode(p.Spec)
	if err != nil {
		return spec, nil, fmt.Errorf("decode spec of pipeline %s: %w", p.ID, err)
	}
	sinks, ps := delivery.ParseSinks(spec.Sinks)
	if len(ps) > 0 {
		return spec, nil, fmt.Errorf("the stored sinks of pipeline %s do not parse: %s", p.ID, ps[0])
	}
	return spec, sinks, nil
}

// sinkOf loads a pipeline and one of its sinks.
func (r *pipelineRoutes) sinkOf(ctx context.Context, in SinkScope, min auth.Role) (core.Pipeline, delivery.SinkSpec, error) {
	p, err := r.pipeline(ctx, in.PipelineScope, min)
	if err != nil {
		return p, delivery.SinkSpec{}, err
	}
	_, sinks, err := pipelineSinks(p)
	if err != nil {
		return p, delivery.SinkSpec{}, r.s.problem(ctx, err)
	}
	s, _, ok := delivery.Find(sinks, in.Sink)
	if !ok {
		return p, s, huma.Error404NotFound(fmt.Sprintf("The pipeline has no sink named %q.", in.Sink))
	}
	return p, s, nil
}

// saveSinks saves the pipeline's spec with its sinks changed by edit,
// through every check of a spec update. index is the position of the
// sink the request is about (-1: none), whose problems are reported at
// body rather than at body.sinks[index].
func (r *pipelineRoutes) saveSinks(ctx context.Context, cur core.Pipeline, ifMatch string, index int,
	edit func([]json.RawMessage) ([]json.RawMessage, error)) (core.Pipeline, error) {
	if ifMatch != "" {
		v, err := parseIfMatch(ifMatch)
		if err != nil {
			return cur, err
		}
		if v != cur.Version {
			return cur, versionConflict(v, cur.Version)
		}
	}
	spec, err := pipeline.Decode(cur.Spec)
	if err != nil {
		return cur, r.s.problem(ctx, fmt.Errorf("decode spec of pipeline %s: %w", cur.ID, err))
	}
	if spec.Sinks, err = edit(spec.Sinks); err != nil {
		return cur, err
	}
	doc, err := json.Marshal(spec)
	if err != nil {
		return cur, r.s.problem(ctx, err)
	}
	c, canonical, err := r.compileSpec(ctx, cur.TeamID, doc)
	if err != nil {
		return cur, relocate(err, index)
	}
	upstream, err := r.resolveUpstream(ctx, cur.TeamID, cur.ID, c)
	if err != nil {
		return cur, err
	}
	p, err := r.store.UpdatePipeline(ctx, cur.TeamID, cur.ID, store.PipelineUpdate{
		Name: c.Spec.Name, Kind: c.Spec.Kind, Spec: canonical, IfVersion: cur.Version, Upstream: upstream,
	})
	if errors.Is(err, core.ErrConflict) {
		return cur, huma.Error409Conflict("The pipeline was changed by someone else at the same time; fetch it and apply your change again.")
	}
	if err != nil {
		return cur, r.pipelineProblem(ctx, err)
	}
	r.hooks.forgetPipeline(p.ID)
	r.publishControl(ctx, "updated", p)
	return p, nil
}

// relocate reports the problems of the sink at index at body.
func relocate(err error, index int) error {
	var em *huma.ErrorModel
	if index < 0 || !errors.As(err, &em) {
		return err
	}
	prefix := fmt.Sprintf("body.sinks[%d]", index)
	for _, d := range em.Errors {
		if d.Location == prefix || strings.HasPrefix(d.Location, prefix+".") {
			d.Location = "body" + strings.TrimPrefix(d.Location, prefix)
		}
	}
	return err
}

// readSink decodes a sink object of a request body.
func readSink(raw []byte) (delivery.SinkSpec, json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return delivery.SinkSpec{}, nil, huma.Error400BadRequest(`The body must be one JSON object: a sink such as {"name": "alerts", "http": {"url": "https://…"}}.`)
	}
	s, ps := delivery.ParseSink(raw, "")
	if len(ps) > 0 {
		details := make([]error, len(ps))
		for i, p := range ps {
			details[i] = &huma.ErrorDetail{Location: "body" + p.Path, Message: p.Message}
		}
		return s, nil, huma.Error422UnprocessableEntity("The sink has a problem; see errors.", details...)
	}
	canonical, err := json.Marshal(s)
	if err != nil {
		return s, nil, huma.Error422UnprocessableEntity("The sink's settings are not valid JSON.")
	}
	return s, canonical, nil
}

func (r *pipelineRoutes) registerSinkRoutes() {
	api := r.s.api
	tags := []string{"Sinks"}
	base := "/api/v1/pipelines/{id}/sinks"

	huma.Register(api, huma.Operation{
		OperationID: "list-sinks", Method: http.MethodGet, Path: base, Tags: tags,
		Summary:     "List a pipeline's sinks",
		Description: "The sinks of the pipeline's spec with their health and counters, then its downstream p2p pipelines as read-only sinks of kind pipeline.",
	}, func(ctx context.Context, in *PipelineScope) (*struct {
		Body struct {
			Sinks []SinkBody `json:"sinks"`
		}
	}, error) {
		p, err := r.pipeline(ctx, *in, auth.Viewer)
		if err != nil {
			return nil, err
		}
		_, sinks, err := pipelineSinks(p)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		states, err := r.sinkStates(ctx, p)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		out := &struct {
			Body struct {
				Sinks []SinkBody `json:"sinks"`
			}
		}{}
		out.Body.Sinks = make([]SinkBody, 0, len(sinks))
		for _, s := range sinks {
			out.Body.Sinks = append(out.Body.Sinks, sinkBody(s, states[s.Name]))
		}
		downs, err := r.store.Downstreams(ctx, p.TeamID, p.ID)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		for _, id := range downs {
			d, err := r.store.Pipeline(ctx, p.TeamID, id)
			if errors.Is(err, core.ErrNotFound) {
				continue // deleted meanwhile
			}
			if err != nil {
				return nil, r.s.problem(ctx, err)
			}
			b := SinkBody{Name: d.Name, Kind: "pipeline", Enabled: d.Status != core.StatusPaused, ReadOnly: true,
				Pipeline: &PipelineRef{ID: d.ID, Name: d.Name}, Status: string(core.SinkActive)}
			if !b.Enabled {
				b.Status, b.Reason = string(core.SinkDisabled), "the downstream pipeline is paused"
			}
			out.Body.Sinks = append(out.Body.Sinks, b)
		}
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-sink", Method: http.MethodGet, Path: base + "/{sink}", Tags: tags,
		Summary: "Get a sink of a pipeline",
	}, func(ctx context.Context, in *SinkScope) (*sinkOutput, error) {
		p, s, err := r.sinkOf(ctx, *in, auth.Viewer)
		if err != nil {
			return nil, err
		}
		states, err := r.sinkStates(ctx, p)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		return &sinkOutput{ETag: etag(p.Version), Body: sinkBody(s, states[s.Name])}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "create-sink", Method: http.MethodPost, Path: base, Tags: tags,
		Summary: "Add a sink to a pipeline",
		Description: "The body is a sink: `{\"name\": \"alerts\", \"http\": {\"url\": \"https://…\", \"signing_secret\": \"alerts-key\"}}`. " +
			"It is checked as a spec update checks it (kind, settings, URL against the SSRF rules, secrets) and saved as a new version of the pipeline. " +
			"Batches committed from then on are delivered to it; to send it older records, start a replay. Needs editor.",
		DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *struct {
		PipelineScope
		IfMatch string `header:"If-Match" doc:"The ETag of the pipeline version the change is based on."`
		RawBody []byte
	}) (*sinkOutput, error) {
		cur, err := r.pipeline(ctx, in.PipelineScope, auth.Editor)
		if err != nil {
			return nil, err
		}
		s, canonical, err := readSink(in.RawBody)
		if err != nil {
			return nil, err
		}
		_, sinks, err := pipelineSinks(cur)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		if _, _, taken := delivery.Find(sinks, s.Name); taken {
			return nil, huma.Error409Conflict(fmt.Sprintf("The pipeline already has a sink named %q; choose another name or change that sink.", s.Name))
		}
		p, err := r.saveSinks(ctx, cur, in.IfMatch, len(sinks), func(raws []json.RawMessage) ([]json.RawMessage, error) {
			return append(raws, canonical), nil
		})
		if err != nil {
			return nil, err
		}
		st, err := r.resetSinkState(ctx, p, s)
		if err != nil {
			return nil, err
		}
		return &sinkOutput{ETag: etag(p.Version), Body: sinkBody(s, st)}, nil
	})
	documentRawJSON(api, http.MethodPost, base, reflect.TypeFor[sinkDoc]())

	huma.Register(api, huma.Operation{
		OperationID: "update-sink", Method: http.MethodPut, Path: base + "/{sink}", Tags: tags,
		Summary: "Replace a sink of a pipeline",
		Description: "The body is the whole sink; its name, if given, must be the one in the path. Setting enabled to true " +
			"switches a disabled sink (also one disabled because its endpoint answered 410 Gone) back on and clears its failures. Needs editor.",
	}, func(ctx context.Context, in *struct {
		SinkScope
		IfMatch string `header:"If-Match" doc:"The ETag of the pipeline version the change is based on."`
		RawBody []byte
	}) (*sinkOutput, error) {
		cur, _, err := r.sinkOf(ctx, in.SinkScope, auth.Editor)
		if err != nil {
			return nil, err
		}
		var named struct {
			Name *string `json:"name"`
		}
		if json.Unmarshal(in.RawBody, &named) == nil && named.Name == nil {
			// The name may be left out: it is in the path.
			var obj map[string]json.RawMessage
			if json.Unmarshal(in.RawBody, &obj) == nil && obj != nil {
				obj["name"], _ = json.Marshal(in.Sink)
				in.RawBody, _ = json.Marshal(obj)
			}
		}
		s, canonical, err := readSink(in.RawBody)
		if err != nil {
			return nil, err
		}
		if s.Name != in.Sink {
			return nil, huma.Error422UnprocessableEntity("A sink cannot be renamed; add a sink with the new name and remove this one.",
				&huma.ErrorDetail{Location: "body.name", Message: fmt.Sprintf("is %q, not %q", s.Name, in.Sink)})
		}
		_, sinks, err := pipelineSinks(cur)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		_, index, _ := delivery.Find(sinks, s.Name)
		p, err := r.saveSinks(ctx, cur, in.IfMatch, index, func(raws []json.RawMessage) ([]json.RawMessage, error) {
			raws[index] = canonical
			return raws, nil
		})
		if err != nil {
			return nil, err
		}
		r.sinks.svc.SinkChanged(p.ID, s.Name)
		st, err := r.resetSinkState(ctx, p, s)
		if err != nil {
			return nil, err
		}
		return &sinkOutput{ETag: etag(p.Version), Body: sinkBody(s, st)}, nil
	})
	documentRawJSON(api, http.MethodPut, base+"/{sink}", reflect.TypeFor[sinkDoc]())

	huma.Register(api, huma.Operation{
		OperationID: "delete-sink", Method: http.MethodDelete, Path: base + "/{sink}", Tags: tags,
		Summary:       "Remove a sink from a pipeline",
		Description:   "Saves a new version of the pipeline without the sink. Its pending deliveries die; its delivery history stays until cleaned up. Needs editor.",
		DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, in *struct {
		SinkScope
		IfMatch string `header:"If-Match" doc:"The ETag of the pipeline version the change is based on."`
	}) (*struct{}, error) {
		cur, s, err := r.sinkOf(ctx, in.SinkScope, auth.Editor)
		if err != nil {
			return nil, err
		}
		p, err := r.saveSinks(ctx, cur, in.IfMatch, -1, func(raws []json.RawMessage) ([]json.RawMessage, error) {
			_, sinks, _ := pipelineSinks(cur)
			_, index, _ := delivery.Find(sinks, s.Name)
			return append(raws[:index:index], raws[index+1:]...), nil
		})
		if err != nil {
			return nil, err
		}
		r.sinks.svc.SinkChanged(p.ID, s.Name)
		if err := r.sinks.st.DeleteSinkState(ctx, p.TeamID, p.ID, s.Name); err != nil {
			return nil, r.s.problem(ctx, err)
		}
		return nil, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "list-deliveries", Method: http.MethodGet, Path: base + "/{sink}/deliveries", Tags: tags,
		Summary:     "List a sink's deliveries",
		Description: "Newest first, optionally of one status: pending, retrying, delivered or dead (with the last error).",
	}, func(ctx context.Context, in *struct {
		SinkScope
		Status string `query:"status" enum:"pending,retrying,delivered,dead" doc:"Only deliveries of this status."`
		PageParams
	}) (*struct {
		Body struct {
			Deliveries []DeliveryBody `json:"deliveries"`
			NextCursor string         `json:"next_cursor,omitempty"`
		}
	}, error) {
		p, err := r.pipeline(ctx, in.PipelineScope, auth.Viewer)
		if err != nil {
			return nil, err
		}
		q := store.DeliveryQuery{Sink: in.Sink, Status: core.DeliveryStatus(in.Status), Limit: in.Limit}
		if in.Cursor != "" {
			b, err := decodeCursor(in.Cursor, cursorDeliveries, 16)
			if err != nil {
				return nil, err
			}
			q.BeforeID = uuid.UUID(b)
		}
		ds, err := r.sinks.st.Deliveries(ctx, p.TeamID, p.ID, q)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		out := &struct {
			Body struct {
				Deliveries []DeliveryBody `json:"deliveries"`
				NextCursor string         `json:"next_cursor,omitempty"`
			}
		}{}
		out.Body.Deliveries = make([]DeliveryBody, 0, len(ds))
		for _, d := range ds {
			out.Body.Deliveries = append(out.Body.Deliveries, deliveryBody(d))
		}
		if len(ds) == q.Limit {
			out.Body.NextCursor = encodeCursor(cursorDeliveries, ds[len(ds)-1].ID[:])
		}
		return out, nil
	})

	type deliveryScope struct {
		SinkScope
		Delivery uuid.UUID `path:"delivery" doc:"The delivery's id."`
	}
	type deliveryOutput struct{ Body DeliveryBody }
	notFound := func(ctx context.Context, err error) error {
		if errors.Is(err, core.ErrNotFound) {
			return huma.Error404NotFound("The sink has no such delivery.")
		}
		return r.s.problem(ctx, err)
	}

	huma.Register(api, huma.Operation{
		OperationID: "get-delivery", Method: http.MethodGet, Path: base + "/{sink}/deliveries/{delivery}", Tags: tags,
		Summary: "Get a delivery",
	}, func(ctx context.Context, in *deliveryScope) (*deliveryOutput, error) {
		p, err := r.pipeline(ctx, in.PipelineScope, auth.Viewer)
		if err != nil {
			return nil, err
		}
		d, err := r.sinks.st.Delivery(ctx, p.TeamID, in.Delivery)
		if err == nil && (d.PipelineID != p.ID || d.Sink != in.Sink) {
			err = core.ErrNotFound
		}
		if err != nil {
			return nil, notFound(ctx, err)
		}
		return &deliveryOutput{Body: deliveryBody(d)}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "retry-delivery", Method: http.MethodPost, Path: base + "/{sink}/deliveries/{delivery}/retry", Tags: tags,
		Summary: "Retry a dead delivery",
		Description: "Enqueues the dead delivery again, with the same records and idempotency id: it is pending, then delivered " +
			"or, after its attempts, dead again. A delivery that is not dead gives 409. Needs editor.",
		DefaultStatus: http.StatusAccepted,
	}, func(ctx context.Context, in *deliveryScope) (*deliveryOutput, error) {
		p, err := r.pipeline(ctx, in.PipelineScope, auth.Editor)
		if err != nil {
			return nil, err
		}
		d, err := r.sinks.svc.Retry(ctx, p.TeamID, p.ID, in.Sink, in.Delivery)
		if errors.Is(err, core.ErrConflict) {
			return nil, huma.Error409Conflict("Only a dead delivery can be retried; this one is not dead.")
		}
		if err != nil {
			return nil, notFound(ctx, err)
		}
		return &deliveryOutput{Body: deliveryBody(d)}, nil
	})

	type replayOutput struct{ Body ReplayBody }

	huma.Register(api, huma.Operation{
		OperationID: "start-replay", Method: http.MethodPost, Path: base + "/{sink}/replays", Tags: tags,
		Summary: "Replay stored records to a sink",
		Description: "Re-delivers every stored record with an event time in [from, to) to the sink, as deliveries of up to 1000 records " +
			"with the same idempotency ids as before: a backfill for a sink added later. Watch it with GET …/replays/{replay}. Needs editor.",
		DefaultStatus: http.StatusAccepted,
	}, func(ctx context.Context, in *struct {
		SinkScope
		Body struct {
			From time.Time `json:"from" doc:"Oldest event time, inclusive (RFC 3339)."`
			To   time.Time `json:"to" doc:"Newest event time, exclusive (RFC 3339)."`
		}
	}) (*replayOutput, error) {
		p, _, err := r.sinkOf(ctx, in.SinkScope, auth.Editor)
		if err != nil {
			return nil, err
		}
		rp, err := r.sinks.svc.StartReplay(ctx, p.TeamID, p.ID, in.Sink, in.Body.From, in.Body.To)
		switch {
		case errors.Is(err, delivery.ErrSinkDisabled):
			return nil, huma.Error409Conflict("The sink is disabled; enable it before replaying records to it.")
		case errors.Is(err, core.ErrInvalid):
			return nil, huma.Error422UnprocessableEntity(strings.TrimPrefix(err.Error(), core.ErrInvalid.Error()+": "),
				&huma.ErrorDetail{Location: "body.from", Message: "from must be before to, at most 400 days apart"})
		case err != nil:
			return nil, r.s.problem(ctx, err)
		}
		return &replayOutput{Body: replayBody(rp)}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "list-replays", Method: http.MethodGet, Path: base + "/{sink}/replays", Tags: tags,
		Summary: "List a sink's replays", Description: "Newest first, at most 100.",
	}, func(ctx context.Context, in *SinkScope) (*struct {
		Body struct {
			Replays []ReplayBody `json:"replays"`
		}
	}, error) {
		p, err := r.pipeline(ctx, in.PipelineScope, auth.Viewer)
		if err != nil {
			return nil, err
		}
		rs, err := r.sinks.st.Replays(ctx, p.TeamID, p.ID, in.Sink)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		out := &struct {
			Body struct {
				Replays []ReplayBody `json:"replays"`
			}
		}{}
		out.Body.Replays = make([]ReplayBody, 0, len(rs))
		for _, rp := range rs {
			out.Body.Replays = append(out.Body.Replays, replayBody(rp))
		}
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-replay", Method: http.MethodGet, Path: base + "/{sink}/replays/{replay}", Tags: tags,
		Summary: "Get a replay and its progress",
	}, func(ctx context.Context, in *struct {
		SinkScope
		Replay uuid.UUID `path:"replay" doc:"The replay's id."`
	}) (*replayOutput, error) {
		p, err := r.pipeline(ctx, in.PipelineScope, auth.Viewer)
		if err != nil {
			return nil, err
		}
		rp, err := r.sinks.st.Replay(ctx, p.TeamID, in.Replay)
		if err == nil && (rp.PipelineID != p.ID || rp.Sink != in.Sink) {
			err = core.ErrNotFound
		}
		if errors.Is(err, core.ErrNotFound) {
			return nil, huma.Error404NotFound("The sink has no such replay.")
		}
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		return &replayOutput{Body: replayBody(rp)}, nil
	})
}

// resetSinkState records a saved sink's switch: enabled clears its
// failures (and a disabled state from a 410), disabled says so.
func (r *pipelineRoutes) resetSinkState(ctx context.Context, p core.Pipeline, s delivery.SinkSpec) (core.SinkState, error) {
	status, reason := core.SinkActive, ""
	if !s.Enabled {
		status, reason = core.SinkDisabled, "disabled in the pipeline's spec"
	}
	st, err := r.sinks.st.SetSinkStatus(ctx, p.TeamID, p.ID, s.Name, status, reason)
	if err != nil {
		return st, r.s.problem(ctx, err)
	}
	return st, nil
}

// addSinkStats adds the per-sink counters to a pipeline's stats.
func (r *pipelineRoutes) addSinkStats(ctx context.Context, b *PipelineBody) error {
	if r.sinks == nil {
		return nil
	}
	sts, err := r.sinks.st.SinkStates(ctx, b.TeamID, b.ID)
	if err != nil {
		return r.s.problem(ctx, err)
	}
	for _, st := range sts {
		b.Stats.Sinks = append(b.Stats.Sinks, sinkStats(st))
	}
	return nil
}
