package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/rollup"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/postgres"
)

// storageEnv is one migrated database with a team and pipelines on it.
type storageEnv struct {
	t     *testing.T
	url   string
	st    *postgres.Store
	team  uuid.UUID
	pipes []uuid.UUID
}

func openStore(t *testing.T, url string) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func setupStorage(t *testing.T, pipelines int) *storageEnv {
	t.Helper()
	return setupStorageOn(t, pgtest.DatabaseURL(t), pipelines)
}

// setupStorageOn is setupStorage on the empty database at url.
func setupStorageOn(t *testing.T, url string, pipelines int) *storageEnv {
	t.Helper()
	st := openStore(t, url)
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(t.Context(), store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := st.CreateTeam(t.Context(), store.NewTeam{Name: "t", Slug: "t-" + uuid.NewString()[:8]}, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	e := &storageEnv{t: t, url: url, st: st, team: team.ID}
	for i := range pipelines {
		name := fmt.Sprintf("p%d", i)
		p, err := st.CreatePipeline(t.Context(), team.ID, store.NewPipeline{Name: name, Kind: core.KindWebhook,
			Spec: json.RawMessage(`{"name":"` + name + `","kind":"webhook"}`), HookToken: uuid.NewString()})
		if err != nil {
			t.Fatal(err)
		}
		e.pipes = append(e.pipes, p.ID)
	}
	return e
}

// write commits one batch of records at the given times to a pipeline,
// through st (the env's store when nil).
func (e *storageEnv) write(st *postgres.Store, pipeline uuid.UUID, times ...time.Time) []core.Record {
	e.t.Helper()
	if st == nil {
		st = e.st
	}
	b := batchAt(e.team, pipeline, times...)
	if err := st.WriteBatch(e.t.Context(), b); err != nil {
		e.t.Fatalf("write batch: %v", err)
	}
	return b.Records
}

// batchAt is a persisted batch of a team's pipeline with one record at
// each of times.
func batchAt(team, pipeline uuid.UUID, times ...time.Time) *store.Batch {
	b := &store.Batch{TeamID: team, PipelineID: pipeline, Version: 1, Persist: true,
		Run: core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now()}}
	for i, ts := range times {
		b.Records = append(b.Records, core.Record{TS: ts, Data: json.RawMessage(fmt.Sprintf(`{"v":%d}`, i))})
		b.Rollups.Add(ts, map[string]any{"v": int64(i)})
	}
	return b
}

// partitions returns the names of records' partitions.
func (e *storageEnv) partitions() []string {
	e.t.Helper()
	ps, err := e.st.RecordPartitions(e.t.Context())
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

// homes returns, per record id, the partition that holds it.
func (e *storageEnv) homes() map[int64]string {
	e.t.Helper()
	rows, err := e.st.Pool().Query(e.t.Context(), `SELECT id, tableoid::regclass::text FROM records`)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			e.t.Fatal(err)
		}
		out[id] = name
	}
	if err := rows.Err(); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// native skips a test of native partitioning when records is a
// TimescaleDB hypertable (where the extension is installed).
func (e *storageEnv) native() {
	e.t.Helper()
	var kind string
	if err := e.st.Pool().QueryRow(e.t.Context(), `SELECT relkind::text FROM pg_class WHERE oid = 'records'::regclass`).Scan(&kind); err != nil {
		e.t.Fatal(err)
	}
	if kind != "p" {
		e.t.Skip("records is not natively partitioned here (a TimescaleDB hypertable); TestRetentionDropsOldPartitionsOrChunks covers it")
	}
}

// TestRetentionDropsOldPartitionsOrChunks runs on whichever layout the
// migration chose: native day partitions, or TimescaleDB day chunks.
func TestRetentionDropsOldPartitionsOrChunks(t *testing.T) {
	t.Parallel()
	e := setupStorage(t, 1)
	d0 := rollup.Bucket(core.Now(), rollup.Day).Add(-10 * 24 * time.Hour)
	day := func(n int) time.Time { return d0.Add(time.Duration(n) * 24 * time.Hour) }
	e.write(nil, e.pipes[0], day(0).Add(time.Hour), day(0).Add(23*time.Hour))
	e.write(nil, e.pipes[0], day(1).Add(time.Hour))
	kept := e.write(nil, e.pipes[0], day(2), day(2).Add(time.Minute))
	covers := func(t0 time.Time) bool {
		ps, err := e.st.RecordPartitions(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(ps, func(p store.Partition) bool { return !t0.Before(p.From) && t0.Before(p.To) && p.DiskBytes > 0 })
	}
	if !covers(day(0).Add(time.Hour)) || !covers(day(2)) {
		t.Fatal("no partition or chunk holds the records")
	}
	res, err := e.st.ApplyRetention(t.Context(), []store.RetentionPolicy{{PipelineID: e.pipes[0], Records: day(2)}}, store.RetentionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.DroppedPartitions) != 2 || res.DroppedRecords != 3 || res.DeletedRecords != 0 {
		t.Fatalf("retention = %+v, want two days dropped whole", res)
	}
	if covers(day(0).Add(time.Hour)) || !covers(day(2)) {
		t.Fatal("the dropped days are still covered, or the kept one is not")
	}
	checkStats(t, e, e.pipes[0], kept)
}

func dayName(from, to time.Time) string {
	return "records_" + from.Format("20060102") + "_" + to.Format("20060102")
}

func TestPartitionsAheadAndAcrossMidnight(t *testing.T) {
	t.Parallel()
	e := setupStorage(t, 1)
	e.native()
	today := rollup.Bucket(core.Now(), rollup.Day)
	parts := e.partitions()
	for _, d := range []time.Time{today.Add(-24 * time.Hour), today, today.Add(24 * time.Hour), today.Add(72 * time.Hour)} {
		if !slices.Contains(parts, dayName(d, d.Add(24*time.Hour))) {
			t.Fatalf("after migrate, no partition for %s: %v", d.Format("2006-01-02"), parts)
		}
	}
	// The periodic job's call: a week ahead, each day its own partition.
	if err := e.st.EnsurePartitions(t.Context(), core.Now(), core.Now().Add(7*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	parts = e.partitions()
	for d := today; d.Before(today.Add(7 * 24 * time.Hour)); d = d.Add(24 * time.Hour) {
		if !slices.Contains(parts, dayName(d, d.Add(24*time.Hour))) {
			t.Fatalf("no partition for %s after EnsurePartitions: %v", d.Format("2006-01-02"), parts)
		}
	}
	// One batch across a midnight that has no partitions yet: both days
	// are created on demand and each record lands in its own day.
	midnight := today.Add(20 * 24 * time.Hour)
	recs := e.write(nil, e.pipes[0], midnight.Add(-time.Microsecond), midnight, midnight.Add(24*time.Hour-time.Microsecond))
	homes := e.homes()
	want := []string{
		dayName(midnight.Add(-24*time.Hour), midnight),
		dayName(midnight, midnight.Add(24*time.Hour)),
		dayName(midnight, midnight.Add(24*time.Hour)),
	}
	for i, r := range recs {
		if homes[r.ID] != want[i] {
			t.Fatalf("record at %v is in %s, want %s", r.TS, homes[r.ID], want[i])
		}
	}
	// Far from now, a day gets its calendar year, clipped to the gap.
	past := e.write(nil, e.pipes[0], time.Date(2019, 6, 15, 12, 0, 0, 0, time.UTC), time.Date(2019, 2, 1, 0, 0, 0, 0, time.UTC))
	future := e.write(nil, e.pipes[0], time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC))
	homes = e.homes()
	year := func(y int) string {
		return dayName(time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(y+1, 1, 1, 0, 0, 0, 0, time.UTC))
	}
	if homes[past[0].ID] != year(2019) || homes[past[1].ID] != year(2019) || homes[future[0].ID] != year(2031) {
		t.Fatalf("far records are in %s, %s, %s", homes[past[0].ID], homes[past[1].ID], homes[future[0].ID])
	}
	// Nodes racing for the same new day all succeed and create it once.
	race := today.Add(40 * 24 * time.Hour).Add(5 * time.Hour)
	var wg sync.WaitGroup
	for range 4 {
		st := openStore(t, e.url)
		wg.Go(func() {
			b := &store.Batch{TeamID: e.team, PipelineID: e.pipes[0], Version: 1, Persist: true,
				Run:     core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now()},
				Records: []core.Record{{TS: race, Data: json.RawMessage(`{"v":1}`)}}}
			if err := st.WriteBatch(context.Background(), b); err != nil {
				t.Errorf("racing batch: %v", err)
			}
		})
	}
	wg.Wait()
	p, err := e.st.Pipeline(t.Context(), e.team, e.pipes[0])
	if err != nil {
		t.Fatal(err)
	}
	if p.Stats.RecordCount != 3+2+1+4 {
		t.Fatalf("record_count = %d", p.Stats.RecordCount)
	}
}

func TestRetentionDropsWholePartitions(t *testing.T) {
	t.Parallel()
	e := setupStorage(t, 2)
	e.native()
	a, b := e.pipes[0], e.pipes[1]
	d0 := rollup.Bucket(core.Now(), rollup.Day).Add(-30 * 24 * time.Hour)
	d1, d2, d3 := d0.Add(24*time.Hour), d0.Add(48*time.Hour), d0.Add(72*time.Hour)
	e.write(nil, a, d0, d0.Add(12*time.Hour), d1.Add(-time.Microsecond))
	e.write(nil, a, d1, d1.Add(time.Hour), d2.Add(-time.Microsecond))
	keptA := e.write(nil, a, d2, d2.Add(time.Hour))
	keptB := e.write(nil, b, d1.Add(30*time.Minute))
	// An old, empty partition, and a recent empty one.
	old := d0.Add(-20 * 24 * time.Hour)
	if err := e.st.EnsurePartitions(t.Context(), old, old.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	policies := []store.RetentionPolicy{{PipelineID: a, Records: d2}, {PipelineID: b}}
	res, err := e.st.ApplyRetention(t.Context(), policies, store.RetentionOptions{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	// d0 held only a's records: dropped whole. d1 holds b's, which b
	// keeps: a's records there went by batched deletes.
	wantDropped := []string{dayName(old, old.Add(24*time.Hour)), dayName(d0, d1)}
	if !slices.Equal(res.DroppedPartitions, wantDropped) || res.DroppedRecords != 3 || res.DeletedRecords != 3 {
		t.Fatalf("retention = %+v, want dropped %v", res, wantDropped)
	}
	parts := e.partitions()
	if slices.Contains(parts, dayName(d0, d1)) || !slices.Contains(parts, dayName(d1, d2)) || !slices.Contains(parts, dayName(d2, d3)) {
		t.Fatalf("partitions after retention: %v", parts)
	}
	yesterday := rollup.Bucket(core.Now(), rollup.Day).Add(-24 * time.Hour)
	if !slices.Contains(parts, dayName(yesterday, yesterday.Add(24*time.Hour))) {
		t.Fatal("retention dropped a recent empty partition")
	}
	checkStats(t, e, a, keptA)
	checkStats(t, e, b, keptB)

	// Another node still believes d0 exists; its late batch for d0 makes
	// it create the partition again and write.
	stale := openStore(t, e.url)
	keptB = append(keptB, e.write(stale, b, d1.Add(time.Hour))...) // loads its partition cache
	late := e.write(stale, b, d0.Add(3*time.Hour))
	checkStats(t, e, b, append(slices.Clone(keptB), late...))
	if !slices.Contains(e.partitions(), dayName(d0, d1)) {
		t.Fatal("the late batch did not recreate its partition")
	}

	// A reader holding records locked keeps a drop waiting; retention
	// gives up on that partition for this run, without error.
	tx, err := e.st.Pool().Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `LOCK TABLE records IN ACCESS SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	policies = []store.RetentionPolicy{{PipelineID: a, Records: d2}, {PipelineID: b, Records: d1}}
	res, err = e.st.ApplyRetention(t.Context(), policies, store.RetentionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.DroppedPartitions) != 0 {
		t.Fatalf("dropped %v while records was locked", res.DroppedPartitions)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	res, err = e.st.ApplyRetention(t.Context(), policies, store.RetentionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.DroppedPartitions, []string{dayName(d0, d1)}) {
		t.Fatalf("after the lock: dropped %v", res.DroppedPartitions)
	}
	checkStats(t, e, b, keptB)
}

// checkStats compares a pipeline's stats with the records expected to
// remain, and with the table.
func checkStats(t *testing.T, e *storageEnv, pipeline uuid.UUID, want []core.Record) {
	t.Helper()
	var bytes int64
	for _, r := range want {
		bytes += int64(len(r.Data))
	}
	p, err := e.st.Pipeline(t.Context(), e.team, pipeline)
	if err != nil {
		t.Fatal(err)
	}
	var n, size int64
	if err := e.st.Pool().QueryRow(t.Context(), `SELECT count(*), coalesce(sum(size), 0) FROM records WHERE pipeline_id = $1`, pipeline).Scan(&n, &size); err != nil {
		t.Fatal(err)
	}
	st, err := e.st.StorageStats(t.Context(), e.team, pipeline)
	if err != nil {
		t.Fatal(err)
	}
	if p.Stats.RecordCount != int64(len(want)) || p.Stats.StoredBytes != bytes || n != int64(len(want)) || size != bytes ||
		st.Records != n || st.StoredBytes != bytes {
		t.Fatalf("pipeline %s: stats %d records %d bytes, storage %+v, table %d records %d bytes; want %d, %d",
			pipeline, p.Stats.RecordCount, p.Stats.StoredBytes, st, n, size, len(want), bytes)
	}
	if n > 0 && st.DiskBytes <= 0 {
		t.Fatalf("disk bytes = %d", st.DiskBytes)
	}
}
