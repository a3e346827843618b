package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/jobs"
	"github.com/tributary-dev/tributary/internal/source/p2p"
	"github.com/tributary-dev/tributary/internal/store"
)

// TestP2PDispatchFallback: a node whose link index is stale enqueues a
// dispatch job with the batch, and the dispatch finds the downstream in
// the store: the batch still arrives.
func TestP2PDispatchFallback(t *testing.T) {
	eachJobBackend(t, func(t *testing.T, e *jobEnv) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		up := e.pipeline(t, `{"name":"up","kind":"webhook"}`, uuid.Nil)
		down := e.pipeline(t, `{"name":"down","kind":"p2p","source":{"pipeline":{"upstream":"up"}}}`, up.ID)

		stale, err := p2p.NewIndex(p2p.IndexConfig{}, e.st, nil, nil) // never started: never trusted
		if err != nil {
			t.Fatal(err)
		}
		e.eng.AddFanout(p2p.NewFanout(stale, nil))
		workers := river.NewWorkers()
		river.AddWorker(workers, &jobs.P2PWorker{Store: e.st, Engine: e.eng, Log: e.log})
		river.AddWorker(workers, &jobs.P2PDispatchWorker{Store: e.st, Log: e.log})
		client, err := e.st.NewJobClient(&river.Config{
			Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}}, Workers: workers,
			FetchCooldown: 20 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond, TestOnly: true,
		})
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
	eachJobBackend(t, func(t *testing.T, e *jobEnv) {
		ctx := context.Background()
		up := e.pipeline(t, `{"name":"up","kind":"webhook","persist":false}`, uuid.Nil)
		other := e.pipeline(t, `{"name":"other","kind":"webhook"}`, uuid.Nil)
		down := e.pipeline(t, `{"name":"down","kind":"p2p","source":{"pipeline":{"upstream":"other"}}}`, other.ID)
		w := &jobs.P2PWorker{Store: e.st, Engine: e.eng, Log: e.log}
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
