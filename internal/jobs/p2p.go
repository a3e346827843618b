package jobs

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
	"github.com/tributary-dev/tributary/internal/source/p2p"
	"github.com/tributary-dev/tributary/internal/store"
)

// P2PStore is what the p2p workers need of the store.
type P2PStore interface {
	Pipeline(ctx context.Context, teamID, id uuid.UUID) (core.Pipeline, error)
	PipelineUpstream(ctx context.Context, teamID, pipelineID uuid.UUID) (uuid.UUID, error)
	Downstreams(ctx context.Context, teamID, upstreamID uuid.UUID) ([]uuid.UUID, error)
	RecordsByID(ctx context.Context, teamID, pipelineID uuid.UUID, ids []store.RecordIDRange, from, to time.Time) ([]core.Record, error)
}

// P2PEngine is what the p2p worker needs of the engine.
type P2PEngine interface {
	Compiled(p core.Pipeline) (*pipeline.Compiled, error)
	RunBatch(ctx context.Context, p core.Pipeline, c *pipeline.Compiled, inputs []any, trigger core.RunTrigger, state json.RawMessage) (engine.Result, error)
}

// P2PWorker runs a downstream pipeline on one upstream batch: the
// downstream's own mapping, validation, persistence and sinks, as a run
// with trigger p2p. See package p2p.
type P2PWorker struct {
	river.WorkerDefaults[p2p.RunArgs]
	Store  P2PStore
	Engine P2PEngine
	Log    *slog.Logger
}

// Work implements river.Worker.
func (w *P2PWorker) Work(ctx context.Context, job *river.Job[p2p.RunArgs]) error {
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
	inputs, err := p2p.Inputs(records)
	if err != nil {
		return river.JobCancel(err)
	}
	if _, err := w.Engine.RunBatch(p2p.WithDepth(ctx, a.Depth), p, c, inputs, core.TriggerP2P, nil); err != nil {
		return fmt.Errorf("p2p: run pipeline %s: %w", p.ID, err)
	}
	return nil
}

// P2PDispatchWorker finds an upstream batch's downstream pipelines in the
// store and enqueues a run for each: the fallback of a node whose link
// index was stale when the batch committed.
type P2PDispatchWorker struct {
	river.WorkerDefaults[p2p.DispatchArgs]
	Store P2PStore
	Log   *slog.Logger
}

// Work implements river.Worker.
func (w *P2PDispatchWorker) Work(ctx context.Context, job *river.Job[p2p.DispatchArgs]) error {
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
		params[i] = river.InsertManyParams{Args: p2p.RunArgs{TeamID: a.TeamID, Pipeline: d, Batch: a.Batch}}
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

func addP2PWorkers(workers *river.Workers, cfg Config, d Deps) {
	if d.Engine == nil {
		return
	}
	log := cfg.Logger.With("component", "p2p")
	river.AddWorker(workers, &P2PWorker{Store: d.Store, Engine: d.Engine, Log: log})
	river.AddWorker(workers, &P2PDispatchWorker{Store: d.Store, Log: log})
}
