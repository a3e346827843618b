package graphql_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/graphql"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	pipelinedoc "github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/secrets"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/source"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
	"github.com/tributary-dev/tributary/internal/vault"
)

// countingStore counts the reads a pipelines list with runs and sinks
// makes; each of these store methods runs one SQL statement.
type countingStore struct {
	store.Store
	n atomic.Int64
}

func (c *countingStore) Pipelines(ctx context.Context, team uuid.UUID) ([]core.Pipeline, error) {
	c.n.Add(1)
	return c.Store.Pipelines(ctx, team)
}

func (c *countingStore) Pipeline(ctx context.Context, team, id uuid.UUID) (core.Pipeline, error) {
	c.n.Add(1)
	return c.Store.Pipeline(ctx, team, id)
}

func (c *countingStore) Runs(ctx context.Context, team, id uuid.UUID, q store.RunQuery) ([]core.Run, error) {
	c.n.Add(1)
	return c.Store.Runs(ctx, team, id, q)
}

func (c *countingStore) SinkStates(ctx context.Context, team, id uuid.UUID) ([]core.SinkState, error) {
	c.n.Add(1)
	return c.Store.SinkStates(ctx, team, id)
}

func (c *countingStore) Downstreams(ctx context.Context, team, id uuid.UUID) ([]uuid.UUID, error) {
	c.n.Add(1)
	return c.Store.Downstreams(ctx, team, id)
}

func (c *countingStore) RunsOfPipelines(ctx context.Context, team uuid.UUID, ids []uuid.UUID, n int) (map[uuid.UUID][]core.Run, error) {
	c.n.Add(1)
	return c.Store.(store.BatchReads).RunsOfPipelines(ctx, team, ids, n)
}

func (c *countingStore) SinkStatesOfPipelines(ctx context.Context, team uuid.UUID, ids []uuid.UUID) (map[uuid.UUID][]core.SinkState, error) {
	c.n.Add(1)
	return c.Store.(store.BatchReads).SinkStatesOfPipelines(ctx, team, ids)
}

func (c *countingStore) DownstreamsOfPipelines(ctx context.Context, team uuid.UUID, ids []uuid.UUID) (map[uuid.UUID][]uuid.UUID, error) {
	c.n.Add(1)
	return c.Store.(store.BatchReads).DownstreamsOfPipelines(ctx, team, ids)
}

// ListQuery is the pipelines list with runs and sinks of the N+1 check
// and the benchmark.
const ListQuery = `{ pipelines { id name status stats { recordCount } runs(first: 5) { edges { node { id stored startedAt } } pageInfo { hasNextPage } }
	sinks { name kind status delivered } } }`

// TestListQueryCount: listing pipelines with their runs and sinks makes
// the same number of store reads for 10 pipelines as for 100.
func TestListQueryCount(t *testing.T) {
	for _, backend := range storetest.Backends {
		t.Run(backend, func(t *testing.T) {
			st := &countingStore{Store: storetest.Open(t, backend)}
			url, team := serveCounting(t, st)
			counts := map[int]int64{}
			for _, n := range []int{10, 100} {
				for i := len(counts) * 10; i < n; i++ {
					addPipeline(t, st, team, fmt.Sprintf("p%03d", i))
				}
				st.n.Store(0)
				r := post(t, url, "", ListQuery, nil)
				ps := decode[[]struct {
					Runs struct {
						Edges []json.RawMessage `json:"edges"`
					} `json:"runs"`
					Sinks []json.RawMessage `json:"sinks"`
				}](t, r, "pipelines")
				if len(ps) != n || len(ps[0].Runs.Edges) != 2 || len(ps[0].Sinks) != 2 {
					t.Fatalf("%d pipelines: %d, first %+v", n, len(ps), ps[0])
				}
				counts[n] = st.n.Load()
			}
			t.Logf("%s: store reads for 10 pipelines: %d, for 100: %d", backend, counts[10], counts[100])
			if counts[10] != counts[100] {
				t.Fatalf("store reads grow with the pipelines: %v", counts)
			}
		})
	}
}

// serveCounting serves the GraphQL handler over st for an admin token of
// a new team, which every request acts as.
func serveCounting(t testing.TB, st store.Store) (string, uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	compiler := pipelinedoc.NewCompiler(source.Builtin(), sink.NewRegistry(sink.HTTPKind))
	rc, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	broker, err := pubsub.NewMemory(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Close() })
	eng, err := engine.New(engine.Config{Compiler: compiler}, st, rc, broker, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close(context.Background()) })
	svc, err := orchestrator.New(orchestrator.Config{}, orchestrator.Deps{Store: st, Compiler: compiler,
		Vault: vault.New(st, secrets.NewBox(secrets.GenerateKey())), Engine: eng, Broker: broker, Cache: rc})
	if err != nil {
		t.Fatal(err)
	}
	owner, err := st.CreateUser(ctx, store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := st.CreateTeam(ctx, store.NewTeam{Name: "T", Slug: "t-" + uuid.NewString()[:8]}, owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	p := &account.Principal{Token: &core.Token{ID: core.NewID(), TeamID: team.ID, Role: auth.Admin}}
	h := graphql.NewHandler(graphql.Options{MaxComplexity: 10000}, graphql.Deps{Service: svc, Broker: broker, Recent: rc, Warmer: eng})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(account.WithPrincipal(r.Context(), p)))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, team.ID
}

// addPipeline stores a webhook pipeline with two sinks, a sink state and
// two runs.
func addPipeline(t testing.TB, st store.Store, team uuid.UUID, name string) {
	t.Helper()
	ctx := context.Background()
	spec := fmt.Sprintf(`{"name":%q,"kind":"webhook","sinks":[{"name":"a","http":{"url":"https://93.184.215.14/a"}},{"name":"b","http":{"url":"https://93.184.215.14/b"}}]}`, name)
	p, err := st.CreatePipeline(ctx, team, store.NewPipeline{Name: name, Kind: core.KindWebhook, Spec: json.RawMessage(spec), HookToken: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		b := &store.Batch{TeamID: team, PipelineID: p.ID, Version: 1, Persist: true,
			Records: []core.Record{{TS: core.Now(), Data: json.RawMessage(`{"v":1}`)}},
			Run:     core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now(), Fetched: 1, Stored: 1}}
		if err := st.WriteBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.SetSinkStatus(ctx, team, p.ID, "a", core.SinkFailing, "down"); err != nil {
		t.Fatal(err)
	}
}
