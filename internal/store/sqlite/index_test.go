package sqlite_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/store"
)

// Records' index is ascending (migration 0015), also in a database that
// held records under the descending index before, and the newest records
// read in the same order.
func TestRecordsIndexAscending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setupBigBatch(t)
	raw := e.raw(t)
	indexSQL := func() string {
		t.Helper()
		var s string
		if err := raw.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE name = 'records_pipeline_ts_idx'`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	b := batchOf(e.p, 4)
	base := time.Now().UTC().Truncate(time.Second)
	for i, d := range []int{0, 3, 1, 2} {
		b.Records[i].TS = base.Add(time.Duration(d) * time.Second)
	}
	if err := e.st.WriteBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	want := []int64{b.Records[1].ID, b.Records[3].ID, b.Records[2].ID, b.Records[0].ID}
	newest := func() []int64 {
		t.Helper()
		recs, err := e.st.Records(ctx, e.team.ID, e.p.ID, store.RecordQuery{Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int64, len(recs))
		for i, r := range recs {
			ids[i] = r.ID
		}
		return ids
	}
	if s := indexSQL(); !strings.Contains(s, "(pipeline_id, ts, id)") {
		t.Fatalf("records index: %s, want (pipeline_id, ts, id)", s)
	}
	if got := newest(); !reflect.DeepEqual(got, want) {
		t.Fatalf("newest records = %v, want %v", got, want)
	}

	// A database of the previous version, holding records under the
	// descending index, migrates to the ascending one.
	for _, q := range []string{
		`DROP INDEX records_pipeline_ts_idx`,
		`CREATE INDEX records_pipeline_ts_idx ON records (pipeline_id, ts DESC, id DESC)`,
		`DELETE FROM tributary_migrations WHERE version = 15`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if s := indexSQL(); !strings.Contains(s, "(pipeline_id, ts, id)") {
		t.Fatalf("records index after migrating: %s, want (pipeline_id, ts, id)", s)
	}
	if got := newest(); !reflect.DeepEqual(got, want) {
		t.Fatalf("newest records after migrating = %v, want %v", got, want)
	}
}
