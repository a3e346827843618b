//go:build unix

package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// TestPrimaryStopStart: a primary stopped either way refuses
// connections, and started again answers at the same URL with the data
// committed before a fast stop. An immediate stop may lose the last
// commits: test servers commit with synchronous_commit = off (a test that
// counts on them turns it on).
func TestPrimaryStopStart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	t.Parallel()
	p := pgtest.StartPrimary(t)
	db := p.DatabaseURL(t, "app")
	ctx := t.Context()
	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, db)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(`CREATE TABLE t (n int)`); err != nil {
		t.Fatal(err)
	}
	for i, mode := range []string{"fast", "immediate"} {
		if err := exec(`INSERT INTO t VALUES (1)`); err != nil {
			t.Fatal(err)
		}
		p.Stop(t, mode)
		if err := exec(`SELECT 1`); err == nil {
			t.Fatalf("connected after a %s stop", mode)
		}
		p.Start(t)
		conn := connect(t, db)
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := i + 1; n != want && (mode == "fast" || n != want-1) {
			t.Errorf("after a %s stop: %d rows, want %d", mode, n, want)
		}
	}
}
