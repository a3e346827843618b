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
	"github.com/tributary-dev/tributary/internal/rollup"
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
	rows, err := s.pool.Query(ctx, `SELECT pipeline_id, min(day) FROM record_days GROUP BY pipeline_id`)
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
		rows, err := s.pool.Query(ctx, `SELECT DISTINCT pipeline_id FROM record_days WHERE day >= $1 AND day < $2 AND records > 0`, part.From, part.To)
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

// partitionIdent quotes a partition name, or a TimescaleDB chunk's
// schema-qualified name.
func partitionIdent(name string) string {
	if schema, table, ok := splitQualified(name); ok {
		return pgx.Identifier{schema, table}.Sanitize()
	}
	return pgx.Identifier{name}.Sanitize()
}

// splitQualified splits the "schema.table" that format('%I.%I') wrote.
func splitQualified(name string) (schema, table string, ok bool) {
	unquote := func(s string) string {
		if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
			s = s[1 : len(s)-1]
			out := make([]byte, 0, len(s))
			for i := 0; i < len(s); i++ {
				out = append(out, s[i])
				if s[i] == '"' && i+1 < len(s) && s[i+1] == '"' {
					i++
				}
			}
			return string(out)
		}
		return s
	}
	inQuote := false
	for i := 0; i < len(name); i++ {
		switch {
		case name[i] == '"':
			inQuote = !inQuote
		case name[i] == '.' && !inQuote:
			return unquote(name[:i]), unquote(name[i+1:]), true
		}
	}
	return "", "", false
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

// CompactRollups implements store.Storage. One statement takes a slice of
// the pending hourly deltas and merges them into the 1h and 1d rollups;
// SKIP LOCKED lets two runs share the work, and deleting and merging in
// one transaction folds every delta exactly once.
func (s *Store) CompactRollups(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		limit = 50_000
	}
	const agg = `sum(count) AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max,
		min(first_ts) AS first_ts, (array_agg(first_val ORDER BY first_ts))[1] AS first_val,
		max(last_ts) AS last_ts, (array_agg(last_val ORDER BY last_ts DESC))[1] AS last_val`
	const cols = `(pipeline_id, width, field, bucket, team_id, count, sum, min, max, first_ts, first_val, last_ts, last_val)`
	var n int
	err := s.pool.QueryRow(ctx, `WITH moved AS (
			DELETE FROM rollup_pending WHERE ctid = ANY(ARRAY(SELECT ctid FROM rollup_pending LIMIT $1 FOR UPDATE SKIP LOCKED))
			RETURNING *
		), hours AS (
			SELECT pipeline_id, field, bucket, team_id, `+agg+` FROM moved GROUP BY pipeline_id, field, bucket, team_id
		), h AS (
			INSERT INTO rollups AS r `+cols+`
			SELECT pipeline_id, 3600, field, bucket, team_id, count, sum, min, max, first_ts, first_val, last_ts, last_val FROM hours
			ON CONFLICT (pipeline_id, width, field, bucket) DO UPDATE SET `+rollupMerge+`
		), d AS (
			INSERT INTO rollups AS r `+cols+`
			SELECT pipeline_id, 86400, field, date_bin('1 day', bucket, 'epoch'::timestamptz), team_id, `+agg+`
			FROM hours GROUP BY pipeline_id, field, date_bin('1 day', bucket, 'epoch'::timestamptz), team_id
			ON CONFLICT (pipeline_id, width, field, bucket) DO UPDATE SET `+rollupMerge+`
		)
		SELECT count(*)::int FROM moved`, limit).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("compact rollups: %w", err)
	}
	// Pipelines' stats deltas are folded on the same schedule.
	return n, s.foldAllStatDeltas(ctx)
}

// Series implements store.Storage.
func (s *Store) Series(ctx context.Context, teamID, pipelineID uuid.UUID, q store.SeriesQuery) (store.Series, error) {
	if err := q.Validate(); err != nil {
		return store.Series{}, err
	}
	q = q.Aligned()
	out := store.Series{From: q.From, To: q.To, Bucket: q.Bucket}
	err := s.read(ctx, true, func(db dbtx) error {
		est, err := estimateSeries(ctx, db, teamID, pipelineID, q)
		if err != nil {
			return err
		}
		out.Estimated = int64(est.Records)
		width, err := store.PlanSeries(q, est)
		if err != nil {
			return err
		}
		out.Source = width
		b := store.NewSeriesBuilder(q)
		if width == 0 {
			err = seriesRaw(ctx, db, teamID, pipelineID, q, est, b)
		} else {
			err = seriesRollups(ctx, db, teamID, pipelineID, q, width, b)
		}
		out.Points = b.Points()
		return err
	})
	if err != nil {
		return store.Series{}, fmt.Errorf("series of pipeline %s: %w", pipelineID, err)
	}
	return out, nil
}

// estimateSeries reads what planning needs in one round trip: whether the
// team has the pipeline, its record counts per day of the range, and its
// horizons.
func estimateSeries(ctx context.Context, db dbtx, teamID, pipelineID uuid.UUID, q store.SeriesQuery) (store.SeriesEstimate, error) {
	var (
		found    bool
		days     []time.Time
		counts   []int64
		oldest   []time.Time
		newest   []time.Time
		widths   []int32
		horizons []time.Time
	)
	err := db.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM pipelines WHERE team_id = $1 AND id = $2),
			ARRAY(SELECT day FROM record_days WHERE pipeline_id = $2 AND day >= $3 AND day < $4 ORDER BY day),
			ARRAY(SELECT records FROM record_days WHERE pipeline_id = $2 AND day >= $3 AND day < $4 ORDER BY day),
			ARRAY(SELECT oldest FROM record_days WHERE pipeline_id = $2 AND day >= $3 AND day < $4 ORDER BY day),
			ARRAY(SELECT newest FROM record_days WHERE pipeline_id = $2 AND day >= $3 AND day < $4 ORDER BY day),
			ARRAY(SELECT width FROM series_horizons WHERE pipeline_id = $2 ORDER BY width),
			ARRAY(SELECT horizon FROM series_horizons WHERE pipeline_id = $2 ORDER BY width)`,
		teamID, pipelineID, rollup.Bucket(q.From, rollup.Day), q.To).Scan(&found, &days, &counts, &oldest, &newest, &widths, &horizons)
	if err != nil {
		return store.SeriesEstimate{}, err
	}
	if !found {
		return store.SeriesEstimate{}, core.ErrNotFound
	}
	est := store.SeriesEstimate{Horizons: map[time.Duration]time.Time{}}
	dc := make([]store.DayCount, len(days))
	for i := range days {
		dc[i] = store.DayCount{Day: days[i].UTC(), Records: counts[i], Oldest: oldest[i].UTC(), Newest: newest[i].UTC()}
	}
	est.Records = store.EstimateRecords(dc, q.From, q.To)
	for i, w := range widths {
		est.Horizons[time.Duration(w)*time.Second] = horizons[i].UTC()
	}
	return est, nil
}

// maxRawSeriesRecords bounds the records one series reads raw.
const maxRawSeriesRecords = 2_000_000

func seriesRaw(ctx context.Context, db dbtx, teamID, pipelineID uuid.UUID, q store.SeriesQuery, est store.SeriesEstimate, b *store.SeriesBuilder) error {
	limit := maxRawSeriesRecords
	if q.Bucket == 0 {
		limit = store.MaxSeriesPoints
	}
	if est.Records > float64(limit) {
		return tooManyRecords(int64(est.Records), q)
	}
	// Values that are not numbers are skipped here rather than filtered
	// in SQL: extracting the field once costs less than twice.
	rows, err := db.Query(ctx, `SELECT ts, data -> $3 FROM records
		WHERE team_id = $1 AND pipeline_id = $2 AND ts >= $4 AND ts < $5
		ORDER BY ts, id LIMIT $6`, teamID, pipelineID, q.Field, q.From, q.To, limit+1)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var ts time.Time
		var v []byte
		if err := rows.Scan(&ts, &v); err != nil {
			return err
		}
		if n++; n > limit {
			return tooManyRecords(int64(n), q)
		}
		if f, ok := rollup.ParseNumber(string(v)); ok {
			b.AddValue(ts, f)
		}
	}
	return rows.Err()
}

func tooManyRecords(n int64, q store.SeriesQuery) error {
	if q.Bucket == 0 {
		return fmt.Errorf("%w: the range holds about %d records, more than the %d raw points one answer carries; give a bucket or a shorter range", core.ErrInvalid, n, store.MaxSeriesPoints)
	}
	return fmt.Errorf("%w: the range holds about %d records; choose a bucket of whole minutes, hours or days, which rollups answer", core.ErrInvalid, n)
}

func seriesRollups(ctx context.Context, db dbtx, teamID, pipelineID uuid.UUID, q store.SeriesQuery, width time.Duration, b *store.SeriesBuilder) error {
	sql := `SELECT bucket, count, sum, min, max, first_ts, first_val, last_ts, last_val FROM rollups
		WHERE team_id = $1 AND pipeline_id = $2 AND width = $3 AND field = $4 AND bucket >= $5 AND bucket < $6`
	if width > rollup.Minute {
		// Deltas not folded yet, so that coarse answers never lag.
		sql += ` UNION ALL SELECT bucket, count, sum, min, max, first_ts, first_val, last_ts, last_val FROM rollup_pending
			WHERE team_id = $1 AND pipeline_id = $2 AND field = $4 AND bucket >= $5 AND bucket < $6`
	}
	rows, err := db.Query(ctx, sql, teamID, pipelineID, int32(width/time.Second), q.Field, q.From, q.To)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var bucket time.Time
		var a rollup.Agg
		if err := rows.Scan(&bucket, &a.Count, &a.Sum, &a.Min, &a.Max, &a.FirstTS, &a.First, &a.LastTS, &a.Last); err != nil {
			return err
		}
		a.FirstTS, a.LastTS = a.FirstTS.UTC(), a.LastTS.UTC()
		b.AddAgg(bucket, a)
	}
	return rows.Err()
}

// StorageStats implements store.Storage.
func (s *Store) StorageStats(ctx context.Context, teamID, pipelineID uuid.UUID) (store.StorageStats, error) {
	var out []store.StorageStats
	err := s.read(ctx, true, func(db dbtx) error {
		var err error
		out, err = s.storageStats(ctx, db, &teamID, &pipelineID)
		return err
	})
	if err != nil {
		return store.StorageStats{}, fmt.Errorf("storage stats of pipeline %s: %w", pipelineID, err)
	}
	if len(out) == 0 {
		return store.StorageStats{}, core.ErrNotFound
	}
	return out[0], nil
}

// AllStorageStats implements store.Storage.
func (s *Store) AllStorageStats(ctx context.Context) ([]store.StorageStats, error) {
	var out []store.StorageStats
	err := s.read(ctx, true, func(db dbtx) error {
		var err error
		out, err = s.storageStats(ctx, db, nil, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storage stats: %w", err)
	}
	return out, nil
}

// storageStats computes the stats of one pipeline, or of all that store
// records. Disk bytes: each partition's size, shared among the pipelines
// with data in it by their bytes there.
func (s *Store) storageStats(ctx context.Context, db dbtx, teamID, pipelineID *uuid.UUID) ([]store.StorageStats, error) {
	l, err := s.recordLayout(ctx)
	if err != nil {
		return nil, err
	}
	parts, err := s.listPartitions(ctx, l, true)
	if err != nil {
		return nil, err
	}
	if l == layoutPlain {
		var tableSize int64
		if err := db.QueryRow(ctx, `SELECT pg_total_relation_size('records')`).Scan(&tableSize); err != nil {
			return nil, err
		}
		parts = []store.Partition{{From: time.Unix(-1<<40, 0), To: time.Unix(1<<40, 0), DiskBytes: tableSize}}
	}
	partOf := func(day time.Time) int {
		i, found := slices.BinarySearchFunc(parts, day, func(p store.Partition, t time.Time) int {
			switch {
			case !p.To.After(t):
				return -1
			case p.From.After(t):
				return 1
			}
			return 0
		})
		if !found {
			return -1
		}
		return i
	}
	rows, err := db.Query(ctx, `SELECT p.team_id, p.id, d.day, d.records, d.bytes, d.oldest, d.newest
		FROM pipelines p LEFT JOIN record_days d ON d.pipeline_id = p.id
		WHERE ($1::uuid IS NULL OR p.team_id = $1 AND p.id = $2) AND ($1::uuid IS NOT NULL OR d.pipeline_id IS NOT NULL)
		ORDER BY p.id`, teamID, pipelineID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.StorageStats
	// per[i][j]: bytes of out[i] in partition j.
	var per []map[int]int64
	needed := map[int]bool{}
	for rows.Next() {
		var (
			team, id            uuid.UUID
			day, oldest, newest *time.Time
			records, bytes      *int64
		)
		if err := rows.Scan(&team, &id, &day, &records, &bytes, &oldest, &newest); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].PipelineID != id {
			out = append(out, store.StorageStats{TeamID: team, PipelineID: id})
			per = append(per, map[int]int64{})
		}
		st := &out[len(out)-1]
		if day == nil {
			continue
		}
		st.Records += *records
		st.StoredBytes += *bytes
		if o := oldest.UTC(); st.Oldest == nil || o.Before(*st.Oldest) {
			st.Oldest = &o
		}
		if n := newest.UTC(); st.Newest == nil || n.After(*st.Newest) {
			st.Newest = &n
		}
		if i := partOf(day.UTC()); i >= 0 {
			per[len(per)-1][i] += *bytes
			needed[i] = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	// Each needed partition's bytes over all pipelines.
	var idx []int32
	var los, his []time.Time
	for i := range needed {
		idx, los, his = append(idx, int32(i)), append(los, parts[i].From), append(his, parts[i].To)
	}
	totals := map[int]int64{}
	if len(idx) > 0 {
		trows, err := db.Query(ctx, `SELECT u.i, (SELECT coalesce(sum(bytes), 0)::bigint FROM record_days WHERE day >= u.lo AND day < u.hi)
			FROM unnest($1::int[], $2::timestamptz[], $3::timestamptz[]) AS u(i, lo, hi)`, idx, los, his)
		if err != nil {
			return nil, err
		}
		for trows.Next() {
			var i int32
			var t int64
			if err := trows.Scan(&i, &t); err != nil {
				trows.Close()
				return nil, err
			}
			totals[int(i)] = t
		}
		if err := trows.Err(); err != nil {
			return nil, err
		}
	}
	for k := range out {
		for i, b := range per[k] {
			if t := totals[i]; t > 0 {
				out[k].DiskBytes += int64(float64(parts[i].DiskBytes) * float64(b) / float64(t))
			}
		}
	}
	return out, nil
}

// deleteSeriesData removes what a deleted pipeline kept besides its
// records, in DeletePipeline's transaction.
func deleteSeriesData(ctx context.Context, tx pgx.Tx, pipeline uuid.UUID) error {
	for _, table := range []string{"record_days", "rollups", "rollup_pending", "series_horizons", "stats_adjustments", "pipeline_stat_deltas"} {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE pipeline_id = $1`, pipeline); err != nil {
			return fmt.Errorf("delete pipeline %s: %w", table, err)
		}
	}
	return nil
}
