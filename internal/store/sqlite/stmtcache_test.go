package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
)

// cachedCount is how many statements the pool's one connection keeps.
func cachedCount(t *testing.T, db *sql.DB) int {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	if err := conn.Raw(func(dc any) error {
		n = len(dc.(*cachingConn).stmts)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStmtCache: statements run again are kept; a query run again while
// its own rows are open gets a statement of its own and both read the
// right rows; the cache stays within its bound; errors of a kept
// statement leave it usable.
func TestStmtCache(t *testing.T) {
	ctx := context.Background()
	db, err := openDB("file:" + filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (x INTEGER PRIMARY KEY, y TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if _, err := db.ExecContext(ctx, `INSERT INTO t (x, y) VALUES (?, ?)`, i, fmt.Sprint("v", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := cachedCount(t, db); n != 2 {
		t.Fatalf("%d statements kept after two distinct statements, want 2", n)
	}

	// The same text while its rows are open, on the one connection (a
	// transaction holds it): the second use gets a statement of its own.
	const q = `SELECT x, y FROM t WHERE x >= ? ORDER BY x`
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := tx.QueryContext(ctx, q, 98)
	if err != nil {
		t.Fatal(err)
	}
	if !r1.Next() {
		t.Fatal("no first row")
	}
	var a, b int
	var s string
	if err := r1.Scan(&a, &s); err != nil {
		t.Fatal(err)
	}
	r2, err := tx.QueryContext(ctx, q, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !r2.Next() {
		t.Fatal("no row from the second use")
	}
	if err := r2.Scan(&b, &s); err != nil {
		t.Fatal(err)
	}
	r2.Close()
	if !r1.Next() {
		t.Fatal("the first rows ended early")
	}
	var a2 int
	if err := r1.Scan(&a2, &s); err != nil {
		t.Fatal(err)
	}
	r1.Close()
	if a != 98 || a2 != 99 || b != 10 {
		t.Fatalf("rows of two uses of one text mixed: %d, %d, %d", a, a2, b)
	}
	// A constraint error leaves the kept statement usable.
	if _, err := tx.ExecContext(ctx, `INSERT INTO t (x, y) VALUES (?, ?)`, 1, "dup"); err == nil {
		t.Fatal("duplicate key accepted")
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO t (x, y) VALUES (?, ?)`, 1000, "new"); err != nil {
		t.Fatalf("the statement after an error: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	// Statements whose text varies: the cache keeps at most its bound.
	for i := range stmtCacheSize + 50 {
		var got int
		if err := db.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d + count(*) FROM t WHERE x = ?`, i), 5).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != i+1 {
			t.Fatalf("query %d = %d", i, got)
		}
	}
	if n := cachedCount(t, db); n > stmtCacheSize {
		t.Fatalf("%d statements kept, bound %d", n, stmtCacheSize)
	}
}
