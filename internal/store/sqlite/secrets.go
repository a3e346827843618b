package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
)

const secretColumns = `id, team_id, name, sealed, created_at, updated_at`

func scanSecret(r row) (core.Secret, error) {
	var (
		sec              core.Secret
		created, updated int64
	)
	err := r.Scan(&sec.ID, &sec.TeamID, &sec.Name, &sec.Sealed, &created, &updated)
	sec.CreatedAt, sec.UpdatedAt = fromMicros(created), fromMicros(updated)
	return sec, mapErr(err)
}

// CreateSecret implements store.Secrets.
func (s *Store) CreateSecret(ctx context.Context, sec core.Secret) (core.Secret, error) {
	now := micros(core.Now())
	out, err := scanSecret(s.write.QueryRowContext(ctx, `INSERT INTO secrets (id, team_id, name, sealed, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING `+secretColumns, sec.ID, sec.TeamID, sec.Name, sec.Sealed, now, now))
	if err != nil {
		return core.Secret{}, fmt.Errorf("create secret %q: %w", sec.Name, err)
	}
	return out, nil
}

// Secret implements store.Secrets.
func (s *Store) Secret(ctx context.Context, teamID uuid.UUID, name string) (core.Secret, error) {
	return scanSecret(s.read.QueryRowContext(ctx, `SELECT `+secretColumns+` FROM secrets WHERE team_id = ? AND name = ?`, teamID, name))
}

// Secrets implements store.Secrets.
func (s *Store) Secrets(ctx context.Context, teamID uuid.UUID) ([]core.Secret, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+secretColumns+` FROM secrets WHERE team_id = ? ORDER BY name`, teamID)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	defer rows.Close()
	var out []core.Secret
	for rows.Next() {
		sec, err := scanSecret(rows)
		if err != nil {
			return nil, fmt.Errorf("list secrets: %w", err)
		}
		out = append(out, sec)
	}
	return out, rows.Err()
}

// RotateSecret implements store.Secrets.
func (s *Store) RotateSecret(ctx context.Context, teamID uuid.UUID, name string, sealed []byte) (core.Secret, error) {
	return scanSecret(s.write.QueryRowContext(ctx, `UPDATE secrets SET sealed = ?, updated_at = ? WHERE team_id = ? AND name = ? RETURNING `+secretColumns,
		sealed, micros(core.Now()), teamID, name))
}

// DeleteSecret implements store.Secrets.
func (s *Store) DeleteSecret(ctx context.Context, teamID uuid.UUID, name string) error {
	res, err := s.write.ExecContext(ctx, `DELETE FROM secrets WHERE team_id = ? AND name = ?`, teamID, name)
	if err != nil {
		return fmt.Errorf("delete secret: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete secret %q: %w", name, core.ErrNotFound)
	}
	return nil
}

// DeleteSecretIfUnused implements store.Secrets.
func (s *Store) DeleteSecretIfUnused(ctx context.Context, teamID uuid.UUID, name string, users func([]core.Pipeline) []string) ([]string, error) {
	var inUse []string
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM secrets WHERE team_id = ? AND name = ?`, teamID, name).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("secret %q: %w", name, core.ErrNotFound)
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE team_id = ? ORDER BY name, id`, teamID)
		if err != nil {
			return fmt.Errorf("list pipelines: %w", err)
		}
		var ps []core.Pipeline
		for rows.Next() {
			p, err := scanPipeline(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("list pipelines: %w", err)
			}
			ps = append(ps, p)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list pipelines: %w", err)
		}
		if inUse = users(ps); len(inUse) > 0 {
			return nil
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM secrets WHERE team_id = ? AND name = ?`, teamID, name)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("delete secret: %w", err)
	}
	return inUse, nil
}
