package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tributary-dev/tributary/internal/store"
)

// ClaimIdempotencyKey implements store.Idempotency. The insert takes a
// free key (absent, expired or stale) in one statement; when it takes
// nothing, the entry that holds the key is read.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, c store.IdempotencyClaim) (store.IdempotencyEntry, bool, error) {
	k := c.Key
	var created int64
	err := s.write.QueryRowContext(ctx, `INSERT INTO idempotency_keys (team_id, principal, key, fingerprint, status, created_at)
		VALUES (?, ?, ?, ?, 0, ?)
		ON CONFLICT (team_id, principal, key) DO UPDATE
		SET fingerprint = excluded.fingerprint, status = 0, header = NULL, body = NULL, created_at = excluded.created_at
		WHERE idempotency_keys.created_at < ? OR (idempotency_keys.status = 0 AND idempotency_keys.created_at < ?)
		RETURNING created_at`,
		k.TeamID, k.Principal, k.Key, c.Fingerprint, micros(c.Now), micros(c.ExpiredBefore), micros(c.StaleBefore)).Scan(&created)
	switch {
	case err == nil:
		return store.IdempotencyEntry{Fingerprint: c.Fingerprint, CreatedAt: fromMicros(created)}, true, nil
	case !errors.Is(err, sql.ErrNoRows):
		return store.IdempotencyEntry{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	var (
		e      store.IdempotencyEntry
		status int
	)
	err = s.write.QueryRowContext(ctx, `SELECT fingerprint, status, header, body, created_at FROM idempotency_keys
		WHERE team_id = ? AND principal = ? AND key = ?`, k.TeamID, k.Principal, k.Key).
		Scan(&e.Fingerprint, &status, &e.Response.Header, &e.Response.Body, &created)
	if err != nil {
		return store.IdempotencyEntry{}, false, fmt.Errorf("read idempotency key: %w", mapErr(err))
	}
	e.Done, e.Response.Status, e.CreatedAt = status != 0, status, fromMicros(created)
	return e, false, nil
}

// CompleteIdempotencyKey implements store.Idempotency.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, k store.IdempotencyKey, fingerprint []byte, r store.IdempotentResponse) error {
	_, err := s.write.ExecContext(ctx, `UPDATE idempotency_keys SET fingerprint = ?, status = ?, header = ?, body = ?
		WHERE team_id = ? AND principal = ? AND key = ?`,
		fingerprint, r.Status, r.Header, r.Body, k.TeamID, k.Principal, k.Key)
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	return nil
}

// ReleaseIdempotencyKey implements store.Idempotency.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, k store.IdempotencyKey) error {
	_, err := s.write.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE team_id = ? AND principal = ? AND key = ? AND status = 0`,
		k.TeamID, k.Principal, k.Key)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// DeleteExpiredIdempotencyKeys implements store.Idempotency.
func (s *Store) DeleteExpiredIdempotencyKeys(ctx context.Context, before time.Time) (int, error) {
	res, err := s.write.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < ?`, micros(before))
	if err != nil {
		return 0, fmt.Errorf("delete expired idempotency keys: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
