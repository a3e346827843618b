package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// Checkpoints mostly off the writer. SQLite copies the write-ahead log
// back into the database file in checkpoints, by default in the commit
// that takes the log over 1,000 pages: a commit that then also copies
// megabytes and syncs the database file, for tens or hundreds of
// milliseconds, while every batch waits behind it. So a connection of its
// own checkpoints every checkpointEvery, in PASSIVE mode, beside the
// writer and without holding its lock, and copies nearly all of the log.
//
// The writer still checkpoints, and must: the log restarts from its
// beginning only at a write that begins after a checkpoint copied all of
// it, which the checkpointer beside a busy writer never manages (the
// writer appends while it copies), so without the writer's own
// checkpoints the log grew by 50 MB a second on the ingest benchmark. The
// writer's checkpoint finds only what was written since the last
// background one still to copy, but it syncs the database file, a couple
// of milliseconds here. It happens:
//   - after every checkpointRecords records or checkpointBytes bytes
//     written in slices of big batches (checkpointWriter): while big
//     batches are written, the log stays under the threshold below, and
//     their team, not another's small batch, waits for the checkpoint
//     (under a flood of huge batches, 1–2% of another team's commits took
//     2 ms longer, by running it);
//   - otherwise, as SQLite does by default, in the commit that takes the
//     log over writerCheckpointPages pages (SQLite's default; 2,000 made
//     the p99 at half load 15–30% worse on the ingest benchmark).
const checkpointEvery = 200 * time.Millisecond

// writerCheckpointPages is the writer's wal_autocheckpoint.
const writerCheckpointPages = 1000

// checkpointWriter checkpoints on the writer's connection, between two of
// its transactions. A failure (the database busy) is left to the next.
func (s *Store) checkpointWriter() {
	_, _ = s.write.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
}

// checkpointer runs the checkpoints until quit is closed.
type checkpointer struct {
	db     *sql.DB
	quit   chan struct{}
	exited chan struct{}
	once   sync.Once
	err    error
}

func newCheckpointer(db *sql.DB) *checkpointer {
	db.SetMaxOpenConns(1)
	return &checkpointer{db: db, quit: make(chan struct{}), exited: make(chan struct{})}
}

func (c *checkpointer) run() {
	defer close(c.exited)
	tick := time.NewTicker(checkpointEvery)
	defer tick.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-tick.C:
		}
		// A failure (the database busy, the disk full) waits for the next
		// tick; the log grows meanwhile.
		_, _ = c.db.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
	}
}

// stop ends the checkpoints, runs a last one and closes its connection.
// Later calls return what the first did.
func (c *checkpointer) stop() error {
	c.once.Do(func() {
		close(c.quit)
		<-c.exited
		_, _ = c.db.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
		c.err = c.db.Close()
	})
	return c.err
}
