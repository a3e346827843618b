package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/sqlite"
)

// bigBatchEnv is a store on a file (so that it can be reopened) with a
// webhook pipeline of one team and one of another.
type bigBatchEnv struct {
	path   string
	st     *sqlite.Store
	team   core.Team
	p      core.Pipeline
	other  core.Team
	otherP core.Pipeline
}

func setupBigBatch(t *testing.T) *bigBatchEnv {
	t.Helper()
	ctx := context.Background()
	e := &bigBatchEnv{path: filepath.Join(t.TempDir(), "store.db")}
	e.st = openFile(t, e.path)
	pipe := func(team core.Team) core.Pipeline {
		p, err := e.st.CreatePipeline(ctx, team.ID, store.NewPipeline{Name: "p", Kind: core.KindWebhook,
			Spec: []byte(`{"name":"p","kind":"webhook"}`), HookToken: uuid.NewString()})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	e.team, e.other = newTeam(t, e.st), newTeam(t, e.st)
	e.p, e.otherP = pipe(e.team), pipe(e.other)
	return e
}

// raw opens a plain connection to the store's file, closed with the test,
// to look at its tables as SQLite keeps them.
func (e *bigBatchEnv) raw(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+e.path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openFile(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// batchOf is a persisted webhook batch of n records of p.
func batchOf(p core.Pipeline, n int) *store.Batch {
	now := time.Now().UTC()
	b := &store.Batch{TeamID: p.TeamID, PipelineID: p.ID, Version: 1, Persist: true,
		Run: core.Run{ID: uuid.New(), TeamID: p.TeamID, PipelineID: p.ID, Version: 1, Trigger: core.TriggerWebhook, StartedAt: now,
			Fetched: n, Stored: n}}
	for range n {
		b.Records = append(b.Records, core.Record{PipelineID: p.ID, TS: now, Version: 1, Data: []byte(`{"v":1}`)})
	}
	return b
}

// count reads how many records of p a reader sees, through the pages of
// the records list.
func count(t *testing.T, st store.Store, p core.Pipeline) int {
	t.Helper()
	n := 0
	q := store.RecordQuery{Limit: 1000}
	for {
		recs, err := st.Records(context.Background(), p.TeamID, p.ID, q)
		if err != nil {
			t.Fatal(err)
		}
		n += len(recs)
		if len(recs) < 1000 {
			return n
		}
		last := recs[len(recs)-1]
		q.BeforeTS, q.BeforeID = last.TS, last.ID
	}
}

// A big batch is written in slices, taking turns with another team's
// small batches, yet readers see all of its records or none, and the
// pipeline's counters move once, with its last slice.
func TestBigBatchCommitsAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setupBigBatch(t)
	const records = 5000
	var (
		wg        sync.WaitGroup
		done      atomic.Bool
		partial   atomic.Int64
		smallDone atomic.Int64
	)
	wg.Go(func() { // a reader
		for !done.Load() {
			recs, err := e.st.Records(ctx, e.team.ID, e.p.ID, store.RecordQuery{Limit: 1})
			if err != nil {
				t.Error(err)
				return
			}
			if len(recs) > 0 && count(t, e.st, e.p) != records {
				partial.Add(1)
			}
		}
	})
	wg.Go(func() { // the other team's small batches
		for !done.Load() {
			if err := e.st.WriteBatch(ctx, batchOf(e.otherP, 1)); err != nil {
				t.Error(err)
				return
			}
			smallDone.Add(1)
		}
	})
	big := batchOf(e.p, records)
	err := e.st.WriteBatch(ctx, big)
	done.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if n := partial.Load(); n > 0 {
		t.Errorf("a reader saw part of the big batch %d times", n)
	}
	if got := count(t, e.st, e.p); got != records {
		t.Errorf("%d records stored, want %d", got, records)
	}
	got, err := e.st.Pipeline(ctx, e.team.ID, e.p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Stats.RecordCount != records {
		t.Errorf("record count %d, want %d", got.Stats.RecordCount, records)
	}
	if smallDone.Load() == 0 {
		t.Error("no small batch of the other team committed")
	}
	batches, err := e.st.RecordBatches(ctx, e.team.ID, e.p.ID, []int64{big.Records[0].ID, big.Records[records-1].ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) != 1 || batches[0].Records != records {
		t.Errorf("record batches %+v, want one of %d records", batches, records)
	}
}

// A big batch whose last slice fails (its webhook-id was stored already)
// leaves nothing: not its records written in earlier slices, nor their
// ids; the pipeline's next batches are stored as usual.
func TestBigBatchFailsWhole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setupBigBatch(t)
	id := store.WebhookID{Hash: store.WebhookIDHash("msg_1"), At: time.Now(), Expires: time.Now().Add(time.Hour)}
	first := batchOf(e.p, 1)
	first.WebhookIDs = []store.WebhookID{id}
	if err := e.st.WriteBatch(ctx, first); err != nil {
		t.Fatal(err)
	}
	big := batchOf(e.p, 3000)
	big.WebhookIDs = []store.WebhookID{id}
	if err := e.st.WriteBatch(ctx, big); !errors.Is(err, core.ErrAlreadyReceived) {
		t.Fatalf("big batch with a stored webhook-id: %v, want ErrAlreadyReceived", err)
	}
	if big.Records[0].ID != 0 {
		t.Error("a failed batch kept its record ids")
	}
	if err := e.st.WriteBatch(ctx, batchOf(e.p, 2)); err != nil {
		t.Fatal(err)
	}
	if got := count(t, e.st, e.p); got != 3 {
		t.Errorf("%d records, want 3 (the big batch's gone)", got)
	}
	if n := rawCount(t, e.path, `SELECT count(*) FROM records`); n != 3+0 {
		t.Errorf("%d rows in records, want 3", n)
	}
}

// A process that dies while writing a big batch leaves its slices
// hidden; they are deleted before the restarted writer writes anything.
func TestBigBatchCrashLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setupBigBatch(t)
	if err := e.st.WriteBatch(ctx, batchOf(e.p, 2)); err != nil {
		t.Fatal(err)
	}
	e.st.Close()
	// What slices written before a kill -9 leave: hidden records and
	// their staged_batches row.
	db, err := sql.Open("sqlite", "file:"+e.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO staged_batches (pipeline_id, first_id) VALUES ('` + e.p.ID.String() + `', 1000)`,
		`INSERT INTO records (id, team_id, pipeline_id, ts, version, data) VALUES
			(1000, '` + e.team.ID.String() + `', '` + e.p.ID.String() + `', 1, 1, '{}'),
			(1001, '` + e.team.ID.String() + `', '` + e.p.ID.String() + `', 2, 1, '{}')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	st := openFile(t, e.path)
	if got := count(t, st, e.p); got != 2 {
		t.Errorf("before the writer starts: %d records visible, want 2", got)
	}
	if err := st.WriteBatch(ctx, batchOf(e.otherP, 1)); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteBatch(ctx, batchOf(e.p, 1)); err != nil {
		t.Fatal(err)
	}
	if got := count(t, st, e.p); got != 3 {
		t.Errorf("%d records, want 3", got)
	}
	if n := rawCount(t, e.path, `SELECT count(*) FROM records WHERE id IN (1000, 1001)`); n != 0 {
		t.Errorf("%d hidden records left", n)
	}
	if n := rawCount(t, e.path, `SELECT count(*) FROM staged_batches`); n != 0 {
		t.Errorf("%d staged_batches rows left", n)
	}
}

func rawCount(t *testing.T, path, query string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitStaged waits until a big batch has hidden records in the file.
func waitStaged(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for rawCount(t, path, `SELECT count(*) FROM staged_batches`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no big batch was staged")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBigBatchOfAnotherTeamHidesNothing: a big batch naming a team other
// than its pipeline's is refused before it hides anything, so the owner's
// batches written meanwhile are visible once acknowledged and stay. (It
// was refused only at its last slice: meanwhile its hidden range hid the
// owner's new records, and its failure deleted them.)
func TestBigBatchOfAnotherTeamHidesNothing(t *testing.T) {
	ctx := context.Background()
	e := setupBigBatch(t)
	if err := e.st.WriteBatch(ctx, batchOf(e.p, 2)); err != nil {
		t.Fatal(err)
	}
	bad := batchOf(e.p, 60000)
	bad.TeamID = e.other.ID
	errc := make(chan error, 1)
	go func() { errc <- e.st.WriteBatch(ctx, bad) }()
	for range 20 {
		if err := e.st.WriteBatch(ctx, batchOf(e.p, 3)); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("another team's batch: err = %v, want ErrNotFound", err)
	}
	if n := count(t, e.st, e.p); n != 62 {
		t.Fatalf("the owner's pipeline shows %d records, want 62", n)
	}
	if n := rawCount(t, e.path, `SELECT count(*) FROM records`); n != 62 {
		t.Fatalf("the file holds %d records, want 62", n)
	}
}

// TestSecondWriterIsRefused: a second store on the same file (a second
// server on one data directory) cannot write batches while the first is
// writing: its batches fail with ErrOtherWriter instead of deleting, as a
// dead process's leftovers, the first's big batch in progress. Once the
// first closes, the second writes.
func TestSecondWriterIsRefused(t *testing.T) {
	ctx := context.Background()
	e := setupBigBatch(t)
	const n = 60000
	errc := make(chan error, 1)
	go func() { errc <- e.st.WriteBatch(ctx, batchOf(e.p, n)) }()
	waitStaged(t, e.path)
	second := openFile(t, e.path)
	if err := second.WriteBatch(ctx, batchOf(e.otherP, 1)); !errors.Is(err, sqlite.ErrOtherWriter) {
		t.Fatalf("second writer: err = %v, want ErrOtherWriter", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("big batch: %v", err)
	}
	if c := count(t, e.st, e.p); c != n {
		t.Fatalf("big batch acknowledged with %d of %d records", c, n)
	}
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := second.WriteBatch(ctx, batchOf(e.otherP, 1)); err != nil {
		t.Fatalf("second writer after the first closed: %v", err)
	}
	if c := count(t, second, e.p); c != n {
		t.Fatalf("after the first closed, %d of %d records", c, n)
	}
}
