package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/httpapi"
	"github.com/tributary-dev/tributary/internal/ingest"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/secrets"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
	"github.com/tributary-dev/tributary/internal/vault"
)

// env is a server with the pipeline routes on a fresh database, and the
// parts behind it for arranging and inspecting.
type env struct {
	t        testing.TB
	backend  string
	store    store.Store
	accounts *account.Service
	engine   *engine.Engine
	cache    *cache.Memory
	broker   *pubsub.Memory
	srv      *httptest.Server
	logs     *syncBuffer

	mu     sync.Mutex
	bodies [][]byte // every response body, for leak checks
}

// envConfig is what an envOption may change: the pipeline routes'
// settings and, as Ingest, the webhook ingest service's.
type envConfig struct {
	httpapi.PipelinesConfig
	Ingest ingest.Config
	// PushRunInterval is the engine's; zero means its default.
	PushRunInterval time.Duration
	// APILimiter is the server's API limit; nil: none.
	APILimiter httpapi.Limiter
}

type envOption func(*envConfig)

// eachBackend runs fn as one parallel subtest per storage backend, each on
// its own database.
func eachBackend(t *testing.T, fn func(t *testing.T, e *env), opts ...envOption) {
	t.Helper()
	t.Parallel()
	for _, b := range storetest.Backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, setup(t, b, opts...))
		})
	}
}

func setup(t testing.TB, backend string, opts ...envOption) *env {
	t.Helper()
	st := storetest.Open(t, backend)
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	broker, err := pubsub.NewMemory(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Close() })
	var cfg envConfig
	for _, o := range opts {
		o(&cfg)
	}
	eng, err := engine.New(engine.Config{Compiler: compiler, PushRunInterval: cfg.PushRunInterval}, st, c, broker, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	accounts := account.New(st, time.Hour)
	key, err := secrets.ParseKey(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{Version: "test", MaxBodyBytes: 1 << 20, SessionTTL: time.Hour},
		httpapi.Deps{Accounts: accounts, Ready: st, Logger: log, Registry: prometheus.NewRegistry(), Compiler: compiler,
			Idempotency: st, Sealer: secrets.NewBox(key), APILimiter: cfg.APILimiter})
	v := vault.New(st, secrets.NewBox(key))
	hooks := ingest.New(cfg.Ingest, ingest.Deps{Store: st, Engine: eng, Secrets: v, Logger: log})
	api.RegisterHooks(hooks)
	svc, err := orchestrator.New(orchestrator.Config{Logger: log}, orchestrator.Deps{
		Store: st, Compiler: compiler, Vault: v, Engine: eng, Broker: broker, Cache: c, Hooks: hooks,
	})
	if err != nil {
		t.Fatal(err)
	}
	routes := api.RegisterPipelines(cfg.PipelinesConfig, httpapi.PipelinesDeps{
		Store: st, Engine: eng, Vault: v, Cache: c, Broker: broker, Service: svc,
	})
	srv := httptest.NewUnstartedServer(api.Handler())
	srv.Config.RegisterOnShutdown(routes.CloseStreams)
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(routes.CloseStreams)
	e := &env{t: t, backend: backend, store: st, accounts: accounts, engine: eng, cache: c, broker: broker, srv: srv, logs: logs}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	return e
}

// team is a team with an API token per role.
type team struct {
	id                           uuid.UUID
	owner, admin, editor, viewer string
}

var teamSeq struct {
	sync.Mutex
	n int
}

// newTeam creates a team owned by a new user, with a token per role.
func (e *env) newTeam() team {
	e.t.Helper()
	teamSeq.Lock()
	teamSeq.n++
	n := teamSeq.n
	teamSeq.Unlock()
	_, tm, err := e.accounts.CreateUser(e.ctx(), fmt.Sprintf("owner%d-%s@example.com", n, uuid.NewString()[:8]),
		"correct horse battery staple", fmt.Sprintf("Team %d %s", n, uuid.NewString()[:8]), auth.Owner)
	if err != nil {
		e.t.Fatal(err)
	}
	out := team{id: tm.ID}
	for _, r := range []struct {
		role auth.Role
		dst  *string
	}{{auth.Owner, &out.owner}, {auth.Admin, &out.admin}, {auth.Editor, &out.editor}, {auth.Viewer, &out.viewer}} {
		_, secret, err := e.accounts.IssueToken(e.ctx(), tm.ID, "test "+string(r.role), r.role, nil, nil)
		if err != nil {
			e.t.Fatal(err)
		}
		*r.dst = secret
	}
	return out
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// resp is a response read in full.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// json decodes the body into v.
func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r, err)
	}
}

// problem decodes an RFC 9457 body.
type problem struct {
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
	Errors    []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
	} `json:"errors"`
}

func (r resp) problem(t testing.TB) problem {
	t.Helper()
	var p problem
	r.json(t, &p)
	return p
}

// do sends a request with a bearer token (none when empty) and a body:
// []byte and string are sent as they are, anything else as JSON.
func (e *env) do(method, path, token string, body any, header ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(e.ctx(), method, e.url(path), rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.send(req)
}

func (e *env) url(path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	return e.srv.URL + path
}

func (e *env) send(req *http.Request) resp {
	e.t.Helper()
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	e.bodies = append(e.bodies, b)
	e.mu.Unlock()
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// want fails the test unless r has the status.
func want(t testing.TB, r resp, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

// pipelineBody is the part of a pipeline response the tests read.
type pipelineBody struct {
	ID        uuid.UUID       `json:"id"`
	Version   int             `json:"version"`
	Status    string          `json:"status"`
	Name      string          `json:"name"`
	Kind      string          `json:"kind"`
	Spec      json.RawMessage `json:"spec"`
	IngestURL string          `json:"ingest_url"`
	// IngestTokenPrefix identifies the ingest URL after it was shown.
	IngestTokenPrefix string `json:"ingest_token_prefix"`
	Stats             struct {
		RecordCount   int64 `json:"record_count"`
		RejectedCount int64 `json:"rejected_count"`
	} `json:"stats"`
}

// createPipeline creates a pipeline from a spec and returns it.
func (e *env) createPipeline(tm team, spec string) pipelineBody {
	e.t.Helper()
	r := e.do("POST", "/api/v1/pipelines", tm.editor, spec)
	want(e.t, r, http.StatusCreated)
	var p pipelineBody
	r.json(e.t, &p)
	return p
}

// webhookSpec is a webhook pipeline spec with extra top-level members.
func webhookSpec(name string, extra ...string) string {
	parts := append([]string{fmt.Sprintf(`"name": %q`, name), `"kind": "webhook"`}, extra...)
	if !strings.Contains(strings.Join(extra, ""), `"source"`) {
		parts = append(parts, `"source": {"webhook": {}}`)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// syncBuffer is a bytes.Buffer safe for concurrent use (the logger).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPipelineLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		p := e.createPipeline(tm, webhookSpec("orders", `"mapping": {"fields": {"amount": {"type": "number"}}}`))
		if p.ID == uuid.Nil || p.Version != 1 || p.Status != "active" || p.Name != "orders" || p.Kind != "webhook" {
			t.Fatalf("created %+v", p)
		}
		if !strings.HasPrefix(p.IngestURL, e.srv.URL+"/hooks/") || len(p.IngestURL) < len(e.srv.URL)+len("/hooks/")+16 {
			t.Fatalf("ingest_url = %q", p.IngestURL)
		}
		// The stored spec has its defaults filled in.
		var spec map[string]any
		if err := json.Unmarshal(p.Spec, &spec); err != nil || spec["persist"] != true || spec["retention"] != "30d" {
			t.Fatalf("spec = %s (%v)", p.Spec, err)
		}
		path := "/api/v1/pipelines/" + p.ID.String()

		// Read: anyone in the team. The ingest URL was shown once, at
		// create (the server keeps only its hash); editors see the
		// prefix of its token, viewers nothing of it.
		r := e.do("GET", path, tm.viewer, nil)
		want(t, r, http.StatusOK)
		var got pipelineBody
		r.json(t, &got)
		if got.ID != p.ID || got.IngestURL != "" || got.IngestTokenPrefix != "" || r.header.Get("ETag") != `"1"` {
			t.Fatalf("viewer GET = %+v, ETag %q", got, r.header.Get("ETag"))
		}
		token := p.IngestURL[strings.LastIndex(p.IngestURL, "/")+1:]
		if p.IngestTokenPrefix == "" || !strings.HasPrefix(token, p.IngestTokenPrefix) || len(p.IngestTokenPrefix) >= len(token) {
			t.Fatalf("created: ingest_token_prefix %q of %q", p.IngestTokenPrefix, token)
		}
		r = e.do("GET", path, tm.editor, nil)
		got = pipelineBody{}
		r.json(t, &got)
		if got.IngestURL != "" || got.IngestTokenPrefix != p.IngestTokenPrefix {
			t.Fatalf("editor GET ingest_url = %q, prefix %q; want no URL and prefix %q", got.IngestURL, got.IngestTokenPrefix, p.IngestTokenPrefix)
		}
		if r := e.do("GET", path, tm.editor, nil); strings.Contains(string(r.body), token) {
			t.Fatalf("GET shows the token: %s", r.body)
		}
		r = e.do("GET", "/api/v1/pipelines", tm.viewer, nil)
		want(t, r, http.StatusOK)
		var list struct{ Pipelines []pipelineBody }
		r.json(t, &list)
		if len(list.Pipelines) != 1 || list.Pipelines[0].ID != p.ID {
			t.Fatalf("list = %s", r.body)
		}

		// Write: editors only.
		want(t, e.do("POST", "/api/v1/pipelines", tm.viewer, webhookSpec("nope")), http.StatusForbidden)
		want(t, e.do("POST", path+"/pause", tm.viewer, nil), http.StatusForbidden)
		want(t, e.do("DELETE", path, tm.viewer, nil), http.StatusForbidden)
		want(t, e.do("POST", "/api/v1/pipelines", "", webhookSpec("nope")), http.StatusUnauthorized)

		// Update with optimistic locking.
		r = e.do("PUT", path, tm.editor, webhookSpec("orders-v2"), "If-Match", `"1"`)
		want(t, r, http.StatusOK)
		r.json(t, &got)
		if got.Version != 2 || got.Name != "orders-v2" || r.header.Get("ETag") != `"2"` || got.IngestURL != "" || got.IngestTokenPrefix != p.IngestTokenPrefix {
			t.Fatalf("updated %+v ETag %q", got, r.header.Get("ETag"))
		}
		r = e.do("PUT", path, tm.editor, webhookSpec("orders-v3"), "If-Match", `"1"`)
		want(t, r, http.StatusConflict)
		want(t, e.do("PUT", path+"?version=1", tm.editor, webhookSpec("orders-v3")), http.StatusConflict)
		want(t, e.do("PUT", path+"?version=2", tm.editor, webhookSpec("orders-v3")), http.StatusOK)
		want(t, e.do("PUT", path, tm.editor, webhookSpec("orders-v4"), "If-Match", "garbage"), http.StatusUnprocessableEntity)
		r = e.do("PUT", path, tm.editor, `{"name": "x", "kind": "polling", "source": {"http": {"url": "https://example.com"}, "interval": "60s"}}`)
		want(t, r, http.StatusUnprocessableEntity)
		if pr := r.problem(t); len(pr.Errors) != 1 || pr.Errors[0].Location != "body.kind" {
			t.Fatalf("kind change: %s", r.body)
		}
		// A name taken by another pipeline of the team.
		e.createPipeline(tm, webhookSpec("other"))
		r = e.do("PUT", path, tm.editor, webhookSpec("other"))
		want(t, r, http.StatusConflict)
		if !strings.Contains(r.problem(t).Detail, `named "other"`) {
			t.Fatalf("name conflict: %s", r.body)
		}
		want(t, e.do("POST", "/api/v1/pipelines", tm.editor, webhookSpec("other")), http.StatusConflict)

		// Pause and resume.
		r = e.do("POST", path+"/pause", tm.editor, nil)
		want(t, r, http.StatusOK)
		if r.json(t, &got); got.Status != "paused" {
			t.Fatalf("paused: %s", r.body)
		}
		want(t, e.do("POST", p.IngestURL, "", `{"amount": 1}`), http.StatusConflict)
		r = e.do("POST", path+"/resume", tm.editor, nil)
		if r.json(t, &got); got.Status != "active" {
			t.Fatalf("resumed: %s", r.body)
		}
		want(t, e.do("POST", p.IngestURL, "", `{"amount": 1}`), http.StatusAccepted)

		// Rotating the token retires the old URL at once.
		r = e.do("POST", path+"/rotate-token", tm.editor, nil)
		want(t, r, http.StatusOK)
		r.json(t, &got)
		if got.IngestURL == p.IngestURL || got.IngestURL == "" {
			t.Fatalf("rotated ingest_url = %q", got.IngestURL)
		}
		old := e.do("POST", p.IngestURL, "", `{"amount": 1}`)
		want(t, old, http.StatusNotFound)
		want(t, e.do("POST", got.IngestURL, "", `{"amount": 1}`), http.StatusAccepted)

		// Delete: gone for the API and for the webhook.
		want(t, e.do("DELETE", path, tm.editor, nil), http.StatusNoContent)
		want(t, e.do("GET", path, tm.viewer, nil), http.StatusNotFound)
		deleted := e.do("POST", got.IngestURL, "", `{"amount": 1}`)
		want(t, deleted, http.StatusNotFound)
		// Alike but for the request id, which every error carries.
		if d, o := deleted.problem(t), old.problem(t); d.Detail != o.Detail || d.Status != o.Status {
			t.Fatalf("a deleted pipeline's hook answers %s, an unknown token %s", deleted.body, old.body)
		}
		want(t, e.do("DELETE", path, tm.editor, nil), http.StatusNotFound)
	})
}

func TestPipelineBaseURL(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		p := e.createPipeline(tm, webhookSpec("hooked"))
		if !strings.HasPrefix(p.IngestURL, "https://tributary.example.com/hooks/") {
			t.Fatalf("ingest_url = %q", p.IngestURL)
		}
		// Not a webhook: no ingest URL, no token to rotate.
		r := e.do("POST", "/api/v1/pipelines", tm.editor, `{"name": "poll", "kind": "polling", "source": {"http": {"url": "https://example.com"}, "interval": "60s"}}`)
		want(t, r, http.StatusCreated)
		var poll pipelineBody
		r.json(t, &poll)
		if poll.IngestURL != "" {
			t.Fatalf("polling pipeline has ingest_url %q", poll.IngestURL)
		}
		want(t, e.do("POST", "/api/v1/pipelines/"+poll.ID.String()+"/rotate-token", tm.editor, nil), http.StatusConflict)
	}, func(c *envConfig) { c.BaseURL = "https://tributary.example.com/" })
}

func TestPipelineSpecProblems(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		for _, tc := range []struct {
			name, spec string
			locations  []string // of the errors entries
			message    string   // in one of them
		}{
			{"unknown field", webhookSpec("a", `"colour": "red"`), []string{"body.colour"}, "unknown field"},
			{"misspelt nested field", webhookSpec("a", `"source": {"webhook": {"signing_secrt": "x"}}`), []string{"body.source.webhook.signing_secrt"}, "signing_secret"},
			{"syntax", `{"name": "a",, }`, []string{"body"}, "line 1, column"},
			{"expression", webhookSpec("a", `"mapping": {"fields": {"t": {"expr": "value +* 2"}}}`), []string{"body.mapping.fields.t.expr"}, "line 1, column"},
			{"several", `{"kind": "webhook", "source": {"webhook": {}}, "retention": "soon"}`, []string{"body.name", "body.retention"}, "is required"},
			{"missing secret", webhookSpec("a", `"source": {"webhook": {"signing_secret": "nope"}}`), []string{"body.source.webhook.signing_secret"}, `no secret named "nope"`},
			{"empty", ``, nil, ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do("POST", "/api/v1/pipelines", tm.editor, tc.spec)
				if tc.locations == nil {
					if r.status != http.StatusBadRequest && r.status != http.StatusUnprocessableEntity {
						t.Fatalf("status %d: %s", r.status, r.body)
					}
					return
				}
				want(t, r, http.StatusUnprocessableEntity)
				p := r.problem(t)
				var locs []string
				found := false
				for _, d := range p.Errors {
					locs = append(locs, d.Location)
					found = found || strings.Contains(d.Message, tc.message)
				}
				if strings.Join(locs, ",") != strings.Join(tc.locations, ",") || !found {
					t.Fatalf("errors at %v, want %v with %q: %s", locs, tc.locations, tc.message, r.body)
				}
			})
		}
		r := e.do("GET", "/api/v1/pipelines", tm.viewer, nil)
		if !strings.Contains(string(r.body), `"pipelines":[]`) {
			t.Fatalf("refused specs were saved: %s", r.body)
		}
	})
}
