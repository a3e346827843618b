package postgres_test

import (
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/core"
)

// Concurrent batches keep exact stats through the insert-only deltas, the
// folds in the batch transaction every so many batches, and the fold of
// CompactRollups; record ids stay unique.
func TestStatDeltasStayExact(t *testing.T) {
	e := setupStorage(t, 1)
	pipe := e.pipes[0]
	const writers, batches = 4, 150 // 600 batches: folds happen in between
	var (
		mu  sync.Mutex
		all []core.Record
		wg  sync.WaitGroup
	)
	base := time.Now().UTC().Truncate(time.Second)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range batches {
				rs := e.write(nil, pipe, base.Add(time.Duration(w*batches+i)*time.Millisecond), base)
				mu.Lock()
				all = append(all, rs...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	seen := make(map[int64]bool)
	for _, r := range all {
		if r.ID == 0 || seen[r.ID] {
			t.Fatalf("record id %d missing or repeated", r.ID)
		}
		seen[r.ID] = true
	}
	checkStats(t, e, pipe, all)
	var pending int
	if err := e.st.Pool().QueryRow(t.Context(), `SELECT count(*) FROM pipeline_stat_deltas`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending >= writers*batches {
		t.Errorf("%d deltas pending after %d batches: none was folded", pending, writers*batches)
	}
	if _, err := e.st.CompactRollups(t.Context(), 0); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Pool().QueryRow(t.Context(), `SELECT count(*) FROM pipeline_stat_deltas`).Scan(&pending); err != nil {
		t.Fatal(err)
	}
	if pending != 0 {
		t.Errorf("%d deltas pending after CompactRollups", pending)
	}
	checkStats(t, e, pipe, all)
}
