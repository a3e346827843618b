package sqlite_test

import (
	"context"
	"os"
	"sync"
	"testing"
)

// TestWALStaysBoundedUnderContinuousWrites: with checkpoints off the
// writer, the write-ahead log must still restart from its beginning while
// batches keep coming. It restarts only at a write that begins after a
// checkpoint copied all of it, which a checkpointer beside a busy writer
// never manages alone: the log grew by 50 MB a second on the ingest
// benchmark until the writer went back to finishing checkpoints itself.
func TestWALStaysBoundedUnderContinuousWrites(t *testing.T) {
	e := setupBigBatch(t)
	ctx := context.Background()
	const writers, batches, records = 4, 400, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range batches {
				if err := e.st.WriteBatch(ctx, batchOf(e.p, records)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fi, err := os.Stat(e.path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// 1,600 commits of a dozen pages each make a log of about 80 MB that
	// never restarts; restarting, it stays near SQLite's 1,000 pages.
	const limit = 16 << 20
	if fi.Size() > limit {
		t.Fatalf("write-ahead log is %d MB after %d commits, want at most %d MB", fi.Size()>>20, writers*batches, limit>>20)
	}
	t.Logf("write-ahead log: %.1f MB after %d commits", float64(fi.Size())/(1<<20), writers*batches)
}
