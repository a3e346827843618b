package graphql_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
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

func (c *countingStore) Records(ctx context.Context, team, id uuid.UUID, q store.RecordQuery) ([]core.Record, error) {
	c.n.Add(1)
	return c.Store.Records(ctx, team, id, q)
}

func (c *countingStore) RejectedRecords(ctx context.Context, team, id uuid.UUID, q store.RejectedQuery) ([]core.Rejected, error) {
	c.n.Add(1)
	return c.Store.RejectedRecords(ctx, team, id, q)
}

func (c *countingStore) Deliveries(ctx context.Context, team, id uuid.UUID, q store.DeliveryQuery) ([]core.Delivery, error) {
	c.n.Add(1)
	return c.Store.Deliveries(ctx, team, id, q)
}

func (c *countingStore) Replays(ctx context.Context, team, id uuid.UUID, sink string) ([]core.Replay, error) {
	c.n.Add(1)
	return c.Store.Replays(ctx, team, id, sink)
}

func (c *countingStore) Uploads(ctx context.Context, team, id uuid.UUID, q store.UploadQuery) ([]core.Upload, error) {
	c.n.Add(1)
	return c.Store.Uploads(ctx, team, id, q)
}

func (c *countingStore) StorageStats(ctx context.Context, team, id uuid.UUID) (store.StorageStats, error) {
	c.n.Add(1)
	return c.Store.StorageStats(ctx, team, id)
}

func (c *countingStore) PollSchedule(ctx context.Context, team, id uuid.UUID) (store.PollSchedule, error) {
	c.n.Add(1)
	return c.Store.PollSchedule(ctx, team, id)
}

func (c *countingStore) RecordsOfPipelines(ctx context.Context, team uuid.UUID, ids []uuid.UUID, q store.RecordQuery) (map[uuid.UUID][]core.Record, error) {
	c.n.Add(1)
	return c.Store.(store.BatchReads).RecordsOfPipelines(ctx, team, ids, q)
}

func (c *countingStore) RejectedOfPipelines(ctx context.Context, team uuid.UUID, ids []uuid.UUID, n int) (map[uuid.UUID][]core.Rejected, error) {
	c.n.Add(1)
	return c.Store.(store.BatchReads).RejectedOfPipelines(ctx, team, ids, n)
}

func (c *countingStore) DeliveriesOfPipelines(ctx context.Context, team uuid.UUID, ids []uuid.UUID, q store.DeliveryQuery) (map[uuid.UUID][]core.Delivery, error) {
	c.n.Add(1)
	return c.Store.(store.BatchReads).DeliveriesOfPipelines(ctx, team, ids, q)
}

func (c *countingStore) ReplaysOfPipelines(ctx context.Context, team uuid.UUID, ids []uuid.UUID, sink string) (map[uuid.UUID][]core.Replay, error) {
	c.n.Add(1)
	return c.Store.(store.BatchReads).ReplaysOfPipelines(ctx, team, ids, sink)
}

func (c *countingStore) UploadsOfPipelines(ctx context.Context, team uuid.UUID, ids []uuid.UUID, n int) (map[uuid.UUID][]core.Upload, error) {
	c.n.Add(1)
	return c.Store.(store.BatchReads).UploadsOfPipelines(ctx, team, ids, n)
}

func (c *countingStore) StorageStatsOfPipelines(ctx context.Context, team uuid.UUID, ids []uuid.UUID) (map[uuid.UUID]store.StorageStats, error) {
	c.n.Add(1)
	return c.Store.(store.BatchReads).StorageStatsOfPipelines(ctx, team, ids)
}

func (c *countingStore) PollSchedulesOfPipelines(ctx context.Context, team uuid.UUID, ids []uuid.UUID) (map[uuid.UUID]store.PollSchedule, error) {
	c.n.Add(1)
	return c.Store.(store.BatchReads).PollSchedulesOfPipelines(ctx, team, ids)
}

// ListQuery is the pipelines list with runs and sinks of the benchmark.
const ListQuery = `{ pipelines { nodes { id name status stats { recordCount } runs(first: 5) { edges { node { id stored startedAt } } pageInfo { hasNextPage } }
	sinks { name kind status delivered } } } }`

// childrenQuery asks for every child of a pipeline the loaders batch
// (all but series, a chart read per pipeline).
const childrenQuery = `{ pipelines(first: 1000) { totalCount nodes { id name status stats { recordCount }
	runs(first: 5) { edges { node { id stored startedAt } } pageInfo { hasNextPage } }
	sinks { name kind status delivered downstream { id } }
	records(first: 3) { edges { node { id } } }
	rejectedRecords(first: 3) { edges { node { id } } }
	deliveries(first: 3) { edges { node { id } } }
	replays(sink: "a") { id }
	uploads(first: 3) { id }
	storage { records storedBytes }
	schedule { interval nextDue } } } }`

// TestListQueryCount: listing pipelines with their runs and sinks, or
// with every child the loaders batch, makes the same number of store
// reads for 10 pipelines as for 100.
func TestListQueryCount(t *testing.T) {
	type listed struct {
		Runs struct {
			Edges []json.RawMessage `json:"edges"`
		} `json:"runs"`
		Sinks    []json.RawMessage `json:"sinks"`
		Schedule *struct {
			Interval string `json:"interval"`
		} `json:"schedule"`
	}
	for _, backend := range storetest.Backends {
		t.Run(backend, func(t *testing.T) {
			st := &countingStore{Store: storetest.Open(t, backend)}
			url, team := serveCounting(t, st)
			counts := map[string]map[int]int64{}
			for _, n := range []int{10, 100} {
				for i := len(counts["list"]) * 10; i < n; i++ {
					addPipeline(t, st, team, fmt.Sprintf("p%03d", i), i%5 == 0)
				}
				for name, query := range map[string]string{"list": ListQuery, "children": childrenQuery} {
					st.n.Store(0)
					ps := decode[struct {
						Nodes []listed `json:"nodes"`
					}](t, post(t, url, "", query, nil), "pipelines").Nodes
					if len(ps) != n || len(ps[0].Runs.Edges) != 2 || len(ps[0].Sinks) != 2 {
						t.Fatalf("%s, %d pipelines: %d, first %+v", name, n, len(ps), ps[0])
					}
					if name == "children" && (ps[0].Schedule == nil || ps[1].Schedule != nil) {
						t.Fatalf("schedules: polling %+v, webhook %+v", ps[0].Schedule, ps[1].Schedule)
					}
					if counts[name] == nil {
						counts[name] = map[int]int64{}
					}
					counts[name][n] = st.n.Load()
				}
			}
			for name, c := range counts {
				t.Logf("%s, %s: store reads for 10 pipelines: %d, for 100: %d", backend, name, c[10], c[100])
				if c[10] != c[100] {
					t.Errorf("%s: store reads grow with the pipelines: %v", name, c)
				}
			}
		})
	}
}

// TestPipelinesPaging pages through a team's pipelines: every pipeline
// once, by name, with the connection's counts and cursors.
func TestPipelinesPaging(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	url, team := serveCounting(t, st)
	for i := range 25 {
		addPipeline(t, st, team, fmt.Sprintf("p%03d", i), false)
	}
	const query = `query($after: String) { pipelines(first: 10, after: $after) { totalCount
		pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { name } } } }`
	var names []string
	var after any
	for page := 0; ; page++ {
		p := decode[pipelinePage](t, post(t, url, "", query, map[string]any{"after": after}), "pipelines")
		if p.TotalCount != 25 || p.PageInfo.HasPreviousPage != (page > 0) || len(p.Edges) == 0 ||
			*p.PageInfo.StartCursor != p.Edges[0].Cursor || *p.PageInfo.EndCursor != p.Edges[len(p.Edges)-1].Cursor {
			t.Fatalf("page %d: %+v", page, p)
		}
		for _, e := range p.Edges {
			names = append(names, e.Node.Name)
		}
		if !p.PageInfo.HasNextPage {
			break
		}
		after = *p.PageInfo.EndCursor
	}
	if len(names) != 25 || !slices.IsSorted(names) || names[0] != "p000" || names[24] != "p024" {
		t.Fatalf("paged names: %v", names)
	}
	// A cursor outlives its pipeline: the next page starts after it.
	p := decode[pipelinePage](t, post(t, url, "", query, nil), "pipelines")
	del := p.Edges[9].Node.Name
	ps, err := st.Pipelines(t.Context(), team)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ps {
		if x.Name == del {
			if err := st.DeletePipeline(t.Context(), team, x.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	next := decode[pipelinePage](t, post(t, url, "", query, map[string]any{"after": *p.PageInfo.EndCursor}), "pipelines")
	if next.TotalCount != 24 || next.Edges[0].Node.Name != "p010" {
		t.Fatalf("after a deleted cursor: %+v", next)
	}
	// The team's other lists page alike: secrets two at a time.
	for _, name := range []string{"c", "a", "d", "b", "e"} {
		post(t, url, "", `mutation($n: String!) { createSecret(name: $n, value: "v") { name } }`, map[string]any{"n": name})
	}
	var secrets []string
	after = nil
	for range 5 {
		p := decode[struct {
			Nodes    []struct{ Name string }
			PageInfo struct {
				HasNextPage bool
				EndCursor   string
			}
			TotalCount int
		}](t, post(t, url, "", `query($after: String) { secrets(first: 2, after: $after) { totalCount nodes { name } pageInfo { hasNextPage endCursor } } }`,
			map[string]any{"after": after}), "secrets")
		for _, n := range p.Nodes {
			secrets = append(secrets, n.Name)
		}
		if p.TotalCount != 5 || !p.PageInfo.HasNextPage {
			break
		}
		after = p.PageInfo.EndCursor
	}
	if strings.Join(secrets, "") != "abcde" {
		t.Fatalf("paged secrets: %v", secrets)
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
	h := graphql.NewHandler(graphql.Options{MaxComplexity: 1_000_000}, graphql.Deps{Service: svc, Broker: broker, Recent: rc, Warmer: eng})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(account.WithPrincipal(r.Context(), p)))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, team.ID
}

// addPipeline stores a webhook (or polling) pipeline with two sinks, a
// sink state and two runs.
func addPipeline(t testing.TB, st store.Store, team uuid.UUID, name string, polling bool) {
	t.Helper()
	ctx := context.Background()
	sinks := `"sinks":[{"name":"a","http":{"url":"https://93.184.215.14/a"}},{"name":"b","http":{"url":"https://93.184.215.14/b"}}]`
	np := store.NewPipeline{Name: name, Kind: core.KindWebhook, HookToken: uuid.NewString(),
		Spec: json.RawMessage(fmt.Sprintf(`{"name":%q,"kind":"webhook",%s}`, name, sinks))}
	if polling {
		np = store.NewPipeline{Name: name, Kind: core.KindPolling,
			Spec: json.RawMessage(fmt.Sprintf(`{"name":%q,"kind":"polling","source":{"http":{"url":"https://93.184.215.14/x"},"interval":"1h"},%s}`, name, sinks))}
	}
	p, err := st.CreatePipeline(ctx, team, np)
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
