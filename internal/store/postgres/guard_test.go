package postgres_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// batchOf is a batch of n records of a team's pipeline, at the time.
func batchOf(team, pipeline uuid.UUID, n int) *store.Batch {
	times := make([]time.Time, n)
	for i := range times {
		times[i] = time.Now().UTC()
	}
	return batchAt(team, pipeline, times...)
}

// leftOf counts the rows a pipeline's batches write, table by table.
func (e *storageEnv) leftOf(pipeline uuid.UUID) map[string]int {
	e.t.Helper()
	left := map[string]int{}
	for _, table := range []string{"records", "record_batches", "pipeline_stat_deltas", "run_deltas", "runs", "record_day_deltas", "rollup_pending"} {
		var n int
		if err := e.st.Pool().QueryRow(e.t.Context(), `SELECT count(*) FROM `+table+` WHERE pipeline_id = $1`, pipeline).Scan(&n); err != nil {
			e.t.Fatal(err)
		}
		if n > 0 {
			left[table] = n
		}
	}
	return left
}

// TestBatchOfDeletedPipeline: a batch of a pipeline that is gone, or of
// another team's pipeline, fails with ErrNotFound and stores nothing (the
// guard of migration 0018 that replaced the foreign keys).
func TestBatchOfDeletedPipeline(t *testing.T) {
	e := setupStorage(t, 2)
	gone, kept := e.pipes[0], e.pipes[1]
	if err := e.st.DeletePipeline(t.Context(), e.team, gone); err != nil {
		t.Fatal(err)
	}
	err := e.st.WriteBatch(t.Context(), batchOf(e.team, gone, 3))
	if !errors.Is(err, core.ErrNotFound) {
		t.Errorf("batch of a deleted pipeline: %v, want ErrNotFound", err)
	}
	if left := e.leftOf(gone); len(left) > 0 {
		t.Errorf("a failed batch of a deleted pipeline left %v", left)
	}

	other := core.NewID()
	err = e.st.WriteBatch(t.Context(), batchOf(other, kept, 3))
	if !errors.Is(err, core.ErrNotFound) {
		t.Errorf("batch naming another team: %v, want ErrNotFound", err)
	}
	if left := e.leftOf(kept); len(left) > 0 {
		t.Errorf("a batch naming another team left %v", left)
	}

	b := batchOf(e.team, kept, 3)
	if err := e.st.WriteBatch(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if left := e.leftOf(kept); left["records"] != 3 || left["record_batches"] != 1 || left["pipeline_stat_deltas"] != 1 {
		t.Errorf("a batch of a live pipeline stored %v", left)
	}
}

// TestDeleteWhileWriting deletes a pipeline while batches of it are
// being written: every batch either committed before the delete (whose
// transaction then deletes its rows) or fails with ErrNotFound, so that
// nothing of the pipeline is left, whichever way each race went.
func TestDeleteWhileWriting(t *testing.T) {
	e := setupStorage(t, 1)
	pipe := e.pipes[0]
	const writers, afterDeleteTries = 6, 5
	var (
		wg              sync.WaitGroup
		stored, refused atomic.Int64
		unexpected      atomic.Value
		deleted         = make(chan struct{})
	)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tries := 0
			for {
				select {
				case <-deleted:
					tries++
				default:
				}
				if tries > afterDeleteTries {
					return
				}
				err := e.st.WriteBatch(t.Context(), batchOf(e.team, pipe, 4))
				switch {
				case err == nil:
					stored.Add(1)
				case errors.Is(err, core.ErrNotFound):
					refused.Add(1)
				default:
					unexpected.Store(err)
					return
				}
			}
		}()
	}
	for stored.Load() < 50 {
		time.Sleep(time.Millisecond)
	}
	if err := e.st.DeletePipeline(t.Context(), e.team, pipe); err != nil {
		t.Fatal(err)
	}
	close(deleted)
	wg.Wait()
	if err, ok := unexpected.Load().(error); ok {
		t.Fatalf("a batch failed otherwise than ErrNotFound: %v", err)
	}
	if refused.Load() == 0 {
		t.Error("no batch was refused after the delete")
	}
	if left := e.leftOf(pipe); len(left) > 0 {
		t.Errorf("after %d batches stored and %d refused, the deleted pipeline left %v", stored.Load(), refused.Load(), left)
	}
}
