package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

var _ store.Storage = (*Store)(nil)

// StoredPipelines implements store.Storage.
func (s *Store) StoredPipelines(ctx context.Context) ([]store.StoredPipeline, error) {
	rows, err := s.pool.Query(ctx, `SELECT team_id, id, spec FROM pipelines ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list pipelines for retention: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.StoredPipeline, error) {
		var p store.StoredPipeline
		var spec []byte
		err := r.Scan(&p.TeamID, &p.ID, &spec)
		p.Spec = spec
		return p, err
	})
}

// ApplyRetention implements store.Storage: first whole partitions (or
// chunks) that every pipeline with data in them lets go, then, per
// pipeline, batched deletes of what is left before its cutoff, then the
// rollups.
func (s *Store) ApplyRetention(ctx context.Context, policies []store.RetentionPolicy, opts store.RetentionOptions) (store.RetentionResult, error) {
	opts = opts.WithDefaults()
	var res store.RetentionResult
	byID := make(map[uuid.UUID]store.RetentionPolicy, len(policies))
	for _, p := range policies {
		byID[p.PipelineID] = p
	}
	if err := s.applyStatsAdjustments(ctx); err != nil { // left by a run that died
		return res, err
	}
	if err := s.dropExpiredPartitions(ctx, byID, &res); err != nil {
		return res, err
	}
	// What is there, in two queries rather than a few per pipeline: each
	// pipeline's oldest day, and the horizons already reached.
	oldest := map[uuid.UUID]time.Time{}
	rows, err := s.pool.Query(ctx, `SELECT pipeline_id, min(day) FROM record_days_now GROUP BY pipeline_id`)
	if err != nil {
		return res, fmt.Errorf("retention: oldest days: %w", err)
	}
	for rows.Next() {
		var id uuid.UUID
		var d time.Time
		if err := rows.Scan(&id, &d); err != nil {
			rows.Close()
			return res, fmt.Errorf("retention: oldest days: %w", err)
		}
		oldest[id] = d
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("retention: oldest days: %w", err)
	}
	type level struct {
		pipeline uuid.UUID
		width    int32
	}
	reached := map[level]time.Time{}
	rows, err = s.pool.Query(ctx, `SELECT pipeline_id, width, horizon FROM series_horizons`)
	if err != nil {
		return res, fmt.Errorf("retention: horizons: %w", err)
	}
	for rows.Next() {
		var l level
		var h time.Time
		if err := rows.Scan(&l.pipeline, &l.width, &h); err != nil {
			rows.Close()
			return res, fmt.Errorf("retention: horizons: %w", err)
		}
		reached[l] = h
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("retention: horizons: %w", err)
	}
	// raise collects the horizons to move forward, written at the end in
	// one statement.
	var raiseIDs []uuid.UUID
	var raiseWidths []int32
	var raiseTo []time.Time
	raise := func(id uuid.UUID, w time.Duration, h time.Time) {
		l := level{id, int32(w / time.Second)}
		if r, ok := reached[l]; ok && !r.Before(h) {
			return
		}
		raiseIDs, raiseWidths, raiseTo = append(raiseIDs, id), append(raiseWidths, l.width), append(raiseTo, h)
	}
	flush := func() error {
		if len(raiseIDs) == 0 {
			return nil
		}
		_, err := s.pool.Exec(ctx, `INSERT INTO series_horizons AS h (pipeline_id, width, horizon)
			SELECT * FROM unnest($1::uuid[], $2::int[], $3::timestamptz[])
			ON CONFLICT (pipeline_id, width) DO UPDATE SET horizon = greatest(h.horizon, excluded.horizon)`, raiseIDs, raiseWidths, raiseTo)
		if err != nil {
			return fmt.Errorf("retention: horizons: %w", err)
		}
		return nil
	}

	budget := opts.MaxRows
	for _, p := range policies {
		if p.Records.IsZero() {
			continue
		}
		if o, ok := oldest[p.PipelineID]; ok && o.Before(p.Records) {
			n, done, err := s.deleteRecordsBefore(ctx, p.PipelineID, p.Records, opts.BatchSize, budget)
			res.DeletedRecords += n
			budget -= n
			if err != nil {
				return res, errors.Join(err, flush())
			}
			if !done {
				res.More = true
				return res, flush()
			}
		}
		if err := s.deleteExpiredRecordBatches(ctx, p.PipelineID, p.Records); err != nil {
			return res, errors.Join(err, flush())
		}
		raise(p.PipelineID, 0, p.Records)
	}
	for _, p := range policies {
		for _, w := range store.RollupWidths {
			cutoff := p.RollupCutoff(w)
			if cutoff.IsZero() {
				continue
			}
			if r, ok := reached[level{p.PipelineID, int32(w / time.Second)}]; ok && !r.Before(cutoff) {
				continue // applied before; see deleteRollupsBefore
			}
			n, done, err := s.deleteRollupsBefore(ctx, p.PipelineID, w, cutoff, opts.BatchSize, budget)
			res.DeletedRollups += n
			budget -= n
			if err != nil {
				return res, errors.Join(err, flush())
			}
			if !done {
				res.More = true
				return res, flush()
			}
			raise(p.PipelineID, w, cutoff)
		}
	}
	return res, flush()
}

// emptyPartitionAge is how old an empty partition must be before retention
// drops it: recent ones are kept for the records about to come.
const emptyPartitionAge = 7 * 24 * time.Hour

func (s *Store) dropExpiredPartitions(ctx context.Context, policies map[uuid.UUID]store.RetentionPolicy, res *store.RetentionResult) error {
	l, err := s.recordLayout(ctx)
	if err != nil {
		return err
	}
	parts, err := s.listPartitions(ctx, l, false)
	if err != nil {
		return err
	}
	var latest time.Time // the latest cutoff of any pipeline: nothing after it can go
	for _, p := range policies {
		if p.Records.After(latest) {
			latest = p.Records
		}
	}
	now := core.Now()
	for _, part := range parts {
		if part.To.After(latest) && part.To.After(now.Add(-emptyPartitionAge)) {
			break
		}
		// A first look outside the drop's lock, so that partitions that
		// cannot go cost no exclusive lock.
		var ids []uuid.UUID
		rows, err := s.pool.Query(ctx, `SELECT DISTINCT pipeline_id FROM record_days_now WHERE day >= $1 AND day < $2 AND records > 0`, part.From, part.To)
		if err == nil {
			ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		}
		if err != nil {
			return fmt.Errorf("retention: pipelines in partition %s: %w", part.Name, err)
		}
		if !droppable(part, ids, policies, now) {
			continue
		}
		n, dropped, err := s.dropPartition(ctx, l, part, policies, now)
		if err != nil {
			return err
		}
		if dropped {
			res.DroppedPartitions = append(res.DroppedPartitions, part.Name)
			res.DroppedRecords += n
		}
	}
	return nil
}

// droppable reports whether every pipeline with records in part lets all
// of them go; an empty partition goes once it is old.
func droppable(part store.Partition, pipelines []uuid.UUID, policies map[uuid.UUID]store.RetentionPolicy, now time.Time) bool {
	if len(pipelines) == 0 {
		return !part.To.After(now.Add(-emptyPartitionAge))
	}
	for _, id := range pipelines {
		p, ok := policies[id]
		if !ok || p.Records.IsZero() || part.To.After(p.Records) {
			return false
		}
	}
	return true
}

// dropPartition drops one partition (or chunk) with its per-day rows, and
// notes the stats to take off its pipelines (stats_adjustments, applied
// right after), in one transaction. It locks records ACCESS
// EXCLUSIVE first (and waits for that at most dropLockTimeout), so that no
// batch writes into the partition meanwhile, and it takes the lock before
// the partition's own so as not to deadlock with a COPY that holds the
// table and is about to open the partition. Under the lock it checks the
// partition's pipelines again, since a late batch may have brought a
// pipeline that keeps its records, and keeps the partition if so.
func (s *Store) dropPartition(ctx context.Context, l layout, part store.Partition, policies map[uuid.UUID]store.RetentionPolicy, now time.Time) (records int64, dropped bool, err error) {
	errKeep := errors.New("keep")
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, partitionLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+dropLockTimeout+`'`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `LOCK TABLE records IN ACCESS EXCLUSIVE MODE`); err != nil {
			return err
		}
		// The days' deltas into their rows first, so that the rows hold
		// everything the partition's records added.
		if _, err := tx.Exec(ctx, foldAll(foldRecordDays)); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `DELETE FROM record_days WHERE day >= $1 AND day < $2
			RETURNING pipeline_id, records, bytes`, part.From, part.To)
		if err != nil {
			return err
		}
		type gone struct{ records, bytes int64 }
		per := map[uuid.UUID]gone{}
		for rows.Next() {
			var id uuid.UUID
			var g gone
			if err := rows.Scan(&id, &g.records, &g.bytes); err != nil {
				rows.Close()
				return err
			}
			t := per[id]
			t.records += g.records
			t.bytes += g.bytes
			per[id] = t
		}
		if err := rows.Err(); err != nil {
			return err
		}
		var ids []uuid.UUID
		for id, g := range per {
			if g.records > 0 {
				ids = append(ids, id)
			}
		}
		if !droppable(part, ids, policies, now) {
			return errKeep
		}
		drop := `DROP TABLE ` + partitionIdent(part.Name)
		var args []any
		if l == layoutTimescale {
			// TimescaleDB's own call, which handles compressed chunks; the
			// bounds select exactly this chunk.
			drop, args = `SELECT drop_chunks('records', older_than => $1::timestamptz, newer_than => $2::timestamptz)`, []any{part.To, part.From}
		}
		if _, err := tx.Exec(ctx, drop, args...); err != nil {
			return fmt.Errorf("drop partition %s: %w", part.Name, err)
		}
		slices.SortFunc(ids, compareUUID)
		counts, bytes, horizons := make([]int64, len(ids)), make([]int64, len(ids)), make([]time.Time, len(ids))
		for i, id := range ids {
			counts[i], bytes[i], horizons[i] = per[id].records, per[id].bytes, part.To
			records += per[id].records
		}
		if _, err := tx.Exec(ctx, `INSERT INTO stats_adjustments (pipeline_id, records, bytes)
			SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[])`, ids, counts, bytes); err != nil {
			return err
		}
		zeros := make([]int32, len(ids))
		_, err = tx.Exec(ctx, `INSERT INTO series_horizons AS h (pipeline_id, width, horizon)
			SELECT * FROM unnest($1::uuid[], $2::int[], $3::timestamptz[])
			ON CONFLICT (pipeline_id, width) DO UPDATE SET horizon = greatest(h.horizon, excluded.horizon)`, ids, zeros, horizons)
		return err
	})
	switch {
	case errors.Is(err, errKeep):
		return 0, false, nil
	case isLockTimeout(err):
		// Busy; the next run tries again.
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("retention: drop partition %s: %w", part.Name, err)
	}
	s.parts.known.Store(nil)
	return records, true, s.applyStatsAdjustments(ctx)
}

// applyStatsAdjustments takes the records of dropped partitions off their
// pipelines' stats.
func (s *Store) applyStatsAdjustments(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, `WITH a AS (
			DELETE FROM stats_adjustments RETURNING pipeline_id, records, bytes
		), t AS (
			SELECT pipeline_id, sum(records) AS records, sum(bytes) AS bytes FROM a GROUP BY pipeline_id
		)
		UPDATE pipelines p SET record_count = p.record_count - t.records, stored_bytes = p.stored_bytes - t.bytes
		FROM t WHERE p.id = t.pipeline_id`)
	if err != nil {
		return fmt.Errorf("retention: update stats of dropped partitions: %w", err)
	}
	return nil
}

func compareUUID(a, b uuid.UUID) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func isLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "55P03" // lock_not_available
}

// deleteRecordsBefore deletes a pipeline's records with event times before
// cutoff, batchSize at a time, each batch in a transaction with the stats
// it changes, until none are left (done) or budget rows went.
func (s *Store) deleteRecordsBefore(ctx context.Context, pipeline uuid.UUID, cutoff time.Time, batchSize int, budget int64) (deleted int64, done bool, err error) {
	for budget > 0 {
		n := int(min(int64(batchSize), budget))
		var got int64
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			// The victims are found through (pipeline_id, ts, id) and
			// deleted by the same key, which works alike on partitions,
			// hypertable chunks and a plain table.
			rows, err := tx.Query(ctx, `WITH victims AS (
					SELECT ts, id FROM records WHERE pipeline_id = $1 AND ts < $2 ORDER BY ts, id LIMIT $3
				), gone AS (
					DELETE FROM records r USING victims v
					WHERE r.pipeline_id = $1 AND r.ts < $2 AND r.ts = v.ts AND r.id = v.id
					RETURNING r.ts, r.size
				)
				SELECT date_bin('1 day', ts, 'epoch'::timestamptz), count(*), sum(size)::bigint FROM gone GROUP BY 1`,
				pipeline, cutoff, n)
			if err != nil {
				return err
			}
			var days []time.Time
			var counts, bytes []int64
			for rows.Next() {
				var d time.Time
				var c, b int64
				if err := rows.Scan(&d, &c, &b); err != nil {
					rows.Close()
					return err
				}
				days, counts, bytes = append(days, d), append(counts, c), append(bytes, b)
				got += c
			}
			if err := rows.Err(); err != nil {
				return err
			}
			if got == 0 {
				return nil
			}
			var sumBytes int64
			for _, b := range bytes {
				sumBytes += b
			}
			// The pipeline first, then its days: the batch transaction's
			// order.
			if _, err := tx.Exec(ctx, `UPDATE pipelines SET record_count = record_count - $2, stored_bytes = stored_bytes - $3 WHERE id = $1`,
				pipeline, got, sumBytes); err != nil {
				return err
			}
			return subtractDays(ctx, tx, pipeline, days, counts, bytes)
		})
		if err != nil {
			return deleted, false, fmt.Errorf("retention: delete records of pipeline %s: %w", pipeline, err)
		}
		deleted += got
		budget -= got
		if got < int64(n) {
			return deleted, true, nil
		}
	}
	return deleted, false, nil
}

// subtractDays takes deleted records off a pipeline's days, drops the days
// left empty and recomputes the oldest record of the others.
func subtractDays(ctx context.Context, tx pgx.Tx, pipeline uuid.UUID, days []time.Time, counts, bytes []int64) error {
	// The pipeline's day deltas into their rows first, so that the rows
	// hold everything the deleted records added.
	if _, err := tx.Exec(ctx, foldRecordDays, []uuid.UUID{pipeline}); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE record_days d SET records = d.records - u.records, bytes = d.bytes - u.bytes
		FROM unnest($2::timestamptz[], $3::bigint[], $4::bigint[]) AS u(day, records, bytes)
		WHERE d.pipeline_id = $1 AND d.day = u.day`, pipeline, days, counts, bytes); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM record_days WHERE pipeline_id = $1 AND day = ANY($2) AND records <= 0`, pipeline, days); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE record_days d SET oldest = coalesce((SELECT min(ts) FROM records r
			WHERE r.pipeline_id = $1 AND r.ts >= d.day AND r.ts < d.day + interval '1 day'), d.oldest)
		WHERE d.pipeline_id = $1 AND d.day = ANY($2)`, pipeline, days)
	return err
}

// deleteRollupsBefore deletes a pipeline's rollups of width w with buckets
// before cutoff, field by field through the primary key. ApplyRetention
// skips it when the level's horizon shows the cutoff applied already:
// rollups arriving late for buckets behind a horizon go the next time the
// cutoff moves.
func (s *Store) deleteRollupsBefore(ctx context.Context, pipeline uuid.UUID, w time.Duration, cutoff time.Time, batchSize int, budget int64) (deleted int64, done bool, err error) {
	secs := int32(w / time.Second)
	// The distinct fields, one index probe each.
	rows, err := s.pool.Query(ctx, `WITH RECURSIVE f AS (
			(SELECT field FROM rollups WHERE pipeline_id = $1 AND width = $2 ORDER BY field LIMIT 1)
			UNION ALL
			SELECT (SELECT field FROM rollups WHERE pipeline_id = $1 AND width = $2 AND field > f.field ORDER BY field LIMIT 1)
			FROM f WHERE f.field IS NOT NULL
		) SELECT field FROM f WHERE field IS NOT NULL`, pipeline, secs)
	var fields []string
	if err == nil {
		fields, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return 0, false, fmt.Errorf("retention: rollup fields of pipeline %s: %w", pipeline, err)
	}
	for _, f := range fields {
		for {
			if budget <= 0 {
				return deleted, false, nil
			}
			n := min(int64(batchSize), budget)
			tag, err := s.pool.Exec(ctx, `DELETE FROM rollups WHERE ctid = ANY(ARRAY(
					SELECT ctid FROM rollups WHERE pipeline_id = $1 AND width = $2 AND field = $3 AND bucket < $4 LIMIT $5))`,
				pipeline, secs, f, cutoff, n)
			if err != nil {
				return deleted, false, fmt.Errorf("retention: delete rollups of pipeline %s: %w", pipeline, err)
			}
			deleted += tag.RowsAffected()
			budget -= tag.RowsAffected()
			if tag.RowsAffected() < n {
				break
			}
		}
	}
	return deleted, true, nil
}
