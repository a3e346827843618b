package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

var _ store.BatchReads = (*Store)(nil)

// idList is the JSON array parameter a query reads with json_each.
func idList(ids []uuid.UUID) string {
	if len(ids) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ids) // uuid.UUID always encodes
	return string(b)
}

// RunsOfPipelines implements store.BatchReads.
func (s *Store) RunsOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, perPipeline int) (map[uuid.UUID][]core.Run, error) {
	out := make(map[uuid.UUID][]core.Run, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	ids := idList(pipelineIDs)
	rows, err := s.read.QueryContext(ctx, `SELECT pipeline_id, id, version, trigger, started_at, duration_us, fetched, stored, rejected, bytes, error FROM (
		SELECT *, ROW_NUMBER() OVER (PARTITION BY pipeline_id ORDER BY started_at DESC, id DESC) AS n FROM runs
		WHERE team_id = ? AND pipeline_id IN (SELECT value FROM json_each(?))
	) WHERE n <= ? ORDER BY pipeline_id, started_at DESC, id DESC`, teamID, ids, store.ClampLimit(perPipeline))
	if err != nil {
		return nil, fmt.Errorf("list runs of pipelines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		run := core.Run{TeamID: teamID}
		var started, us int64
		if err := rows.Scan(&run.PipelineID, &run.ID, &run.Version, &run.Trigger, &started, &us, &run.Fetched, &run.Stored, &run.Rejected, &run.Bytes, &run.Error); err != nil {
			return nil, fmt.Errorf("list runs of pipelines: %w", err)
		}
		run.StartedAt, run.Duration = fromMicros(started), time.Duration(us)*time.Microsecond
		out[run.PipelineID] = append(out[run.PipelineID], run)
	}
	return out, rows.Err()
}

// SinkStatesOfPipelines implements store.BatchReads.
func (s *Store) SinkStatesOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID) (map[uuid.UUID][]core.SinkState, error) {
	out := make(map[uuid.UUID][]core.SinkState, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	ids := idList(pipelineIDs)
	rows, err := s.read.QueryContext(ctx, `SELECT `+sinkStateColumns+` FROM sink_states
		WHERE team_id = ? AND pipeline_id IN (SELECT value FROM json_each(?)) ORDER BY pipeline_id, sink`, teamID, ids)
	if err != nil {
		return nil, fmt.Errorf("list sink states of pipelines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		st, err := scanSinkState(rows)
		if err != nil {
			return nil, fmt.Errorf("list sink states of pipelines: %w", err)
		}
		out[st.PipelineID] = append(out[st.PipelineID], st)
	}
	return out, rows.Err()
}

// DownstreamsOfPipelines implements store.BatchReads.
func (s *Store) DownstreamsOfPipelines(ctx context.Context, teamID uuid.UUID, upstreamIDs []uuid.UUID) (map[uuid.UUID][]uuid.UUID, error) {
	out := make(map[uuid.UUID][]uuid.UUID, len(upstreamIDs))
	if len(upstreamIDs) == 0 {
		return out, nil
	}
	ids := idList(upstreamIDs)
	rows, err := s.read.QueryContext(ctx, `SELECT upstream_id, pipeline_id FROM pipeline_links
		WHERE team_id = ? AND upstream_id IN (SELECT value FROM json_each(?)) ORDER BY upstream_id, pipeline_id`, teamID, ids)
	if err != nil {
		return nil, fmt.Errorf("list downstream pipelines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var up, id uuid.UUID
		if err := rows.Scan(&up, &id); err != nil {
			return nil, fmt.Errorf("list downstream pipelines: %w", err)
		}
		out[up] = append(out[up], id)
	}
	return out, rows.Err()
}
