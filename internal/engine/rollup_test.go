package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// TestBatchesCarryRollups checks that group-committed batches bring the
// rollups of their numeric fields, so that charts read rollups that agree
// with the records.
func TestBatchesCarryRollups(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, options{cfg: engine.Config{Linger: 20 * time.Millisecond}})
		const n = 150 // 2.5 minutes of records, temp = second % 60
		parallel(n, func(i int) {
			if _, err := b.submit(context.Background(), t, record(i)); err != nil {
				t.Errorf("Submit %d: %v", i, err)
			}
		})
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		q := store.SeriesQuery{Field: "temp", From: start, To: start.Add(time.Hour), Bucket: time.Minute}
		raw, err := b.st.Series(context.Background(), b.team, b.p.ID, withSource(q, "raw"))
		if err != nil {
			t.Fatal(err)
		}
		rolled, err := b.st.Series(context.Background(), b.team, b.p.ID, withSource(q, "1m"))
		if err != nil {
			t.Fatalf("rollups are not complete: %v", err)
		}
		if len(raw.Points) != 3 || len(rolled.Points) != 3 {
			t.Fatalf("points: raw %d, rollups %d", len(raw.Points), len(rolled.Points))
		}
		for i := range raw.Points {
			r, m := raw.Points[i], rolled.Points[i]
			if r.Bucket != m.Bucket || r.Count != m.Count || r.Sum != m.Sum || r.Min != m.Min || r.Max != m.Max || r.First != m.First || r.Last != m.Last {
				t.Fatalf("minute %d: raw %+v, rollups %+v", i, r, m)
			}
		}
		if raw.Points[0].Count != 60 || raw.Points[0].Sum != 59*60/2 || raw.Points[2].Count != 30 {
			t.Fatalf("raw points = %+v", raw.Points)
		}
	})
}

func withSource(q store.SeriesQuery, s string) store.SeriesQuery {
	q.Source = s
	return q
}
