package sqlite_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/rollup"
)

// A batch merges its rollups into every width in its own transaction:
// nothing is left pending for the compaction job, and a second batch of
// the same buckets merges into the same rows.
func TestRollupsMergedInBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setupBigBatch(t)
	raw := e.raw(t)

	// Two batches over two minutes of one hour, two fields.
	hour := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	for i, at := range []time.Time{hour.Add(10 * time.Second), hour.Add(70 * time.Second)} {
		b := batchOf(e.p, 2)
		for j := range b.Records {
			b.Records[j].TS = at
			b.Rollups.Add(at, map[string]any{"temp": float64(10*i + j), "hum": float64(50 + i)})
		}
		if err := e.st.WriteBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	var pending int
	if err := raw.QueryRowContext(ctx, `SELECT count(*) FROM rollup_pending`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != 0 {
		t.Errorf("%d deltas pending, want 0: batches merge their rollups", pending)
	}
	type agg struct {
		Width, Bucket, Count int64
		Field                string
		Sum, Min, Max        float64
	}
	rollups := func() []agg {
		t.Helper()
		rows, err := raw.QueryContext(ctx, `SELECT width, bucket, field, count, sum, min, max FROM rollups
			WHERE pipeline_id = ? ORDER BY width, bucket, field`, e.p.ID.String())
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []agg
		for rows.Next() {
			var a agg
			if err := rows.Scan(&a.Width, &a.Bucket, &a.Field, &a.Count, &a.Sum, &a.Min, &a.Max); err != nil {
				t.Fatal(err)
			}
			out = append(out, a)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	us := func(t time.Time) int64 { return t.UnixMicro() }
	day := hour.Truncate(24 * time.Hour)
	want := []agg{
		{60, us(hour), 2, "hum", 100, 50, 50},
		{60, us(hour), 2, "temp", 1, 0, 1},
		{60, us(hour.Add(time.Minute)), 2, "hum", 102, 51, 51},
		{60, us(hour.Add(time.Minute)), 2, "temp", 21, 10, 11},
		{3600, us(hour), 4, "hum", 202, 50, 51},
		{3600, us(hour), 4, "temp", 22, 0, 11},
		{86400, us(day), 4, "hum", 202, 50, 51},
		{86400, us(day), 4, "temp", 22, 0, 11},
	}
	if got := rollups(); !reflect.DeepEqual(got, want) {
		t.Fatalf("rollups:\n got %v\nwant %v", got, want)
	}

	// More rows than one statement carries (rollupsPerStatement):
	// rollup.MaxFields fields over four minutes, 600 rows.
	wide := batchOf(e.p, 4)
	fields := map[string]any{}
	for i := range rollup.MaxFields {
		fields[fmt.Sprintf("f%03d", i)] = float64(i)
	}
	for i := range wide.Records {
		wide.Records[i].TS = hour.Add(-time.Hour + time.Duration(i)*time.Minute)
		wide.Rollups.Add(wide.Records[i].TS, fields)
	}
	if err := e.st.WriteBatch(ctx, wide); err != nil {
		t.Fatal(err)
	}
	var rows, count int64
	var sum float64
	if err := raw.QueryRowContext(ctx, `SELECT count(*), sum(count), sum(sum) FROM rollups WHERE pipeline_id = ? AND field LIKE 'f%'`,
		e.p.ID.String()).Scan(&rows, &count, &sum); err != nil {
		t.Fatal(err)
	}
	// Each width counts every value once: 4 records of fields 0..99.
	const values, total = 4 * rollup.MaxFields, 4 * (rollup.MaxFields - 1) * rollup.MaxFields / 2
	if rows != 6*rollup.MaxFields || count != 3*values || sum != 3*total {
		t.Fatalf("wide batch: %d rows, count %d, sum %v; want %d, %d, %d", rows, count, sum, 6*rollup.MaxFields, 3*values, 3*total)
	}
}
