package p2p

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/store"
)

// Store is what the p2p workers need of the store; store.Store
// satisfies it.
type Store interface {
	Pipeline(ctx context.Context, teamID, id uuid.UUID) (core.Pipeline, error)
	PipelineUpstream(ctx context.Context, teamID, pipelineID uuid.UUID) (uuid.UUID, error)
	Downstreams(ctx context.Context, teamID, upstreamID uuid.UUID) ([]uuid.UUID, error)
	RecordsByID(ctx context.Context, teamID, pipelineID uuid.UUID, ids []store.RecordIDRange, from, to time.Time) ([]core.Record, error)
}

// Engine is what the run worker needs of the engine; *engine.Engine
// satisfies it.
type Engine interface {
	Compiled(p core.Pipeline) (*pipeline.Compiled, error)
	RunBatch(ctx context.Context, p core.Pipeline, c *pipeline.Compiled, inputs []any, trigger core.RunTrigger, state json.RawMessage) (engine.Result, error)
}

// RunWorker runs a downstream pipeline on one upstream batch: the
// downstream's own mapping, validation, persistence and sinks, as a run
// with trigger p2p.
type RunWorker struct {
	river.WorkerDefaults[RunArgs]
	Store  Store
	Engine Engine
	Log    *slog.Logger
}

// Work implements river.Worker.
func (w *RunWorker) Work(ctx context.Context, job *river.Job[RunArgs]) error {
	a := job.Args
	log := w.Log.With("pipeline", a.Pipeline, "upstream", a.Upstream, "upstream_run", a.UpstreamRun)
	p, err := w.Store.Pipeline(ctx, a.TeamID, a.Pipeline)
	if errors.Is(err, core.ErrNotFound) {
		log.DebugContext(ctx, "p2p: the downstream pipeline was deleted; batch dropped")
		return nil
	}
	if err != nil {
		return fmt.Errorf("p2p: load pipeline %s: %w", a.Pipeline, err)
	}
	// The index that enqueued the job may have been stale: the store says
	// whether the pipeline still reads from this upstream.
	up, err := w.Store.PipelineUpstream(ctx, a.TeamID, p.ID)
	switch {
	case errors.Is(err, core.ErrNotFound) || err == nil && up != a.Upstream:
		log.DebugContext(ctx, "p2p: the pipeline no longer reads from this upstream; batch dropped")
		return nil
	case err != nil:
		return fmt.Errorf("p2p: load upstream of pipeline %s: %w", p.ID, err)
	}
	if p.Status == core.StatusPaused {
		log.InfoContext(ctx, "p2p: the pipeline is paused; upstream batch skipped", "records", a.Len())
		return nil
	}
	c, err := w.Engine.Compiled(p)
	if err != nil {
		log.ErrorContext(ctx, "p2p: the pipeline's spec does not compile; upstream batch dropped", "err", err)
		return river.JobCancel(err)
	}
	var records []core.Record
	if a.Records != nil {
		records = make([]core.Record, len(a.Records))
		for i, r := range a.Records {
			records[i] = core.Record{PipelineID: a.Upstream, TS: r.TS, Data: r.Data}
		}
	} else if records, err = w.Store.RecordsByID(ctx, a.TeamID, a.Upstream, a.IDRanges(), a.From, a.To); err != nil {
		return fmt.Errorf("p2p: read upstream records: %w", err)
	}
	if len(records) == 0 {
		return nil // the upstream's records are gone (deleted, or past retention)
	}
	inputs, err := Inputs(records)
	if err != nil {
		return river.JobCancel(err)
	}
	if _, err := w.Engine.RunBatch(WithDepth(ctx, a.Depth), p, c, inputs, core.TriggerP2P, nil); err != nil {
		return fmt.Errorf("p2p: run pipeline %s: %w", p.ID, err)
	}
	return nil
}

// DispatchWorker finds an upstream batch's downstream pipelines in the
// store and enqueues a run for each: the fallback of a node whose link
// index was stale when the batch committed.
type DispatchWorker struct {
	river.WorkerDefaults[DispatchArgs]
	Store Store
	Log   *slog.Logger
}

// Work implements river.Worker.
func (w *DispatchWorker) Work(ctx context.Context, job *river.Job[DispatchArgs]) error {
	a := job.Args
	downs, err := w.Store.Downstreams(ctx, a.TeamID, a.Upstream)
	if err != nil {
		return fmt.Errorf("p2p: list downstream pipelines of %s: %w", a.Upstream, err)
	}
	if len(downs) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(downs))
	for i, d := range downs {
		params[i] = river.InsertManyParams{Args: RunArgs{TeamID: a.TeamID, Pipeline: d, Batch: a.Batch}}
	}
	return insertJobs(ctx, params)
}

// insertJobs inserts jobs with the client working the current job, on
// either backend.
func insertJobs(ctx context.Context, params []river.InsertManyParams) error {
	if c, err := river.ClientFromContextSafely[pgx.Tx](ctx); err == nil {
		_, err = c.InsertMany(ctx, params)
		return err
	}
	if c, err := river.ClientFromContextSafely[*sql.Tx](ctx); err == nil {
		_, err = c.InsertMany(ctx, params)
		return err
	}
	return errors.New("p2p: no job client in the job's context")
}

// Workers are the p2p job workers with what they need. Register adds
// them to a River configuration, as every domain registers its own.
type Workers struct {
	Store  Store
	Engine Engine
	// Log receives the workers' lines; nil discards them.
	Log *slog.Logger
}

// Register adds the workers of RunArgs and DispatchArgs to cfg. They run
// in River's default queue.
func (w Workers) Register(cfg *river.Config) {
	log := w.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Workers == nil {
		cfg.Workers = river.NewWorkers()
	}
	river.AddWorker(cfg.Workers, &RunWorker{Store: w.Store, Engine: w.Engine, Log: log})
	river.AddWorker(cfg.Workers, &DispatchWorker{Store: w.Store, Log: log})
}

var (
	_ Store  = store.Store(nil)
	_ Engine = (*engine.Engine)(nil)
)
