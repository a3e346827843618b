package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/rollup"
	"github.com/tributary-dev/tributary/internal/store"
)

// Time-series storage on SQLite: one records table, the per-day and
// rollup tables of migration 0003, retention by batched deletes.

var _ store.Storage = (*Store)(nil)

const rollupMerge = `count = r.count + excluded.count,
	sum = r.sum + excluded.sum,
	min = min(r.min, excluded.min),
	max = max(r.max, excluded.max),
	first_val = CASE WHEN excluded.first_ts < r.first_ts THEN excluded.first_val ELSE r.first_val END,
	first_ts = min(r.first_ts, excluded.first_ts),
	last_val = CASE WHEN excluded.last_ts >= r.last_ts THEN excluded.last_val ELSE r.last_val END,
	last_ts = max(r.last_ts, excluded.last_ts)`

const upsertRollup = `INSERT INTO rollups AS r (pipeline_id, width, field, bucket, team_id, count, sum, min, max, first_ts, first_val, last_ts, last_val)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (pipeline_id, width, field, bucket) DO UPDATE SET ` + rollupMerge

const raiseHorizon = `INSERT INTO series_horizons (pipeline_id, width, horizon) VALUES (?, ?, ?)
	ON CONFLICT (pipeline_id, width) DO UPDATE SET horizon = max(horizon, excluded.horizon)`

// writeSeriesData writes what a persisted batch adds besides its records,
// in its transaction, after the pipeline's row was updated.
func writeSeriesData(ctx context.Context, tx *sql.Tx, b *store.Batch) error {
	days := store.SummarizeDays(b)
	if len(days) == 0 {
		return nil
	}
	for _, d := range days {
		if _, err := tx.ExecContext(ctx, `INSERT INTO record_days AS d (pipeline_id, day, team_id, records, bytes, oldest, newest)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (pipeline_id, day) DO UPDATE SET records = d.records + excluded.records, bytes = d.bytes + excluded.bytes,
				oldest = min(d.oldest, excluded.oldest), newest = max(d.newest, excluded.newest)`,
			b.PipelineID, micros(d.Day), b.TeamID, d.Records, d.Bytes, micros(d.Oldest), micros(d.Newest)); err != nil {
			return fmt.Errorf("write record days: %w", err)
		}
	}
	minute, hour, missing := store.BatchRollups(b)
	if len(minute) > 0 {
		up, err := tx.PrepareContext(ctx, upsertRollup)
		if err != nil {
			return fmt.Errorf("write rollups: %w", err)
		}
		defer up.Close()
		for _, d := range minute {
			if _, err := up.ExecContext(ctx, aggArgs(b.PipelineID, 60, b.TeamID, d)...); err != nil {
				return fmt.Errorf("write rollups: %w", err)
			}
		}
		pend, err := tx.PrepareContext(ctx, `INSERT INTO rollup_pending (pipeline_id, field, bucket, team_id, count, sum, min, max, first_ts, first_val, last_ts, last_val)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("write rollups: %w", err)
		}
		defer pend.Close()
		for _, d := range hour {
			args := aggArgs(b.PipelineID, 0, b.TeamID, d)
			if _, err := pend.ExecContext(ctx, append(args[:1:1], args[2:]...)...); err != nil {
				return fmt.Errorf("write rollups: %w", err)
			}
		}
	}
	if !missing.IsZero() {
		for _, w := range store.RollupWidths {
			if _, err := tx.ExecContext(ctx, raiseHorizon, b.PipelineID, int64(w/time.Second), micros(store.HorizonAfter(missing, w))); err != nil {
				return fmt.Errorf("write series horizons: %w", err)
			}
		}
	}
	return nil
}

// aggArgs are the values of a rollups row: pipeline, width, field, bucket,
// team, then the aggregate.
func aggArgs(pipeline uuid.UUID, width int64, team uuid.UUID, d rollup.Delta) []any {
	return []any{pipeline, width, d.Field, micros(d.Bucket), team, d.Count, d.Sum, d.Min, d.Max,
		micros(d.FirstTS), d.First, micros(d.LastTS), d.Last}
}

// deleteSeriesData removes what a deleted pipeline kept besides its
// records, in DeletePipeline's transaction.
func deleteSeriesData(ctx context.Context, tx *sql.Tx, pipeline uuid.UUID) error {
	for _, table := range []string{"record_days", "rollups", "rollup_pending", "series_horizons"} {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE pipeline_id = ?`, pipeline); err != nil {
			return fmt.Errorf("delete pipeline %s: %w", table, err)
		}
	}
	return nil
}

// EnsurePartitions implements store.Storage: SQLite has no partitions.
func (s *Store) EnsurePartitions(context.Context, time.Time, time.Time) error { return nil }

// RecordPartitions implements store.Storage: SQLite has no partitions.
func (s *Store) RecordPartitions(context.Context) ([]store.Partition, error) { return nil, nil }

// StoredPipelines implements store.Storage.
func (s *Store) StoredPipelines(ctx context.Context) ([]store.StoredPipeline, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT team_id, id, spec FROM pipelines ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list pipelines for retention: %w", err)
	}
	defer rows.Close()
	var out []store.StoredPipeline
	for rows.Next() {
		var p store.StoredPipeline
		var spec string
		if err := rows.Scan(&p.TeamID, &p.ID, &spec); err != nil {
			return nil, fmt.Errorf("list pipelines for retention: %w", err)
		}
		p.Spec = []byte(spec)
		out = append(out, p)
	}
	return out, rows.Err()
}

// ApplyRetention implements store.Storage with batched deletes, each batch
// a short transaction on the write connection, so that ingest interleaves.
func (s *Store) ApplyRetention(ctx context.Context, policies []store.RetentionPolicy, opts store.RetentionOptions) (store.RetentionResult, error) {
	opts = opts.WithDefaults()
	var res store.RetentionResult
	budget := opts.MaxRows
	for _, p := range policies {
		if p.Records.IsZero() {
			continue
		}
		n, done, err := s.deleteRecordsBefore(ctx, p.PipelineID, p.Records, opts.BatchSize, budget)
		res.DeletedRecords += n
		budget -= n
		if err != nil {
			return res, err
		}
		if !done {
			res.More = true
			return res, nil
		}
	}
	for _, p := range policies {
		for _, w := range store.RollupWidths {
			cutoff := p.RollupCutoff(w)
			if cutoff.IsZero() {
				continue
			}
			n, done, err := s.deleteRollupsBefore(ctx, p.PipelineID, w, cutoff, opts.BatchSize, budget)
			res.DeletedRollups += n
			budget -= n
			if err != nil {
				return res, err
			}
			if !done {
				res.More = true
				return res, nil
			}
		}
	}
	return res, nil
}

func (s *Store) deleteRecordsBefore(ctx context.Context, pipeline uuid.UUID, cutoff time.Time, batchSize int, budget int64) (deleted int64, done bool, err error) {
	var oldest sql.NullInt64
	if err := s.read.QueryRowContext(ctx, `SELECT min(day) FROM record_days WHERE pipeline_id = ?`, pipeline).Scan(&oldest); err != nil {
		return 0, false, fmt.Errorf("retention: oldest day of pipeline %s: %w", pipeline, err)
	}
	if !oldest.Valid || oldest.Int64 >= micros(cutoff) {
		return 0, true, s.raiseHorizon(ctx, pipeline, 0, cutoff)
	}
	for budget > 0 {
		n := min(int64(batchSize), budget)
		var got int64
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, `DELETE FROM records WHERE id IN (
					SELECT id FROM records WHERE pipeline_id = ? AND ts < ? ORDER BY ts LIMIT ?)
				RETURNING ts, length(CAST(data AS BLOB))`, pipeline, micros(cutoff), n)
			if err != nil {
				return err
			}
			type day struct{ records, bytes int64 }
			per := map[int64]*day{}
			var total int64
			for rows.Next() {
				var ts, size int64
				if err := rows.Scan(&ts, &size); err != nil {
					rows.Close()
					return err
				}
				k := micros(rollup.Bucket(fromMicros(ts), rollup.Day))
				d := per[k]
				if d == nil {
					d = &day{}
					per[k] = d
				}
				d.records++
				d.bytes += size
				got++
				total += size
			}
			if err := rows.Err(); err != nil {
				return err
			}
			rows.Close()
			if got == 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, `UPDATE pipelines SET record_count = record_count - ?, stored_bytes = stored_bytes - ? WHERE id = ?`,
				got, total, pipeline); err != nil {
				return err
			}
			for k, d := range per {
				if _, err := tx.ExecContext(ctx, `UPDATE record_days SET records = records - ?, bytes = bytes - ? WHERE pipeline_id = ? AND day = ?`,
					d.records, d.bytes, pipeline, k); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `DELETE FROM record_days WHERE pipeline_id = ? AND day = ? AND records <= 0`, pipeline, k); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `UPDATE record_days SET oldest = coalesce(
						(SELECT min(ts) FROM records WHERE pipeline_id = ?1 AND ts >= ?2 AND ts < ?3), oldest)
					WHERE pipeline_id = ?1 AND day = ?2`, pipeline, k, k+micros(time.Unix(0, 0).Add(rollup.Day))); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return deleted, false, fmt.Errorf("retention: delete records of pipeline %s: %w", pipeline, err)
		}
		deleted += got
		budget -= got
		if got < n {
			return deleted, true, s.raiseHorizon(ctx, pipeline, 0, cutoff)
		}
	}
	return deleted, false, nil
}

func (s *Store) raiseHorizon(ctx context.Context, pipeline uuid.UUID, width time.Duration, h time.Time) error {
	if _, err := s.write.ExecContext(ctx, raiseHorizon, pipeline, int64(width/time.Second), micros(h)); err != nil {
		return fmt.Errorf("retention: horizon of pipeline %s: %w", pipeline, err)
	}
	return nil
}

func (s *Store) deleteRollupsBefore(ctx context.Context, pipeline uuid.UUID, w time.Duration, cutoff time.Time, batchSize int, budget int64) (deleted int64, done bool, err error) {
	secs := int64(w / time.Second)
	var horizon sql.NullInt64
	err = s.read.QueryRowContext(ctx, `SELECT horizon FROM series_horizons WHERE pipeline_id = ? AND width = ?`, pipeline, secs).Scan(&horizon)
	if err != nil && err != sql.ErrNoRows {
		return 0, false, fmt.Errorf("retention: rollup horizon of pipeline %s: %w", pipeline, err)
	}
	if horizon.Valid && horizon.Int64 >= micros(cutoff) {
		return 0, true, nil
	}
	for budget > 0 {
		n := min(int64(batchSize), budget)
		res, err := s.write.ExecContext(ctx, `DELETE FROM rollups WHERE (pipeline_id, width, field, bucket) IN (
				SELECT pipeline_id, width, field, bucket FROM rollups WHERE pipeline_id = ? AND width = ? AND bucket < ? LIMIT ?)`,
			pipeline, secs, micros(cutoff), n)
		if err != nil {
			return deleted, false, fmt.Errorf("retention: delete rollups of pipeline %s: %w", pipeline, err)
		}
		got, _ := res.RowsAffected()
		deleted += got
		budget -= got
		if got < n {
			return deleted, true, s.raiseHorizon(ctx, pipeline, w, cutoff)
		}
	}
	return deleted, false, nil
}

// CompactRollups implements store.Storage: it takes pending deltas oldest
// first, merges them per pipeline, field and hour (and day) in Go, upserts
// them and deletes them, in one transaction.
func (s *Store) CompactRollups(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		limit = 50_000
	}
	var n int
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, pipeline_id, team_id, field, bucket, count, sum, min, max, first_ts, first_val, last_ts, last_val
			FROM rollup_pending ORDER BY id LIMIT ?`, limit)
		if err != nil {
			return err
		}
		type owner struct{ pipeline, team uuid.UUID }
		per := map[owner][]rollup.Delta{}
		var maxID int64
		for rows.Next() {
			var (
				id                      int64
				o                       owner
				d                       rollup.Delta
				bucket, firstTS, lastTS int64
			)
			if err := rows.Scan(&id, &o.pipeline, &o.team, &d.Field, &bucket, &d.Count, &d.Sum, &d.Min, &d.Max, &firstTS, &d.First, &lastTS, &d.Last); err != nil {
				rows.Close()
				return err
			}
			d.Bucket, d.FirstTS, d.LastTS = fromMicros(bucket), fromMicros(firstTS), fromMicros(lastTS)
			per[o] = append(per[o], d)
			maxID = max(maxID, id)
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		if n == 0 {
			return nil
		}
		up, err := tx.PrepareContext(ctx, upsertRollup)
		if err != nil {
			return err
		}
		defer up.Close()
		for o, ds := range per {
			hours := rollup.Coarsen(ds, rollup.Hour)
			for w, level := range map[int64][]rollup.Delta{3600: hours, 86400: rollup.Coarsen(hours, rollup.Day)} {
				for _, d := range level {
					if _, err := up.ExecContext(ctx, aggArgs(o.pipeline, w, o.team, d)...); err != nil {
						return err
					}
				}
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM rollup_pending WHERE id <= ?`, maxID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("compact rollups: %w", err)
	}
	return n, nil
}

// Series implements store.Storage.
func (s *Store) Series(ctx context.Context, teamID, pipelineID uuid.UUID, q store.SeriesQuery) (store.Series, error) {
	if err := q.Validate(); err != nil {
		return store.Series{}, err
	}
	if strings.ContainsAny(q.Field, "\"\\") {
		return store.Series{}, fmt.Errorf("%w: on the embedded database, field names with \" or \\ cannot be charted", core.ErrInvalid)
	}
	q = q.Aligned()
	out := store.Series{From: q.From, To: q.To, Bucket: q.Bucket}
	est, err := s.estimateSeries(ctx, teamID, pipelineID, q)
	if err != nil {
		return store.Series{}, err
	}
	out.Estimated = int64(est.Records)
	width, err := store.PlanSeries(q, est)
	if err != nil {
		return store.Series{}, err
	}
	out.Source = width
	b := store.NewSeriesBuilder(q)
	if width == 0 {
		err = s.seriesRaw(ctx, teamID, pipelineID, q, est, b)
	} else {
		err = s.seriesRollups(ctx, teamID, pipelineID, q, width, b)
	}
	if err != nil {
		return store.Series{}, fmt.Errorf("series of pipeline %s: %w", pipelineID, err)
	}
	out.Points = b.Points()
	return out, nil
}

func (s *Store) estimateSeries(ctx context.Context, teamID, pipelineID uuid.UUID, q store.SeriesQuery) (store.SeriesEstimate, error) {
	var found int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM pipelines WHERE team_id = ? AND id = ?`, teamID, pipelineID).Scan(&found); err != nil {
		return store.SeriesEstimate{}, err
	}
	if found == 0 {
		return store.SeriesEstimate{}, core.ErrNotFound
	}
	rows, err := s.read.QueryContext(ctx, `SELECT day, records, oldest, newest FROM record_days WHERE pipeline_id = ? AND day >= ? AND day < ?`,
		pipelineID, micros(rollup.Bucket(q.From, rollup.Day)), micros(q.To))
	if err != nil {
		return store.SeriesEstimate{}, err
	}
	defer rows.Close()
	var days []store.DayCount
	for rows.Next() {
		var day, n, oldest, newest int64
		if err := rows.Scan(&day, &n, &oldest, &newest); err != nil {
			return store.SeriesEstimate{}, err
		}
		days = append(days, store.DayCount{Day: fromMicros(day), Records: n, Oldest: fromMicros(oldest), Newest: fromMicros(newest)})
	}
	if err := rows.Err(); err != nil {
		return store.SeriesEstimate{}, err
	}
	est := store.SeriesEstimate{Records: store.EstimateRecords(days, q.From, q.To), Horizons: map[time.Duration]time.Time{}}
	hrows, err := s.read.QueryContext(ctx, `SELECT width, horizon FROM series_horizons WHERE pipeline_id = ?`, pipelineID)
	if err != nil {
		return store.SeriesEstimate{}, err
	}
	defer hrows.Close()
	for hrows.Next() {
		var w, h int64
		if err := hrows.Scan(&w, &h); err != nil {
			return store.SeriesEstimate{}, err
		}
		est.Horizons[time.Duration(w)*time.Second] = fromMicros(h)
	}
	return est, hrows.Err()
}

// maxRawSeriesRecords bounds the records one series reads raw.
const maxRawSeriesRecords = 2_000_000

func (s *Store) seriesRaw(ctx context.Context, teamID, pipelineID uuid.UUID, q store.SeriesQuery, est store.SeriesEstimate, b *store.SeriesBuilder) error {
	limit := maxRawSeriesRecords
	if q.Bucket == 0 {
		limit = store.MaxSeriesPoints
	}
	if est.Records > float64(limit) {
		return tooManyRecords(int64(est.Records), q)
	}
	path := `$."` + q.Field + `"`
	rows, err := s.read.QueryContext(ctx, `SELECT ts, json_extract(data, ?1) FROM records
		WHERE team_id = ?2 AND pipeline_id = ?3 AND ts >= ?4 AND ts < ?5 AND json_type(data, ?1) IN ('integer', 'real')
		ORDER BY ts, id LIMIT ?6`, path, teamID, pipelineID, micros(q.From), micros(q.To), limit+1)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var ts int64
		var v float64
		if err := rows.Scan(&ts, &v); err != nil {
			return err
		}
		if n++; n > limit {
			return tooManyRecords(int64(n), q)
		}
		if !math.IsInf(v, 0) && !math.IsNaN(v) {
			b.AddValue(fromMicros(ts), v)
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

func (s *Store) seriesRollups(ctx context.Context, teamID, pipelineID uuid.UUID, q store.SeriesQuery, width time.Duration, b *store.SeriesBuilder) error {
	query := `SELECT bucket, count, sum, min, max, first_ts, first_val, last_ts, last_val FROM rollups
		WHERE team_id = ?1 AND pipeline_id = ?2 AND width = ?3 AND field = ?4 AND bucket >= ?5 AND bucket < ?6`
	if width > rollup.Minute {
		query += ` UNION ALL SELECT bucket, count, sum, min, max, first_ts, first_val, last_ts, last_val FROM rollup_pending
			WHERE team_id = ?1 AND pipeline_id = ?2 AND field = ?4 AND bucket >= ?5 AND bucket < ?6`
	}
	rows, err := s.read.QueryContext(ctx, query, teamID, pipelineID, int64(width/time.Second), q.Field, micros(q.From), micros(q.To))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var bucket, firstTS, lastTS int64
		var a rollup.Agg
		if err := rows.Scan(&bucket, &a.Count, &a.Sum, &a.Min, &a.Max, &firstTS, &a.First, &lastTS, &a.Last); err != nil {
			return err
		}
		a.FirstTS, a.LastTS = fromMicros(firstTS), fromMicros(lastTS)
		b.AddAgg(fromMicros(bucket), a)
	}
	return rows.Err()
}

// StorageStats implements store.Storage.
func (s *Store) StorageStats(ctx context.Context, teamID, pipelineID uuid.UUID) (store.StorageStats, error) {
	out, err := s.storageStats(ctx, &teamID, &pipelineID)
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
	out, err := s.storageStats(ctx, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("storage stats: %w", err)
	}
	return out, nil
}

func (s *Store) storageStats(ctx context.Context, teamID, pipelineID *uuid.UUID) ([]store.StorageStats, error) {
	query := `SELECT p.team_id, p.id, coalesce(sum(d.records), 0), coalesce(sum(d.bytes), 0), min(d.oldest), max(d.newest)
		FROM pipelines p LEFT JOIN record_days d ON d.pipeline_id = p.id`
	var args []any
	if pipelineID != nil {
		query += ` WHERE p.team_id = ? AND p.id = ?`
		args = append(args, *teamID, *pipelineID)
	} else {
		query += ` WHERE d.pipeline_id IS NOT NULL`
	}
	rows, err := s.read.QueryContext(ctx, query+` GROUP BY p.team_id, p.id ORDER BY p.id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.StorageStats
	for rows.Next() {
		var st store.StorageStats
		var oldest, newest sql.NullInt64
		if err := rows.Scan(&st.TeamID, &st.PipelineID, &st.Records, &st.StoredBytes, &oldest, &newest); err != nil {
			return nil, err
		}
		st.Oldest, st.Newest = fromNullMicros(oldest), fromNullMicros(newest)
		st.DiskBytes = st.StoredBytes + st.Records*store.SQLiteRecordOverhead
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.StorageStats) int {
		return strings.Compare(a.PipelineID.String(), b.PipelineID.String())
	})
	return out, nil
}
