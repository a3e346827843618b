package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/store"
)

// ClaimIdempotencyKey implements store.Idempotency. The insert takes a
// free key (absent, expired or stale) in one statement; when it takes
// nothing, the entry that holds the key is read.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, c store.IdempotencyClaim) (store.IdempotencyEntry, bool, error) {
	k := c.Key
	var created time.Time
	err := s.pool.QueryRow(ctx, `INSERT INTO idempotency_keys (team_id, principal, key, fingerprint, status, created_at)
		VALUES ($1, $2, $3, $4, 0, $5)
		ON CONFLICT (team_id, principal, key) DO UPDATE
		SET fingerprint = excluded.fingerprint, status = 0, header = NULL, body = NULL, created_at = excluded.created_at
		WHERE idempotency_keys.created_at < $6 OR (idempotency_keys.status = 0 AND idempotency_keys.created_at < $7)
		RETURNING created_at`,
		k.TeamID, k.Principal, k.Key, c.Fingerprint, c.Now, c.ExpiredBefore, c.StaleBefore).Scan(&created)
	switch {
	case err == nil:
		return store.IdempotencyEntry{Fingerprint: c.Fingerprint, CreatedAt: created.UTC()}, true, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return store.IdempotencyEntry{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	var (
		e      store.IdempotencyEntry
		status int
	)
	err = s.pool.QueryRow(ctx, `SELECT fingerprint, status, header, body, created_at FROM idempotency_keys
		WHERE team_id = $1 AND principal = $2 AND key = $3`, k.TeamID, k.Principal, k.Key).
		Scan(&e.Fingerprint, &status, &e.Response.Header, &e.Response.Body, &created)
	if err != nil {
		return store.IdempotencyEntry{}, false, fmt.Errorf("read idempotency key: %w", mapErr(err))
	}
	e.Done, e.Response.Status, e.CreatedAt = status != 0, status, created.UTC()
	return e, false, nil
}

// CompleteIdempotencyKey implements store.Idempotency.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, k store.IdempotencyKey, fingerprint []byte, r store.IdempotentResponse) error {
	_, err := s.pool.Exec(ctx, `UPDATE idempotency_keys SET fingerprint = $1, status = $2, header = $3, body = $4
		WHERE team_id = $5 AND principal = $6 AND key = $7`,
		fingerprint, r.Status, r.Header, r.Body, k.TeamID, k.Principal, k.Key)
	if err != nil {
		return fmt.Errorf("complete idempotency key: %w", err)
	}
	return nil
}

// ReleaseIdempotencyKey implements store.Idempotency.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, k store.IdempotencyKey) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE team_id = $1 AND principal = $2 AND key = $3 AND status = 0`,
		k.TeamID, k.Principal, k.Key)
	if err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}

// DeleteExpiredIdempotencyKeys implements store.Idempotency.
func (s *Store) DeleteExpiredIdempotencyKeys(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("delete expired idempotency keys: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
