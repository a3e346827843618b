package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/rollup"
	"github.com/tributary-dev/tributary/internal/store"
)

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
		for o, ds := range per {
			hours := rollup.Coarsen(ds, rollup.Hour)
			if err := mergeRollups(ctx, tx, o.pipeline, o.team, []rollupLevel{{3600, hours}, {86400, rollup.Coarsen(hours, rollup.Day)}}); err != nil {
				return err
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
		WHERE team_id = ?2 AND pipeline_id = ?3 AND ts >= ?4 AND ts < ?5 AND id < `+publishedBelow("?3")+` AND json_type(data, ?1) IN ('integer', 'real')
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
