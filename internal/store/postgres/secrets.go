package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/core"
)

const secretColumns = `id, team_id, name, sealed, created_at, updated_at`

func scanSecret(row pgx.Row) (core.Secret, error) {
	var sec core.Secret
	err := row.Scan(&sec.ID, &sec.TeamID, &sec.Name, &sec.Sealed, &sec.CreatedAt, &sec.UpdatedAt)
	sec.CreatedAt, sec.UpdatedAt = sec.CreatedAt.UTC(), sec.UpdatedAt.UTC()
	return sec, mapErr(err)
}

// CreateSecret implements store.Secrets.
func (s *Store) CreateSecret(ctx context.Context, sec core.Secret) (core.Secret, error) {
	now := core.Now()
	out, err := scanSecret(s.pool.QueryRow(ctx, `INSERT INTO secrets (id, team_id, name, sealed, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5) RETURNING `+secretColumns, sec.ID, sec.TeamID, sec.Name, sec.Sealed, now))
	if err != nil {
		return core.Secret{}, fmt.Errorf("create secret %q: %w", sec.Name, err)
	}
	return out, nil
}

// Secret implements store.Secrets.
func (s *Store) Secret(ctx context.Context, teamID uuid.UUID, name string) (core.Secret, error) {
	return scanSecret(s.pool.QueryRow(ctx, `SELECT `+secretColumns+` FROM secrets WHERE team_id = $1 AND name = $2`, teamID, name))
}

// Secrets implements store.Secrets.
func (s *Store) Secrets(ctx context.Context, teamID uuid.UUID) ([]core.Secret, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+secretColumns+` FROM secrets WHERE team_id = $1 ORDER BY name`, teamID)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.Secret, error) { return scanSecret(r) })
}

// RotateSecret implements store.Secrets.
func (s *Store) RotateSecret(ctx context.Context, teamID uuid.UUID, name string, sealed []byte) (core.Secret, error) {
	return scanSecret(s.pool.QueryRow(ctx, `UPDATE secrets SET sealed = $3, updated_at = $4 WHERE team_id = $1 AND name = $2 RETURNING `+secretColumns,
		teamID, name, sealed, core.Now()))
}

// DeleteSecret implements store.Secrets.
func (s *Store) DeleteSecret(ctx context.Context, teamID uuid.UUID, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM secrets WHERE team_id = $1 AND name = $2`, teamID, name)
	if err != nil {
		return fmt.Errorf("delete secret: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete secret %q: %w", name, core.ErrNotFound)
	}
	return nil
}

// DeleteSecretIfUnused implements store.Secrets.
func (s *Store) DeleteSecretIfUnused(ctx context.Context, teamID uuid.UUID, name string, users func([]core.Pipeline) []string) ([]string, error) {
	var inUse []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The row lock waits for saves that hold the secret (lockSecrets);
		// under read committed, the pipelines read next include them.
		var id uuid.UUID
		if err := tx.QueryRow(ctx, `SELECT id FROM secrets WHERE team_id = $1 AND name = $2 FOR UPDATE`, teamID, name).Scan(&id); err != nil {
			return fmt.Errorf("secret %q: %w", name, mapErr(err))
		}
		rows, err := tx.Query(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE team_id = $1 ORDER BY name, id`, teamID)
		if err != nil {
			return fmt.Errorf("list pipelines: %w", err)
		}
		ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.Pipeline, error) { return scanPipeline(r) })
		if err != nil {
			return fmt.Errorf("list pipelines: %w", err)
		}
		if inUse = users(ps); len(inUse) > 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `DELETE FROM secrets WHERE team_id = $1 AND id = $2`, teamID, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("delete secret: %w", err)
	}
	return inUse, nil
}
