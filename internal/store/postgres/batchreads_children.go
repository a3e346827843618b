package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// The first page of each pipeline's children in one statement: a LATERAL
// subquery per pipeline id reads its page through the same index as the
// per-pipeline read.
//
// perPipeline returns the statement selecting cols of table, per
// pipeline in $2 of team $1, where the conditions hold (placeholders from
// $3), in order (outer: the same order on the subquery's alias x, after
// the pipeline), limited by the placeholder $limit.
func perPipeline(cols, table string, where []string, order, outer string, limit int) string {
	cond := ""
	for _, w := range where {
		cond += " AND " + w
	}
	return `SELECT x.* FROM unnest($2::uuid[]) AS u(id) CROSS JOIN LATERAL (
		SELECT ` + cols + ` FROM ` + table + ` WHERE team_id = $1 AND pipeline_id = u.id` + cond + ` ORDER BY ` + order + ` LIMIT $` + strconv.Itoa(limit) + `
	) AS x ORDER BY x.pipeline_id, ` + outer
}

// RecordsOfPipelines implements store.BatchReads.
func (s *Store) RecordsOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, q store.RecordQuery) (map[uuid.UUID][]core.Record, error) {
	out := make(map[uuid.UUID][]core.Record, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	args := []any{teamID, pipelineIDs}
	var where []string
	if !q.From.IsZero() {
		args = append(args, q.From)
		where = append(where, "ts >= $"+strconv.Itoa(len(args)))
	}
	if !q.To.IsZero() {
		args = append(args, q.To)
		where = append(where, "ts < $"+strconv.Itoa(len(args)))
	}
	args = append(args, store.ClampLimit(q.Limit))
	sql := perPipeline("pipeline_id, id, ts, version, data", "records", where, "ts DESC, id DESC", "x.ts DESC, x.id DESC", len(args))
	// As Records: a time range may read the replica, the newest page the
	// primary.
	err := s.read(ctx, !q.From.IsZero() || !q.To.IsZero(), func(db dbtx) error {
		rows, err := db.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		recs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.Record, error) {
			var rec core.Record
			var data []byte
			err := r.Scan(&rec.PipelineID, &rec.ID, &rec.TS, &rec.Version, &data)
			rec.TS = rec.TS.UTC()
			rec.Data = data
			return rec, err
		})
		for _, rec := range recs {
			out[rec.PipelineID] = append(out[rec.PipelineID], rec)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list records of pipelines: %w", err)
	}
	return out, nil
}

// RejectedOfPipelines implements store.BatchReads.
func (s *Store) RejectedOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, n int) (map[uuid.UUID][]core.Rejected, error) {
	out := make(map[uuid.UUID][]core.Rejected, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	list, err := readRows(ctx, s, func(r pgx.CollectableRow) (core.Rejected, error) {
		var rej core.Rejected
		var raw []byte
		err := r.Scan(&rej.PipelineID, &rej.ID, &rej.RunID, &rej.Version, &rej.ReceivedAt, &raw, &rej.Reason)
		rej.ReceivedAt = rej.ReceivedAt.UTC()
		rej.Raw = raw
		return rej, err
	}, perPipeline("pipeline_id, id, run_id, version, received_at, raw, reason", "rejected_records", nil, "id DESC", "x.id DESC", 3),
		teamID, pipelineIDs, store.ClampLimit(n))
	if err != nil {
		return nil, fmt.Errorf("list rejected records of pipelines: %w", err)
	}
	for _, rej := range list {
		out[rej.PipelineID] = append(out[rej.PipelineID], rej)
	}
	return out, nil
}

// DeliveriesOfPipelines implements store.BatchReads.
func (s *Store) DeliveriesOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, q store.DeliveryQuery) (map[uuid.UUID][]core.Delivery, error) {
	out := make(map[uuid.UUID][]core.Delivery, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	args := []any{teamID, pipelineIDs}
	var where []string
	add := func(col string, v any) {
		args = append(args, v)
		where = append(where, col+" = $"+strconv.Itoa(len(args)))
	}
	if q.Sink != "" {
		add("sink", q.Sink)
	}
	if q.Status != "" {
		add("status", q.Status)
	}
	if q.ReplayID != uuid.Nil {
		add("replay_id", q.ReplayID)
	}
	args = append(args, store.ClampLimit(q.Limit))
	rows, err := s.pool.Query(ctx, perPipeline(deliveryColumns, "deliveries", where, "id DESC", "x.id DESC", len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries of pipelines: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.Delivery, error) { return scanDelivery(r) })
	if err != nil {
		return nil, fmt.Errorf("list deliveries of pipelines: %w", err)
	}
	for _, d := range list {
		out[d.PipelineID] = append(out[d.PipelineID], d)
	}
	return out, nil
}

// ReplaysOfPipelines implements store.BatchReads.
func (s *Store) ReplaysOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, sink string) (map[uuid.UUID][]core.Replay, error) {
	out := make(map[uuid.UUID][]core.Replay, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, perPipeline(replayColumns, "sink_replays", []string{"sink = $3"}, "id DESC", "x.id DESC", 4), teamID, pipelineIDs, sink, 100)
	if err != nil {
		return nil, fmt.Errorf("list replays of pipelines: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.Replay, error) { return scanReplay(r) })
	if err != nil {
		return nil, fmt.Errorf("list replays of pipelines: %w", err)
	}
	for _, r := range list {
		out[r.PipelineID] = append(out[r.PipelineID], r)
	}
	return out, nil
}

// UploadsOfPipelines implements store.BatchReads.
func (s *Store) UploadsOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, n int) (map[uuid.UUID][]core.Upload, error) {
	out := make(map[uuid.UUID][]core.Upload, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	sql := `SELECT x.* FROM unnest($2::uuid[]) AS u(id) CROSS JOIN LATERAL (
		SELECT ` + uploadColumns + ` FROM uploads WHERE team_id = $1 AND pipeline_id = u.id ORDER BY created_at DESC, id DESC LIMIT $3
	) AS x ORDER BY x.pipeline_id, x.created_at DESC, x.id DESC`
	rows, err := s.pool.Query(ctx, sql, teamID, pipelineIDs, store.ClampLimit(n))
	if err != nil {
		return nil, fmt.Errorf("list uploads of pipelines: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.Upload, error) { return scanUpload(r) })
	if err != nil {
		return nil, fmt.Errorf("list uploads of pipelines: %w", err)
	}
	for _, u := range list {
		out[u.PipelineID] = append(out[u.PipelineID], u)
	}
	return out, nil
}

// StorageStatsOfPipelines implements store.BatchReads.
func (s *Store) StorageStatsOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID) (map[uuid.UUID]store.StorageStats, error) {
	out := make(map[uuid.UUID]store.StorageStats, len(pipelineIDs))
	if len(pipelineIDs) == 0 {
		return out, nil
	}
	var list []store.StorageStats
	err := s.read(ctx, true, func(db dbtx) error {
		var err error
		list, err = s.storageStats(ctx, db, &teamID, pipelineIDs)
		return err
	})
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
	rows, err := s.pool.Query(ctx, `SELECT team_id, pipeline_id, next_due, lease_due, lease_until, updated_at
		FROM poll_schedules WHERE team_id = $1 AND pipeline_id = ANY($2)`, teamID, pipelineIDs)
	if err != nil {
		return nil, fmt.Errorf("poll schedules of pipelines: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.PollSchedule, error) {
		var ps store.PollSchedule
		err := r.Scan(&ps.TeamID, &ps.PipelineID, &ps.NextDue, &ps.LeaseDue, &ps.LeaseUntil, &ps.UpdatedAt)
		ps.NextDue, ps.UpdatedAt = ps.NextDue.UTC(), ps.UpdatedAt.UTC()
		utcPtr(ps.LeaseDue)
		utcPtr(ps.LeaseUntil)
		return ps, err
	})
	if err != nil {
		return nil, fmt.Errorf("poll schedules of pipelines: %w", err)
	}
	for _, ps := range list {
		out[ps.PipelineID] = ps
	}
	return out, nil
}
