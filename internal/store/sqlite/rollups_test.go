package sqlite_test

import (
	"context"
	"database/sql"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A batch merges its rollups into every width in its own transaction
// (migration 0016): nothing is left pending for the compaction job, and
// the rows are keyed bucket before field. A database of the previous
// version, rollups keyed field before bucket, keeps every row when it
// migrates.
func TestRollupsMergedInBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setupBigBatch(t)
	raw, err := sql.Open("sqlite", "file:"+e.path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

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
	primaryKey := func() string {
		t.Helper()
		var s string
		if err := raw.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE name = 'rollups'`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	const byBucket = "PRIMARY KEY (pipeline_id, width, bucket, field)"
	if s := primaryKey(); !strings.Contains(s, byBucket) {
		t.Fatalf("rollups: %s, want %s", s, byBucket)
	}

	// Back to the layout before 0016, with these rows.
	for _, q := range []string{
		`CREATE TABLE rollups_old (pipeline_id TEXT NOT NULL, width INTEGER NOT NULL, field TEXT NOT NULL, bucket INTEGER NOT NULL,
			team_id TEXT NOT NULL, count INTEGER NOT NULL, sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL,
			first_ts INTEGER NOT NULL, first_val REAL NOT NULL, last_ts INTEGER NOT NULL, last_val REAL NOT NULL,
			PRIMARY KEY (pipeline_id, width, field, bucket)) STRICT, WITHOUT ROWID`,
		`INSERT INTO rollups_old SELECT pipeline_id, width, field, bucket, team_id, count, sum, min, max, first_ts, first_val, last_ts, last_val FROM rollups`,
		`DROP TABLE rollups`,
		`ALTER TABLE rollups_old RENAME TO rollups`,
		`DELETE FROM tributary_migrations WHERE version = 16`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if s := primaryKey(); strings.Contains(s, byBucket) {
		t.Fatalf("the old layout was not restored: %s", s)
	}
	if err := e.st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if s := primaryKey(); !strings.Contains(s, byBucket) {
		t.Fatalf("rollups after migrating: %s, want %s", s, byBucket)
	}
	if got := rollups(); !reflect.DeepEqual(got, want) {
		t.Fatalf("rollups after migrating:\n got %v\nwant %v", got, want)
	}
}
