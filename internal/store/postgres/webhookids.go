package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// SQL of a batch's webhook-ids: the expired rows of its ids go first, so
// that a live one makes the insert fail on the primary key (and the batch
// with it), and an expired one is replaced.
const (
	deleteExpiredBatchIDs = `DELETE FROM webhook_ids WHERE pipeline_id = $1 AND id_hash = ANY($2::bytea[]) AND expires_at < $3`
	insertBatchIDs        = `INSERT INTO webhook_ids (pipeline_id, team_id, id_hash, expires_at)
		SELECT $1, $2, u.h, u.e FROM unnest($3::bytea[], $4::timestamptz[]) AS u(h, e)`
)

// queueWebhookIDs adds the batch's webhook-ids to batch.
func queueWebhookIDs(batch *pgx.Batch, b *store.Batch) {
	n := len(b.WebhookIDs)
	if n == 0 {
		return
	}
	hashes, expires := make([][]byte, n), make([]time.Time, n)
	at := b.WebhookIDs[0].At
	for i, w := range b.WebhookIDs {
		hashes[i], expires[i] = w.Hash, w.Expires
		if w.At.After(at) {
			at = w.At
		}
	}
	batch.Queue(deleteExpiredBatchIDs, [16]byte(b.PipelineID), hashes, at)
	batch.Queue(insertBatchIDs, [16]byte(b.PipelineID), [16]byte(b.TeamID), hashes, expires)
}

// isDuplicateWebhookID reports the primary key violation of a webhook-id
// the pipeline already stored.
func isDuplicateWebhookID(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.TableName == "webhook_ids"
}

// WebhookIDSeen implements store.WebhookIDs.
func (s *Store) WebhookIDSeen(ctx context.Context, teamID, pipelineID uuid.UUID, hash []byte, now time.Time) (bool, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM webhook_ids WHERE pipeline_id = $1 AND team_id = $2 AND id_hash = $3 AND expires_at >= $4`,
		pipelineID, teamID, hash, now).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read webhook-id of pipeline %s: %w", pipelineID, err)
	}
	return n > 0, nil
}

// DeleteExpiredWebhookIDs implements store.WebhookIDs.
func (s *Store) DeleteExpiredWebhookIDs(ctx context.Context, now time.Time, limit int) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_ids WHERE ctid IN (
		SELECT ctid FROM webhook_ids WHERE expires_at < $1 LIMIT $2)`, now, limit)
	if err != nil {
		return 0, fmt.Errorf("delete expired webhook-ids: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// errAlreadyReceived is the error of a batch that failed on a webhook-id.
func errAlreadyReceived(b *store.Batch) error {
	return fmt.Errorf("write batch: pipeline %s: %w", b.PipelineID, core.ErrAlreadyReceived)
}
