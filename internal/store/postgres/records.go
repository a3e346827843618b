package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/rollup"
	"github.com/tributary-dev/tributary/internal/store"
)

// copyChunk is how many rows one COPY carries.
const copyChunk = 1000

// WriteBatch implements store.Records. Before its transaction it makes
// sure the batch's days have partitions (see partitions.go); should the
// COPY still find none (another node dropped one), it creates them and
// writes the batch once more.
func (s *Store) WriteBatch(ctx context.Context, b *store.Batch) error {
	if err := s.preparePartitions(ctx, b); err != nil {
		return fmt.Errorf("write batch: %w", err)
	}
	err := s.writeBatch(ctx, b)
	if isNoPartition(err) {
		s.parts.known.Store(nil)
		if err = s.preparePartitions(ctx, b); err == nil {
			err = s.writeBatch(ctx, b)
		}
	}
	if err != nil {
		for i := range b.Records {
			b.Records[i].ID = 0 // the ids were never committed
		}
	}
	return err
}

func (s *Store) writeBatch(ctx context.Context, b *store.Batch) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if b.Persist && len(b.Records) > 0 {
			if err := s.copyRecords(ctx, tx, b); err != nil {
				return err
			}
		}
		if len(b.Rejected) > 0 {
			team, pipe, run, version := [16]byte(b.TeamID), [16]byte(b.PipelineID), [16]byte(b.Run.ID), int32(b.Version)
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"rejected_records"},
				[]string{"team_id", "pipeline_id", "run_id", "version", "received_at", "raw", "reason"},
				pgx.CopyFromSlice(len(b.Rejected), func(i int) ([]any, error) {
					r := &b.Rejected[i]
					return []any{team, pipe, run, version, r.ReceivedAt, []byte(r.Raw), r.Reason}, nil
				}))
			if err != nil {
				return fmt.Errorf("insert rejected records: %w", err)
			}
		}
		stats := store.SummarizeBatch(b)
		run := b.Run
		if _, err := tx.Exec(ctx, `INSERT INTO runs (id, team_id, pipeline_id, version, trigger, started_at, duration_us, fetched, stored, rejected, bytes, error)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			run.ID, b.TeamID, b.PipelineID, b.Version, run.Trigger, run.StartedAt, run.Duration.Microseconds(),
			run.Fetched, run.Stored, run.Rejected, run.Bytes, run.Error); err != nil {
			return fmt.Errorf("insert run: %w", mapErr(err))
		}
		// The pipeline's row lock, taken here, orders the batches of one
		// pipeline; the per-day and rollup rows below are the pipeline's
		// own, so they are always locked after it and never deadlock.
		tag, err := tx.Exec(ctx, `UPDATE pipelines SET
				record_count = record_count + $3,
				rejected_count = rejected_count + $4,
				stored_bytes = stored_bytes + $5,
				last_record_at = CASE WHEN $6::timestamptz IS NULL THEN last_record_at ELSE greatest(last_record_at, $6) END,
				last_run_at = $7,
				state = coalesce($8, state)
			WHERE team_id = $1 AND id = $2`,
			b.TeamID, b.PipelineID, stats.Persisted, len(b.Rejected), stats.Bytes, stats.Newest, run.StartedAt, rawJSONOrNil(b.State))
		if err != nil {
			return fmt.Errorf("update pipeline stats: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("write batch: pipeline %s: %w", b.PipelineID, core.ErrNotFound)
		}
		if err := writeSeriesData(ctx, tx, b); err != nil {
			return err
		}
		if b.Upload != nil {
			if err := advanceUpload(ctx, tx, b); err != nil {
				return err
			}
		}
		if b.Jobs != nil {
			params, err := b.Jobs(b.Records)
			if err != nil {
				return fmt.Errorf("build batch jobs: %w", err)
			}
			if len(params) > 0 {
				if err := s.insertJobs(ctx, tx, params); err != nil {
					return fmt.Errorf("enqueue batch jobs: %w", err)
				}
			}
		}
		return nil
	})
}

func (s *Store) copyRecords(ctx context.Context, tx pgx.Tx, b *store.Batch) error {
	rows, err := tx.Query(ctx, `SELECT nextval('records_id_seq') FROM generate_series(1, $1)`, len(b.Records))
	if err != nil {
		return fmt.Errorf("allocate record ids: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("allocate record ids: %w", err)
	}
	for i := range b.Records {
		b.Records[i].ID = ids[i]
	}
	// Values in the types pgx encodes directly: a uuid.UUID would go
	// through driver.Valuer and a string parse for every row.
	team, pipe, version := [16]byte(b.TeamID), [16]byte(b.PipelineID), int32(b.Version)
	for start := 0; start < len(b.Records); start += copyChunk {
		chunk := b.Records[start:min(start+copyChunk, len(b.Records))]
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"records"},
			[]string{"id", "team_id", "pipeline_id", "ts", "version", "size", "data"},
			pgx.CopyFromSlice(len(chunk), func(i int) ([]any, error) {
				r := &chunk[i]
				return []any{r.ID, team, pipe, r.TS, version, int32(len(r.Data)), []byte(r.Data)}, nil
			}))
		if err != nil {
			return fmt.Errorf("copy records: %w", err)
		}
	}
	return nil
}

// SQL of the per-batch series data, sent together in one round trip.
const (
	upsertRecordDays = `INSERT INTO record_days AS d (pipeline_id, day, team_id, records, bytes, oldest, newest)
		SELECT $1, u.day, $2, u.records, u.bytes, u.oldest, u.newest
		FROM unnest($3::timestamptz[], $4::bigint[], $5::bigint[], $6::timestamptz[], $7::timestamptz[]) AS u(day, records, bytes, oldest, newest)
		ON CONFLICT (pipeline_id, day) DO UPDATE SET
			records = d.records + excluded.records,
			bytes = d.bytes + excluded.bytes,
			oldest = least(d.oldest, excluded.oldest),
			newest = greatest(d.newest, excluded.newest)`

	// rollupMerge merges an incoming aggregate (excluded) into a stored one
	// (r). Among equal event times the stored first stays first and the
	// incoming last becomes last, as rollup.Agg.Merge does.
	rollupMerge = `count = r.count + excluded.count,
			sum = r.sum + excluded.sum,
			min = least(r.min, excluded.min),
			max = greatest(r.max, excluded.max),
			first_val = CASE WHEN excluded.first_ts < r.first_ts THEN excluded.first_val ELSE r.first_val END,
			first_ts = least(r.first_ts, excluded.first_ts),
			last_val = CASE WHEN excluded.last_ts >= r.last_ts THEN excluded.last_val ELSE r.last_val END,
			last_ts = greatest(r.last_ts, excluded.last_ts)`

	deltaColumns = `u.field, u.bucket, $2, u.count, u.sum, u.min, u.max, u.first_ts, u.first_val, u.last_ts, u.last_val
		FROM unnest($3::text[], $4::timestamptz[], $5::bigint[], $6::float8[], $7::float8[], $8::float8[],
			$9::timestamptz[], $10::float8[], $11::timestamptz[], $12::float8[])
			AS u(field, bucket, count, sum, min, max, first_ts, first_val, last_ts, last_val)`

	upsertMinuteRollups = `INSERT INTO rollups AS r (pipeline_id, width, field, bucket, team_id, count, sum, min, max, first_ts, first_val, last_ts, last_val)
		SELECT $1, 60, ` + deltaColumns + `
		ON CONFLICT (pipeline_id, width, field, bucket) DO UPDATE SET ` + rollupMerge

	insertPendingRollups = `INSERT INTO rollup_pending (pipeline_id, field, bucket, team_id, count, sum, min, max, first_ts, first_val, last_ts, last_val)
		SELECT $1, ` + deltaColumns

	raiseHorizons = `INSERT INTO series_horizons AS h (pipeline_id, width, horizon)
		SELECT $1, u.width, u.horizon FROM unnest($2::int[], $3::timestamptz[]) AS u(width, horizon)
		ON CONFLICT (pipeline_id, width) DO UPDATE SET horizon = greatest(h.horizon, excluded.horizon)`
)

// writeSeriesData writes what a persisted batch adds besides its records:
// its per-day summary, its rollups, and, when its rollups are not
// complete, the horizons that keep series from reading them there.
func writeSeriesData(ctx context.Context, tx pgx.Tx, b *store.Batch) error {
	days := store.SummarizeDays(b)
	if len(days) == 0 {
		return nil
	}
	var batch pgx.Batch
	dayCols := struct {
		day, oldest, newest []time.Time
		records, bytes      []int64
	}{}
	for _, d := range days {
		dayCols.day = append(dayCols.day, d.Day)
		dayCols.records = append(dayCols.records, d.Records)
		dayCols.bytes = append(dayCols.bytes, d.Bytes)
		dayCols.oldest = append(dayCols.oldest, d.Oldest)
		dayCols.newest = append(dayCols.newest, d.Newest)
	}
	batch.Queue(upsertRecordDays, b.PipelineID, b.TeamID, dayCols.day, dayCols.records, dayCols.bytes, dayCols.oldest, dayCols.newest)
	minute, hour, missing := store.BatchRollups(b)
	if len(minute) > 0 {
		batch.Queue(upsertMinuteRollups, deltaArgs(b, minute)...)
		batch.Queue(insertPendingRollups, deltaArgs(b, hour)...)
	}
	if !missing.IsZero() {
		widths := make([]int32, len(store.RollupWidths))
		horizons := make([]time.Time, len(store.RollupWidths))
		for i, w := range store.RollupWidths {
			widths[i], horizons[i] = int32(w/time.Second), store.HorizonAfter(missing, w)
		}
		batch.Queue(raiseHorizons, b.PipelineID, widths, horizons)
	}
	if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
		return fmt.Errorf("write record days and rollups: %w", err)
	}
	return nil
}

// deltaArgs are the arguments of deltaColumns.
func deltaArgs(b *store.Batch, ds []rollup.Delta) []any {
	n := len(ds)
	fields := make([]string, n)
	buckets, firstTS, lastTS := make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
	counts := make([]int64, n)
	sums, mins, maxs, firsts, lasts := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i, d := range ds {
		fields[i], buckets[i], counts[i] = d.Field, d.Bucket, d.Count
		sums[i], mins[i], maxs[i] = d.Sum, d.Min, d.Max
		firstTS[i], firsts[i], lastTS[i], lasts[i] = d.FirstTS, d.First, d.LastTS, d.Last
	}
	return []any{b.PipelineID, b.TeamID, fields, buckets, counts, sums, mins, maxs, firstTS, firsts, lastTS, lasts}
}

// rawJSONOrNil passes already-encoded JSON to a json/jsonb column as it
// is, or NULL.
func rawJSONOrNil(r json.RawMessage) any {
	if r == nil {
		return nil
	}
	return []byte(r)
}
