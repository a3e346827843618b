package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/rollup"
	"github.com/tributary-dev/tributary/internal/store"
)

// insertChunk is how many records one INSERT statement carries.
const insertChunk = 1000

// compactEvery is how many batches of a pipeline (in this process) pass
// between foldings of its stats deltas into its row, done in the batch
// transaction of every compactEvery-th batch.
const compactEvery = 256

// WriteBatch implements store.Records. Before its transaction it makes
// sure the batch's days have partitions (see partitions.go); should the
// insert still find none (another node dropped one), it creates them and
// writes the batch once more.
//
// A batch is one round trip and one commit where it can be: its ids come
// from blocks cached in process (ids.go), its statements go together in
// one pgx batch, which PostgreSQL runs as one implicit transaction, and
// its stats are a row inserted into pipeline_stat_deltas rather than an
// update of the pipeline's row. Records go as INSERTs of arrays, not
// COPY, which cannot share a round trip, but for big batches
// (copyRecordsMin), which are copied in chunks that give way to small
// batches of other teams (gate.go). Those, and batches with jobs to enqueue
// (River inserts through a transaction of its own) or an upload to
// advance send the same pgx batch in an explicit transaction instead.
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
		if isPipelineGone(err) {
			return fmt.Errorf("write batch: pipeline %s: %w", b.PipelineID, core.ErrNotFound)
		}
		if isDuplicateWebhookID(err) {
			return errAlreadyReceived(b)
		}
	}
	return err
}

// isPipelineGone reports that the batch's pipeline was deleted: its
// stats delta found no pipeline row (insertStatDelta), or a foreign key
// to the pipeline failed.
func isPipelineGone(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	return pgErr.Code == "23503" ||
		pgErr.Code == "23502" && pgErr.TableName == "pipeline_stat_deltas" && pgErr.ColumnName == "pipeline_id"
}

// pipelineLockSpace is the first key of the advisory locks that order a
// pipeline's batches before its deletion ("pipe" in ASCII); the second
// is pipelineLockKey. Two pipelines sharing a key only wait for each
// other's deletion.
const pipelineLockSpace = 0x70697065

func pipelineLockKey(id uuid.UUID) int32 {
	return int32(binary.BigEndian.Uint32(id[12:]))
}

func (s *Store) writeBatch(ctx context.Context, b *store.Batch) error {
	persist := b.Persist && len(b.Records) > 0
	if persist {
		if err := s.assignIDs(ctx, b); err != nil {
			return err
		}
	}
	// The jobs are built before the transaction, from the records and
	// their ids: the builders read nothing from the database.
	var jobs []river.InsertManyParams
	if b.Jobs != nil {
		var err error
		if jobs, err = b.Jobs(b.Records); err != nil {
			return fmt.Errorf("build batch jobs: %w", err)
		}
	}
	// A big batch's records go by COPY, before the other statements, in
	// an explicit transaction (see copyRecordsMin).
	copyRecords := persist && len(b.Records) >= copyRecordsMin
	var batch pgx.Batch
	s.queueBatch(&batch, b, persist && !copyRecords)
	// A poll's end (the schedule's move to its next due time, which frees
	// its lease) rides in the batch's round trip and transaction.
	var moved bool
	if b.Finish != nil {
		queueFinish(&batch, *b.Finish, &moved)
	}
	// A small batch counts as being written (writeGate) once it holds a
	// connection, not while it waits for one.
	if len(jobs) == 0 && b.Upload == nil && !copyRecords {
		conn, err := s.pool.Acquire(ctx)
		if err != nil {
			return fmt.Errorf("write batch: %w", err)
		}
		defer conn.Release()
		defer s.gate.enter(b.TeamID)()
		if err := conn.SendBatch(ctx, &batch).Close(); err != nil {
			return fmt.Errorf("write batch: %w", err)
		}
		return nil
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if copyRecords {
			if err := s.copyBatchRecords(ctx, tx, b); err != nil {
				return fmt.Errorf("write batch: copy records: %w", err)
			}
		} else {
			defer s.gate.enter(b.TeamID)()
		}
		// The jobs go first (River inserts them in a round trip of its
		// own), and their delivery rows with the batch's statements:
		// one round trip fewer than after them.
		if len(jobs) > 0 {
			if err := s.insertJobsThen(ctx, tx, jobs, &batch); err != nil {
				return fmt.Errorf("enqueue batch jobs: %w", err)
			}
		}
		if err := tx.SendBatch(ctx, &batch).Close(); err != nil {
			return fmt.Errorf("write batch: %w", err)
		}
		if b.Upload != nil {
			if err := advanceUpload(ctx, tx, b); err != nil {
				return err
			}
		}
		return nil
	})
}

// copyRecordsMin is how many records a batch has at least for them to go
// by COPY rather than INSERTs of arrays. COPY costs an explicit
// transaction (three more round trips), but PostgreSQL writes its rows
// several to a heap page and log record, in a ring of buffers of its
// own: less work, and less contention with the small batches of other
// pipelines committing meanwhile (the relation's extension lock, the
// log's insertion locks, the shared buffers).
const copyRecordsMin = 1000

// A big batch copies its records in chunks, and gives way to other
// teams' small batches before each (writeGate): chunks of
// copyChunkRecords, about a quarter of a millisecond of a backend's work,
// while other teams write, else of copyAloneRecords. (With chunks of 256
// rows another team's p99 under a flood of huge batches was about 2× of
// quiet; with 64, 1.1×. Chunks of 64 made the flooding team's batches a
// third slower, hence the bigger ones when no one else writes.)
const (
	copyChunkRecords = 64
	copyAloneRecords = 1024
)

// copyBatchRecords copies b's records into the records table in tx, in
// chunks, giving way to other teams' small batches before each.
func (s *Store) copyBatchRecords(ctx context.Context, tx pgx.Tx, b *store.Batch) error {
	team, pipe, version := [16]byte(b.TeamID), [16]byte(b.PipelineID), int32(b.Version)
	jsonb := s.data.Load().name == "jsonb"
	var copying, waited time.Duration
	for start := 0; start < len(b.Records); {
		// It gives way for about as long as it copies at most, so that
		// small batches in a steady stream slow it by half, not more.
		began := time.Now()
		s.gate.giveWay(ctx, b.TeamID, copying+maxGiveWay-waited)
		waited += time.Since(began)
		began = time.Now()
		n := copyAloneRecords
		if s.gate.othersLately(b.TeamID) {
			n = copyChunkRecords
		}
		chunk := b.Records[start:min(start+n, len(b.Records))]
		start += len(chunk)
		if err := copyRecords(ctx, tx, team, pipe, version, chunk, jsonb); err != nil {
			return err
		}
		copying += time.Since(began)
	}
	return nil
}

// SQL of a batch's own rows.
const (
	// insertRecordsFormat takes the type of records.data (recordData).
	insertRecordsFormat = `INSERT INTO records (id, team_id, pipeline_id, ts, version, size, data)
		SELECT u.id, $1, $2, u.ts, $3, u.size, u.data
		FROM unnest($4::bigint[], $5::timestamptz[], $6::int[], $7::%s[]) AS u(id, ts, size, data)`

	insertRejected = `INSERT INTO rejected_records (team_id, pipeline_id, run_id, version, received_at, raw, reason)
		SELECT $1, $2, $3, $4, u.received_at, u.raw, u.reason
		FROM unnest($5::timestamptz[], $6::jsonb[], $7::text[]) AS u(received_at, raw, reason)`

	insertRun = `INSERT INTO runs (id, team_id, pipeline_id, version, trigger, started_at, duration_us, fetched, stored, rejected, bytes, error)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`

	// A run that spans many batches (store.Batch.MergeRun) is a row that
	// the first batch inserts, with counts of zero, and one run_deltas row
	// per batch, which reads add (the runs_now view) and folds move into
	// the row. Inserting does not wait for a committed row of the run; it
	// waits only for a concurrent first batch of the same run to commit.
	ensureRun = `INSERT INTO runs (id, team_id, pipeline_id, version, trigger, started_at, duration_us, fetched, stored, rejected, bytes, error)
		VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 0, 0, 0, '') ON CONFLICT (id) DO NOTHING`

	insertRunDelta = `INSERT INTO run_deltas (run_id, pipeline_id, version, ended_at, fetched, stored, rejected, bytes)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

	// foldRunDeltas adds committed run deltas to their runs and deletes
	// them, in one statement.
	foldRunDeltas = `WITH d AS (
			DELETE FROM run_deltas WHERE pipeline_id = ANY($1::uuid[]) RETURNING *
		), t AS (
			SELECT run_id, max(version) AS version, max(ended_at) AS ended_at, sum(fetched) AS fetched,
				sum(stored) AS stored, sum(rejected) AS rejected, sum(bytes) AS bytes
			FROM d GROUP BY run_id
		)
		UPDATE runs r SET
			fetched = r.fetched + t.fetched,
			stored = r.stored + t.stored,
			rejected = r.rejected + t.rejected,
			bytes = r.bytes + t.bytes,
			version = greatest(r.version, t.version),
			duration_us = greatest(r.duration_us, (extract(epoch FROM t.ended_at - r.started_at) * 1000000)::bigint)
		FROM t WHERE r.id = t.run_id`

	// foldRecordDays adds committed per-day deltas to record_days and
	// deletes them, in one statement.
	foldRecordDays = `WITH d AS (
			DELETE FROM record_day_deltas WHERE pipeline_id = ANY($1::uuid[]) RETURNING *
		)
		INSERT INTO record_days AS r (pipeline_id, day, team_id, records, bytes, oldest, newest)
		SELECT pipeline_id, day, (array_agg(team_id))[1], sum(records), sum(bytes), min(oldest), max(newest)
		FROM d GROUP BY pipeline_id, day
		ON CONFLICT (pipeline_id, day) DO UPDATE SET
			records = r.records + excluded.records,
			bytes = r.bytes + excluded.bytes,
			oldest = least(r.oldest, excluded.oldest),
			newest = greatest(r.newest, excluded.newest)`

	// insertStatDelta takes its pipeline_id from the pipeline's row, so
	// that it fails (the column is NOT NULL) when the pipeline is gone:
	// with lockPipelineShared before it, a batch of a deleted pipeline
	// does not commit (see migration 0018).
	insertStatDelta = `INSERT INTO pipeline_stat_deltas (pipeline_id, team_id, records, rejected, bytes, last_record_at, last_run_at)
		VALUES ((SELECT id FROM pipelines WHERE id = $1 AND team_id = $2), $2, $3, $4, $5, $6, $7)`

	// lockPipelineShared is a batch's first statement; DeletePipeline
	// takes the same lock exclusively first (lockPipeline).
	lockPipelineShared = `SELECT pg_advisory_xact_lock_shared($1, $2)`
	lockPipeline       = `SELECT pg_advisory_xact_lock($1, $2)`

	setState = `UPDATE pipelines SET state = $3 WHERE team_id = $1 AND id = $2`

	// foldStatDeltas adds a pipeline's committed deltas to its row and
	// deletes them, in one statement: a reader sees them either here or
	// there. Deltas of transactions still in flight are not visible to it
	// and stay for the next time.
	foldStatDeltas = `WITH d AS (
			DELETE FROM pipeline_stat_deltas WHERE pipeline_id = ANY($1::uuid[]) RETURNING *
		), t AS (
			SELECT pipeline_id, sum(records) AS records, sum(rejected) AS rejected, sum(bytes) AS bytes,
				max(last_record_at) AS last_record_at, max(last_run_at) AS last_run_at
			FROM d GROUP BY pipeline_id
		)
		UPDATE pipelines p SET
			record_count = p.record_count + t.records,
			rejected_count = p.rejected_count + t.rejected,
			stored_bytes = p.stored_bytes + t.bytes,
			last_record_at = CASE WHEN t.last_record_at IS NULL THEN p.last_record_at ELSE greatest(p.last_record_at, t.last_record_at) END,
			last_run_at = greatest(p.last_run_at, t.last_run_at)
		FROM t WHERE p.id = t.pipeline_id`
)

// queueBatch queues every statement of b but its jobs and upload: the
// records (when persist), rejected records, the run, the stats delta, the polling
// state, and the series data.
func (s *Store) queueBatch(batch *pgx.Batch, b *store.Batch, persist bool) {
	team, pipe, version := [16]byte(b.TeamID), [16]byte(b.PipelineID), int32(b.Version)
	batch.Queue(lockPipelineShared, pipelineLockSpace, pipelineLockKey(b.PipelineID))
	for start := 0; persist && start < len(b.Records); start += insertChunk {
		chunk := b.Records[start:min(start+insertChunk, len(b.Records))]
		n := len(chunk)
		ids, ts, sizes, data := make([]int64, n), make([]time.Time, n), make([]int32, n), make([][]byte, n)
		for i := range chunk {
			r := &chunk[i]
			ids[i], ts[i], sizes[i], data[i] = r.ID, r.TS, int32(len(r.Data)), r.Data
		}
		batch.Queue(s.data.Load().insert, team, pipe, version, int8s(ids), timestamptzs(ts), int4s(sizes), data)
	}
	if n := len(b.Rejected); n > 0 {
		received, raw, reasons := make([]time.Time, n), make([][]byte, n), make([]string, n)
		for i := range b.Rejected {
			r := &b.Rejected[i]
			received[i], raw[i], reasons[i] = r.ReceivedAt, []byte(r.Raw), r.Reason
		}
		batch.Queue(insertRejected, team, pipe, [16]byte(b.Run.ID), version, timestamptzs(received), raw, texts(reasons))
	}
	stats := store.SummarizeBatch(b)
	batch.Queue(insertStatDelta, pipe, team, int64(stats.Persisted), int64(len(b.Rejected)), stats.Bytes, stats.Newest, b.Run.StartedAt)
	if b.State != nil {
		batch.Queue(setState, team, pipe, []byte(b.State))
	}
	if keys := distinctKeys(b.Keys); len(keys) > 0 {
		batch.Queue(addKeys, team, pipe, keys, b.KeysExpire)
	}
	queueWebhookIDs(batch, b)
	queueRecordBatch(batch, b)
	if s.dueForFold(b.PipelineID) {
		pipes := [][16]byte{pipe}
		batch.Queue(foldStatDeltas, pipes)
		batch.Queue(foldRecordDays, pipes)
		batch.Queue(foldRunDeltas, pipes)
	}
	queueSeriesData(batch, b)
	run := b.Run
	if !b.MergeRun {
		batch.Queue(insertRun, [16]byte(run.ID), team, pipe, version, string(run.Trigger), run.StartedAt, run.Duration.Microseconds(),
			run.Fetched, run.Stored, run.Rejected, run.Bytes, run.Error)
		return
	}
	if !b.RunStored {
		batch.Queue(ensureRun, [16]byte(run.ID), team, pipe, version, string(run.Trigger), run.StartedAt)
	}
	batch.Queue(insertRunDelta, [16]byte(run.ID), pipe, version, run.StartedAt.Add(run.Duration),
		run.Fetched, run.Stored, run.Rejected, run.Bytes)
}

// dueForFold counts a batch of the pipeline and reports whether this
// one folds the pipeline's stats deltas.
func (s *Store) dueForFold(id uuid.UUID) bool {
	s.folds.mu.Lock()
	defer s.folds.mu.Unlock()
	if s.folds.n == nil {
		s.folds.n = make(map[uuid.UUID]int)
	}
	s.folds.n[id]++
	if s.folds.n[id] < compactEvery {
		return false
	}
	delete(s.folds.n, id)
	return true
}

// FoldStatDeltas folds every pipeline's committed stats deltas into the
// pipelines' rows; CompactRollups calls it so that pipelines whose
// traffic stopped do not keep deltas for ever.
func (s *Store) foldAllStatDeltas(ctx context.Context) error {
	for _, q := range []struct{ what, sql string }{
		{"pipeline stats", foldStatDeltas}, {"record days", foldRecordDays}, {"runs", foldRunDeltas},
	} {
		if _, err := s.pool.Exec(ctx, foldAll(q.sql)); err != nil {
			return fmt.Errorf("fold %s: %w", q.what, err)
		}
	}
	return nil
}

// foldAll turns a fold of some pipelines into a fold of all.
func foldAll(sql string) string {
	return strings.Replace(sql, "WHERE pipeline_id = ANY($1::uuid[])", "", 1)
}

// SQL of the per-batch series data, sent together in one round trip.
const (
	insertRecordDays = `INSERT INTO record_day_deltas (pipeline_id, day, team_id, records, bytes, oldest, newest)
		SELECT $1, u.day, $2, u.records, u.bytes, u.oldest, u.newest
		FROM unnest($3::timestamptz[], $4::bigint[], $5::bigint[], $6::timestamptz[], $7::timestamptz[]) AS u(day, records, bytes, oldest, newest)`

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

	// insertPendingRollups inserts a batch's minute and hour deltas (its
	// width column tells which) in one statement.
	insertPendingRollups = `INSERT INTO rollup_pending (pipeline_id, width, field, bucket, team_id, count, sum, min, max, first_ts, first_val, last_ts, last_val)
		SELECT $1, u.width, u.field, u.bucket, $2, u.count, u.sum, u.min, u.max, u.first_ts, u.first_val, u.last_ts, u.last_val
		FROM unnest($3::int[], $4::text[], $5::timestamptz[], $6::bigint[], $7::float8[], $8::float8[], $9::float8[],
			$10::timestamptz[], $11::float8[], $12::timestamptz[], $13::float8[])
			AS u(width, field, bucket, count, sum, min, max, first_ts, first_val, last_ts, last_val)`

	raiseHorizons = `INSERT INTO series_horizons AS h (pipeline_id, width, horizon)
		SELECT $1, u.width, u.horizon FROM unnest($2::int[], $3::timestamptz[]) AS u(width, horizon)
		ON CONFLICT (pipeline_id, width) DO UPDATE SET horizon = greatest(h.horizon, excluded.horizon)`
)

// queueSeriesData queues what a persisted batch adds besides its
// records: its per-day summary, its rollups, and, when its rollups are
// not complete, the horizons that keep series from reading them there.
func queueSeriesData(batch *pgx.Batch, b *store.Batch) {
	days := store.SummarizeDays(b)
	if len(days) == 0 {
		return
	}
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
	batch.Queue(insertRecordDays, b.PipelineID, b.TeamID, timestamptzs(dayCols.day), int8s(dayCols.records), int8s(dayCols.bytes),
		timestamptzs(dayCols.oldest), timestamptzs(dayCols.newest))
	minute, hour, missing := store.BatchRollups(b)
	if len(minute) > 0 {
		batch.Queue(insertPendingRollups, deltaArgs(b, minute, hour)...)
	}
	if !missing.IsZero() {
		widths := make([]int32, len(store.RollupWidths))
		horizons := make([]time.Time, len(store.RollupWidths))
		for i, w := range store.RollupWidths {
			widths[i], horizons[i] = int32(w/time.Second), store.HorizonAfter(missing, w)
		}
		batch.Queue(raiseHorizons, b.PipelineID, widths, horizons)
	}
}

// deltaArgs are the arguments of insertPendingRollups: the minute
// deltas, then the hour ones.
func deltaArgs(b *store.Batch, minute, hour []rollup.Delta) []any {
	n := len(minute) + len(hour)
	widths := make([]int32, 0, n)
	fields := make([]string, 0, n)
	buckets, firstTS, lastTS := make([]time.Time, 0, n), make([]time.Time, 0, n), make([]time.Time, 0, n)
	counts := make([]int64, 0, n)
	sums, mins, maxs, firsts, lasts := make([]float64, 0, n), make([]float64, 0, n), make([]float64, 0, n), make([]float64, 0, n), make([]float64, 0, n)
	for _, part := range []struct {
		width int32
		ds    []rollup.Delta
	}{{60, minute}, {3600, hour}} {
		for _, d := range part.ds {
			widths, fields, buckets, counts = append(widths, part.width), append(fields, d.Field), append(buckets, d.Bucket), append(counts, d.Count)
			sums, mins, maxs = append(sums, d.Sum), append(mins, d.Min), append(maxs, d.Max)
			firstTS, firsts, lastTS, lasts = append(firstTS, d.FirstTS), append(firsts, d.First), append(lastTS, d.LastTS), append(lasts, d.Last)
		}
	}
	return []any{b.PipelineID, b.TeamID, int4s(widths), texts(fields), timestamptzs(buckets), int8s(counts), float8s(sums), float8s(mins), float8s(maxs),
		timestamptzs(firstTS), float8s(firsts), timestamptzs(lastTS), float8s(lasts)}
}

// recordData reads the type of records.data, json since migration 0016
// or jsonb in a database that held records before it, and prepares the
// INSERT of records for it. Before the schema exists it assumes json.
func (s *Store) recordData(ctx context.Context) error {
	typ := "json"
	err := s.pool.QueryRow(ctx, `SELECT format_type(atttypid, NULL) FROM pg_attribute
		WHERE attrelid = to_regclass('records') AND attname = 'data'`).Scan(&typ)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read the type of records.data: %w", err)
	}
	if typ != "json" && typ != "jsonb" {
		return fmt.Errorf("records.data is %s, not json or jsonb", typ)
	}
	s.data.Store(&dataType{name: typ, insert: fmt.Sprintf(insertRecordsFormat, typ)})
	return nil
}

// dataType is the type of records.data, json or jsonb, and the INSERT of
// records for it.
type dataType struct{ name, insert string }

// RecordDataType is the type of records.data: json, or jsonb in a
// database that held records before migration 0016 or on TimescaleDB
// (docs/operations.md).
func (s *Store) RecordDataType() string { return s.data.Load().name }
