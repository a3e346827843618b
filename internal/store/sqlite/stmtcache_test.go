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
	return connCount(t, conn)
}

// connCount is how many statements conn keeps.
func connCount(t *testing.T, conn *sql.Conn) int {
	t.Helper()
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
// its own rows are open, or a text prepared again before the first is
// closed, gets a statement of its own and each reads and writes the right
// rows; the cache stays within its bound; errors of a kept
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

	// Statements prepared on one connection: the kept one is handed out
	// until closed; a second at once is a statement of its own.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kept := connCount(t, conn)
	p1, err := conn.PrepareContext(ctx, `UPDATE t SET y = ? WHERE x = ?`)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := conn.PrepareContext(ctx, `UPDATE t SET y = ? WHERE x = ?`)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := p1.ExecContext(ctx, "p1", i); err != nil {
			t.Fatal(err)
		}
		if _, err := p2.ExecContext(ctx, "p2", i+50); err != nil {
			t.Fatal(err)
		}
	}
	p1.Close()
	p2.Close()
	if n := connCount(t, conn); n != kept+1 {
		t.Fatalf("%d statements kept after preparing one text twice, want %d", n, kept+1)
	}
	p3, err := conn.PrepareContext(ctx, `UPDATE t SET y = ? WHERE x = ?`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p3.ExecContext(ctx, "p3", 4); err != nil {
		t.Fatal(err)
	}
	p3.Close()
	var y1, y2 string
	if err := conn.QueryRowContext(ctx, `SELECT (SELECT y FROM t WHERE x = 4), (SELECT y FROM t WHERE x = 54)`).Scan(&y1, &y2); err != nil {
		t.Fatal(err)
	}
	if y1 != "p3" || y2 != "p2" {
		t.Fatalf("prepared updates wrote %q, %q", y1, y2)
	}
	conn.Close()

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
