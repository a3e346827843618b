package postgres

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/store"
)

// TestDeleteWaitsForBatchInFlight holds a batch's shared lock of a
// pipeline in an open transaction that has written a record of it, as a
// batch between its first statement and its commit does. DeletePipeline
// must wait for that transaction and then delete the record; without
// the wait, the record would commit after the delete and stay, with no
// pipeline (records have no foreign key).
func TestDeleteWaitsForBatchInFlight(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, pgtest.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := st.CreateTeam(ctx, store.NewTeam{Name: "t", Slug: "t-" + uuid.NewString()[:8]}, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.CreatePipeline(ctx, team.ID, store.NewPipeline{Name: "p", Kind: core.KindWebhook,
		Spec: json.RawMessage(`{"name":"p","kind":"webhook"}`), HookToken: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := st.preparePartitions(ctx, &store.Batch{Records: []core.Record{{TS: now}}}); err != nil {
		t.Fatal(err)
	}

	tx, err := st.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, lockPipelineShared, pipelineLockSpace, pipelineLockKey(p.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO records (id, team_id, pipeline_id, ts, version, size, data) VALUES (-1, $1, $2, $3, 1, 2, '{}')`,
		team.ID, p.ID, now); err != nil {
		t.Fatal(err)
	}

	deleted := make(chan error, 1)
	go func() { deleted <- st.DeletePipeline(ctx, team.ID, p.ID) }()
	select {
	case err := <-deleted:
		t.Fatalf("DeletePipeline returned (%v) while a batch of the pipeline was in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	var n int
	if err := st.pool.QueryRow(ctx, `SELECT count(*) FROM records WHERE pipeline_id = $1`, p.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d records of the deleted pipeline left", n)
	}
}
