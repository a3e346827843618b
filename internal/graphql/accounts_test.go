package graphql_test

import (
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/apptest"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/graphql"
)

// TestTeamAndMemberRules checks the account service's rules through the
// team and member mutations, and their bad input.
func TestTeamAndMemberRules(t *testing.T) {
	s := apptest.Start(t, "sqlite")
	owner, admin := s.NewToken(t, auth.Owner), s.Token
	f := &fixture{s: s}
	wantCode := func(r gqlResponse, code, text string) {
		t.Helper()
		if c := r.code(t); c != code || !strings.Contains(r.Errors[0].Message, text) {
			t.Fatalf("got %s %q, want %s saying %q", c, r.Errors[0].Message, code, text)
		}
	}

	// An API token belongs to one team: it creates none.
	wantCode(post(t, s.URL, owner, `mutation { createTeam(name: "New") { role } }`, nil), graphql.CodeForbidden, "")

	// Only an owner grants the owner role.
	email := f.newUser(t)
	add := `mutation($e: String!, $r: Role!) { addMember(email: $e, role: $r) { role user { id email } } }`
	wantCode(post(t, s.URL, admin, add, map[string]any{"e": email, "r": "owner"}), graphql.CodeForbidden, "")
	m := decode[struct {
		Role string
		User struct{ ID, Email string }
	}](t, post(t, s.URL, owner, add, map[string]any{"e": email, "r": "owner"}), "addMember")
	if m.Role != "owner" || m.User.Email != email {
		t.Fatalf("addMember = %+v", m)
	}
	wantCode(post(t, s.URL, owner, add, map[string]any{"e": email, "r": "viewer"}), graphql.CodeConflict, "")
	wantCode(post(t, s.URL, admin, add, map[string]any{"e": "nobody@example.com", "r": "viewer"}), graphql.CodeNotFound, "")
	wantCode(post(t, s.URL, admin, `mutation($id: ID!) { removeMember(userId: $id) }`, map[string]any{"id": m.User.ID}), graphql.CodeForbidden, "")

	// A team keeps an owner: after the new owner demotes the first, the
	// last one cannot be demoted or removed.
	members := decode[struct {
		Nodes []struct {
			Role string
			User struct{ ID, Email string }
		}
	}](t, post(t, s.URL, admin, `{ members { nodes { role user { id email } } } }`, nil), "members").Nodes
	var first string
	for _, mb := range members {
		if mb.User.Email == s.Email {
			first = mb.User.ID
		}
	}
	set := `mutation($id: ID!, $r: Role!) { setMemberRole(userId: $id, role: $r) { role } }`
	decode[map[string]any](t, post(t, s.URL, owner, set, map[string]any{"id": first, "r": "viewer"}), "setMemberRole")
	wantCode(post(t, s.URL, owner, set, map[string]any{"id": m.User.ID, "r": "viewer"}), graphql.CodeConflict, "owner")
	wantCode(post(t, s.URL, owner, `mutation($id: ID!) { removeMember(userId: $id) }`, map[string]any{"id": m.User.ID}), graphql.CodeConflict, "owner")
	wantCode(post(t, s.URL, owner, set, map[string]any{"id": "not-a-user", "r": "viewer"}), graphql.CodeNotFound, "")

	// Renaming keeps the slug; a blank name is refused.
	team := decode[struct{ Name, Slug string }](t, post(t, s.URL, admin, `mutation { renameTeam(name: "Acme Two") { name slug } }`, nil), "renameTeam")
	if team.Name != "Acme Two" || team.Slug != s.Team.Slug {
		t.Fatalf("renameTeam = %+v, slug was %q", team, s.Team.Slug)
	}
	wantCode(post(t, s.URL, admin, `mutation { renameTeam(name: "  ") { name } }`, nil), graphql.CodeInvalid, "name")
}

// TestDashboards creates, reads, updates and deletes a dashboard, with
// the version check and a bad document.
func TestDashboards(t *testing.T) {
	f := newFixture(t)
	s := f.s
	id := f.newDashboard(t)
	d := decode[struct {
		Name      string
		Version   int
		Pipelines []struct{ ID, Name string }
	}](t, post(t, s.URL, s.Token, `query($id: ID!) { dashboard(id: $id) { name version pipelines { id name } } }`, map[string]any{"id": id}), "dashboard")
	if d.Version != 1 || len(d.Pipelines) != 1 || d.Pipelines[0].ID != f.pipeline.ID || d.Pipelines[0].Name != "with-sink" {
		t.Fatalf("dashboard = %+v", d)
	}
	upd := `mutation($id: ID!, $spec: JSON!, $v: Int) { updateDashboard(id: $id, spec: $spec, ifVersion: $v) { name version } }`
	u := decode[struct {
		Name    string
		Version int
	}](t, post(t, s.URL, s.Token, upd, map[string]any{"id": id, "spec": f.dashboardSpec("ops"), "v": 1}), "updateDashboard")
	if u.Name != "ops" || u.Version != 2 {
		t.Fatalf("updateDashboard = %+v", u)
	}
	if c := post(t, s.URL, s.Token, upd, map[string]any{"id": id, "spec": f.dashboardSpec("ops"), "v": 1}).code(t); c != graphql.CodeVersionConflict {
		t.Fatalf("stale ifVersion: %s", c)
	}
	bad := post(t, s.URL, s.Token, `mutation($spec: JSON!) { createDashboard(spec: $spec) { id } }`,
		map[string]any{"spec": map[string]any{"name": "x", "widgets": []any{map[string]any{"kind": "line", "series": []any{map[string]any{"pipeline": f.pipeline.ID, "field": "v", "bucket": "500ms"}}}}}})
	if bad.code(t) != graphql.CodeInvalid || len(bad.Errors[0].Extensions.Problems) == 0 || bad.Errors[0].Extensions.Problems[0].Path != "widgets[0].series[0].bucket" {
		t.Fatalf("bad bucket: %+v", bad.Errors)
	}
	list := decode[struct{ Nodes []struct{ ID string } }](t, post(t, s.URL, s.Token, `{ dashboards { nodes { id } } }`, nil), "dashboards").Nodes
	if len(list) != 1 || list[0].ID != id {
		t.Fatalf("dashboards = %+v", list)
	}
	if !decode[bool](t, post(t, s.URL, s.Token, `mutation($id: ID!) { deleteDashboard(id: $id) }`, map[string]any{"id": id}), "deleteDashboard") {
		t.Fatal("deleteDashboard = false")
	}
	if c := post(t, s.URL, s.Token, `query($id: ID!) { dashboard(id: $id) { id } }`, map[string]any{"id": id}).code(t); c != graphql.CodeNotFound {
		t.Fatalf("deleted dashboard: %s", c)
	}
}
