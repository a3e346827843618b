package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/filelock"
	"github.com/tributary-dev/tributary/internal/store"
)

// Group commit in the store, fair between teams. SQLite has one writer
// and pays an fsync per commit (synchronous=FULL), so batches that arrive
// while a transaction is being written wait together and then commit
// together, each in a savepoint of its own. What a batch waits for is the
// writer's transactions before its own, so each is kept to about one
// slice of work (sliceRecords records, sliceBytes of data):
//
//   - Batches wait in one queue per team and are written in each team's
//     order: a pipeline's batches commit in the order they were handed
//     over.
//   - Small batches (a slice at most) of the teams that wait share a
//     transaction, taken in turn from each team's queue, so a team with a
//     deep queue fills no more of it than another.
//   - A big batch is written in slices, one transaction each, taking
//     turns with the small batches' transactions: another team's small
//     batch waits for at most one slice, not for ten thousand records.
//     Slices are small while other teams write, larger while none does.
//     Until the transaction of its last slice commits, the batch's
//     records are hidden from every read (table staged_batches: a
//     pipeline shows only its records below first_id); that transaction
//     writes the rest of the batch (rejected records, counters, run,
//     rollups, jobs, webhook ids) and publishes it. So the batch commits
//     all or nothing, and is answered after that commit, exactly as if
//     one transaction had written it. The slices before the last commit
//     without an fsync while no other team writes (the last one's makes
//     them durable; WAL commits are ordered), with one otherwise (see
//     writeSlice); a batch that fails or is withdrawn between slices has its
//     hidden records deleted, and a process that died while writing one
//     deletes them when its writer starts (recoverStaged).

const (
	// sliceRecords and sliceBytes bound the records of one transaction:
	// a batch over either is big and written in slices of them. About
	// 1–2 ms of the writer on a 2026 server core.
	sliceRecords = 256
	sliceBytes   = 256 << 10
	// bigSliceRecords is how many records of a big batch one slice
	// writes while other teams write too, about 0.5–1 ms: what a small
	// batch of another team waits for at most, besides its own commit.
	// Under a flood of huge batches another team's p99 was 3.4× of quiet
	// with slices of 256 records, 2.1–3.1× with 64 (TestFairShareLatency).
	bigSliceRecords = 64
	// aloneSliceRecords is how many records a slice writes while no
	// other team wrote lately (othersWindow): then nobody waits behind
	// it but the batch's own team, and the first small batch of another
	// team waits for one such slice (about 1–2 ms), the next ones for
	// bigSliceRecords. Only small batches count: two teams that send
	// only big batches take turns with slices of this size. Every slice
	// is a commit: 100-record requests of one team were written 20%
	// faster than with slices of 64 (bench/ingest).
	aloneSliceRecords = 256
	// checkpointRecords and checkpointBytes bound what the writer writes
	// in slices of big batches between two checkpoints of its own
	// (checkpointWriter): about 300 log pages, under the writer's
	// wal_autocheckpoint (writerCheckpointPages), whichever slices are.
	checkpointRecords = 4096
	checkpointBytes   = 1 << 20
	// maxSharedBatches bounds how many small batches one transaction
	// carries.
	maxSharedBatches = 64
)

// writeReq is a batch waiting for the writer.
type writeReq struct {
	ctx  context.Context
	b    *store.Batch
	done chan error // buffered: the writer never waits
	// big: written in slices (see big).
	big bool
	// staged counts the records of a big batch written (hidden) so far.
	staged int
}

// batchWriter is the goroutine that writes batches, started by the first
// batch.
type batchWriter struct {
	reqs   chan *writeReq
	quit   chan struct{} // closed by Close
	exited chan struct{} // closed when the loop has returned
	// unstaged are hidden records to delete before anything else is
	// written: those of big batches that failed, or that a process left
	// when it stopped (read from staged_batches once the writer holds the
	// lock). Only the writer's goroutine uses it.
	unstaged []stagedBatch
	// lockPath names the file whose flock the writer holds while it
	// writes (holdLock), and lock is that file once held.
	lockPath string
	lock     *os.File
}

// ErrOtherWriter is the error of a batch written while another process
// writes batches to the same database file.
var ErrOtherWriter = errors.New("another process is writing batches to this SQLite database; Tributary on SQLite runs one server per data directory (several nodes need PostgreSQL)")

// holdLock takes the writer's lock, once: one process at a time writes
// batches to a database file. Its hidden records tell a batch in progress
// only to the process writing it; those that staged_batches holds when
// the lock is taken were left by a process that died (the kernel dropped
// its lock), so they are deleted before anything else is written. A
// second server on the same file has its batches refused with
// ErrOtherWriter until the first stops. Without flock (not unix) the
// writer goes on as the only one.
func (w *batchWriter) holdLock() error {
	if w.lock != nil {
		return nil
	}
	f, err := os.OpenFile(w.lockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("write batch: writer lock: %w", err)
	}
	ok, err := filelock.TryLock(f)
	switch {
	case errors.Is(err, filelock.ErrUnsupported):
	case err != nil:
		f.Close()
		return fmt.Errorf("write batch: writer lock: %w", err)
	case !ok:
		f.Close()
		return fmt.Errorf("write batch: %w", ErrOtherWriter)
	}
	w.lock = f
	w.unstaged = append([]stagedBatch{{}}, w.unstaged...) // read staged_batches first
	return nil
}

// stagedBatch names a pipeline's hidden records: its records from first
// on.
type stagedBatch struct {
	pipeline string
	first    int64
}

func newBatchWriter(dbPath string) *batchWriter {
	return &batchWriter{reqs: make(chan *writeReq, 1024), quit: make(chan struct{}), exited: make(chan struct{}), lockPath: dbPath + "-writer.lock"}
}

// queueBatch hands b to the writer and waits for the outcome of its
// transaction.
func (s *Store) queueBatch(ctx context.Context, b *store.Batch) error {
	w := s.writer
	s.writerOnce.Do(func() { go s.writeLoop() })
	req := &writeReq{ctx: ctx, b: b, done: make(chan error, 1), big: big(b)}
	select {
	case w.reqs <- req:
	case <-ctx.Done():
		return fmt.Errorf("write batch: %w", ctx.Err())
	case <-w.quit:
		return errors.New("write batch: the store is closed")
	}
	select {
	case err := <-req.done:
		return err
	case <-w.exited:
		select {
		case err := <-req.done:
			return err
		default:
			return errors.New("write batch: the store is closed")
		}
	}
}

// stopWriter ends the writer after the transaction it is writing.
func (s *Store) stopWriter() {
	s.closeOnce.Do(func() { close(s.writer.quit) })
	s.writerOnce.Do(func() { close(s.writer.exited) }) // never started
	<-s.writer.exited
}

// teamQueues are the batches waiting for the writer, one queue per team,
// and whose turn it is.
type teamQueues struct {
	q    map[uuid.UUID][]*writeReq
	ring []uuid.UUID // teams with batches waiting, in turn
	next int         // index in ring of the team that goes first
	n    int
}

func (t *teamQueues) push(r *writeReq) {
	if t.q == nil {
		t.q = make(map[uuid.UUID][]*writeReq)
	}
	if _, ok := t.q[r.b.TeamID]; !ok {
		t.ring = append(t.ring, r.b.TeamID)
	}
	t.q[r.b.TeamID] = append(t.q[r.b.TeamID], r)
	t.n++
}

// pop removes the batch at the head of its team's queue.
func (t *teamQueues) pop(r *writeReq) {
	team := r.b.TeamID
	q := t.q[team]
	if len(q) == 0 || q[0] != r {
		panic("sqlite writer: a batch written out of its team's order")
	}
	q[0] = nil
	t.n--
	if len(q) > 1 {
		t.q[team] = q[1:]
		return
	}
	delete(t.q, team)
	for i, k := range t.ring {
		if k == team {
			t.ring = append(t.ring[:i], t.ring[i+1:]...)
			if i < t.next {
				t.next--
			}
			break
		}
	}
}

// big reports whether b is written in slices: its records are more than
// a slice.
func big(b *store.Batch) bool {
	if !b.Persist || len(b.Records) <= 1 {
		return false
	}
	if len(b.Records) > sliceRecords {
		return true
	}
	n := 0
	for i := range b.Records {
		if n += len(b.Records[i].Data); n > sliceBytes {
			return true
		}
	}
	return false
}

func batchSize(r *writeReq) int { return len(r.b.Records) + len(r.b.Rejected) }

// nextWork picks the next transaction's work, starting with the team
// whose turn it is: the small batches at the heads of the teams' queues,
// one from each team in turn, up to about a slice of records; or, on a
// big turn or when no small batch waits, the first big batch at the head
// of a team's queue (a slice of it). It moves the turn on by one team.
func (t *teamQueues) nextWork(bigTurn bool) (small []*writeReq, slice *writeReq) {
	if len(t.ring) == 0 {
		return nil, nil
	}
	t.next %= len(t.ring)
	order := append(t.ring[t.next:len(t.ring):len(t.ring)], t.ring[:t.next]...)
	t.next++
	taken := make(map[uuid.UUID]int, len(order))
	records := 0
	for more := true; more; {
		more = false
		for _, team := range order {
			q := t.q[team]
			i := taken[team]
			if i >= len(q) {
				continue
			}
			if q[i].big {
				if i == 0 && slice == nil {
					slice = q[0]
				}
				taken[team] = len(q) // its later batches wait for it
				continue
			}
			if len(small) > 0 && (len(small) >= maxSharedBatches || records+batchSize(q[i]) > sliceRecords) {
				continue
			}
			small = append(small, q[i])
			records += batchSize(q[i])
			taken[team] = i + 1
			more = true
		}
	}
	if slice != nil && (bigTurn || len(small) == 0) {
		return nil, slice
	}
	return small, nil
}

func (s *Store) writeLoop() {
	w := s.writer
	defer close(w.exited)
	defer func() {
		if w.lock != nil {
			w.lock.Close()
		}
	}()
	var waiting teamQueues
	bigTurn := false              // the next transaction is a big batch's, when one waits
	var sliced, slicedBytes int   // records and bytes written in slices since the writer's last checkpoint
	others := store.RecentTeams{} // teams whose small batches were written lately
	for {
		if waiting.n == 0 {
			select {
			case r := <-w.reqs:
				waiting.push(r)
			case <-w.quit:
				return
			}
		}
	gather:
		for {
			select {
			case r := <-w.reqs:
				waiting.push(r)
			default:
				break gather
			}
		}
		if err := w.holdLock(); err != nil {
			s.failAll(&waiting, err)
			continue
		}
		// What a process that died left hidden, and what failed here, is
		// deleted before anything else is written, so that no later batch
		// of its pipeline is taken for one of them.
		if err := s.deleteUnstaged(); err != nil {
			// Writing a batch of their pipeline now could lose it with
			// them: nothing is written until they are gone.
			s.failAll(&waiting, fmt.Errorf("write batch: delete the records of a batch that failed: %w", err))
			continue
		}
		small, slice := waiting.nextWork(bigTurn)
		if slice != nil {
			bigTurn = false
			done, records, bytes := s.writeSlice(slice, others.OtherSince(slice.b.TeamID, time.Now().Add(-othersWindow)))
			if done {
				waiting.pop(slice)
			}
			if sliced, slicedBytes = sliced+records, slicedBytes+bytes; sliced >= checkpointRecords || slicedBytes >= checkpointBytes {
				s.checkpointWriter()
				sliced, slicedBytes = 0, 0
			}
			// The writer would go on computing the next slice at once,
			// holding its processor until the Go scheduler takes it back
			// (10 ms): let the goroutines that wait for one run (another
			// team's request on its way here).
			runtime.Gosched()
			continue
		}
		bigTurn = true
		for _, r := range small {
			waiting.pop(r)
		}
		s.writeShared(small)
		for _, r := range small {
			others.Wrote(r.b.TeamID, time.Now())
		}
	}
}

// othersWindow is how lately another team's small batches must have been
// written for a big batch's slices to commit durably (writeSlice).
const othersWindow = time.Second

// failAll answers every waiting batch with err.
func (s *Store) failAll(waiting *teamQueues, err error) {
	for _, q := range waiting.q {
		for _, r := range q {
			s.dropStaged(r)
			r.done <- err
		}
	}
	*waiting = teamQueues{}
}

// writeSlice writes the next slice of a big batch, or its last with the
// rest of the batch, and reports whether the batch is done (answered) and
// the records and bytes of the slice it wrote (none when it failed).
//
// While others (other teams' small batches were written lately), a slice
// is bigSliceRecords and commits durably, since their next commit would
// otherwise sync the slices' log for them (under a flood of huge batches,
// another team's p99 was 2.2× of quiet with lazy slices, 1.4× with
// durable ones). Alone, it is aloneSliceRecords and commits lazily (no
// fsync): a huge batch alone writes about 30% faster with lazy ones.
func (s *Store) writeSlice(r *writeReq, others bool) (done bool, records, bytes int) {
	b := r.b
	if err := r.ctx.Err(); err != nil {
		s.dropStaged(r)
		r.done <- fmt.Errorf("write batch: %w", err)
		return true, 0, 0
	}
	limit := aloneSliceRecords
	if others {
		limit = bigSliceRecords
	}
	end := r.staged
	for end < len(b.Records) && end-r.staged < limit && bytes < sliceBytes {
		bytes += len(b.Records[end].Data)
		end++
	}
	records = end - r.staged
	if end == len(b.Records) {
		// The last slice: the whole batch commits, or none of it.
		s.writeShared([]*writeReq{r})
		return true, records, bytes
	}
	write := s.inLazyTx
	if others {
		write = s.inTx
	}
	err := write(context.WithoutCancel(r.ctx), func(tx *sql.Tx) error {
		if r.staged == 0 {
			// Before anything is hidden: hidden records are a pipeline's
			// from an id on, and deleted as such when the batch fails, so
			// a batch naming another team than the pipeline's must not
			// hide (and then delete) the owner's records written meanwhile.
			var owned int
			if err := tx.QueryRowContext(r.ctx, `SELECT count(*) FROM pipelines WHERE team_id = ? AND id = ?`, b.TeamID, b.PipelineID).Scan(&owned); err != nil {
				return fmt.Errorf("check the pipeline: %w", err)
			}
			if owned == 0 {
				return fmt.Errorf("pipeline %s: %w", b.PipelineID, core.ErrNotFound)
			}
		}
		if err := insertRecords(r.ctx, tx, b, r.staged, end); err != nil {
			return fmt.Errorf("insert records: %w", err)
		}
		if r.staged > 0 {
			return nil
		}
		_, err := tx.ExecContext(r.ctx, `INSERT INTO staged_batches (pipeline_id, first_id) VALUES (?, ?)`, b.PipelineID, b.Records[0].ID)
		return err
	})
	if err != nil {
		s.dropStaged(r)
		if errors.Is(err, core.ErrNotFound) {
			r.done <- fmt.Errorf("write batch: %w", err)
		} else {
			r.done <- fmt.Errorf("write batch: slice: %w", err)
		}
		return true, 0, 0
	}
	r.staged = end
	return false, records, bytes
}

// dropStaged deletes the hidden records of a big batch that will not be
// published; until they are gone the writer writes nothing else
// (deleteUnstaged).
func (s *Store) dropStaged(r *writeReq) {
	if r.staged == 0 {
		return
	}
	s.writer.unstaged = append(s.writer.unstaged, stagedBatch{pipeline: r.b.PipelineID.String(), first: r.b.Records[0].ID})
	r.staged = 0
	_ = s.deleteUnstaged() // or before the next transaction
}

// loadStaged adds what staged_batches holds to the hidden records to
// delete: the batches that were being written in slices when the process
// stopped.
func (s *Store) loadStaged(ctx context.Context) error {
	rows, err := s.write.QueryContext(ctx, `SELECT pipeline_id, first_id FROM staged_batches`)
	if err != nil {
		return err
	}
	defer rows.Close()
	// Kept only once all are read: a read that fails midway is repeated
	// whole (deleteUnstaged), never left half done.
	var staged []stagedBatch
	for rows.Next() {
		var st stagedBatch
		if err := rows.Scan(&st.pipeline, &st.first); err != nil {
			return err
		}
		staged = append(staged, st)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	s.writer.unstaged = append(s.writer.unstaged, staged...)
	return nil
}

// deleteUnstaged deletes the hidden records the writer has to, in one
// transaction.
func (s *Store) deleteUnstaged() error {
	w := s.writer
	if len(w.unstaged) == 0 {
		return nil
	}
	ctx := context.Background()
	if w.unstaged[0] == (stagedBatch{}) {
		// staged_batches is still to read (the writer just took its
		// lock, or reading failed before).
		if err := s.loadStaged(ctx); err != nil {
			return err
		}
		w.unstaged = w.unstaged[1:]
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for _, st := range w.unstaged {
			if err := deleteStaged(ctx, tx, st.pipeline, st.first); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.unstaged = nil
	return nil
}

// deleteStaged deletes a pipeline's hidden records, from id first on, and
// their staged_batches row. The pipeline's batches after them wait for
// them, so every record of the pipeline from first on is one of them.
func deleteStaged(ctx context.Context, tx *sql.Tx, pipeline string, first int64) error {
	// NOT INDEXED: through the rowid (id) range, not the pipeline's index.
	if _, err := tx.ExecContext(ctx, `DELETE FROM records NOT INDEXED WHERE id >= ? AND pipeline_id = ?`, first, pipeline); err != nil {
		return fmt.Errorf("delete staged records: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM staged_batches WHERE pipeline_id = ?`, pipeline); err != nil {
		return fmt.Errorf("delete staged records: %w", err)
	}
	return nil
}

// publishedBelow is the SQL of the id below which a pipeline's records
// are published: all of them but those of a big batch being written in
// slices. pipeline is the SQL of the pipeline's id (a parameter, or a
// column of an outer query).
func publishedBelow(pipeline string) string {
	return `coalesce((SELECT first_id FROM staged_batches WHERE pipeline_id = ` + pipeline + `), 9223372036854775807)`
}

// writeShared writes the batches of group in one transaction, each in a
// savepoint when there are several, and answers each. A big batch in
// group is alone: its last slice.
func (s *Store) writeShared(group []*writeReq) {
	errs := make([]error, len(group))
	answer := func(commitErr error) {
		for i, r := range group {
			if errs[i] == nil {
				errs[i] = commitErr
			}
			if errs[i] != nil {
				s.dropStaged(r)
			}
			r.done <- errs[i]
		}
	}
	// The transaction outlives any one request's context; each batch's
	// statements run under its own.
	tx, err := s.write.BeginTx(context.WithoutCancel(group[0].ctx), nil)
	if err != nil {
		answer(fmt.Errorf("write batch: begin: %w", err))
		return
	}
	if len(group) == 1 {
		if errs[0] = s.writeBatchTx(group[0].ctx, tx, group[0].b, group[0].staged); errs[0] != nil {
			_ = tx.Rollback()
			answer(nil)
			return
		}
		answer(commitErr(tx.Commit()))
		return
	}
	kept := 0
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			errs[i] = fmt.Errorf("write batch: %w", err)
			continue
		}
		if _, err := tx.ExecContext(r.ctx, `SAVEPOINT batch`); err != nil {
			errs[i] = fmt.Errorf("write batch: savepoint: %w", err)
			continue
		}
		if errs[i] = s.writeBatchTx(r.ctx, tx, r.b, r.staged); errs[i] != nil {
			if _, err := tx.ExecContext(context.WithoutCancel(r.ctx), `ROLLBACK TO batch`); err != nil {
				// SQLite rolled back the whole transaction (some errors
				// do): nothing of the group is kept.
				_ = tx.Rollback()
				answer(fmt.Errorf("write batch: a batch written with this one failed: %w", errs[i]))
				return
			}
		} else {
			kept++
		}
		if _, err := tx.ExecContext(context.WithoutCancel(r.ctx), `RELEASE batch`); err != nil {
			_ = tx.Rollback()
			answer(fmt.Errorf("write batch: release savepoint: %w", err))
			return
		}
	}
	if kept == 0 {
		_ = tx.Rollback()
		answer(nil)
		return
	}
	answer(commitErr(tx.Commit()))
}

func commitErr(err error) error {
	if err != nil {
		return fmt.Errorf("write batch: commit: %w", err)
	}
	return nil
}
