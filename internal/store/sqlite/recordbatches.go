package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/store"
)

// insertRecordBatch writes the row of a persisted batch's id ranges.
func insertRecordBatch(ctx context.Context, tx *sql.Tx, b *store.Batch) error {
	rb, ok := store.BatchOf(b)
	if !ok {
		return nil
	}
	pairs := make([][2]int64, len(rb.Ranges))
	for i, r := range rb.Ranges {
		pairs[i] = [2]int64{r.First, r.Last}
	}
	ranges, err := json.Marshal(pairs)
	if err != nil {
		return fmt.Errorf("record batch: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO record_batches (pipeline_id, team_id, first_id, last_id, ranges, records, ts_from, ts_to)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, b.PipelineID, b.TeamID, rb.FirstID(), rb.Ranges[len(rb.Ranges)-1].Last,
		string(ranges), rb.Records, micros(rb.From), micros(rb.To)); err != nil {
		return fmt.Errorf("record batch: %w", err)
	}
	return nil
}

// RecordBatches implements store.RecordBatches. A batch's ids are
// consecutive in SQLite (one writer numbers them), so the batch of an id
// is the last one starting at or before it.
func (s *Store) RecordBatches(ctx context.Context, teamID, pipelineID uuid.UUID, ids []int64) ([]store.RecordBatch, error) {
	stmt, err := s.read.PrepareContext(ctx, `SELECT first_id, ranges, records, ts_from, ts_to FROM record_batches
		WHERE pipeline_id = ? AND team_id = ? AND first_id <= ? AND last_id >= ? ORDER BY first_id DESC LIMIT 1`)
	if err != nil {
		return nil, fmt.Errorf("read record batches: %w", err)
	}
	defer stmt.Close()
	seen := map[int64]bool{}
	var out []store.RecordBatch
	for _, id := range ids {
		var (
			first, from, to int64
			ranges          string
			rb              store.RecordBatch
		)
		err := stmt.QueryRowContext(ctx, pipelineID, teamID, id, id).Scan(&first, &ranges, &rb.Records, &from, &to)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read record batches: %w", err)
		}
		if seen[first] {
			continue
		}
		seen[first] = true
		var pairs [][2]int64
		if err := json.Unmarshal([]byte(ranges), &pairs); err != nil {
			return nil, fmt.Errorf("read record batches: %w", err)
		}
		for _, p := range pairs {
			rb.Ranges = append(rb.Ranges, store.RecordIDRange{First: p[0], Last: p[1]})
		}
		rb.From, rb.To = fromMicros(from), fromMicros(to)
		out = append(out, rb)
	}
	slices.SortFunc(out, func(a, b store.RecordBatch) int { return cmp.Compare(a.FirstID(), b.FirstID()) })
	return out, nil
}

// deleteExpiredRecordBatches forgets the batches whose records all
// expired at cutoff.
func (s *Store) deleteExpiredRecordBatches(ctx context.Context, pipelineID uuid.UUID, cutoff time.Time) error {
	if _, err := s.write.ExecContext(ctx, `DELETE FROM record_batches WHERE pipeline_id = ? AND ts_to < ?`, pipelineID, micros(cutoff)); err != nil {
		return fmt.Errorf("retention: record batches of pipeline %s: %w", pipelineID, err)
	}
	return nil
}
