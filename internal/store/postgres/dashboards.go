package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

const dashboardColumns = `id, team_id, name, version, doc, created_by, created_at, updated_at`

func scanDashboard(row pgx.Row) (core.Dashboard, error) {
	var d core.Dashboard
	err := row.Scan(&d.ID, &d.TeamID, &d.Name, &d.Version, &d.Doc, &d.CreatedBy, &d.CreatedAt, &d.UpdatedAt)
	if err != nil {
		return core.Dashboard{}, mapErr(err)
	}
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return d, nil
}

// CreateDashboard implements store.Dashboards.
func (s *Store) CreateDashboard(ctx context.Context, teamID uuid.UUID, nd store.NewDashboard) (core.Dashboard, error) {
	now := core.Now()
	d, err := scanDashboard(s.pool.QueryRow(ctx, `INSERT INTO dashboards (id, team_id, name, version, doc, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, 1, $4, $5, $6, $6) RETURNING `+dashboardColumns,
		core.NewID(), teamID, nd.Name, nd.Doc, nd.CreatedBy, now))
	if err != nil {
		return core.Dashboard{}, fmt.Errorf("create dashboard %q: %w", nd.Name, err)
	}
	return d, nil
}

// Dashboard implements store.Dashboards.
func (s *Store) Dashboard(ctx context.Context, teamID, id uuid.UUID) (core.Dashboard, error) {
	return scanDashboard(s.pool.QueryRow(ctx, `SELECT `+dashboardColumns+` FROM dashboards WHERE team_id = $1 AND id = $2`, teamID, id))
}

// Dashboards implements store.Dashboards.
func (s *Store) Dashboards(ctx context.Context, teamID uuid.UUID) ([]core.Dashboard, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+dashboardColumns+` FROM dashboards WHERE team_id = $1 ORDER BY name, id`, teamID)
	if err != nil {
		return nil, fmt.Errorf("list dashboards: %w", err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (core.Dashboard, error) { return scanDashboard(r) })
	if err != nil {
		return nil, fmt.Errorf("list dashboards: %w", err)
	}
	return ds, nil
}

// UpdateDashboard implements store.Dashboards.
func (s *Store) UpdateDashboard(ctx context.Context, teamID, id uuid.UUID, u store.DashboardUpdate) (core.Dashboard, error) {
	var d core.Dashboard
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		d, err = scanDashboard(tx.QueryRow(ctx, `UPDATE dashboards SET name = $3, doc = $4, version = version + 1, updated_at = $5
			WHERE team_id = $1 AND id = $2 AND ($6 = 0 OR version = $6) RETURNING `+dashboardColumns,
			teamID, id, u.Name, u.Doc, core.Now(), u.IfVersion))
		if !errors.Is(err, core.ErrNotFound) {
			return err
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT version FROM dashboards WHERE team_id = $1 AND id = $2`, teamID, id).Scan(&current); err != nil {
			return mapErr(err)
		}
		return fmt.Errorf("%w: it is at version %d, not %d", store.ErrStaleDashboard, current, u.IfVersion)
	})
	if err != nil {
		return core.Dashboard{}, fmt.Errorf("update dashboard %s: %w", id, mapErr(err))
	}
	return d, nil
}

// DeleteDashboard implements store.Dashboards.
func (s *Store) DeleteDashboard(ctx context.Context, teamID, id uuid.UUID) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM dashboards WHERE team_id = $1 AND id = $2`, teamID, id)
	if err != nil {
		return fmt.Errorf("delete dashboard %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return core.ErrNotFound
	}
	return nil
}
