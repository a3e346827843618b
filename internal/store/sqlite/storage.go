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
