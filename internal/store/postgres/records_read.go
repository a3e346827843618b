package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// Records implements store.Records. A page into history (a cursor or a
// time range) may come from the read replica; the newest page, which
// callers compare with what they just wrote, comes from the primary.
func (s *Store) Records(ctx context.Context, teamID, pipelineID uuid.UUID, q store.RecordQuery) ([]core.Record, error) {
	where := []string{"team_id = $1", "pipeline_id = $2"}
	args := []any{teamID, pipelineID}
	add := func(cond string, vals ...any) {
		for _, v := range vals {
			args = append(args, v)
			cond = strings.Replace(cond, "?", fmt.Sprintf("$%d", len(args)), 1)
		}
		where = append(where, cond)
	}
	if !q.From.IsZero() {
		add("ts >= ?", q.From)
	}
	if !q.To.IsZero() {
		add("ts < ?", q.To)
	}
	if !q.BeforeTS.IsZero() {
		add("(ts, id) < (?, ?)", q.BeforeTS, q.BeforeID)
	}
	args = append(args, store.ClampLimit(q.Limit))
	sql := fmt.Sprintf(`SELECT id, ts, version, data FROM records WHERE %s ORDER BY ts DESC, id DESC LIMIT $%d`,
		strings.Join(where, " AND "), len(args))
	history := !q.From.IsZero() || !q.To.IsZero() || !q.BeforeTS.IsZero()
	var out []core.Record
	err := s.read(ctx, history, func(db dbtx) error {
		rows, err := db.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.Record, error) {
			rec := core.Record{PipelineID: pipelineID}
			var data []byte
			err := r.Scan(&rec.ID, &rec.TS, &rec.Version, &data)
			rec.TS = rec.TS.UTC()
			rec.Data = data
			return rec, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	return out, nil
}

// RejectedRecords implements store.Records.
func (s *Store) RejectedRecords(ctx context.Context, teamID, pipelineID uuid.UUID, q store.RejectedQuery) ([]core.Rejected, error) {
	before := q.BeforeID
	if before <= 0 {
		before = 1<<63 - 1
	}
	out, err := readRows(ctx, s, func(r pgx.CollectableRow) (core.Rejected, error) {
		rej := core.Rejected{PipelineID: pipelineID}
		var raw []byte
		err := r.Scan(&rej.ID, &rej.RunID, &rej.Version, &rej.ReceivedAt, &raw, &rej.Reason)
		rej.ReceivedAt = rej.ReceivedAt.UTC()
		rej.Raw = raw
		return rej, err
	}, `SELECT id, run_id, version, received_at, raw, reason FROM rejected_records
		WHERE team_id = $1 AND pipeline_id = $2 AND id < $3 ORDER BY id DESC LIMIT $4`,
		teamID, pipelineID, before, store.ClampLimit(q.Limit))
	if err != nil {
		return nil, fmt.Errorf("list rejected records: %w", err)
	}
	return out, nil
}

// Runs implements store.Records.
func (s *Store) Runs(ctx context.Context, teamID, pipelineID uuid.UUID, q store.RunQuery) ([]core.Run, error) {
	query := `SELECT id, version, trigger, started_at, duration_us, fetched, stored, rejected, bytes, error FROM runs_now
		WHERE team_id = $1 AND pipeline_id = $2`
	args := []any{teamID, pipelineID, store.ClampLimit(q.Limit)}
	if !q.BeforeAt.IsZero() {
		query += ` AND (started_at, id) < ($4, $5)`
		args = append(args, q.BeforeAt, q.BeforeID)
	}
	runs, err := readRows(ctx, s, func(r pgx.CollectableRow) (core.Run, error) {
		run := core.Run{TeamID: teamID, PipelineID: pipelineID}
		var us int64
		err := r.Scan(&run.ID, &run.Version, &run.Trigger, &run.StartedAt, &us, &run.Fetched, &run.Stored, &run.Rejected, &run.Bytes, &run.Error)
		run.StartedAt = run.StartedAt.UTC()
		run.Duration = time.Duration(us) * time.Microsecond
		return run, err
	}, query+` ORDER BY started_at DESC, id DESC LIMIT $3`, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return runs, nil
}

// RecordsByID implements store.P2P. The time bounds let PostgreSQL prune
// the records table's partitions.
func (s *Store) RecordsByID(ctx context.Context, teamID, pipelineID uuid.UUID, ids []store.RecordIDRange, from, to time.Time) ([]core.Record, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	firsts, lasts := make([]int64, len(ids)), make([]int64, len(ids))
	froms, tos := make([]time.Time, len(ids)), make([]time.Time, len(ids))
	for i, r := range ids {
		firsts[i], lasts[i] = r.First, r.Last
		froms[i], tos[i] = r.Window(from, to)
	}
	// Records are found through the (pipeline_id, ts, id) index, so each
	// range is looked for within its own time window: within the union of
	// the windows, a read of 30 batches whose event times lay apart went
	// through every record of the pipeline in between, for each range.
	// [from, to] bounds them all as constants of the statement, so that
	// the partitions outside it are left out once, not range by range.
	rows, err := s.pool.Query(ctx, `SELECT r.id, r.ts, r.version, r.data
		FROM unnest($3::bigint[], $4::bigint[], $5::timestamptz[], $6::timestamptz[]) AS g(first, last, t0, t1)
		CROSS JOIN LATERAL (SELECT id, ts, version, data FROM records
			WHERE team_id = $1 AND pipeline_id = $2 AND ts >= $7 AND ts <= $8
				AND ts >= g.t0 AND ts <= g.t1 AND id BETWEEN g.first AND g.last) r
		ORDER BY r.id`, teamID, pipelineID, firsts, lasts, froms, tos, from, to)
	if err != nil {
		return nil, fmt.Errorf("read records by id: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.Record, error) {
		rec := core.Record{PipelineID: pipelineID}
		var data []byte
		err := r.Scan(&rec.ID, &rec.TS, &rec.Version, &data)
		rec.TS, rec.Data = rec.TS.UTC(), data
		return rec, err
	})
}
