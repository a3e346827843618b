package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

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
