package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// The first page of each pipeline's children in one statement: the
// pipelines' ids come as a JSON array, and a correlated subquery takes
// each one's page through the same index as the per-pipeline read
// (a window over all their rows would read every row of every pipeline).
//
// perPipeline returns the statement selecting cols (unqualified) of table
// for the rows whose ids the page subquery picks; where holds conditions
// on the page's alias z beyond team and pipeline, order the page's order
// on z. Arguments: the ids, the team, the conditions', the limit.
func perPipeline(cols, table, where, order, outerOrder string) string {
	if where != "" {
		where = " AND " + where
	}
	return `SELECT ` + cols + ` FROM ` + table + ` WHERE id IN (
		SELECT y.id FROM json_each(?) AS j JOIN ` + table + ` AS y ON y.id IN (
			SELECT z.id FROM ` + table + ` AS z WHERE z.team_id = ? AND z.pipeline_id = j.value` + where + ` ORDER BY ` + order + ` LIMIT ?))
		ORDER BY ` + outerOrder
}

// RecordsOfPipelines implements store.BatchReads.
func (s *Store) RecordsOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, q store.RecordQuery) (map[uuid.UUID][]core.Record, error) {
	out := make(map[uuid.UUID][]core.Record, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	where := []string{"z.id < " + publishedBelow("j.value")}
	args := []any{idList(pipelineIDs), teamID}
	if !q.From.IsZero() {
		where, args = append(where, "z.ts >= ?"), append(args, micros(q.From))
	}
	if !q.To.IsZero() {
		where, args = append(where, "z.ts < ?"), append(args, micros(q.To))
	}
	args = append(args, store.ClampLimit(q.Limit))
	rows, err := s.read.QueryContext(ctx, perPipeline("pipeline_id, id, ts, version, data", "records", strings.Join(where, " AND "),
		"z.ts DESC, z.id DESC", "pipeline_id, ts DESC, id DESC"), args...)
	if err != nil {
		return nil, fmt.Errorf("list records of pipelines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			rec  core.Record
			ts   int64
			data string
		)
		if err := rows.Scan(&rec.PipelineID, &rec.ID, &ts, &rec.Version, &data); err != nil {
			return nil, fmt.Errorf("list records of pipelines: %w", err)
		}
		rec.TS, rec.Data = fromMicros(ts), json.RawMessage(data)
		out[rec.PipelineID] = append(out[rec.PipelineID], rec)
	}
	return out, rows.Err()
}

// RejectedOfPipelines implements store.BatchReads.
func (s *Store) RejectedOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, n int) (map[uuid.UUID][]core.Rejected, error) {
	out := make(map[uuid.UUID][]core.Rejected, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	rows, err := s.read.QueryContext(ctx, perPipeline("pipeline_id, id, run_id, version, received_at, raw, reason", "rejected_records", "",
		"z.id DESC", "pipeline_id, id DESC"), idList(pipelineIDs), teamID, store.ClampLimit(n))
	if err != nil {
		return nil, fmt.Errorf("list rejected records of pipelines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			rej      core.Rejected
			received int64
			raw      string
		)
		if err := rows.Scan(&rej.PipelineID, &rej.ID, &rej.RunID, &rej.Version, &received, &raw, &rej.Reason); err != nil {
			return nil, fmt.Errorf("list rejected records of pipelines: %w", err)
		}
		rej.ReceivedAt, rej.Raw = fromMicros(received), json.RawMessage(raw)
		out[rej.PipelineID] = append(out[rej.PipelineID], rej)
	}
	return out, rows.Err()
}

// DeliveriesOfPipelines implements store.BatchReads.
func (s *Store) DeliveriesOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, q store.DeliveryQuery) (map[uuid.UUID][]core.Delivery, error) {
	out := make(map[uuid.UUID][]core.Delivery, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	var where []string
	args := []any{idList(pipelineIDs), teamID}
	if q.Sink != "" {
		where, args = append(where, "z.sink = ?"), append(args, q.Sink)
	}
	if q.Status != "" {
		where, args = append(where, "z.status = ?"), append(args, q.Status)
	}
	if q.ReplayID != uuid.Nil {
		where, args = append(where, "z.replay_id = ?"), append(args, q.ReplayID)
	}
	args = append(args, store.ClampLimit(q.Limit))
	rows, err := s.read.QueryContext(ctx, perPipeline(deliveryColumns, "deliveries", strings.Join(where, " AND "),
		"z.id DESC", "pipeline_id, id DESC"), args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries of pipelines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("list deliveries of pipelines: %w", err)
		}
		out[d.PipelineID] = append(out[d.PipelineID], d)
	}
	return out, rows.Err()
}

// ReplaysOfPipelines implements store.BatchReads.
func (s *Store) ReplaysOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, sink string) (map[uuid.UUID][]core.Replay, error) {
	out := make(map[uuid.UUID][]core.Replay, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	rows, err := s.read.QueryContext(ctx, perPipeline(replayColumns, "sink_replays", "z.sink = ?", "z.id DESC", "pipeline_id, id DESC"),
		idList(pipelineIDs), teamID, sink, 100)
	if err != nil {
		return nil, fmt.Errorf("list replays of pipelines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanReplay(rows)
		if err != nil {
			return nil, fmt.Errorf("list replays of pipelines: %w", err)
		}
		out[r.PipelineID] = append(out[r.PipelineID], r)
	}
	return out, rows.Err()
}

// UploadsOfPipelines implements store.BatchReads.
func (s *Store) UploadsOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, n int) (map[uuid.UUID][]core.Upload, error) {
	out := make(map[uuid.UUID][]core.Upload, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	rows, err := s.read.QueryContext(ctx, perPipeline(uploadColumns, "uploads", "", "z.created_at DESC, z.id DESC",
		"pipeline_id, created_at DESC, id DESC"), idList(pipelineIDs), teamID, store.ClampLimit(n))
	if err != nil {
		return nil, fmt.Errorf("list uploads of pipelines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		u, err := scanUpload(rows)
		if err != nil {
			return nil, fmt.Errorf("list uploads of pipelines: %w", err)
		}
		out[u.PipelineID] = append(out[u.PipelineID], u)
	}
	return out, rows.Err()
}

// StorageStatsOfPipelines implements store.BatchReads.
func (s *Store) StorageStatsOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID) (map[uuid.UUID]store.StorageStats, error) {
	out := make(map[uuid.UUID]store.StorageStats, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	list, err := s.storageStats(ctx, &teamID, pipelineIDs)
	if err != nil {
		return nil, fmt.Errorf("storage stats of pipelines: %w", err)
	}
	for _, st := range list {
		out[st.PipelineID] = st
	}
	return out, nil
}

// PollSchedulesOfPipelines implements store.BatchReads.
func (s *Store) PollSchedulesOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID) (map[uuid.UUID]store.PollSchedule, error) {
	out := make(map[uuid.UUID]store.PollSchedule, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	rows, err := s.read.QueryContext(ctx, `SELECT team_id, pipeline_id, next_due, lease_due, lease_until, updated_at
		FROM poll_schedules WHERE team_id = ? AND pipeline_id IN (SELECT value FROM json_each(?))`, teamID, idList(pipelineIDs))
	if err != nil {
		return nil, fmt.Errorf("poll schedules of pipelines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			ps                  store.PollSchedule
			next, updated       int64
			leaseDue, leaseTill sql.NullInt64
		)
		if err := rows.Scan(&ps.TeamID, &ps.PipelineID, &next, &leaseDue, &leaseTill, &updated); err != nil {
			return nil, fmt.Errorf("poll schedules of pipelines: %w", err)
		}
		ps.NextDue, ps.UpdatedAt = fromMicros(next), fromMicros(updated)
		ps.LeaseDue, ps.LeaseUntil = fromNullMicros(leaseDue), fromNullMicros(leaseTill)
		out[ps.PipelineID] = ps
	}
	return out, rows.Err()
}
