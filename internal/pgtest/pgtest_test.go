package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// connect opens a connection that the test closes when it ends.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestDatabaseURLGivesAnEmptyUsableDatabase(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	conn := connect(t, pgtest.DatabaseURL(t))

	var tables int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&tables); err != nil {
		t.Fatalf("count tables: %v", err)
	}
	if tables != 0 {
		t.Fatalf("new database has %d tables, want 0", tables)
	}

	if _, err := conn.Exec(ctx, "CREATE TABLE item (id int PRIMARY KEY, name text NOT NULL)"); err != nil {
		t.Fatalf("create table: %v", err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO item VALUES (1, 'river')"); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var name string
	if err := conn.QueryRow(ctx, "SELECT name FROM item WHERE id = 1").Scan(&name); err != nil {
		t.Fatalf("select: %v", err)
	}
	if name != "river" {
		t.Fatalf("name = %q, want %q", name, "river")
	}
}

func TestDatabaseURLGivesDistinctDatabases(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	urlA, urlB := pgtest.DatabaseURL(t), pgtest.DatabaseURL(t)
	if urlA == urlB {
		t.Fatalf("two calls returned the same URL %q", urlA)
	}
	a, b := connect(t, urlA), connect(t, urlB)

	var nameA, nameB string
	if err := a.QueryRow(ctx, "SELECT current_database()").Scan(&nameA); err != nil {
		t.Fatalf("query a: %v", err)
	}
	if err := b.QueryRow(ctx, "SELECT current_database()").Scan(&nameB); err != nil {
		t.Fatalf("query b: %v", err)
	}
	if nameA == nameB {
		t.Fatalf("both URLs lead to database %q", nameA)
	}

	if _, err := a.Exec(ctx, "CREATE TABLE only_in_a (id int)"); err != nil {
		t.Fatalf("create table in a: %v", err)
	}
	var seen bool
	if err := b.QueryRow(ctx, "SELECT to_regclass('only_in_a') IS NOT NULL").Scan(&seen); err != nil {
		t.Fatalf("look up table in b: %v", err)
	}
	if seen {
		t.Fatal("table created in one database is visible in the other")
	}
}

func TestDatabaseIsDroppedWhenTestEnds(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	var name string
	var leftOpen *pgx.Conn
	t.Run("test", func(t *testing.T) {
		var err error
		// Deliberately not closed before the subtest ends: the drop must
		// not be blocked by a connection the test forgot.
		leftOpen, err = pgx.Connect(t.Context(), pgtest.DatabaseURL(t))
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		if err := leftOpen.QueryRow(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatalf("query: %v", err)
		}
	})
	if leftOpen != nil {
		defer leftOpen.Close(context.Background())
	}
	if name == "" {
		t.Fatal("subtest failed")
	}

	admin := connect(t, pgtest.Server(t))
	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatalf("look up database: %v", err)
	}
	if exists {
		t.Fatalf("database %s still exists after its test ended", name)
	}
}
