package sqlite_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/sqlite"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.Open(t, storetest.SQLite) })
}

// TestMigrateRefusesNewerSchema checks that a database migrated by a newer
// binary (a version this one does not know) is refused by Migrate and
// Ready, and that a changed applied migration is refused (PlanMigrations'
// tests cover applying missing versions).
func TestMigrateRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, `INSERT INTO tributary_migrations (version, name, applied_at) VALUES (9999, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); !errors.Is(err, store.ErrSchemaNewer) {
		t.Errorf("Migrate on a newer schema: %v, want ErrSchemaNewer", err)
	}
	if err := st.Ready(ctx); !errors.Is(err, store.ErrSchemaNewer) {
		t.Errorf("Ready on a newer schema: %v, want ErrSchemaNewer", err)
	}
	if _, err := raw.ExecContext(ctx, `DELETE FROM tributary_migrations WHERE version = 9999`); err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	// An applied migration whose file changed is refused.
	if _, err := raw.ExecContext(ctx, `UPDATE tributary_migrations SET checksum = 'other' WHERE version = 1`); err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx); !errors.Is(err, store.ErrMigrationChanged) {
		t.Errorf("Migrate with a changed migration: %v, want ErrMigrationChanged", err)
	}
}

// TestMigrateHashesHookTokens checks that migration 0008 turns the
// plaintext webhook tokens of a database made before it into hashes
// (issue 11, defect 13): SQLite has no sha256(), Migrate does it in Go.
func TestMigrateHashesHookTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "t.db")
	st, err := sqlite.Open(ctx, path)
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
	// Back to the schema before 0008, with a plaintext token.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	const token = "PlainTokenFromBefore0008_abcdefg"
	for _, q := range []string{
		`DROP INDEX pipelines_hook_token_hash_idx`,
		`ALTER TABLE pipelines DROP COLUMN hook_token_hash`,
		`ALTER TABLE pipelines DROP COLUMN hook_token_prefix`,
		`DROP TABLE webhook_ids`,
		`DROP TABLE record_batches`,
		`DROP INDEX deliveries_open_idx`,
		`DELETE FROM tributary_migrations WHERE version = 8`,
		`UPDATE pipelines SET hook_token = '` + token + `'`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
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
	var plain sql.NullString
	if err := raw.QueryRowContext(ctx, `SELECT hook_token FROM pipelines WHERE id = ?`, p.ID.String()).Scan(&plain); err != nil || plain.Valid {
		t.Fatalf("the plaintext token is still stored: %v %v", plain, err)
	}
}
