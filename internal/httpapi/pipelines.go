package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/signature"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/vault"
)

// Defaults of PipelinesConfig.
const (
	// DefaultHookCacheTTL is how long a webhook token's pipeline is reused
	// before it is looked up again.
	DefaultHookCacheTTL = time.Second
	// DefaultStreamHeartbeat is the interval of keep-alive comments on live
	// streams.
	DefaultStreamHeartbeat = 15 * time.Second
)

// PipelinesConfig tunes the pipeline routes.
type PipelinesConfig struct {
	// BaseURL is the public URL of the server, for webhook ingest URLs.
	// Empty means the scheme and Host of the request that asks.
	BaseURL string
	// HookCacheTTL is how long this process reuses a webhook token's
	// pipeline (and its compiled spec and signature verifier) before it
	// looks the token up again. Changes made through this process take
	// effect at once; changes made through another node within the TTL.
	// Zero means DefaultHookCacheTTL.
	HookCacheTTL time.Duration
	// StreamHeartbeat is the interval of keep-alive comments on live
	// streams. Zero means DefaultStreamHeartbeat.
	StreamHeartbeat time.Duration
	// StreamBuffer is how many batches a live stream may fall behind before
	// it is told it lagged. Zero means the broker's default.
	StreamBuffer int
	// HookRate limits webhook requests per team and second (429 with
	// Retry-After beyond it); 0 turns the limit off. HookBurst is the
	// bucket size (default: one second's worth).
	HookRate  float64
	HookBurst int
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
	Cache *cache.Memory
	// Broker carries committed batches to live streams; the routes publish
	// control events (pause, update, delete) on it.
	Broker pubsub.Broker
	// Replay remembers the webhook ids of signed requests, one guard per
	// process (or a shared one in a cluster). Nil means a MemoryGuard.
	Replay signature.ReplayGuard
	// Links is told when p2p links may have changed; nil: nobody is.
	Links LinkIndex
	// Polls schedules polling pipelines; nil: nothing polls, and run now
	// and preview of a polled source answer 503.
	Polls Polls
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
	cache   *cache.Memory
	broker  pubsub.Broker
	replay  signature.ReplayGuard
	links   LinkIndex
	polls   Polls
	hooks   *hookCache
	limits  *teamLimiter
	sinks   *sinkRoutes // nil until RegisterSinks
	closing context.Context
	close   context.CancelFunc
}

// RegisterPipelines adds the pipeline API (/api/v1/pipelines...), its
// records, runs and live stream, the team secrets API (/api/v1/secrets)
// and webhook ingest (/hooks/{token}). Call it before serving.
func (s *Server) RegisterPipelines(cfg PipelinesConfig, d PipelinesDeps) *Pipelines {
	if cfg.HookCacheTTL == 0 {
		cfg.HookCacheTTL = DefaultHookCacheTTL
	}
	if cfg.StreamHeartbeat == 0 {
		cfg.StreamHeartbeat = DefaultStreamHeartbeat
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if d.Replay == nil {
		d.Replay = signature.NewMemoryGuard(0)
	}
	closing, closeFn := context.WithCancel(context.Background())
	r := &pipelineRoutes{
		s: s, cfg: cfg, store: d.Store, engine: d.Engine, vault: d.Vault, cache: d.Cache,
		broker: d.Broker, replay: d.Replay, links: d.Links, polls: d.Polls, closing: closing, close: closeFn,
	}
	r.hooks = newHookCache(cfg.HookCacheTTL, r.loadHook)
	r.limits = newTeamLimiter(cfg.HookRate, cfg.HookBurst)
	r.registerPipelineRoutes()
	r.registerRecordRoutes()
	r.registerSeriesRoutes()
	r.registerSecretRoutes()
	r.registerPollingRoutes()
	s.mux.HandleFunc("GET "+streamPath, r.stream)
	documentStream(s.api)
	s.mux.HandleFunc("POST /hooks/{token}", r.ingest)
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
	// IngestURL is shown to editors and above only: it is a credential.
	IngestURL string            `json:"ingest_url,omitempty" doc:"Webhook pipelines: where to POST records. The URL is a credential; it is shown to editors and above."`
	Stats     PipelineStatsBody `json:"stats"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
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

func (r *pipelineRoutes) pipelineBody(p core.Pipeline, role auth.Role, origin string) PipelineBody {
	b := PipelineBody{
		ID: p.ID, TeamID: p.TeamID, Version: p.Version, Status: string(p.Status), Name: p.Name, Kind: string(p.Kind), Spec: p.Spec,
		Stats: PipelineStatsBody{RecordCount: p.Stats.RecordCount, RejectedCount: p.Stats.RejectedCount,
			StoredBytes: p.Stats.StoredBytes, LastRecordAt: p.Stats.LastRecordAt, LastRunAt: p.Stats.LastRunAt},
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
	if p.Kind == core.KindWebhook && p.HookToken != "" && role.AtLeast(auth.Editor) {
		base := r.cfg.BaseURL
		if base == "" {
			base = origin
		}
		b.IngestURL = base + "/hooks/" + p.HookToken
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

func (r *pipelineRoutes) pipelineOutput(p core.Pipeline, role auth.Role, origin string) *pipelineOutput {
	return &pipelineOutput{ETag: etag(p.Version), Body: r.pipelineBody(p, role, origin)}
}

func etag(version int) string { return `"` + strconv.Itoa(version) + `"` }

// pipeline loads a pipeline of the request's team after checking the role.
func (r *pipelineRoutes) pipeline(ctx context.Context, in PipelineScope, min auth.Role) (core.Pipeline, error) {
	p, _, err := r.pipelineRole(ctx, in, min)
	return p, err
}

func (r *pipelineRoutes) pipelineRole(ctx context.Context, in PipelineScope, min auth.Role) (core.Pipeline, auth.Role, error) {
	team, role, err := r.s.teamRole(ctx, in.TeamScope, min)
	if err != nil {
		return core.Pipeline{}, "", err
	}
	p, err := r.store.Pipeline(ctx, team, in.ID)
	if err != nil {
		return core.Pipeline{}, "", r.pipelineProblem(ctx, err)
	}
	return p, role, nil
}

// pipelineProblem maps store errors of one pipeline.
func (r *pipelineRoutes) pipelineProblem(ctx context.Context, err error) error {
	if errors.Is(err, core.ErrNotFound) {
		return huma.Error404NotFound("There is no such pipeline in the team.")
	}
	return r.s.problem(ctx, err)
}

// compileSpec decodes, compiles and checks a pipeline document against
// the team, and returns it with its canonical form. Problems become a 422
// with one errors entry per problem.
func (r *pipelineRoutes) compileSpec(ctx context.Context, team uuid.UUID, doc []byte) (*pipeline.Compiled, []byte, error) {
	spec, err := pipeline.Decode(doc)
	if err == nil {
		var c *pipeline.Compiled
		if c, err = r.s.compiler.Compile(spec); err == nil {
			if err := r.checkSecrets(ctx, team, c); err != nil {
				return nil, nil, err
			}
			if err := r.checkSinks(ctx, team, c); err != nil {
				return nil, nil, err
			}
			canonical, err := c.Spec.Canonical()
			if err != nil {
				return nil, nil, fmt.Errorf("encode pipeline spec: %w", err)
			}
			return c, canonical, nil
		}
	}
	if se, ok := errors.AsType[*pipeline.SpecError](err); ok {
		return nil, nil, specProblem(se)
	}
	return nil, nil, r.s.problem(ctx, err)
}

// specProblem is the 422 of a spec that does not compile.
func specProblem(se *pipeline.SpecError) error {
	details := make([]error, len(se.Problems))
	for i, p := range se.Problems {
		loc := "body"
		if p.Path != "" {
			loc = "body." + p.Path
		}
		details[i] = &huma.ErrorDetail{Location: loc, Message: p.Message}
	}
	n := len(se.Problems)
	msg := "The pipeline spec has a problem; see errors."
	if n > 1 {
		msg = fmt.Sprintf("The pipeline spec has %d problems; see errors.", n)
	}
	return huma.Error422UnprocessableEntity(msg, details...)
}

// checkSecrets refuses a spec that names secrets the team does not have,
// or a signing secret that is not a Standard Webhooks secret.
func (r *pipelineRoutes) checkSecrets(ctx context.Context, team uuid.UUID, c *pipeline.Compiled) error {
	var problems []error
	for _, ref := range c.SecretRefs() {
		var err error
		if ref.Signing {
			var value []byte
			if value, err = r.vault.Open(ctx, team, ref.Name); err == nil {
				_, err = signature.ParseSecret(string(value))
				clear(value)
				if err != nil {
					problems = append(problems, &huma.ErrorDetail{Location: "body." + ref.Path, Message: fmt.Sprintf(
						"secret %q is not a Standard Webhooks signing secret (whsec_ followed by base64); rotate it to one", ref.Name)})
					continue
				}
			}
		} else {
			_, err = r.vault.Get(ctx, team, ref.Name)
		}
		switch {
		case errors.Is(err, core.ErrNotFound):
			problems = append(problems, secretRefErr("body."+ref.Path, ref.Name))
		case err != nil:
			return r.s.problem(ctx, err)
		}
	}
	if len(problems) > 0 {
		return huma.Error422UnprocessableEntity("The pipeline spec refers to a secret it cannot use; see errors.", problems...)
	}
	return nil
}

// secretUsers names the team's pipelines that refer to the secret.
func (r *pipelineRoutes) secretUsers(ctx context.Context, team uuid.UUID, name string) ([]string, error) {
	ps, err := r.store.Pipelines(ctx, team)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	var users []string
	for _, p := range ps {
		// A stored spec that no longer compiles still holds its
		// references: the kinds read what they can of it.
		for _, ref := range r.s.compiler.SecretRefsOf(p.Spec) {
			if ref.Name == name {
				users = append(users, p.Name)
				break
			}
		}
	}
	return users, nil
}

// parseIfMatch reads the version of an If-Match header: "3", W/"3" or 3.
func parseIfMatch(h string) (int, error) {
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

// publishControl tells live streams of a change; best effort.
func (r *pipelineRoutes) publishControl(ctx context.Context, event string, p core.Pipeline) {
	payload, _ := json.Marshal(ControlBody{Event: event, Pipeline: p.ID, Version: p.Version})
	if err := r.broker.Publish(context.WithoutCancel(ctx), pubsub.PipelineTopic(p.ID), pubsub.Message{Kind: pubsub.KindControl, Payload: payload}); err != nil && !errors.Is(err, pubsub.ErrClosed) {
		r.s.log.WarnContext(ctx, "publish pipeline event", logAttrs(ctx), "event", event, "pipeline", p.ID, "err", err)
	}
}

type specInput struct {
	TeamScope
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
	}, func(ctx context.Context, in *specInput) (*pipelineOutput, error) {
		team, role, err := r.s.teamRole(ctx, in.TeamScope, auth.Editor)
		if err != nil {
			return nil, err
		}
		c, canonical, err := r.compileSpec(ctx, team, in.RawBody)
		if err != nil {
			return nil, err
		}
		upstream, err := r.resolveUpstream(ctx, team, uuid.Nil, c)
		if err != nil {
			return nil, err
		}
		np := store.NewPipeline{Name: c.Spec.Name, Kind: c.Spec.Kind, Spec: canonical, Upstream: upstream}
		if c.Spec.Kind == core.KindWebhook {
			np.HookToken = auth.NewURLToken()
		}
		p, err := r.store.CreatePipeline(ctx, team, np)
		if err != nil {
			if perr := upstreamProblem(err); perr != nil {
				return nil, perr
			}
			return nil, r.nameProblem(ctx, err, c.Spec.Name)
		}
		if upstream != uuid.Nil {
			r.linksChanged(ctx)
		}
		r.pollChanged(ctx, p)
		return r.pipelineOutput(p, role, in.Origin.origin), nil
	})
	documentRawJSON(api, http.MethodPost, "/api/v1/pipelines", specType)

	huma.Register(api, huma.Operation{
		OperationID: "list-pipelines", Method: http.MethodGet, Path: "/api/v1/pipelines", Tags: tags,
		Summary: "List the team's pipelines", Description: "By name.",
	}, func(ctx context.Context, in *struct {
		TeamScope
		Origin RequestOrigin
	}) (*pipelinesOutput, error) {
		team, role, err := r.s.teamRole(ctx, in.TeamScope, auth.Viewer)
		if err != nil {
			return nil, err
		}
		ps, err := r.store.Pipelines(ctx, team)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		out := &pipelinesOutput{}
		out.Body.Pipelines = make([]PipelineBody, 0, len(ps))
		for _, p := range ps {
			out.Body.Pipelines = append(out.Body.Pipelines, r.pipelineBody(p, role, in.Origin.origin))
		}
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-pipeline", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}", Tags: tags,
		Summary: "Get a pipeline",
	}, func(ctx context.Context, in *struct {
		PipelineScope
		Origin RequestOrigin
	}) (*pipelineOutput, error) {
		p, role, err := r.pipelineRole(ctx, in.PipelineScope, auth.Viewer)
		if err != nil {
			return nil, err
		}
		out := r.pipelineOutput(p, role, in.Origin.origin)
		if err := r.addSinkStats(ctx, &out.Body); err != nil {
			return nil, err
		}
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "update-pipeline", Method: http.MethodPut, Path: "/api/v1/pipelines/{id}", Tags: tags,
		Summary: "Replace a pipeline's spec",
		Description: "The body is the whole new spec; the version grows by one. With If-Match (the ETag of a GET) or `version`, " +
			"the update is refused with 409 when the pipeline changed in between. The kind cannot change. Needs editor.",
	}, func(ctx context.Context, in *struct {
		PipelineScope
		IfMatch string `header:"If-Match" doc:"The ETag of the version the change is based on."`
		Version int    `query:"version" minimum:"0" doc:"The version the change is based on, as an alternative to If-Match."`
		Origin  RequestOrigin
		RawBody []byte
	}) (*pipelineOutput, error) {
		cur, role, err := r.pipelineRole(ctx, in.PipelineScope, auth.Editor)
		if err != nil {
			return nil, err
		}
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
		if want != 0 && want != cur.Version {
			return nil, versionConflict(want, cur.Version)
		}
		c, canonical, err := r.compileSpec(ctx, cur.TeamID, in.RawBody)
		if err != nil {
			return nil, err
		}
		if c.Spec.Kind != cur.Kind {
			return nil, huma.Error422UnprocessableEntity("The kind of a pipeline cannot change; create a new pipeline instead.",
				&huma.ErrorDetail{Location: "body.kind", Message: fmt.Sprintf("is %s and cannot become %s", cur.Kind, c.Spec.Kind)})
		}
		if want == 0 {
			want = cur.Version // still refuse to overwrite a change made since the read above
		}
		upstream, err := r.resolveUpstream(ctx, cur.TeamID, cur.ID, c)
		if err != nil {
			return nil, err
		}
		p, err := r.store.UpdatePipeline(ctx, cur.TeamID, cur.ID, store.PipelineUpdate{
			Name: c.Spec.Name, Kind: c.Spec.Kind, Spec: canonical, IfVersion: want, Upstream: upstream,
		})
		if err != nil {
			if perr := upstreamProblem(err); perr != nil {
				return nil, perr
			}
			if errors.Is(err, core.ErrConflict) && !r.nameTaken(ctx, cur, c.Spec.Name) {
				return nil, huma.Error409Conflict("The pipeline was changed by someone else at the same time; fetch it and apply your change again.")
			}
			return nil, r.nameProblem(ctx, err, c.Spec.Name)
		}
		r.hooks.forgetPipeline(p.ID)
		if p.Kind == core.KindP2P {
			r.linksChanged(ctx)
		}
		r.publishControl(ctx, "updated", p)
		r.pollChanged(ctx, p)
		return r.pipelineOutput(p, role, in.Origin.origin), nil
	})
	documentRawJSON(api, http.MethodPut, "/api/v1/pipelines/{id}", specType)

	for _, st := range []struct {
		verb, summary, event string
		status               core.PipelineStatus
	}{
		{"pause", "Pause a pipeline", "paused", core.StatusPaused},
		{"resume", "Resume a pipeline", "resumed", core.StatusActive},
	} {
		huma.Register(api, huma.Operation{
			OperationID: st.verb + "-pipeline", Method: http.MethodPost, Path: "/api/v1/pipelines/{id}/" + st.verb, Tags: tags,
			Summary:     st.summary,
			Description: "A paused pipeline takes no records: its webhook answers 409 and it is not polled. Needs editor.",
		}, func(ctx context.Context, in *struct {
			PipelineScope
			Origin RequestOrigin
		}) (*pipelineOutput, error) {
			team, role, err := r.s.teamRole(ctx, in.TeamScope, auth.Editor)
			if err != nil {
				return nil, err
			}
			p, err := r.store.SetPipelineStatus(ctx, team, in.ID, st.status)
			if err != nil {
				return nil, r.pipelineProblem(ctx, err)
			}
			r.hooks.forgetPipeline(p.ID)
			r.publishControl(ctx, st.event, p)
			if st.status == core.StatusActive {
				r.pollChanged(ctx, p)
			}
			return r.pipelineOutput(p, role, in.Origin.origin), nil
		})
	}

	huma.Register(api, huma.Operation{
		OperationID: "rotate-pipeline-token", Method: http.MethodPost, Path: "/api/v1/pipelines/{id}/rotate-token", Tags: tags,
		Summary:     "Give a webhook pipeline a new ingest URL",
		Description: "The old URL stops working at once on this node (within a second on others). Needs editor.",
	}, func(ctx context.Context, in *struct {
		PipelineScope
		Origin RequestOrigin
	}) (*pipelineOutput, error) {
		cur, role, err := r.pipelineRole(ctx, in.PipelineScope, auth.Editor)
		if err != nil {
			return nil, err
		}
		if cur.Kind != core.KindWebhook {
			return nil, huma.Error409Conflict(fmt.Sprintf("Only webhook pipelines have an ingest URL; this one is %s.", cur.Kind))
		}
		p, err := r.store.RotateHookToken(ctx, cur.TeamID, cur.ID, auth.NewURLToken())
		if err != nil {
			return nil, r.pipelineProblem(ctx, err)
		}
		r.hooks.forgetPipeline(p.ID)
		return r.pipelineOutput(p, role, in.Origin.origin), nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "delete-pipeline", Method: http.MethodDelete, Path: "/api/v1/pipelines/{id}", Tags: tags,
		Summary: "Delete a pipeline", Description: "With its records, rejected records and runs. Needs editor.",
		DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, in *PipelineScope) (*struct{}, error) {
		p, err := r.pipeline(ctx, *in, auth.Editor)
		if err != nil {
			return nil, err
		}
		if err := r.store.DeletePipeline(ctx, p.TeamID, p.ID); err != nil {
			return nil, r.pipelineProblem(ctx, err)
		}
		r.hooks.forgetPipeline(p.ID)
		r.linksChanged(ctx) // its links went with it
		r.engine.Forget(p.ID)
		r.cache.Forget(p.ID)
		r.publishControl(ctx, "deleted", p)
		return nil, nil
	})
}

func versionConflict(want, have int) error {
	return huma.Error409Conflict(fmt.Sprintf("The pipeline is at version %d, not %d: it changed since you read it; fetch it and apply your change again.", have, want))
}

// nameProblem maps a failed create or update: a name taken is a 409 that
// says so.
func (r *pipelineRoutes) nameProblem(ctx context.Context, err error, name string) error {
	if errors.Is(err, core.ErrConflict) {
		return huma.Error409Conflict(fmt.Sprintf("The team already has a pipeline named %q; choose another name.", name))
	}
	return r.pipelineProblem(ctx, err)
}

// nameTaken reports whether another pipeline of the team has the name.
func (r *pipelineRoutes) nameTaken(ctx context.Context, cur core.Pipeline, name string) bool {
	ps, err := r.store.Pipelines(ctx, cur.TeamID)
	if err != nil {
		return true // let the generic message stand
	}
	for _, p := range ps {
		if p.ID != cur.ID && p.Name == name {
			return true
		}
	}
	return false
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
