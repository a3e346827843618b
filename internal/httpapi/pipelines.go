package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/vault"
)

// Defaults of PipelinesConfig.
const (
	// DefaultStreamHeartbeat is the interval of keep-alive comments on live
	// streams.
	DefaultStreamHeartbeat = 15 * time.Second
)

// PipelinesConfig tunes the pipeline routes.
type PipelinesConfig struct {
	// BaseURL is the public URL of the server, for webhook ingest URLs.
	// Empty means the scheme and Host of the request that asks.
	BaseURL string
	// StreamHeartbeat is the interval of keep-alive comments on live
	// streams. Zero means DefaultStreamHeartbeat.
	StreamHeartbeat time.Duration
	// StreamBuffer is how many batches a live stream may fall behind before
	// it is told it lagged. Zero means the broker's default.
	StreamBuffer int
}

// PipelineStore is what the pipeline routes need of the store.
type PipelineStore interface {
	store.Pipelines
	store.Records
	store.P2P
}

// PipelinesDeps are the parts the pipeline routes call.
type PipelinesDeps struct {
	Store  PipelineStore
	Engine Engine
	Vault  *vault.Vault
	// Cache holds the recent records the engine adds after each commit.
	Cache RecentRecords
	// Broker carries committed batches to live streams; the routes publish
	// control events (pause, update, delete) on it.
	Broker pubsub.Broker
	// Service runs the pipeline lifecycle: every route of pipelines, sinks
	// and secrets calls one of its methods.
	Service *orchestrator.Service
}

// RecentRecords is the recent-records cache the live streams start from
// and the records query reads first: *cache.Memory on one node,
// *cache.Redis shared by a cluster.
type RecentRecords interface {
	Recent(pipeline uuid.UUID, limit int) []cache.Entry
	Range(pipeline uuid.UUID, from, to time.Time, limit int) ([]cache.Entry, bool)
}

// Pipelines is the handle of the registered pipeline routes.
type Pipelines struct {
	r *pipelineRoutes
}

// CloseStreams ends every live stream, so that a graceful shutdown does
// not wait for clients that never hang up. Register it with
// http.Server.RegisterOnShutdown.
func (p *Pipelines) CloseStreams() { p.r.closeStreams() }

// pipelineRoutes serves pipelines, webhook ingest, live streams, records
// and team secrets.
type pipelineRoutes struct {
	s       *Server
	cfg     PipelinesConfig
	store   PipelineStore
	engine  Engine
	vault   *vault.Vault
	cache   RecentRecords
	broker  pubsub.Broker
	svc     *orchestrator.Service
	closing context.Context
	close   context.CancelFunc
}

// RegisterPipelines adds the pipeline API (/api/v1/pipelines...), its
// records, runs and live stream, the team secrets API (/api/v1/secrets)
// (webhook ingest is RegisterHooks). Call it before serving.
func (s *Server) RegisterPipelines(cfg PipelinesConfig, d PipelinesDeps) *Pipelines {
	if cfg.StreamHeartbeat == 0 {
		cfg.StreamHeartbeat = DefaultStreamHeartbeat
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	closing, closeFn := context.WithCancel(context.Background())
	r := &pipelineRoutes{
		s: s, cfg: cfg, store: d.Store, engine: d.Engine, vault: d.Vault, cache: d.Cache,
		broker: d.Broker, svc: d.Service, closing: closing, close: closeFn,
	}
	r.registerPipelineRoutes()
	r.registerRecordRoutes()
	r.registerSeriesRoutes()
	r.registerSecretRoutes()
	r.registerPollingRoutes()
	s.documentSpec()
	r.registerDashboardRoutes()
	s.mux.HandleFunc("GET "+streamPath, r.stream)
	documentStream(s.api)
	return &Pipelines{r: r}
}

func (r *pipelineRoutes) closeStreams() { r.close() }

// Wire types of the pipeline API.

// PipelineBody is a pipeline as the API shows it.
type PipelineBody struct {
	ID      uuid.UUID       `json:"id"`
	TeamID  uuid.UUID       `json:"team_id"`
	Version int             `json:"version" doc:"Grows with every change of the spec. Send it back as If-Match to update safely."`
	Status  string          `json:"status" enum:"active,paused,failing"`
	Name    string          `json:"name"`
	Kind    string          `json:"kind" enum:"polling,webhook,p2p"`
	Spec    json.RawMessage `json:"spec" doc:"The pipeline document as saved, with its defaults filled in."`
	// IngestURL is shown once, to editors and above: it is a credential,
	// and the server keeps only its hash.
	IngestURL string `json:"ingest_url,omitempty" doc:"Webhook pipelines: where to POST records. The URL is a credential, shown once: in the answer that creates the pipeline and in the one that rotates its token (the server keeps only a hash of it)."`
	// IngestTokenPrefix identifies the current ingest URL.
	IngestTokenPrefix string            `json:"ingest_token_prefix,omitempty" doc:"Webhook pipelines, editors and above: the first characters of the ingest URL's token, to tell which URL the pipeline has."`
	Stats             PipelineStatsBody `json:"stats"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
}

// PipelineStatsBody are a pipeline's counters.
type PipelineStatsBody struct {
	RecordCount   int64      `json:"record_count"`
	RejectedCount int64      `json:"rejected_count"`
	StoredBytes   int64      `json:"stored_bytes"`
	LastRecordAt  *time.Time `json:"last_record_at,omitempty" doc:"Newest event time stored."`
	LastRunAt     *time.Time `json:"last_run_at,omitempty"`
	// Sinks is filled by get-pipeline only.
	Sinks []SinkStatsBody `json:"sinks,omitempty" doc:"Get a pipeline only: per sink, deliveries and records delivered, failed attempts, dead deliveries and latency."`
}

// pipelineBody converts a pipeline as the service shows it to the caller:
// with its webhook token only for editors and above.
func (r *pipelineRoutes) pipelineBody(p core.Pipeline, origin string) PipelineBody {
	b := PipelineBody{
		ID: p.ID, TeamID: p.TeamID, Version: p.Version, Status: string(p.Status), Name: p.Name, Kind: string(p.Kind), Spec: p.Spec,
		Stats: PipelineStatsBody{RecordCount: p.Stats.RecordCount, RejectedCount: p.Stats.RejectedCount,
			StoredBytes: p.Stats.StoredBytes, LastRecordAt: p.Stats.LastRecordAt, LastRunAt: p.Stats.LastRunAt},
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
	if p.Kind == core.KindWebhook && p.HookToken != "" {
		base := r.cfg.BaseURL
		if base == "" {
			base = origin
		}
		b.IngestURL = base + "/hooks/" + p.HookToken
	}
	if p.Kind == core.KindWebhook {
		b.IngestTokenPrefix = p.HookTokenPrefix
	}
	return b
}

// RequestOrigin captures the scheme and host a request was made to, for
// URLs built from them.
type RequestOrigin struct {
	origin string
}

// Resolve implements huma.Resolver.
func (o *RequestOrigin) Resolve(ctx huma.Context) []error {
	scheme := "http"
	if ctx.TLS() != nil {
		scheme = "https"
	}
	o.origin = scheme + "://" + ctx.Host()
	return nil
}

// PipelineScope selects one pipeline of the team.
type PipelineScope struct {
	TeamScope
	ID uuid.UUID `path:"id" doc:"The pipeline's id."`
}

type pipelineOutput struct {
	ETag string `header:"ETag" doc:"The pipeline's version, for If-Match."`
	Body PipelineBody
}

type pipelinesOutput struct {
	Body struct {
		Pipelines []PipelineBody `json:"pipelines"`
	}
}

func (r *pipelineRoutes) pipelineOutput(p core.Pipeline, origin string) *pipelineOutput {
	return &pipelineOutput{ETag: etag(p.Version), Body: r.pipelineBody(p, origin)}
}

func etag(version int) string { return `"` + strconv.Itoa(version) + `"` }

// caller is who a request comes from, for the pipeline service.
func caller(ctx context.Context, scope TeamScope) orchestrator.Caller {
	return orchestrator.Caller{Principal: account.PrincipalFrom(ctx), Team: scope.Team}
}

// pipeline loads a pipeline of the request's team for a viewer.
func (r *pipelineRoutes) pipeline(ctx context.Context, in PipelineScope) (core.Pipeline, error) {
	p, err := r.svc.Pipeline(ctx, caller(ctx, in.TeamScope), in.ID)
	return p, r.s.problem(ctx, err)
}

// parseIfMatch reads the version of an If-Match header: "3", W/"3" or 3;
// 0 when there is none.
func parseIfMatch(h string) (int, error) {
	if h == "" {
		return 0, nil
	}
	h = strings.TrimSpace(h)
	h = strings.TrimPrefix(h, "W/")
	h = strings.Trim(h, `"`)
	v, err := strconv.Atoi(h)
	if err != nil || v < 1 {
		return 0, huma.Error422UnprocessableEntity(`If-Match must be the pipeline's ETag, such as "3".`,
			&huma.ErrorDetail{Location: "header.If-Match", Message: "not a pipeline version"})
	}
	return v, nil
}

type specInput struct {
	TeamScope
	Origin  RequestOrigin
	RawBody []byte
}

type originInput struct {
	PipelineScope
	Origin RequestOrigin
}

type updatePipelineInput struct {
	PipelineScope
	IfMatch string `header:"If-Match" doc:"The ETag of the version the change is based on."`
	Version int    `query:"version" minimum:"0" doc:"The version the change is based on, as an alternative to If-Match."`
	Origin  RequestOrigin
	RawBody []byte
}

func (r *pipelineRoutes) registerPipelineRoutes() {
	api := r.s.api
	tags := []string{"Pipelines"}
	specType := reflect.TypeFor[pipeline.Spec]()

	huma.Register(api, huma.Operation{
		OperationID: "create-pipeline", Method: http.MethodPost, Path: "/api/v1/pipelines", Tags: tags,
		Summary: "Create a pipeline",
		Description: "The body is the pipeline spec. Unknown fields are refused; every problem is listed in `errors` (422). " +
			"A webhook pipeline's response carries its `ingest_url`. Needs editor.",
		DefaultStatus: http.StatusCreated,
	}, r.createPipeline)
	documentRawJSON(api, http.MethodPost, "/api/v1/pipelines", specType)

	huma.Register(api, huma.Operation{
		OperationID: "list-pipelines", Method: http.MethodGet, Path: "/api/v1/pipelines", Tags: tags,
		Summary: "List the team's pipelines", Description: "By name.",
	}, r.listPipelines)

	huma.Register(api, huma.Operation{
		OperationID: "get-pipeline", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}", Tags: tags,
		Summary: "Get a pipeline",
	}, r.getPipeline)

	huma.Register(api, huma.Operation{
		OperationID: "update-pipeline", Method: http.MethodPut, Path: "/api/v1/pipelines/{id}", Tags: tags,
		Summary: "Replace a pipeline's spec",
		Description: "The body is the whole new spec; the version grows by one. With If-Match (the ETag of a GET) or `version`, " +
			"the update is refused with 409 when the pipeline changed in between. The kind cannot change. Needs editor.",
	}, r.updatePipeline)
	documentRawJSON(api, http.MethodPut, "/api/v1/pipelines/{id}", specType)

	for _, st := range []struct {
		verb, summary string
		call          func(context.Context, orchestrator.Caller, uuid.UUID) (core.Pipeline, error)
	}{
		{"pause", "Pause a pipeline", r.svc.PausePipeline},
		{"resume", "Resume a pipeline", r.svc.ResumePipeline},
	} {
		huma.Register(api, huma.Operation{
			OperationID: st.verb + "-pipeline", Method: http.MethodPost, Path: "/api/v1/pipelines/{id}/" + st.verb, Tags: tags,
			Summary:     st.summary,
			Description: "A paused pipeline takes no records: its webhook answers 409 and it is not polled. Needs editor.",
		}, func(ctx context.Context, in *originInput) (*pipelineOutput, error) {
			p, err := st.call(ctx, caller(ctx, in.TeamScope), in.ID)
			if err != nil {
				return nil, r.s.problem(ctx, err)
			}
			return r.pipelineOutput(p, in.Origin.origin), nil
		})
	}

	huma.Register(api, huma.Operation{
		OperationID: "rotate-pipeline-token", Method: http.MethodPost, Path: "/api/v1/pipelines/{id}/rotate-token", Tags: tags,
		Summary:     "Give a webhook pipeline a new ingest URL",
		Description: "The old URL stops working at once on this node (within a second on others). Needs editor.",
	}, r.rotateToken)

	huma.Register(api, huma.Operation{
		OperationID: "delete-pipeline", Method: http.MethodDelete, Path: "/api/v1/pipelines/{id}", Tags: tags,
		Summary: "Delete a pipeline", Description: "With its records, rejected records and runs. Needs editor.",
		DefaultStatus: http.StatusNoContent,
	}, r.deletePipeline)
}

func (r *pipelineRoutes) createPipeline(ctx context.Context, in *specInput) (*pipelineOutput, error) {
	p, err := r.svc.CreatePipeline(ctx, caller(ctx, in.TeamScope), in.RawBody)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return r.pipelineOutput(p, in.Origin.origin), nil
}

func (r *pipelineRoutes) listPipelines(ctx context.Context, in *struct {
	TeamScope
	Origin RequestOrigin
}) (*pipelinesOutput, error) {
	ps, err := r.svc.Pipelines(ctx, caller(ctx, in.TeamScope))
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	out := &pipelinesOutput{}
	out.Body.Pipelines = make([]PipelineBody, 0, len(ps))
	for _, p := range ps {
		out.Body.Pipelines = append(out.Body.Pipelines, r.pipelineBody(p, in.Origin.origin))
	}
	return out, nil
}

func (r *pipelineRoutes) getPipeline(ctx context.Context, in *originInput) (*pipelineOutput, error) {
	p, sts, err := r.svc.PipelineSinkStates(ctx, caller(ctx, in.TeamScope), in.ID)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	out := r.pipelineOutput(p, in.Origin.origin)
	for _, st := range sts {
		out.Body.Stats.Sinks = append(out.Body.Stats.Sinks, sinkStats(st))
	}
	return out, nil
}

func (r *pipelineRoutes) updatePipeline(ctx context.Context, in *updatePipelineInput) (*pipelineOutput, error) {
	want := in.Version
	if in.IfMatch != "" {
		v, err := parseIfMatch(in.IfMatch)
		if err != nil {
			return nil, err
		}
		if want != 0 && want != v {
			return nil, huma.Error422UnprocessableEntity("If-Match and version disagree; send one of them.")
		}
		want = v
	}
	p, err := r.svc.UpdatePipeline(ctx, caller(ctx, in.TeamScope), in.ID, want, in.RawBody)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return r.pipelineOutput(p, in.Origin.origin), nil
}

func (r *pipelineRoutes) rotateToken(ctx context.Context, in *originInput) (*pipelineOutput, error) {
	p, err := r.svc.RotateHookToken(ctx, caller(ctx, in.TeamScope), in.ID)
	if err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return r.pipelineOutput(p, in.Origin.origin), nil
}

func (r *pipelineRoutes) deletePipeline(ctx context.Context, in *PipelineScope) (*struct{}, error) {
	if err := r.svc.DeletePipeline(ctx, caller(ctx, in.TeamScope), in.ID); err != nil {
		return nil, r.s.problem(ctx, err)
	}
	return nil, nil
}

// documentRawJSON documents the request of an operation that reads its
// body as RawBody (to decode it strictly itself) as JSON of type t,
// replacing huma's application/octet-stream. Huma does not validate such a
// body, so nothing of it is echoed in huma's validation errors.
func documentRawJSON(api huma.API, method, path string, t reflect.Type) {
	item := api.OpenAPI().Paths[path]
	var op *huma.Operation
	switch method {
	case http.MethodPost:
		op = item.Post
	case http.MethodPut:
		op = item.Put
	}
	op.RequestBody = &huma.RequestBody{
		Required: true,
		Content: map[string]*huma.MediaType{
			"application/json": {Schema: huma.SchemaFromType(api.OpenAPI().Components.Schemas, t)},
		},
	}
}
