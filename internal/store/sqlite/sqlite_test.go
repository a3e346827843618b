package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

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
