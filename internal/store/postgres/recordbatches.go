package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/store"
)

const insertRecordBatch = `INSERT INTO record_batches (pipeline_id, team_id, first_id, last_id, ranges, records, ts_from, ts_to)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`

// queueRecordBatch adds the row of a persisted batch's id ranges.
func queueRecordBatch(batch *pgx.Batch, b *store.Batch) {
	rb, ok := store.BatchOf(b)
	if !ok {
		return
	}
	flat := make([]int64, 0, 2*len(rb.Ranges))
	for _, r := range rb.Ranges {
		flat = append(flat, r.First, r.Last)
	}
	batch.Queue(insertRecordBatch, [16]byte(b.PipelineID), [16]byte(b.TeamID), rb.FirstID(), rb.Ranges[len(rb.Ranges)-1].Last,
		int8s(flat), rb.Records, rb.From, rb.To)
}

// RecordBatches implements store.RecordBatches.
func (s *Store) RecordBatches(ctx context.Context, teamID, pipelineID uuid.UUID, ids []int64) ([]store.RecordBatch, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	// The batches starting at or before each id, nearest first: the id's
	// batch is among the first few unless nodes interleaved many batches
	// between the runs of a batch whose ids have gaps (then the record is
	// replayed like one stored before batches were kept).
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT b.first_id, b.ranges, b.records, b.ts_from, b.ts_to
		FROM unnest($3::bigint[]) AS r(id)
		JOIN LATERAL (SELECT * FROM record_batches b WHERE b.pipeline_id = $2 AND b.first_id <= r.id
			ORDER BY b.first_id DESC LIMIT 16) b ON b.last_id >= r.id AND b.team_id = $1
		ORDER BY b.first_id`, teamID, pipelineID, ids)
	if err != nil {
		return nil, fmt.Errorf("read record batches: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.RecordBatch, error) {
		var (
			first    int64
			flat     []int64
			rb       store.RecordBatch
			from, to time.Time
		)
		if err := r.Scan(&first, &flat, &rb.Records, &from, &to); err != nil {
			return rb, err
		}
		for i := 0; i+1 < len(flat); i += 2 {
			rb.Ranges = append(rb.Ranges, store.RecordIDRange{First: flat[i], Last: flat[i+1]})
		}
		rb.From, rb.To = from.UTC(), to.UTC()
		return rb, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read record batches: %w", err)
	}
	// A batch whose ids have gaps (ids of other batches between its runs)
	// holds only the ids of its ranges.
	want := make(map[int64]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	return holdingAny(out, want), nil
}

// holdingAny keeps the batches whose ranges hold one of want.
func holdingAny(bs []store.RecordBatch, want map[int64]bool) []store.RecordBatch {
	out := bs[:0]
	for _, b := range bs {
		if rangesHoldAny(b.Ranges, want) {
			out = append(out, b)
		}
	}
	return out
}

func rangesHoldAny(rs []store.RecordIDRange, want map[int64]bool) bool {
	for id := range want {
		for _, r := range rs {
			if id >= r.First && id <= r.Last {
				return true
			}
		}
	}
	return false
}

// deleteExpiredRecordBatches forgets the batches whose records all
// expired at cutoff.
func (s *Store) deleteExpiredRecordBatches(ctx context.Context, pipelineID uuid.UUID, cutoff time.Time) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM record_batches WHERE pipeline_id = $1 AND ts_to < $2`, pipelineID, cutoff); err != nil {
		return fmt.Errorf("retention: record batches of pipeline %s: %w", pipelineID, err)
	}
	return nil
}
