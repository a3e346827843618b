package p2p_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/p2p"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// workerEnv is a store, an engine and a team on a fresh database.
type workerEnv struct {
	st   store.Store
	eng  *engine.Engine
	team core.Team
	log  *slog.Logger
}

// eachBackend runs fn as a parallel subtest on each storage backend.
func eachBackend(t *testing.T, fn func(t *testing.T, e *workerEnv)) {
	t.Helper()
	t.Parallel()
	for _, name := range storetest.Backends {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, newWorkerEnv(t, name))
		})
	}
}

func newWorkerEnv(t *testing.T, backend string) *workerEnv {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, backend)
	eng, err := engine.New(engine.Config{Compiler: compiler}, st, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	u, err := st.CreateUser(ctx, store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := st.CreateTeam(ctx, store.NewTeam{Name: "T", Slug: "t-" + uuid.NewString()[:8]}, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return &workerEnv{st: st, eng: eng, team: team, log: slog.New(slog.DiscardHandler)}
}

// pipeline saves a pipeline from its document, linked to upstream unless
// it is uuid.Nil.
func (e *workerEnv) pipeline(t *testing.T, doc string, upstream uuid.UUID) core.Pipeline {
	t.Helper()
	c, err := compiler.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := c.Spec.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.st.CreatePipeline(context.Background(), e.team.ID, store.NewPipeline{Name: c.Spec.Name, Kind: c.Spec.Kind, Spec: spec,
		HookToken: uuid.NewString(), Upstream: upstream})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// count returns how many records and runs p has.
func (e *workerEnv) count(t *testing.T, p core.Pipeline) (records, runs int) {
	t.Helper()
	ctx := context.Background()
	recs, err := e.st.Records(ctx, p.TeamID, p.ID, store.RecordQuery{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := e.st.Runs(ctx, p.TeamID, p.ID, store.RunQuery{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return len(recs), len(rs)
}

// TestP2PDispatchFallback: a node whose link index is stale enqueues a
// dispatch job with the batch, and the dispatch finds the downstream in
// the store: the batch still arrives.
func TestP2PDispatchFallback(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *workerEnv) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		up := e.pipeline(t, `{"name":"up","kind":"webhook"}`, uuid.Nil)
		down := e.pipeline(t, `{"name":"down","kind":"p2p","source":{"pipeline":{"upstream":"up"}}}`, up.ID)

		stale, err := p2p.NewIndex(p2p.IndexConfig{}, e.st, nil, nil) // never started: never trusted
		if err != nil {
			t.Fatal(err)
		}
		e.eng.AddFanout(p2p.NewFanout(stale, nil))
		cfg := &river.Config{
			Queues:        map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}},
			FetchCooldown: 20 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond, TestOnly: true,
		}
		p2p.Workers{Store: e.st, Engine: e.eng, Log: e.log}.Register(cfg)
		client, err := e.st.NewJobClient(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = client.Stop(context.Background()) })

		c, err := e.eng.Compiled(up)
		if err != nil {
			t.Fatal(err)
		}
		inputs := []any{map[string]any{"v": 1, "ts": "2026-01-01T00:00:00Z"}, map[string]any{"v": 2, "ts": "2026-01-01T00:00:01Z"}}
		if _, err := e.eng.RunBatch(ctx, up, c, inputs, core.TriggerWebhook, nil); err != nil {
			t.Fatal(err)
		}
		for {
			recs, err := e.st.Records(ctx, e.team.ID, down.ID, store.RecordQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 2 {
				if !recs[0].TS.Equal(time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)) {
					t.Fatalf("downstream records = %+v", recs)
				}
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("the downstream has %d records, want 2", len(recs))
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
}

// TestP2PWorkerChecksTheLink: a job from a stale index for a link that
// moved, or for a deleted pipeline, runs nothing.
func TestP2PWorkerChecksTheLink(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *workerEnv) {
		ctx := context.Background()
		up := e.pipeline(t, `{"name":"up","kind":"webhook","persist":false}`, uuid.Nil)
		other := e.pipeline(t, `{"name":"other","kind":"webhook"}`, uuid.Nil)
		down := e.pipeline(t, `{"name":"down","kind":"p2p","source":{"pipeline":{"upstream":"other"}}}`, other.ID)
		w := &p2p.RunWorker{Store: e.st, Engine: e.eng, Log: e.log}
		batch := p2p.Batch{Upstream: up.ID, Depth: 1, Records: []p2p.Record{{TS: time.Now(), Data: []byte(`{"a":1}`)}}}
		run := func(pipeline uuid.UUID) {
			t.Helper()
			j := &river.Job[p2p.RunArgs]{JobRow: &rivertype.JobRow{ID: 1}, Args: p2p.RunArgs{TeamID: e.team.ID, Pipeline: pipeline, Batch: batch}}
			if err := w.Work(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		run(down.ID)    // down reads from other, not up
		run(uuid.New()) // no such pipeline
		if _, runs := e.count(t, down); runs != 0 {
			t.Fatalf("%d runs of a pipeline that does not read from the upstream", runs)
		}
		// With the right upstream, the record arrives (inline).
		batch.Upstream = other.ID
		run(down.ID)
		if recs, runs := e.count(t, down); recs != 1 || runs != 1 {
			t.Fatalf("%d records in %d runs, want 1 in 1", recs, runs)
		}
	})
}
