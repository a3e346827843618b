package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/rollup"
	"github.com/tributary-dev/tributary/internal/store"
)

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
			DELETE FROM rollup_pending WHERE ctid = ANY(ARRAY(SELECT ctid FROM rollup_pending WHERE width = 3600 LIMIT $1 FOR UPDATE SKIP LOCKED))
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
	// The minute deltas into the minute rollups.
	var m int
	err = s.pool.QueryRow(ctx, `WITH moved AS (
			DELETE FROM rollup_pending WHERE ctid = ANY(ARRAY(SELECT ctid FROM rollup_pending WHERE width = 60 LIMIT $1 FOR UPDATE SKIP LOCKED))
			RETURNING *
		), m AS (
			INSERT INTO rollups AS r `+cols+`
			SELECT pipeline_id, 60, field, bucket, team_id, `+agg+` FROM moved GROUP BY pipeline_id, field, bucket, team_id
			ON CONFLICT (pipeline_id, width, field, bucket) DO UPDATE SET `+rollupMerge+`
		)
		SELECT count(*)::int FROM moved`, limit).Scan(&m)
	if err != nil {
		return 0, fmt.Errorf("compact minute rollups: %w", err)
	}
	// Pipelines' stats, day and run deltas are folded on the same schedule.
	return n + m, s.foldAllStatDeltas(ctx)
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
			ARRAY(SELECT day FROM record_days_now WHERE pipeline_id = $2 AND day >= $3 AND day < $4 ORDER BY day),
			ARRAY(SELECT records FROM record_days_now WHERE pipeline_id = $2 AND day >= $3 AND day < $4 ORDER BY day),
			ARRAY(SELECT oldest FROM record_days_now WHERE pipeline_id = $2 AND day >= $3 AND day < $4 ORDER BY day),
			ARRAY(SELECT newest FROM record_days_now WHERE pipeline_id = $2 AND day >= $3 AND day < $4 ORDER BY day),
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
	// Deltas not folded yet, so that answers never lag: minute deltas for
	// minutes, hour deltas for hours and days.
	pending := int32(3600)
	if width == rollup.Minute {
		pending = 60
	}
	sql += ` UNION ALL SELECT bucket, count, sum, min, max, first_ts, first_val, last_ts, last_val FROM rollup_pending
		WHERE team_id = $1 AND pipeline_id = $2 AND width = $7 AND field = $4 AND bucket >= $5 AND bucket < $6`
	rows, err := db.Query(ctx, sql, teamID, pipelineID, int32(width/time.Second), q.Field, q.From, q.To, pending)
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

// deleteSeriesData removes what a deleted pipeline kept besides its
// records, in DeletePipeline's transaction.
func deleteSeriesData(ctx context.Context, tx pgx.Tx, pipeline uuid.UUID) error {
	for _, table := range []string{"record_days", "record_day_deltas", "run_deltas", "rollups", "rollup_pending", "series_horizons", "stats_adjustments", "pipeline_stat_deltas", "record_batches"} {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE pipeline_id = $1`, pipeline); err != nil {
			return fmt.Errorf("delete pipeline %s: %w", table, err)
		}
	}
	return nil
}
