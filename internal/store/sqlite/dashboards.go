package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

const dashboardColumns = `id, team_id, name, version, doc, created_by, created_at, updated_at`

func scanDashboard(r row) (core.Dashboard, error) {
	var (
		d                core.Dashboard
		doc              string
		createdBy        sql.NullString
		created, updated int64
	)
	err := r.Scan(&d.ID, &d.TeamID, &d.Name, &d.Version, &doc, &createdBy, &created, &updated)
	if err != nil {
		return core.Dashboard{}, mapErr(err)
	}
	d.Doc = []byte(doc)
	if createdBy.Valid {
		id, err := uuid.Parse(createdBy.String)
		if err != nil {
			return core.Dashboard{}, fmt.Errorf("dashboard %s: created_by: %w", d.ID, err)
		}
		d.CreatedBy = &id
	}
	d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated)
	return d, nil
}

// CreateDashboard implements store.Dashboards.
func (s *Store) CreateDashboard(ctx context.Context, teamID uuid.UUID, nd store.NewDashboard) (core.Dashboard, error) {
	now := micros(core.Now())
	var createdBy any
	if nd.CreatedBy != nil {
		createdBy = *nd.CreatedBy
	}
	var d core.Dashboard
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		d, err = scanDashboard(tx.QueryRowContext(ctx, `INSERT INTO dashboards (id, team_id, name, version, doc, created_by, created_at, updated_at)
			VALUES (?, ?, ?, 1, ?, ?, ?, ?) RETURNING `+dashboardColumns,
			core.NewID(), teamID, nd.Name, string(nd.Doc), createdBy, now, now))
		return err
	})
	if err != nil {
		return core.Dashboard{}, fmt.Errorf("create dashboard %q: %w", nd.Name, mapErr(err))
	}
	return d, nil
}

// Dashboard implements store.Dashboards.
func (s *Store) Dashboard(ctx context.Context, teamID, id uuid.UUID) (core.Dashboard, error) {
	return scanDashboard(s.read.QueryRowContext(ctx, `SELECT `+dashboardColumns+` FROM dashboards WHERE team_id = ? AND id = ?`, teamID, id))
}

// Dashboards implements store.Dashboards.
func (s *Store) Dashboards(ctx context.Context, teamID uuid.UUID) ([]core.Dashboard, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+dashboardColumns+` FROM dashboards WHERE team_id = ? ORDER BY name, id`, teamID)
	if err != nil {
		return nil, fmt.Errorf("list dashboards: %w", err)
	}
	defer rows.Close()
	var out []core.Dashboard
	for rows.Next() {
		d, err := scanDashboard(rows)
		if err != nil {
			return nil, fmt.Errorf("list dashboards: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// UpdateDashboard implements store.Dashboards.
func (s *Store) UpdateDashboard(ctx context.Context, teamID, id uuid.UUID, u store.DashboardUpdate) (core.Dashboard, error) {
	var d core.Dashboard
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		d, err = scanDashboard(tx.QueryRowContext(ctx, `UPDATE dashboards SET name = ?, doc = ?, version = version + 1, updated_at = ?
			WHERE team_id = ? AND id = ? AND (? = 0 OR version = ?) RETURNING `+dashboardColumns,
			u.Name, string(u.Doc), micros(core.Now()), teamID, id, u.IfVersion, u.IfVersion))
		if !errors.Is(err, core.ErrNotFound) {
			return err
		}
		var current int
		if err := tx.QueryRowContext(ctx, `SELECT version FROM dashboards WHERE team_id = ? AND id = ?`, teamID, id).Scan(&current); err != nil {
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
	var n int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM dashboards WHERE team_id = ? AND id = ?`, teamID, id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("delete dashboard %s: %w", id, err)
	}
	if n == 0 {
		return core.ErrNotFound
	}
	return nil
}
