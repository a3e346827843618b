package sqlite

import (
	"context"
	"errors"
	"fmt"

	"github.com/tributary-dev/tributary/internal/store"
)

// maxSharedBatches bounds how many batches one write transaction carries.
const maxSharedBatches = 64

// Group commit in the store. SQLite has one writer and pays an fsync per
// commit (synchronous=FULL), so batches that arrive while a transaction
// is being written wait together and then commit together: the batches of
// all pipelines, and the flushes in flight of one pipeline, share
// transactions whose size grows with the load. A batch is answered only
// after the commit of its transaction. Big batches (bigBatch records or
// more) are written one per transaction, taking turns with the small
// ones that waited meanwhile, so that a team sending huge requests does
// not make every other team's batch wait for its transactions.

// writeReq is a batch waiting for the writer.
type writeReq struct {
	ctx  context.Context
	b    *store.Batch
	done chan error // buffered: the writer never waits
}

// batchWriter is the goroutine that writes batches, started by the first
// batch.
type batchWriter struct {
	reqs   chan *writeReq
	quit   chan struct{} // closed by Close
	exited chan struct{} // closed when the loop has returned
}

func newBatchWriter() *batchWriter {
	return &batchWriter{reqs: make(chan *writeReq, 1024), quit: make(chan struct{}), exited: make(chan struct{})}
}

// queueBatch hands b to the writer and waits for the outcome of its
// transaction.
func (s *Store) queueBatch(ctx context.Context, b *store.Batch) error {
	w := s.writer
	s.writerOnce.Do(func() { go s.writeLoop() })
	req := &writeReq{ctx: ctx, b: b, done: make(chan error, 1)}
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

// bigBatch is the size (records and rejected records) from which a batch
// is written in a transaction of its own, taking turns with the small
// batches waiting with it: one team's huge requests then delay another
// team's small one by at most one huge batch, not by a transaction of
// many.
const bigBatch = 1000

func (s *Store) writeLoop() {
	w := s.writer
	defer close(w.exited)
	var pending []*writeReq // arrived, not written yet, in arrival order
	bigTurn := false        // the next transaction is a big batch's, when one waits
	for {
		if len(pending) == 0 {
			select {
			case r := <-w.reqs:
				pending = append(pending, r)
			case <-w.quit:
				return
			}
		}
	gather:
		for len(pending) < cap(w.reqs) {
			select {
			case r := <-w.reqs:
				pending = append(pending, r)
			default:
				break gather
			}
		}
		var group []*writeReq
		group, pending = nextGroup(pending, bigTurn)
		bigTurn = batchSize(group[0]) < bigBatch
		s.writeShared(group)
	}
}

// nextGroup picks the batches of the next transaction from pending and
// returns them and the rest, in arrival order: the small batches (up to
// maxSharedBatches), or the oldest big one when it is its turn or no
// small batch waits.
func nextGroup(pending []*writeReq, bigTurn bool) (group, rest []*writeReq) {
	big := -1
	small := 0
	for i, r := range pending {
		if batchSize(r) >= bigBatch {
			if big < 0 {
				big = i
			}
		} else {
			small++
		}
	}
	if big >= 0 && (bigTurn || small == 0) {
		return []*writeReq{pending[big]}, append(pending[:big:big], pending[big+1:]...)
	}
	rest = pending[:0:0]
	for _, r := range pending {
		if len(group) < maxSharedBatches && batchSize(r) < bigBatch {
			group = append(group, r)
		} else {
			rest = append(rest, r)
		}
	}
	return group, rest
}

func batchSize(r *writeReq) int { return len(r.b.Records) + len(r.b.Rejected) }

// writeShared writes the batches of group in one transaction, each in a
// savepoint when there are several, and answers each.
func (s *Store) writeShared(group []*writeReq) {
	errs := make([]error, len(group))
	answer := func(commitErr error) {
		for i, r := range group {
			if errs[i] == nil {
				errs[i] = commitErr
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
		if errs[0] = s.writeBatchTx(group[0].ctx, tx, group[0].b); errs[0] != nil {
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
		if errs[i] = s.writeBatchTx(r.ctx, tx, r.b); errs[i] != nil {
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
