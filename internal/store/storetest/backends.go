package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/postgres"
	"github.com/tributary-dev/tributary/internal/store/sqlite"
)

// Backend names, as Open takes them.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Backends names every store backend, in the order Each runs them.
var Backends = []string{SQLite, Postgres}

// Open returns a fresh, empty, migrated store of backend (SQLite or
// Postgres), closed when t ends. SQLite lives in t.TempDir(); PostgreSQL
// is a database of its own on the pgtest server, which skips the test when
// no server can be had, and fails it instead under CI=true.
func Open(t testing.TB, backend string) store.Store {
	t.Helper()
	ctx := context.Background()
	var (
		st  store.Store
		err error
	)
	switch backend {
	case SQLite:
		st, err = sqlite.Open(ctx, filepath.Join(t.TempDir(), "store.db"))
	case Postgres:
		st, err = postgres.Open(ctx, pgtest.DatabaseURL(t))
	default:
		t.Fatalf("storetest: unknown backend %q; want one of %v", backend, Backends)
	}
	if err != nil {
		t.Fatalf("storetest: open %s: %v", backend, err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("storetest: migrate %s: %v", backend, err)
	}
	return st
}

// Each runs fn as a parallel subtest per backend, named after it, each
// with a fresh store from Open. Whether t itself runs in parallel is the
// caller's choice.
func Each(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Helper()
	for _, backend := range Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			fn(t, Open(t, backend))
		})
	}
}
