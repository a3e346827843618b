package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// insertWebhookIDs inserts the batch's webhook-ids in tx, replacing
// expired rows of the same ids; an id stored and still live fails the
// batch with core.ErrAlreadyReceived.
func insertWebhookIDs(ctx context.Context, tx *sql.Tx, b *store.Batch) error {
	if len(b.WebhookIDs) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO webhook_ids (pipeline_id, team_id, id_hash, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (pipeline_id, id_hash) DO UPDATE SET expires_at = excluded.expires_at, team_id = excluded.team_id
		WHERE webhook_ids.expires_at < ?`)
	if err != nil {
		return fmt.Errorf("insert webhook-ids: %w", err)
	}
	defer stmt.Close()
	for _, w := range b.WebhookIDs {
		res, err := stmt.ExecContext(ctx, b.PipelineID, b.TeamID, w.Hash, micros(w.Expires), micros(w.At))
		if err != nil {
			return fmt.Errorf("insert webhook-ids: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("write batch: pipeline %s: %w", b.PipelineID, core.ErrAlreadyReceived)
		}
	}
	return nil
}

// WebhookIDSeen implements store.WebhookIDs.
func (s *Store) WebhookIDSeen(ctx context.Context, teamID, pipelineID uuid.UUID, hash []byte, now time.Time) (bool, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM webhook_ids WHERE pipeline_id = ? AND team_id = ? AND id_hash = ? AND expires_at >= ?`,
		pipelineID, teamID, hash, micros(now)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read webhook-id of pipeline %s: %w", pipelineID, err)
	}
	return n > 0, nil
}

// DeleteExpiredWebhookIDs implements store.WebhookIDs.
func (s *Store) DeleteExpiredWebhookIDs(ctx context.Context, now time.Time, limit int) (int, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM webhook_ids WHERE (pipeline_id, id_hash) IN (
		SELECT pipeline_id, id_hash FROM webhook_ids WHERE expires_at < ? LIMIT ?)`, micros(now), limit)
	if err != nil {
		return 0, fmt.Errorf("delete expired webhook-ids: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
