package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// openTemp opens a migrated store in a temporary file, closed with the
// test (the package's own tests; sqlite_test has openFile).
func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// RecordsByID searches the primary key once per id range, whatever the
// time window holds: through the (pipeline_id, ts) index it read every
// record of the window once per range.
func TestRecordsByIDSearchesTheKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	rows, err := s.read.QueryContext(ctx, `EXPLAIN QUERY PLAN `+recordsByIDSQL, `[[1,2,0,1],[5,9,0,1]]`, "team", "pipeline", "pipeline")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, "SEARCH r USING INTEGER PRIMARY KEY") || strings.Contains(text, "records_pipeline_ts_idx") {
		t.Fatalf("records by id: plan\n%s\nwant a search of records' primary key per range", text)
	}
}
