package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// orderStore checks that nothing of a batch reaches the cache or the
// broker before the store has committed it.
type orderStore struct {
	engine.Store
	t *testing.T
	b *bundle
}

func (o *orderStore) WriteBatch(ctx context.Context, bt *store.Batch) error {
	cached, queued := o.b.cache.Len(bt.PipelineID), len(o.b.sub.C())
	err := o.Store.WriteBatch(ctx, bt)
	if o.b.cache.Len(bt.PipelineID) != cached || len(o.b.sub.C()) != queued {
		o.t.Error("the cache or the broker saw the batch before its commit returned")
	}
	return err
}

func TestCacheAndBroadcastOnlyAfterCommit(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		o := &orderStore{t: t}
		b := setup(t, st, options{
			cfg:  engine.Config{FlushConcurrency: 1, Linger: time.Millisecond, PushRunInterval: perBatchRuns}, // one write at a time, so the counts are this batch's
			wrap: func(s engine.Store) engine.Store { o.Store = s; return o },
		})
		o.b = b
		parallel(20, func(i int) {
			if _, err := b.submit(context.Background(), t, record(i)); err != nil {
				t.Error(err)
			}
			// Once Submit returned, the records are in the cache.
			if b.cache.Len(b.p.ID) < 1 {
				t.Error("Submit returned before the cache had the records")
			}
		})
		runs := b.runs(t)
		pubs := b.published(t)
		if len(pubs) != len(runs) || b.cache.Len(b.p.ID) != 20 {
			t.Errorf("%d runs, %d published, %d cached", len(runs), len(pubs), b.cache.Len(b.p.ID))
		}
	})
}

func TestGroupCommitWithDefaults(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, options{})
		const n = 200
		parallel(n, func(i int) {
			if _, err := b.submit(context.Background(), t, record(i)); err != nil {
				t.Error(err)
			}
		})
		// The grouping depends on timing here; only log it.
		t.Logf("%d concurrent submissions, %d runs with the default linger", n, len(b.runs(t)))
		if len(b.records(t)) != n {
			t.Errorf("%d records stored", len(b.records(t)))
		}
	})
}

// Group-committed batches of one pipeline within Config.PushRunInterval
// add up in one run, and a batch after the interval starts the next.
func TestPushTrafficSharesARunPerInterval(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		const interval = time.Hour
		b := setup(t, st, options{cfg: engine.Config{PushRunInterval: interval}})
		var runID uuid.UUID
		for i := range 5 { // one after another: five batches
			res, err := b.submit(context.Background(), t, record(i), `{"at":"2026-01-01T00:00:00Z","t":99}`)
			if err != nil {
				t.Fatal(err)
			}
			if i > 0 && res.RunID != runID {
				t.Fatalf("batch %d has run %s, the first %s", i, res.RunID, runID)
			}
			runID = res.RunID
		}
		runs := b.runs(t)
		if len(runs) != 1 {
			t.Fatalf("%d runs, want 1", len(runs))
		}
		r := runs[0]
		if r.ID != runID || r.Fetched != 10 || r.Stored != 5 || r.Rejected != 5 || r.Bytes == 0 || r.Duration <= 0 || r.Trigger != core.TriggerWebhook {
			t.Errorf("run %+v", r)
		}
		for _, rej := range b.rejected(t) {
			if rej.RunID != runID {
				t.Errorf("rejected record in run %s, want %s", rej.RunID, runID)
			}
		}
		p, err := b.st.Pipeline(context.Background(), b.p.TeamID, b.p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.Stats.RecordCount != 5 || p.Stats.RejectedCount != 5 {
			t.Errorf("stats %+v", p.Stats)
		}
	})
}
