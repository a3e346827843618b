package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// recordRows is how many records one INSERT statement carries (7
// parameters each, far below SQLite's limit of 32766).
const recordRows = 128

// insertRecordsSQL is the INSERT of n records.
func insertRecordsSQL(n int) string {
	var sb strings.Builder
	sb.WriteString(`INSERT INTO records (id, team_id, pipeline_id, ts, version, data) VALUES `)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`(?, ?, ?, ?, ?, ?)`)
	}
	return sb.String()
}

// insertRecordsText are the INSERTs of up to recordRows records, by count.
var insertRecordsText = rowsSQL{build: insertRecordsSQL}

// mergeRunSQL adds a batch to a run that spans many batches (see
// store.Batch.MergeRun): the run keeps its start and lasts until the end
// of its latest batch.
const mergeRunSQL = ` ON CONFLICT (id) DO UPDATE SET
	fetched = runs.fetched + excluded.fetched,
	stored = runs.stored + excluded.stored,
	rejected = runs.rejected + excluded.rejected,
	bytes = runs.bytes + excluded.bytes,
	version = max(runs.version, excluded.version),
	duration_us = max(runs.duration_us, excluded.started_at - runs.started_at + excluded.duration_us)`

// WriteBatch implements store.Records. SQLite has one writer, so a batch
// costs what its transaction costs: it numbers its records itself (one
// past the largest id, read in the transaction) and inserts them
// recordRows to a statement, instead of one statement per record. Batches
// written at the same time, of any pipelines, share a transaction and its
// fsync (see writeLoop); each is inside a savepoint of its own, so one
// that fails leaves the others to commit.
func (s *Store) WriteBatch(ctx context.Context, b *store.Batch) error {
	err := s.queueBatch(ctx, b)
	if err != nil {
		for i := range b.Records {
			b.Records[i].ID = 0 // the ids were never committed
		}
	}
	return err
}

// writeBatchTx writes b in tx, but for its first staged records, which
// earlier transactions wrote hidden (a big batch's slices, see
// batchwriter.go): tx then publishes them with the rest of the batch.
func (s *Store) writeBatchTx(ctx context.Context, tx *sql.Tx, b *store.Batch, staged int) error {
	if b.Persist && len(b.Records) > staged {
		if err := insertRecords(ctx, tx, b, staged, len(b.Records)); err != nil {
			return fmt.Errorf("insert records: %w", err)
		}
	}
	if staged > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM staged_batches WHERE pipeline_id = ?`, b.PipelineID); err != nil {
			return fmt.Errorf("publish staged records: %w", err)
		}
	}
	if len(b.Rejected) > 0 {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO rejected_records (team_id, pipeline_id, run_id, version, received_at, raw, reason)
			VALUES (?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("insert rejected records: %w", err)
		}
		defer stmt.Close()
		for i := range b.Rejected {
			r := &b.Rejected[i]
			if _, err := stmt.ExecContext(ctx, b.TeamID, b.PipelineID, b.Run.ID, b.Version, micros(r.ReceivedAt), string(r.Raw), r.Reason); err != nil {
				return fmt.Errorf("insert rejected records: %w", err)
			}
		}
	}
	stats := store.SummarizeBatch(b)
	run := b.Run
	var state any
	if b.State != nil {
		state = string(b.State)
	}
	// The pipeline's row first: it checks that the team owns the
	// pipeline before anything names it.
	res, err := tx.ExecContext(ctx, `UPDATE pipelines SET
			record_count = record_count + ?,
			rejected_count = rejected_count + ?,
			stored_bytes = stored_bytes + ?,
			last_record_at = CASE WHEN ? IS NULL THEN last_record_at ELSE max(coalesce(last_record_at, 0), ?) END,
			last_run_at = ?,
			state = coalesce(?, state)
		WHERE team_id = ? AND id = ?`,
		stats.Persisted, len(b.Rejected), stats.Bytes, nullMicros(stats.Newest), nullMicros(stats.Newest),
		micros(run.StartedAt), state, b.TeamID, b.PipelineID)
	if err != nil {
		return fmt.Errorf("update pipeline stats: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("write batch: pipeline %s: %w", b.PipelineID, core.ErrNotFound)
	}
	insertRun := `INSERT INTO runs (id, team_id, pipeline_id, version, trigger, started_at, duration_us, fetched, stored, rejected, bytes, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	if b.MergeRun {
		insertRun += mergeRunSQL
	}
	if _, err := tx.ExecContext(ctx, insertRun,
		run.ID, b.TeamID, b.PipelineID, b.Version, run.Trigger, micros(run.StartedAt), run.Duration.Microseconds(),
		run.Fetched, run.Stored, run.Rejected, run.Bytes, run.Error); err != nil {
		return fmt.Errorf("insert run: %w", mapErr(err))
	}
	if err := writeSeriesData(ctx, tx, b); err != nil {
		return err
	}
	if err := insertWebhookIDs(ctx, tx, b); err != nil {
		return err
	}
	if err := insertRecordBatch(ctx, tx, b); err != nil {
		return err
	}
	if len(b.Keys) > 0 {
		if err := addKeys(ctx, tx, b.TeamID, b.PipelineID, b.Keys, b.KeysExpire); err != nil {
			return fmt.Errorf("write dedup keys: %w", err)
		}
	}
	if b.Finish != nil {
		if _, err := finishPoll(ctx, tx, *b.Finish); err != nil {
			return fmt.Errorf("finish poll: %w", err)
		}
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
}

// insertRecords numbers b's records from to to after the largest id in
// the table (the transaction holds SQLite's one write lock, so nobody
// else numbers records meanwhile) and inserts them in multi-row
// statements.
func insertRecords(ctx context.Context, tx *sql.Tx, b *store.Batch, from, to int) error {
	var last int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM records`).Scan(&last); err != nil {
		return err
	}
	team, pipe := b.TeamID.String(), b.PipelineID.String()
	var full *sql.Stmt
	args := make([]any, 0, 6*min(to-from, recordRows))
	for start := from; start < to; start += recordRows {
		chunk := b.Records[start:min(start+recordRows, to)]
		args = args[:0]
		for i := range chunk {
			r := &chunk[i]
			last++
			r.ID = last
			args = append(args, r.ID, team, pipe, micros(r.TS), b.Version, string(r.Data))
		}
		if len(chunk) < recordRows {
			if _, err := tx.ExecContext(ctx, insertRecordsText.of(len(chunk)), args...); err != nil {
				return err
			}
			continue
		}
		if full == nil {
			var err error
			if full, err = tx.PrepareContext(ctx, insertRecordsText.of(recordRows)); err != nil {
				return err
			}
			defer full.Close()
		}
		if _, err := full.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}
