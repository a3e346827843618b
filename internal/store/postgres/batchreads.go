package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

var _ store.BatchReads = (*Store)(nil)

// RunsOfPipelines implements store.BatchReads.
func (s *Store) RunsOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, perPipeline int) (map[uuid.UUID][]core.Run, error) {
	out := make(map[uuid.UUID][]core.Run, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	// The latest runs first, then their pending deltas (runs_now) for
	// those alone.
	runs, err := readRows(ctx, s, func(r pgx.CollectableRow) (core.Run, error) {
		run := core.Run{TeamID: teamID}
		var us int64
		err := r.Scan(&run.PipelineID, &run.ID, &run.Version, &run.Trigger, &run.StartedAt, &us, &run.Fetched, &run.Stored, &run.Rejected, &run.Bytes, &run.Error)
		run.StartedAt = run.StartedAt.UTC()
		run.Duration = time.Duration(us) * time.Microsecond
		return run, err
	}, `SELECT r.pipeline_id, r.id, r.version, r.trigger, r.started_at, r.duration_us, r.fetched, r.stored, r.rejected, r.bytes, r.error FROM (
		SELECT id, ROW_NUMBER() OVER (PARTITION BY pipeline_id ORDER BY started_at DESC, id DESC) AS n FROM runs
		WHERE team_id = $1 AND pipeline_id = ANY($2)
	) k JOIN runs_now r ON r.id = k.id WHERE k.n <= $3 ORDER BY r.pipeline_id, r.started_at DESC, r.id DESC`, teamID, pipelineIDs, store.ClampLimit(perPipeline))
	if err != nil {
		return nil, fmt.Errorf("list runs of pipelines: %w", err)
	}
	for _, run := range runs {
		out[run.PipelineID] = append(out[run.PipelineID], run)
	}
	return out, nil
}

// SinkStatesOfPipelines implements store.BatchReads.
func (s *Store) SinkStatesOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID) (map[uuid.UUID][]core.SinkState, error) {
	out := make(map[uuid.UUID][]core.SinkState, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+sinkStateColumns+` FROM sink_states
		WHERE team_id = $1 AND pipeline_id = ANY($2) ORDER BY pipeline_id, sink`, teamID, pipelineIDs)
	if err != nil {
		return nil, fmt.Errorf("list sink states of pipelines: %w", err)
	}
	states, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.SinkState, error) { return scanSinkState(r) })
	if err != nil {
		return nil, fmt.Errorf("list sink states of pipelines: %w", err)
	}
	for _, st := range states {
		out[st.PipelineID] = append(out[st.PipelineID], st)
	}
	return out, nil
}

// DownstreamsOfPipelines implements store.BatchReads.
func (s *Store) DownstreamsOfPipelines(ctx context.Context, teamID uuid.UUID, upstreamIDs []uuid.UUID) (map[uuid.UUID][]uuid.UUID, error) {
	out := make(map[uuid.UUID][]uuid.UUID, len(upstreamIDs))
	if len(upstreamIDs) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT upstream_id, pipeline_id FROM pipeline_links
		WHERE team_id = $1 AND upstream_id = ANY($2) ORDER BY upstream_id, pipeline_id`, teamID, upstreamIDs)
	if err != nil {
		return nil, fmt.Errorf("list downstream pipelines: %w", err)
	}
	var up, id uuid.UUID
	if _, err := pgx.ForEachRow(rows, []any{&up, &id}, func() error {
		out[up] = append(out[up], id)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list downstream pipelines: %w", err)
	}
	return out, nil
}
