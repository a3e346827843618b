package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// TestRecordFailure: a failed run is a run row with its error, committed
// on the engine's path: counted in its metrics, with nothing cached or
// streamed.
func TestRecordFailure(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, options{})
		ctx := context.Background()
		started := time.Now().Add(-time.Second)
		res, err := b.eng.RecordFailure(ctx, b.p, engine.FailedRun{
			Trigger: core.TriggerManual, StartedAt: started, Error: "GET https://api.example.com answered 500",
			State: json.RawMessage(`{"values":{"since":"x"},"failures":1}`),
		})
		if err != nil || res.RunID == uuid.Nil || res.Accepted != 0 || res.Rejected != 0 {
			t.Fatalf("RecordFailure: %+v, %v", res, err)
		}
		runs := b.runs(t)
		if len(runs) != 1 {
			t.Fatalf("runs %+v", runs)
		}
		r := runs[0]
		if r.ID != res.RunID || r.Trigger != core.TriggerManual || r.Error != "GET https://api.example.com answered 500" ||
			r.Fetched != 0 || r.Stored != 0 || r.Duration < time.Second || r.StartedAt.Sub(started).Abs() > time.Millisecond {
			t.Errorf("failed run %+v", r)
		}
		if got := b.commits(t); got != 1 {
			t.Errorf("the engine's metrics count %v commits, want 1", got)
		}
		if n := len(b.published(t)); n != 0 || b.cache.Len(b.p.ID) != 0 {
			t.Errorf("a failed run reached the broker (%d batches) or the cache", n)
		}

		if err := b.eng.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := b.eng.RecordFailure(ctx, b.p, engine.FailedRun{Trigger: core.TriggerPoll, Error: "x"}); !errors.Is(err, engine.ErrClosed) {
			t.Errorf("RecordFailure after Close: err = %v", err)
		}
	})
}
