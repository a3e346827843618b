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
// after the commit of its transaction.

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

func (s *Store) writeLoop() {
	w := s.writer
	defer close(w.exited)
	for {
		var first *writeReq
		select {
		case first = <-w.reqs:
		case <-w.quit:
			return
		}
		group := []*writeReq{first}
	gather:
		for len(group) < maxSharedBatches {
			select {
			case r := <-w.reqs:
				group = append(group, r)
			default:
				break gather
			}
		}
		s.writeShared(group)
	}
}

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
