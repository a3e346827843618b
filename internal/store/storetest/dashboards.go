package storetest

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

func init() {
	extra["Dashboards"] = testDashboards
	extra["DashboardIsolation"] = testDashboardIsolation
}

func dashboardDoc(name string) json.RawMessage {
	return json.RawMessage(`{"name":"` + name + `","kind":"dashboard","range":"1h","widgets":[]}`)
}

func testDashboards(t *testing.T, s store.Store) {
	c := ctx(t)
	team, owner := newTeam(t, s)
	d := must[core.Dashboard](t)(s.CreateDashboard(c, team.ID, store.NewDashboard{Name: "ops", Doc: dashboardDoc("ops"), CreatedBy: &owner.ID}))
	if d.TeamID != team.ID || d.Name != "ops" || d.Version != 1 || d.CreatedBy == nil || *d.CreatedBy != owner.ID ||
		d.CreatedAt.IsZero() || !d.UpdatedAt.Equal(d.CreatedAt) {
		t.Fatalf("created dashboard = %+v", d)
	}
	sameJSON(t, d.Doc, dashboardDoc("ops"))
	got := must[core.Dashboard](t)(s.Dashboard(c, team.ID, d.ID))
	if got.ID != d.ID || got.Version != 1 || !got.CreatedAt.Equal(d.CreatedAt) || *got.CreatedBy != owner.ID {
		t.Fatalf("Dashboard = %+v, want %+v", got, d)
	}
	sameJSON(t, got.Doc, d.Doc)

	// A name is unique in the team.
	if _, err := s.CreateDashboard(c, team.ID, store.NewDashboard{Name: "ops", Doc: dashboardDoc("ops")}); !errors.Is(err, core.ErrConflict) {
		t.Fatalf("duplicate name: err = %v, want ErrConflict", err)
	}
	other := must[core.Dashboard](t)(s.CreateDashboard(c, team.ID, store.NewDashboard{Name: "a-first", Doc: dashboardDoc("a-first")}))
	if other.CreatedBy != nil {
		t.Fatalf("created without a user: created_by = %v", other.CreatedBy)
	}
	list := must[[]core.Dashboard](t)(s.Dashboards(c, team.ID))
	if len(list) != 2 || list[0].Name != "a-first" || list[1].Name != "ops" {
		t.Fatalf("Dashboards = %+v, want a-first, ops", list)
	}

	// Updates grow the version; a stale version and a taken name are
	// conflicts, told apart by ErrStaleDashboard.
	up := must[core.Dashboard](t)(s.UpdateDashboard(c, team.ID, d.ID, store.DashboardUpdate{Name: "ops2", Doc: dashboardDoc("ops2"), IfVersion: 1}))
	if up.Version != 2 || up.Name != "ops2" || up.UpdatedAt.Before(up.CreatedAt) || !up.CreatedAt.Equal(d.CreatedAt) {
		t.Fatalf("updated = %+v", up)
	}
	sameJSON(t, up.Doc, dashboardDoc("ops2"))
	_, err := s.UpdateDashboard(c, team.ID, d.ID, store.DashboardUpdate{Name: "ops3", Doc: dashboardDoc("ops3"), IfVersion: 1})
	if !errors.Is(err, store.ErrStaleDashboard) || !errors.Is(err, core.ErrConflict) {
		t.Fatalf("stale version: err = %v, want ErrStaleDashboard", err)
	}
	_, err = s.UpdateDashboard(c, team.ID, d.ID, store.DashboardUpdate{Name: "a-first", Doc: dashboardDoc("a-first")})
	if !errors.Is(err, core.ErrConflict) || errors.Is(err, store.ErrStaleDashboard) {
		t.Fatalf("taken name: err = %v, want ErrConflict that is not stale", err)
	}
	if up := must[core.Dashboard](t)(s.UpdateDashboard(c, team.ID, d.ID, store.DashboardUpdate{Name: "ops2", Doc: dashboardDoc("ops2")})); up.Version != 3 {
		t.Fatalf("unconditional update: version %d, want 3", up.Version)
	}

	must[struct{}](t)(struct{}{}, s.DeleteDashboard(c, team.ID, d.ID))
	if _, err := s.Dashboard(c, team.ID, d.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("deleted dashboard: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteDashboard(c, team.ID, d.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("delete twice: err = %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateDashboard(c, team.ID, d.ID, store.DashboardUpdate{Name: "x", Doc: dashboardDoc("x")}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("update deleted: err = %v, want ErrNotFound", err)
	}
}

// testDashboardIsolation: another team's dashboard is reported exactly
// like a missing one, and its names do not clash.
func testDashboardIsolation(t *testing.T, s store.Store) {
	c := ctx(t)
	a, _ := newTeam(t, s)
	b, _ := newTeam(t, s)
	d := must[core.Dashboard](t)(s.CreateDashboard(c, a.ID, store.NewDashboard{Name: "ops", Doc: dashboardDoc("ops")}))
	must[core.Dashboard](t)(s.CreateDashboard(c, b.ID, store.NewDashboard{Name: "ops", Doc: dashboardDoc("ops")}))
	if _, err := s.Dashboard(c, b.ID, d.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("read another team's: err = %v", err)
	}
	if _, err := s.UpdateDashboard(c, b.ID, d.ID, store.DashboardUpdate{Name: "x", Doc: dashboardDoc("x"), IfVersion: 1}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("update another team's: err = %v", err)
	}
	if err := s.DeleteDashboard(c, b.ID, d.ID); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("delete another team's: err = %v", err)
	}
	list := must[[]core.Dashboard](t)(s.Dashboards(c, b.ID))
	if len(list) != 1 || list[0].ID == d.ID {
		t.Fatalf("team b lists %+v", list)
	}
	if got := must[core.Dashboard](t)(s.Dashboard(c, a.ID, d.ID)); got.Version != 1 || got.Name != "ops" {
		t.Fatalf("team a's dashboard changed: %+v", got)
	}
}
