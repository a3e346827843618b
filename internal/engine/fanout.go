package engine

import (
	"context"
	"sync"

	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
)

// Fanout builds the jobs that carry a committed batch further: one
// delivery per enabled sink, one run per downstream pipeline. It is called
// inside the batch's transaction, after the records are written (persisted
// records carry their ids), and the jobs it returns are inserted in that
// same transaction, so they exist if and only if the batch committed.
//
// persist tells whether the records are in the records table; when it is
// false, a job must carry the records themselves.
//
// A Fanout must be fast and must not touch the database: it runs while the
// batch's transaction (and, on SQLite, the only write connection) is held.
type Fanout interface {
	BatchJobs(ctx context.Context, p core.Pipeline, persist bool, runID string, records []core.Record) ([]river.InsertManyParams, error)
}

// fanouts is the set of Fanouts an engine calls for every batch.
type fanouts struct {
	mu   sync.RWMutex
	list []Fanout
}

// AddFanout registers f for every batch committed from now on. The
// composition root calls it while wiring, before traffic starts.
func (e *Engine) AddFanout(f Fanout) {
	e.fanout.mu.Lock()
	defer e.fanout.mu.Unlock()
	e.fanout.list = append(e.fanout.list, f)
}

func (e *Engine) hasFanouts() bool {
	e.fanout.mu.RLock()
	defer e.fanout.mu.RUnlock()
	return len(e.fanout.list) > 0
}

// batchJobs collects the jobs of every Fanout for one batch.
func (e *Engine) batchJobs(ctx context.Context, p core.Pipeline, persist bool, runID string, records []core.Record) ([]river.InsertManyParams, error) {
	e.fanout.mu.RLock()
	defer e.fanout.mu.RUnlock()
	var out []river.InsertManyParams
	for _, f := range e.fanout.list {
		jobs, err := f.BatchJobs(ctx, p, persist, runID, records)
		if err != nil {
			return nil, err
		}
		out = append(out, jobs...)
	}
	return out, nil
}
