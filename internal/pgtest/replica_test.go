//go:build unix

package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// TestReplica: a replica made with pg_basebackup of a primary of the
// test's own streams its writes, stops applying them while paused, and
// catches up once resumed or restarted.
func TestReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL servers")
	}
	t.Parallel()
	p := pgtest.StartPrimary(t)
	db := p.DatabaseURL(t, "app")
	r := pgtest.StartReplica(t, p.URL)

	ctx := t.Context()
	primary, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close(context.Background())
	if _, err := primary.Exec(ctx, `CREATE TABLE t (n int)`); err != nil {
		t.Fatal(err)
	}
	insert := func(n int) {
		t.Helper()
		if _, err := primary.Exec(ctx, `INSERT INTO t VALUES ($1)`, n); err != nil {
			t.Fatal(err)
		}
	}
	// count is the rows the replica has, on a connection of its own.
	count := func() int {
		t.Helper()
		conn, err := pgx.Connect(ctx, r.URL(db))
		if err != nil {
			return -1
		}
		defer conn.Close(context.Background())
		var n int
		var standby bool
		if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&standby); err != nil || !standby {
			t.Fatalf("replica in recovery: %v, %v", standby, err)
		}
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	waitCount := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); count() != want; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("the replica has %d rows, want %d", count(), want)
			}
		}
	}
	insert(1)
	waitCount(1)

	r.PauseReplay(t)
	insert(2)
	time.Sleep(200 * time.Millisecond) // what streaming would take
	if n := count(); n != 1 {
		t.Fatalf("a paused replica has %d rows, want 1", n)
	}
	r.ResumeReplay(t)
	waitCount(2)

	r.Stop(t)
	if n := count(); n != -1 {
		t.Fatalf("a stopped replica answered %d rows", n)
	}
	insert(3)
	r.Start(t)
	waitCount(3)
}
