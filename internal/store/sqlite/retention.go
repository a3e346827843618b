package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/rollup"
	"github.com/tributary-dev/tributary/internal/store"
)

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
		if err := s.deleteExpiredRecordBatches(ctx, p.PipelineID, p.Records); err != nil {
			return res, err
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
					SELECT id FROM records WHERE pipeline_id = ?1 AND ts < ?2 AND id < `+publishedBelow("?1")+` ORDER BY ts LIMIT ?3)
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
						(SELECT min(ts) FROM records WHERE pipeline_id = ?1 AND ts >= ?2 AND ts < ?3 AND id < `+publishedBelow("?1")+`), oldest)
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
