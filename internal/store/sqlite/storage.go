package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/rollup"
	"github.com/tributary-dev/tributary/internal/store"
)

// Time-series storage on SQLite: one records table, the per-day and
// rollup tables of migration 0003, rollups merged by each batch,
// retention by batched deletes.

var _ store.Storage = (*Store)(nil)

const rollupMerge = `count = r.count + excluded.count,
	sum = r.sum + excluded.sum,
	min = min(r.min, excluded.min),
	max = max(r.max, excluded.max),
	first_val = CASE WHEN excluded.first_ts < r.first_ts THEN excluded.first_val ELSE r.first_val END,
	first_ts = min(r.first_ts, excluded.first_ts),
	last_val = CASE WHEN excluded.last_ts >= r.last_ts THEN excluded.last_val ELSE r.last_val END,
	last_ts = max(r.last_ts, excluded.last_ts)`

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
		// One writer: no two batches contend for a rollup row, so a
		// batch merges its deltas into the rollups of every width itself
		// (PostgreSQL's batches insert deltas that a job folds).
		levels := []rollupLevel{{60, minute}, {3600, hour}, {86400, rollup.Coarsen(hour, rollup.Day)}}
		if err := mergeRollups(ctx, tx, b.PipelineID, b.TeamID, levels); err != nil {
			return fmt.Errorf("write rollups: %w", err)
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

// rollupLevel is the deltas of one width, in seconds.
type rollupLevel struct {
	width  int64
	deltas []rollup.Delta
}

// rollupsPerStatement bounds the rows of one statement of mergeRollups
// (11 parameters a row, within SQLite's 32,766).
const rollupsPerStatement = 500

// mergeRollups merges deltas into a pipeline's rollups (a batch's, or the
// pending ones CompactRollups folds), in as few statements as the rows
// allow: a statement per row cost more than the rows themselves.
func mergeRollups(ctx context.Context, tx *sql.Tx, pipeline, team uuid.UUID, levels []rollupLevel) error {
	n := 0
	for _, l := range levels {
		n += len(l.deltas)
	}
	// ?1 and ?2 are the pipeline and the team, bound once.
	args := make([]any, 2, 2+11*min(n, rollupsPerStatement))
	args[0], args[1] = pipeline.String(), team.String()
	rows := 0
	flush := func() error {
		if rows == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, mergeRollupsText.of(rows), args...)
		args, rows = args[:2], 0
		return err
	}
	for _, l := range levels {
		for _, d := range l.deltas {
			args = append(args, l.width, d.Field, micros(d.Bucket), d.Count, d.Sum, d.Min, d.Max,
				micros(d.FirstTS), d.First, micros(d.LastTS), d.Last)
			if rows++; rows == rollupsPerStatement {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	return flush()
}

// mergeRollupsText are the statements of mergeRollups, by count (at most
// rollupsPerStatement texts).
var mergeRollupsText = rowsSQL{build: mergeRollupsSQL}

// mergeRollupsSQL is the upsert of n rollups rows, the pipeline and the
// team given once (?1, ?2).
func mergeRollupsSQL(n int) string {
	var q strings.Builder
	q.WriteString(`INSERT INTO rollups AS r (pipeline_id, team_id, width, field, bucket, count, sum, min, max, first_ts, first_val, last_ts, last_val) VALUES `)
	for i := range n {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(`(?1, ?2`)
		for range 11 {
			q.WriteString(`, ?`)
		}
		q.WriteByte(')')
	}
	q.WriteString(` ON CONFLICT (pipeline_id, width, field, bucket) DO UPDATE SET ` + rollupMerge)
	return q.String()
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
