package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/postgres"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.Open(t, storetest.Postgres) })
}

// TestTimescaleDetection checks the negative path of the TimescaleDB check
// (the test cluster has no TimescaleDB): it names the reason, and records
// use native partitions.
func TestTimescaleDetection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	why, err := st.TimescaleUnavailable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if why == "" {
		t.Skip("this cluster has TimescaleDB preloaded")
	}
	if !strings.Contains(why, "timescaledb") {
		t.Errorf("reason %q", why)
	}
}

// TestMigrateRefusesNewerSchema checks that a database migrated by a newer
// binary (a version this one does not know) is refused by Migrate and
// Ready.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.DatabaseURL(t)
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO tributary_migrations (version, name) VALUES (9999, 'future')`); err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); !errors.Is(err, store.ErrSchemaNewer) {
		t.Errorf("Migrate on a newer schema: %v, want ErrSchemaNewer", err)
	}
	if err := st.Ready(ctx); !errors.Is(err, store.ErrSchemaNewer) {
		t.Errorf("Ready on a newer schema: %v, want ErrSchemaNewer", err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM tributary_migrations WHERE version = 9999`); err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	// An applied migration whose file changed is refused.
	if _, err := conn.Exec(ctx, `UPDATE tributary_migrations SET checksum = 'other' WHERE version = 1`); err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); !errors.Is(err, store.ErrMigrationChanged) {
		t.Errorf("Migrate with a changed migration: %v, want ErrMigrationChanged", err)
	}
}

// TestMigrateHashesHookTokens checks that migration 0009 turns the
// plaintext webhook tokens of a database made before it into hashes, in
// SQL (issue 11, defect 13).
func TestMigrateHashesHookTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.DatabaseURL(t)
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, store.NewUser{Email: "a@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := st.CreateTeam(ctx, store.NewTeam{Name: "t", Slug: "t"}, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.CreatePipeline(ctx, team.ID, store.NewPipeline{Name: "w", Kind: core.KindWebhook, Spec: json.RawMessage(`{}`), HookToken: "will-be-replaced"})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Back to the schema before 0009, with a plaintext token.
	const token = "PlainTokenFromBefore0009_abcdefg"
	for _, q := range []string{
		`ALTER TABLE pipelines ADD COLUMN hook_token text UNIQUE`,
		`UPDATE pipelines SET hook_token = '` + token + `'`,
		`ALTER TABLE pipelines DROP COLUMN hook_token_hash, DROP COLUMN hook_token_prefix`,
		`DROP TABLE webhook_ids`,
		`DROP TABLE record_batches`,
		`DROP INDEX deliveries_open_idx`,
		`DELETE FROM tributary_migrations WHERE version = 9`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := st.PipelineByHookHash(ctx, core.HookTokenHash(token))
	if err != nil || got.ID != p.ID || got.HookTokenPrefix != token[:core.HookTokenPrefixLen] {
		t.Fatalf("by the old token's hash: %+v, %v", got, err)
	}
	var plain int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'pipelines' AND column_name = 'hook_token'`).Scan(&plain); err != nil || plain != 0 {
		t.Fatalf("the plaintext column is still there: %d %v", plain, err)
	}
}
