package postgres_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// Records' data is json in a new database (migration 0016), stored as
// written; a database that held records before 0016 keeps jsonb, and both
// take small batches (INSERT) and big ones (COPY) alike.
func TestRecordsDataType(t *testing.T) {
	e := setupStorage(t, 1)
	ctx, pool, pipe := t.Context(), e.st.Pool(), e.pipes[0]
	dataType := func() string {
		t.Helper()
		var typ string
		if err := pool.QueryRow(ctx, `SELECT format_type(atttypid, NULL) FROM pg_attribute
			WHERE attrelid = 'records'::regclass AND attname = 'data'`).Scan(&typ); err != nil {
			t.Fatal(err)
		}
		return typ
	}
	// rewind unapplies migration 0016, as if the database predated it,
	// and drops the connections, whose COPY knows the old type of data
	// (a type is changed with Tributary stopped, see docs/operations.md).
	rewind := func() {
		t.Helper()
		if _, err := pool.Exec(ctx, `DELETE FROM tributary_migrations WHERE version = 16`); err != nil {
			t.Fatal(err)
		}
		pool.Reset()
	}
	// roundTrip writes a small batch and a big one and reads their data
	// back; exact is whether it must come back byte for byte.
	roundTrip := func(exact bool) {
		t.Helper()
		base := time.Now().UTC().Truncate(time.Second)
		for _, n := range []int{3, 1200} {
			times := make([]time.Time, n)
			for i := range times {
				times[i] = base.Add(time.Duration(i) * time.Millisecond)
			}
			recs := e.write(nil, pipe, times...)
			ids := make([]int64, n)
			for i, r := range recs {
				ids[i] = r.ID
			}
			rows, err := pool.Query(ctx, `SELECT id, data::text FROM records WHERE id = ANY($1)`, ids)
			if err != nil {
				t.Fatal(err)
			}
			got := map[int64]string{}
			for rows.Next() {
				var id int64
				var data string
				if err := rows.Scan(&id, &data); err != nil {
					t.Fatal(err)
				}
				got[id] = data
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if len(got) != n {
				t.Fatalf("%s: batch of %d: %d records read back", dataType(), n, len(got))
			}
			for _, r := range recs {
				if exact && got[r.ID] != string(r.Data) {
					t.Fatalf("%s: record %d reads %s, written %s", dataType(), r.ID, got[r.ID], r.Data)
				}
				var want, have any
				if json.Unmarshal(r.Data, &want) != nil || json.Unmarshal([]byte(got[r.ID]), &have) != nil || !reflect.DeepEqual(want, have) {
					t.Fatalf("%s: record %d reads %s, written %s", dataType(), r.ID, got[r.ID], r.Data)
				}
			}
		}
	}

	e.native() // a TimescaleDB hypertable keeps jsonb (its compression)
	if typ := dataType(); typ != "json" || e.st.RecordDataType() != "json" {
		t.Fatalf("a new database stores records' data as %s (the store says %s), want json", typ, e.st.RecordDataType())
	}
	roundTrip(true)

	// A database of jsonb records that migrates keeps jsonb.
	if _, err := pool.Exec(ctx, `ALTER TABLE records ALTER COLUMN data TYPE jsonb`); err != nil {
		t.Fatal(err)
	}
	rewind()
	if err := e.st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if typ := dataType(); typ != "jsonb" || e.st.RecordDataType() != "jsonb" {
		t.Fatalf("a database holding records: data became %s (the store says %s), want it left jsonb", typ, e.st.RecordDataType())
	}
	roundTrip(false)

	// One without records is converted, unless the table is busy: the
	// migration waits 5 s for its lock, then leaves it jsonb.
	if _, err := pool.Exec(ctx, `DELETE FROM records`); err != nil {
		t.Fatal(err)
	}
	rewind()
	reader, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reader.Exec(ctx, `LOCK TABLE records IN ACCESS SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := e.st.Migrate(ctx); err != nil {
		t.Fatalf("migrating beside a reader: %v", err)
	}
	if typ, waited := dataType(), time.Since(start); typ != "jsonb" || waited < 4*time.Second || waited > 30*time.Second {
		t.Fatalf("beside a reader: data is %s after %s, want jsonb after about 5 s", typ, waited)
	}
	if err := reader.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	rewind()
	if err := e.st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if typ := dataType(); typ != "json" {
		t.Fatalf("an empty jsonb records table stayed %s, want json", typ)
	}
	roundTrip(true)
}

// A big batch's records are copied in PostgreSQL's binary format, which
// the store writes itself (copy.go): every column reads back as a small
// batch's INSERT stores it, times to the microsecond before 2000 and
// after, and data byte for byte.
func TestCopyRecordsColumns(t *testing.T) {
	e := setupStorage(t, 1)
	ctx, pool, pipe := t.Context(), e.st.Pool(), e.pipes[0]
	days := []time.Time{
		time.Date(1969, 7, 20, 20, 17, 40, 123456789, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now().UTC(),
		time.Date(2100, 3, 1, 12, 0, 0, 1000, time.UTC),
	}
	datas := []string{`{}`, `{"a":1,"b":[true,null,"x"]}`, `{"s":"é \"q\" \\ \u2028 😀","n":-1.5e-7}`}
	for _, n := range []int{3, 1200} {
		b := &store.Batch{TeamID: e.team, PipelineID: pipe, Version: 7, Persist: true,
			Run: core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now()}}
		for i := range n {
			ts := days[i%len(days)].Add(time.Duration(i) * 1001 * time.Nanosecond)
			b.Records = append(b.Records, core.Record{TS: ts, Data: json.RawMessage(datas[i%len(datas)])})
		}
		if err := e.st.WriteBatch(ctx, b); err != nil {
			t.Fatalf("batch of %d: %v", n, err)
		}
		want := map[int64]core.Record{}
		ids := make([]int64, n)
		for i, r := range b.Records {
			want[r.ID], ids[i] = r, r.ID
		}
		type row struct {
			ID             int64
			Team, Pipeline uuid.UUID
			TS             time.Time
			Version, Size  int32
			Data           string
		}
		rows, err := pool.Query(ctx, `SELECT id, team_id, pipeline_id, ts, version, size, data::text FROM records WHERE id = ANY($1)`, ids)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got {
			w := want[r.ID]
			if r.Team != e.team || r.Pipeline != pipe || r.Version != 7 || int(r.Size) != len(w.Data) || r.Data != string(w.Data) ||
				!r.TS.Equal(w.TS.Truncate(time.Microsecond)) {
				t.Fatalf("batch of %d: record %d reads (%s %s %s v%d size %d %s), written (%s %s %s v7 size %d %s)",
					n, r.ID, r.Team, r.Pipeline, r.TS.UTC().Format(time.RFC3339Nano), r.Version, r.Size, r.Data,
					e.team, pipe, w.TS.Format(time.RFC3339Nano), len(w.Data), w.Data)
			}
		}
		if read := len(got); read != n {
			t.Fatalf("batch of %d: %d records read back", n, read)
		}
	}
}

// Records' index is ascending in a new database (migration 0017); one
// that held records before keeps its descending index, and reads come
// in the same order from both.
func TestRecordsIndexAscending(t *testing.T) {
	e := setupStorage(t, 1)
	ctx, pool, pipe := t.Context(), e.st.Pool(), e.pipes[0]
	e.native() // a TimescaleDB hypertable keeps its index (its compression orders by ts DESC)
	indexDef := func() string {
		t.Helper()
		var def string
		if err := pool.QueryRow(ctx, `SELECT pg_get_indexdef('records_pipeline_ts_idx'::regclass)`).Scan(&def); err != nil {
			t.Fatal(err)
		}
		return def
	}
	newest := func() []int64 {
		t.Helper()
		recs, err := e.st.Records(ctx, e.team, pipe, store.RecordQuery{Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int64, len(recs))
		for i, r := range recs {
			ids[i] = r.ID
		}
		return ids
	}
	if def := indexDef(); !strings.Contains(def, "(pipeline_id, ts, id)") {
		t.Fatalf("a new database's records index is %s, want (pipeline_id, ts, id)", def)
	}
	base := time.Now().UTC().Truncate(time.Second)
	recs := e.write(nil, pipe, base, base.Add(3*time.Second), base.Add(time.Second), base.Add(2*time.Second))
	want := []int64{recs[1].ID, recs[3].ID, recs[2].ID, recs[0].ID}
	if got := newest(); !reflect.DeepEqual(got, want) {
		t.Fatalf("newest records = %v, want %v", got, want)
	}

	// A database that held records under the descending index keeps it.
	for _, sql := range []string{
		`DROP INDEX records_pipeline_ts_idx`,
		`CREATE INDEX records_pipeline_ts_idx ON records (pipeline_id, ts DESC, id DESC)`,
		`DELETE FROM tributary_migrations WHERE version = 17`,
	} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if def := indexDef(); !strings.Contains(def, "(pipeline_id, ts DESC, id DESC)") {
		t.Fatalf("a database holding records: its index became %s, want it left descending", def)
	}
	if got := newest(); !reflect.DeepEqual(got, want) {
		t.Fatalf("newest records under the descending index = %v, want %v", got, want)
	}

	// An empty one gets the ascending index.
	for _, sql := range []string{`DELETE FROM records`, `DELETE FROM tributary_migrations WHERE version = 17`} {
		if _, err := pool.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if def := indexDef(); !strings.Contains(def, "(pipeline_id, ts, id)") {
		t.Fatalf("an empty database's records index is %s after migrating, want (pipeline_id, ts, id)", def)
	}
}
