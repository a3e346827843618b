package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
)

// NewDashboard is what CreateDashboard needs. The caller has validated
// Doc.
type NewDashboard struct {
	Name      string
	Doc       json.RawMessage
	CreatedBy *uuid.UUID
}

// DashboardUpdate replaces a dashboard's document; the version grows by
// one.
type DashboardUpdate struct {
	Name string
	Doc  json.RawMessage
	// IfVersion, when not 0, makes the update fail with core.ErrConflict
	// unless the dashboard is still at that version.
	IfVersion int
}

// Dashboards stores the teams' dashboards.
type Dashboards interface {
	// CreateDashboard adds a dashboard at version 1. A name already used
	// in the team gives core.ErrConflict.
	CreateDashboard(ctx context.Context, teamID uuid.UUID, d NewDashboard) (core.Dashboard, error)
	// Dashboard returns a dashboard of the team; core.ErrNotFound for
	// another team's.
	Dashboard(ctx context.Context, teamID, id uuid.UUID) (core.Dashboard, error)
	// Dashboards lists a team's dashboards by name.
	Dashboards(ctx context.Context, teamID uuid.UUID) ([]core.Dashboard, error)
	// UpdateDashboard replaces a dashboard's name and document. A name
	// used by another dashboard of the team, or a version other than
	// IfVersion, gives core.ErrConflict (errors.Is(err,
	// ErrStaleDashboard) tells the latter).
	UpdateDashboard(ctx context.Context, teamID, id uuid.UUID, u DashboardUpdate) (core.Dashboard, error)
	// DeleteDashboard removes a dashboard; core.ErrNotFound when the team
	// has no such dashboard.
	DeleteDashboard(ctx context.Context, teamID, id uuid.UUID) error
}

// ErrStaleDashboard is returned (wrapped) by UpdateDashboard when the
// dashboard is no longer at DashboardUpdate.IfVersion. It matches
// core.ErrConflict.
var ErrStaleDashboard = fmt.Errorf("%w: the dashboard changed since it was read", core.ErrConflict)
