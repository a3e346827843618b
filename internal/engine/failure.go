package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// FailedRun is a run whose source failed before it brought any record: a
// poll whose API answered an error, or whose spec no longer compiles.
type FailedRun struct {
	Trigger core.RunTrigger
	// StartedAt is when the run began; its duration runs from there to
	// the commit.
	StartedAt time.Time
	// Error is what went wrong, as users see it (it must hold no secret).
	Error string
	// State, when not nil, replaces the pipeline's incremental polling
	// state in the same transaction, as RunBatch's state does.
	State json.RawMessage
	// Finish, when not nil, ends the poll in the same transaction
	// (store.Batch.Finish).
	Finish *store.PollFinish
}

// RecordFailure commits a failed run: its run row, carrying the error, and
// its state, in one transaction. It takes the path of every other run
// (fan-outs, metrics, cache and broadcast), so a failed run is counted and
// seen like the others; having no records, it adds nothing to the cache
// or to live streams. It fails with ErrClosed after Close.
func (e *Engine) RecordFailure(ctx context.Context, p core.Pipeline, run FailedRun) (Result, error) {
	if !e.enter() {
		return Result{}, ErrClosed
	}
	defer e.wg.Done()
	started := run.StartedAt
	if started.IsZero() {
		started = time.Now()
	}
	b := newBatch(p, false, run.Trigger, started, 0, 0)
	b.Run.Error = run.Error
	b.State = run.State
	b.Finish = run.Finish
	if err := e.write(ctx, p, b); err != nil {
		return Result{}, fmt.Errorf("engine: record failed run of pipeline %s: %w", p.ID, err)
	}
	return Result{RunID: b.Run.ID}, nil
}
