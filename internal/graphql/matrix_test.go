package graphql_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/apptest"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/graphql"
)

// fixture is a server with team A (tokens by role, a webhook pipeline
// with a sink, a secret) and team B (an admin token).
type fixture struct {
	s                      *apptest.Server
	tokens                 map[string]string // viewer, editor, admin of A; "other": admin of B
	pipeline, hookPipeline pipeline
	n                      atomic.Int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := apptest.Start(t, "sqlite")
	f := &fixture{s: s, tokens: map[string]string{
		"viewer": s.NewToken(t, auth.Viewer), "editor": s.NewToken(t, auth.Editor), "admin": s.NewToken(t, auth.Admin),
	}}
	_, teamB, err := s.Accounts.CreateUser(t.Context(), "bob@example.com", apptest.Password, "Bobco", "")
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := s.Accounts.IssueToken(t.Context(), teamB.ID, "bob", auth.Admin, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.tokens["other"] = other
	create := `mutation($spec: JSON!) { createPipeline(spec: $spec) { id name hookToken } }`
	f.pipeline = decode[pipeline](t, post(t, s.URL, s.Token, create, map[string]any{"spec": map[string]any{
		"name": "with-sink", "kind": "webhook", "sinks": []any{map[string]any{"name": "hook", "http": map[string]any{"url": "https://93.184.215.14/hook"}}},
	}}), "createPipeline")
	f.hookPipeline = decode[pipeline](t, post(t, s.URL, s.Token, create, map[string]any{"spec": map[string]any{"name": "hook", "kind": "webhook"}}), "createPipeline")
	decode[map[string]any](t, post(t, s.URL, s.Token, `mutation { createSecret(name: "api-key", value: "s3cret") { name } }`, nil), "createSecret")
	return f
}

// unique returns a fresh name.
func (f *fixture) unique(prefix string) string { return fmt.Sprintf("%s-%d", prefix, f.n.Add(1)) }

// field is one row of the matrix: an operation, the lowest role of team A
// that may run it, and the variables of one call (made fresh per call).
type field struct {
	name  string
	query string
	min   auth.Role
	// vars returns the variables of a call; team is A's id.
	vars func(t *testing.T, f *fixture, team string) map[string]any
	// self: the field is about the caller, not team A (me, teams): the
	// other team's call succeeds and shows nothing of A.
	self bool
	// allow is a code an allowed call may end with for reasons of the
	// object's state (running a webhook pipeline).
	allow string
}

// listChildren selects every field of a pipeline of the pipelines list
// (TestMatrixCoversSchema checks that none is missing).
const listChildren = `id name kind status version spec createdAt updatedAt hookToken hookTokenPrefix stats { recordCount lastRunAt }
	runs(first: 5) { edges { cursor node { id stored } } pageInfo { hasNextPage endCursor } }
	sinks { name kind status delivered downstream { id runs(first: 1) { edges { cursor } } } }
	records(from: "2020-01-01T00:00:00Z", first: 10) { edges { cursor node { id ts data } } pageInfo { hasNextPage } }
	rejectedRecords(first: 10) { edges { node { id reason } } }
	deliveries(sink: "hook", first: 10) { edges { node { id status } } }
	replays(sink: "hook") { id status }
	uploads(first: 5) { id status }
	storage { records storedBytes }
	schedule { interval nextDue }
	series(field: "v", bucket: "1h") { bucket points { t count } }`

func pipelineVars(t *testing.T, f *fixture, team string) map[string]any {
	return map[string]any{"id": f.pipeline.ID, "team": team}
}

func matrixFields() []field {
	pq := func(name, sel string) field {
		return field{name: "Pipeline." + name, query: `query($id: ID!, $team: ID) { pipeline(id: $id, team: $team) { id ` + sel + ` } }`,
			min: auth.Viewer, vars: pipelineVars}
	}
	return append([]field{
		{name: "me", query: `{ me { user { id } token { id name role } teams { role team { id name } } } }`, min: auth.Viewer, self: true},
		{name: "teams", query: `{ teams { role team { id slug } } }`, min: auth.Viewer, self: true},
		{name: "pipelines", query: `query($team: ID) { pipelines(team: $team, first: 10) { totalCount
			pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { id name } } nodes { id } } }`, min: auth.Viewer,
			vars: func(t *testing.T, f *fixture, team string) map[string]any { return map[string]any{"team": team} }},
		// Every child of a pipeline through the list, where the loaders
		// fetch them for the page at once.
		{name: "pipelines.children", query: `query($team: ID) { pipelines(team: $team) { nodes { ` + listChildren + ` } } }`, min: auth.Viewer,
			vars: func(t *testing.T, f *fixture, team string) map[string]any { return map[string]any{"team": team} }},
		pq("fields", fields),
		pq("hookToken", "hookToken"),
		pq("runs", "runs(first: 5) { edges { cursor node { id stored } } pageInfo { hasNextPage endCursor } }"),
		pq("sinks", "sinks { name kind status settings delivered downstream { id } }"),
		pq("records", `records(from: "2020-01-01T00:00:00Z", first: 10) { edges { cursor node { id ts data } } pageInfo { hasNextPage } }`),
		pq("rejectedRecords", "rejectedRecords(first: 10) { edges { node { id reason raw } } pageInfo { hasNextPage } }"),
		pq("deliveries", `deliveries(sink: "hook", first: 10) { edges { node { id status } } pageInfo { hasNextPage } }`),
		pq("replays", `replays(sink: "hook") { id status }`),
		pq("uploads", "uploads(first: 5) { id status }"),
		pq("storage", "storage { records storedBytes diskBytes }"),
		pq("schedule", "schedule { interval nextDue running }"),
		pq("series", `series(field: "v", bucket: "1h") { bucket source points { t count avg } }`),
		{name: "secrets", query: `query($team: ID) { secrets(team: $team, first: 5) { totalCount nodes { name createdAt rotatedAt } edges { cursor } pageInfo { hasNextPage endCursor } } }`, min: auth.Viewer,
			vars: func(t *testing.T, f *fixture, team string) map[string]any { return map[string]any{"team": team} }},
		{name: "members", query: `query($team: ID) { members(team: $team) { totalCount nodes { role user { email } } edges { cursor } pageInfo { hasNextPage } } }`, min: auth.Viewer,
			vars: func(t *testing.T, f *fixture, team string) map[string]any { return map[string]any{"team": team} }},
		{name: "tokens", query: `query($team: ID) { tokens(team: $team) { totalCount nodes { id name role hint } edges { cursor } pageInfo { hasNextPage } } }`, min: auth.Admin,
			vars: func(t *testing.T, f *fixture, team string) map[string]any { return map[string]any{"team": team} }},

		{name: "createPipeline", query: `mutation($spec: JSON!, $team: ID) { createPipeline(spec: $spec, team: $team) { id } }`, min: auth.Editor,
			vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"team": team, "spec": map[string]any{"name": f.unique("new"), "kind": "webhook"}}
			}},
		{name: "updatePipeline", query: `mutation($id: ID!, $spec: JSON!, $team: ID) { updatePipeline(id: $id, spec: $spec, team: $team) { id version } }`,
			min: auth.Editor, vars: func(t *testing.T, f *fixture, team string) map[string]any {
				p := f.newPipeline(t)
				return map[string]any{"id": p.ID, "team": team, "spec": map[string]any{"name": p.Name, "kind": "webhook", "persist": false}}
			}},
		{name: "pausePipeline", query: `mutation($id: ID!, $team: ID) { pausePipeline(id: $id, team: $team) { status } }`, min: auth.Editor, vars: pipelineVars},
		{name: "resumePipeline", query: `mutation($id: ID!, $team: ID) { resumePipeline(id: $id, team: $team) { status } }`, min: auth.Editor, vars: pipelineVars},
		{name: "deletePipeline", query: `mutation($id: ID!, $team: ID) { deletePipeline(id: $id, team: $team) }`, min: auth.Editor,
			vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"id": f.newPipeline(t).ID, "team": team}
			}},
		{name: "runPipeline", query: `mutation($id: ID!, $team: ID) { runPipeline(id: $id, team: $team) { due } }`, min: auth.Editor,
			vars: pipelineVars, allow: "*"},
		{name: "previewPipeline", query: `mutation($team: ID) { previewPipeline(team: $team, input: {spec: {name: "p", kind: "webhook"}, input: [{v: 1}]}) { fetched accepted records { index data } } }`,
			min: auth.Editor, vars: func(t *testing.T, f *fixture, team string) map[string]any { return map[string]any{"team": team} }},
		{name: "createSink", query: `mutation($id: ID!, $sink: JSON!, $team: ID) { createSink(pipelineId: $id, sink: $sink, team: $team) { name status } }`,
			min: auth.Editor, vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"id": f.pipeline.ID, "team": team, "sink": map[string]any{"name": f.unique("s"), "http": map[string]any{"url": "https://93.184.215.14/x"}}}
			}},
		{name: "updateSink", query: `mutation($id: ID!, $sink: JSON!, $team: ID) { updateSink(pipelineId: $id, name: "hook", sink: $sink, team: $team) { name } }`,
			min: auth.Editor, vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"id": f.pipeline.ID, "team": team, "sink": map[string]any{"name": "hook", "http": map[string]any{"url": "https://93.184.215.14/" + f.unique("u")}}}
			}},
		{name: "deleteSink", query: `mutation($id: ID!, $name: String!, $team: ID) { deleteSink(pipelineId: $id, name: $name, team: $team) }`,
			min: auth.Editor, vars: func(t *testing.T, f *fixture, team string) map[string]any {
				name := f.unique("gone")
				decode[map[string]any](t, post(t, f.s.URL, f.s.Token, `mutation($id: ID!, $sink: JSON!) { createSink(pipelineId: $id, sink: $sink) { name } }`,
					map[string]any{"id": f.pipeline.ID, "sink": map[string]any{"name": name, "http": map[string]any{"url": "https://93.184.215.14/x"}}}), "createSink")
				return map[string]any{"id": f.pipeline.ID, "team": team, "name": name}
			}},
		{name: "retryDelivery", query: `mutation($id: ID!, $team: ID) { retryDelivery(pipelineId: $id, sink: "hook", id: "` + uuid.NewString() + `", team: $team) { id } }`,
			min: auth.Editor, vars: pipelineVars, allow: graphql.CodeNotFound},
		{name: "replaySink", query: `mutation($id: ID!, $team: ID) { replaySink(pipelineId: $id, sink: "hook", from: "2020-01-01T00:00:00Z", to: "2020-01-02T00:00:00Z", team: $team) { id status } }`,
			min: auth.Editor, vars: pipelineVars},
		{name: "createSecret", query: `mutation($name: String!, $team: ID) { createSecret(name: $name, value: "v", team: $team) { name } }`, min: auth.Editor,
			vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"name": f.unique("k"), "team": team}
			}},
		{name: "rotateSecret", query: `mutation($team: ID) { rotateSecret(name: "api-key", value: "new", team: $team) { name rotatedAt } }`, min: auth.Editor,
			vars: func(t *testing.T, f *fixture, team string) map[string]any { return map[string]any{"team": team} }},
		{name: "deleteSecret", query: `mutation($name: String!, $team: ID) { deleteSecret(name: $name, team: $team) }`, min: auth.Admin,
			vars: func(t *testing.T, f *fixture, team string) map[string]any {
				name := f.unique("del")
				decode[map[string]any](t, post(t, f.s.URL, f.s.Token, `mutation($n: String!) { createSecret(name: $n, value: "v") { name } }`, map[string]any{"n": name}), "createSecret")
				return map[string]any{"name": name, "team": team}
			}},
		{name: "createToken", query: `mutation($name: String!, $team: ID) { createToken(name: $name, role: viewer, team: $team) { secret token { id hint } } }`,
			min: auth.Admin, vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"name": f.unique("t"), "team": team}
			}},
		{name: "revokeToken", query: `mutation($id: ID!, $team: ID) { revokeToken(id: $id, team: $team) }`, min: auth.Admin,
			vars: func(t *testing.T, f *fixture, team string) map[string]any {
				tok, _, err := f.s.Accounts.IssueToken(t.Context(), f.s.Team.ID, f.unique("r"), auth.Viewer, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				return map[string]any{"id": tok.ID.String(), "team": team}
			}},

		// Teams and members (accounts.graphqls).
		{name: "renameTeam", query: `mutation($name: String!, $team: ID) { renameTeam(name: $name, team: $team) { id name slug } }`, min: auth.Admin,
			vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"name": f.unique("Acme"), "team": team}
			}},
		{name: "addMember", query: `mutation($email: String!, $team: ID) { addMember(email: $email, role: viewer, team: $team) { role user { email } } }`,
			min: auth.Admin, vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"email": f.newUser(t), "team": team}
			}},
		{name: "setMemberRole", query: `mutation($id: ID!, $team: ID) { setMemberRole(userId: $id, role: editor, team: $team) { role user { id } } }`,
			min: auth.Admin, vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"id": f.newMember(t), "team": team}
			}},
		{name: "removeMember", query: `mutation($id: ID!, $team: ID) { removeMember(userId: $id, team: $team) }`,
			min: auth.Admin, vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"id": f.newMember(t), "team": team}
			}},

		// Dashboards (dashboards.graphqls).
		{name: "dashboards", query: `query($team: ID) { dashboards(team: $team) { totalCount nodes { id name version spec pipelines { id name } missing { path } } edges { cursor } } }`,
			min: auth.Viewer, vars: func(t *testing.T, f *fixture, team string) map[string]any {
				f.newDashboard(t)
				return map[string]any{"team": team}
			}},
		{name: "dashboard", query: `query($id: ID!, $team: ID) { dashboard(id: $id, team: $team) { id name version spec createdAt } }`,
			min: auth.Viewer, vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"id": f.newDashboard(t), "team": team}
			}},
		{name: "createDashboard", query: `mutation($spec: JSON!, $team: ID) { createDashboard(spec: $spec, team: $team) { id version pipelines { name } } }`,
			min: auth.Editor, vars: func(t *testing.T, f *fixture, team string) map[string]any {
				// No widgets: team B may create it in its own team, where
				// team A's pipelines do not exist.
				return map[string]any{"team": team, "spec": map[string]any{"name": f.unique("d"), "widgets": []any{}}}
			}},
		{name: "updateDashboard", query: `mutation($id: ID!, $spec: JSON!, $team: ID) { updateDashboard(id: $id, spec: $spec, ifVersion: 1, team: $team) { id version } }`,
			min: auth.Editor, vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"id": f.newDashboard(t), "team": team, "spec": f.dashboardSpec(f.unique("renamed"))}
			}},
		{name: "deleteDashboard", query: `mutation($id: ID!, $team: ID) { deleteDashboard(id: $id, team: $team) }`,
			min: auth.Editor, vars: func(t *testing.T, f *fixture, team string) map[string]any {
				return map[string]any{"id": f.newDashboard(t), "team": team}
			}},
	}, alertMatrixFields()...)
}

// newUser creates a user (with a team of their own) and returns the email.
func (f *fixture) newUser(t *testing.T) string {
	t.Helper()
	email := f.unique("user") + "@example.com"
	if _, _, err := f.s.Accounts.CreateUser(t.Context(), email, apptest.Password, f.unique("Solo"), ""); err != nil {
		t.Fatal(err)
	}
	return email
}

// newMember adds a new user to team A as a viewer and returns their id.
func (f *fixture) newMember(t *testing.T) string {
	t.Helper()
	m := decode[struct {
		User struct{ ID string } `json:"user"`
	}](t, post(t, f.s.URL, f.s.Token, `mutation($email: String!) { addMember(email: $email, role: viewer) { user { id } } }`,
		map[string]any{"email": f.newUser(t)}), "addMember")
	return m.User.ID
}

// dashboardSpec is a dashboard charting the fixture's pipeline.
func (f *fixture) dashboardSpec(name string) map[string]any {
	return map[string]any{"name": name, "range": "1h", "widgets": []any{map[string]any{"kind": "line", "title": "v",
		"series": []any{map[string]any{"pipeline": f.pipeline.ID, "field": "v"}}}}}
}

// newDashboard creates a dashboard in team A and returns its id.
func (f *fixture) newDashboard(t *testing.T) string {
	t.Helper()
	return decode[struct{ ID string }](t, post(t, f.s.URL, f.s.Token, `mutation($spec: JSON!) { createDashboard(spec: $spec) { id } }`,
		map[string]any{"spec": f.dashboardSpec(f.unique("dash"))}), "createDashboard").ID
}

func (f *fixture) newPipeline(t *testing.T) pipeline {
	t.Helper()
	return decode[pipeline](t, post(t, f.s.URL, f.s.Token, `mutation($spec: JSON!) { createPipeline(spec: $spec) { id name } }`,
		map[string]any{"spec": map[string]any{"name": f.unique("p"), "kind": "webhook"}}), "createPipeline")
}

// matrixSubscriptions are the subscriptions of TestMatrix: the first
// event each sends.
var matrixSubscriptions = []struct{ name, query, field, first string }{
	{"records", `subscription($id: ID!) { records(pipelineId: $id) { kind pipelineId count records lagged } }`, "records", "RECENT"},
	{"pipelineStatus", `subscription($id: ID!) { pipelineStatus(pipelineId: $id) { kind status version } }`, "pipelineStatus", "STATUS"},
}

// TestMatrix runs every field and subscription as a viewer, an editor and
// an admin of team A and as an admin of team B naming team A's objects.
func TestMatrix(t *testing.T) {
	f := newFixture(t)
	teamA := f.s.Team.ID.String()
	for _, fd := range matrixFields() {
		t.Run(fd.name, func(t *testing.T) {
			vars := func(team string) map[string]any {
				if fd.vars == nil {
					return nil
				}
				return fd.vars(t, f, team)
			}
			for _, role := range []auth.Role{auth.Viewer, auth.Editor, auth.Admin} {
				r := post(t, f.s.URL, f.tokens[string(role)], fd.query, vars(teamA))
				switch {
				case !role.AtLeast(fd.min):
					if c := r.code(t); c != graphql.CodeForbidden {
						t.Fatalf("%s: code %q, want FORBIDDEN (%+v)", role, c, r.Errors)
					}
				case len(r.Errors) > 0 && (fd.allow == "*" && r.Errors[0].Extensions.Code != graphql.CodeForbidden && r.Errors[0].Extensions.Code != graphql.CodeNotFound ||
					r.Errors[0].Extensions.Code == fd.allow):
				case len(r.Errors) > 0:
					t.Fatalf("%s: errors %+v", role, r.Errors)
				}
			}
			// Team B naming team A, and team B naming team A's objects in
			// its own team.
			for _, team := range []string{teamA, ""} {
				v := vars(teamA)
				if team == "" && v != nil {
					v["team"] = nil
				}
				r := post(t, f.s.URL, f.tokens["other"], fd.query, v)
				if fd.self {
					if len(r.Errors) > 0 {
						t.Fatalf("other team: %+v", r.Errors)
					}
					for _, d := range r.Data {
						if strings.Contains(string(d), teamA) {
							t.Fatalf("other team sees team A: %s", d)
						}
					}
					continue
				}
				if team == "" {
					if _, ok := v["id"]; !ok {
						// A list of team B's own: nothing of team A in it.
						if len(r.Errors) > 0 && r.Errors[0].Extensions.Code != graphql.CodeNotFound {
							t.Fatalf("other team, own team: %+v", r.Errors)
						}
						for _, d := range r.Data {
							if strings.Contains(string(d), f.pipeline.ID) || strings.Contains(string(d), "api-key") {
								t.Fatalf("other team sees team A's objects: %s", d)
							}
						}
						continue
					}
				}
				if c := r.code(t); c != graphql.CodeNotFound {
					t.Fatalf("other team (team %q): code %q, want NOT_FOUND (%+v)", team, c, r.Errors)
				}
				if team == "" && fd.allow == "" {
					// ... exactly as a missing object.
					v["id"] = uuid.NewString()
					m := post(t, f.s.URL, f.tokens["other"], fd.query, v)
					if m.code(t) != graphql.CodeNotFound || m.Errors[0].Message != r.Errors[0].Message {
						t.Fatalf("another team's object is told apart from a missing one: %+v vs %+v", r.Errors, m.Errors)
					}
				}
			}
		})
	}

	// Subscriptions × roles × teams.
	for _, sub := range matrixSubscriptions {
		t.Run("Subscription."+sub.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			for _, who := range []string{"viewer", "editor", "admin", "other"} {
				ws, err := dialWS(ctx, f.s.URL, nil, map[string]any{"token": f.tokens[who]})
				if err != nil {
					t.Fatalf("%s: %v", who, err)
				}
				if err := ws.subscribe(ctx, "1", sub.query, map[string]any{"id": f.hookPipeline.ID}); err != nil {
					t.Fatal(err)
				}
				if who == "other" {
					e := ws.subscriptionError(t, ctx, "1")
					if e.Extensions.Code != graphql.CodeNotFound {
						t.Fatalf("other team subscribes: %+v", e)
					}
					// A missing pipeline reads the same.
					if err := ws.subscribe(ctx, "2", sub.query, map[string]any{"id": uuid.NewString()}); err != nil {
						t.Fatal(err)
					}
					if m := ws.subscriptionError(t, ctx, "2"); m.Message != e.Message {
						t.Fatalf("another team's pipeline is told apart from a missing one: %q vs %q", e.Message, m.Message)
					}
				} else if d := ws.nextData(t, ctx, "1", sub.field); d["kind"] != sub.first {
					t.Fatalf("%s: first event %+v", who, d)
				}
				ws.close()
			}
		})
	}
}

// TestSubscriptionReceivesWebhookBatch posts to a webhook and waits for
// the batch on both subscriptions; it logs the latency (no assertion on
// time).
func TestSubscriptionReceivesWebhookBatch(t *testing.T) {
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := apptest.Start(t, backend)
			// The raw token is shown once, in the answer to createPipeline.
			type created struct {
				ID        string `json:"id"`
				HookToken string `json:"hookToken"`
			}
			p := decode[created](t, post(t, s.URL, s.Token, `mutation { createPipeline(spec: {name: "live", kind: "webhook"}) { id hookToken } }`, nil), "createPipeline")
			hook := p
			if hook.HookToken == "" {
				t.Fatalf("createPipeline answered no hook token: %+v", p)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			ws, err := dialWS(ctx, s.URL, nil, map[string]any{"token": s.NewToken(t, auth.Viewer)})
			if err != nil {
				t.Fatal(err)
			}
			defer ws.close()
			if err := ws.subscribe(ctx, "r", `subscription($id: ID!) { records(pipelineId: $id) { kind count rejected version records } }`, map[string]any{"id": p.ID}); err != nil {
				t.Fatal(err)
			}
			if err := ws.subscribe(ctx, "s", `subscription($id: ID!) { pipelineStatus(pipelineId: $id) { kind status stored rejected } }`, map[string]any{"id": p.ID}); err != nil {
				t.Fatal(err)
			}
			if d := ws.nextData(t, ctx, "r", "records"); d["kind"] != "RECENT" {
				t.Fatalf("first records event %+v", d)
			}
			if d := ws.nextData(t, ctx, "s", "pipelineStatus"); d["kind"] != "STATUS" || d["status"] != "active" {
				t.Fatalf("first status event %+v", d)
			}
			start := time.Now()
			resp, err := http.Post(s.URL+"/hooks/"+hook.HookToken, "application/json", strings.NewReader(`[{"v": 1}, {"v": 2}]`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Fatalf("webhook: %d", resp.StatusCode)
			}
			d := ws.nextData(t, ctx, "r", "records")
			latency := time.Since(start)
			recs, _ := d["records"].([]any)
			if d["kind"] != "RECORDS" || d["count"] != 2.0 || len(recs) != 2 {
				t.Fatalf("batch event %+v", d)
			}
			t.Logf("%s: webhook POST to records event: %v", backend, latency)
			if d := ws.nextData(t, ctx, "s", "pipelineStatus"); d["kind"] != "BATCH" || d["stored"] != 2.0 {
				t.Fatalf("status batch event %+v", d)
			}
			// A status change, then the end after deletion.
			post(t, s.URL, s.Token, `mutation($id: ID!) { pausePipeline(id: $id) { id } }`, map[string]any{"id": p.ID})
			if d := ws.nextData(t, ctx, "s", "pipelineStatus"); d["kind"] != "PAUSED" || d["status"] != "paused" {
				t.Fatalf("status pause event %+v", d)
			}
			post(t, s.URL, s.Token, `mutation($id: ID!) { deletePipeline(id: $id) }`, map[string]any{"id": p.ID})
			if d := ws.nextData(t, ctx, "s", "pipelineStatus"); d["kind"] != "DELETED" {
				t.Fatalf("status delete event %+v", d)
			}
			if m, err := ws.next(ctx, "s"); err != nil || m.Type != "complete" {
				t.Fatalf("after deletion: %+v %v", m, err)
			}
		})
	}
}

// TestSubscriptionKeepsEveryRecord posts many batches quickly: the
// records subscription delivers every record once, in order, whether
// batches come one per event or joined.
func TestSubscriptionKeepsEveryRecord(t *testing.T) {
	s := apptest.Start(t, "sqlite")
	type created struct {
		ID        string `json:"id"`
		HookToken string `json:"hookToken"`
	}
	p := decode[created](t, post(t, s.URL, s.Token, `mutation { createPipeline(spec: {name: "burst", kind: "webhook"}) { id hookToken } }`, nil), "createPipeline")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	ws, err := dialWS(ctx, s.URL, nil, map[string]any{"token": s.Token})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.close()
	if err := ws.subscribe(ctx, "r", `subscription($id: ID!) { records(pipelineId: $id) { kind count records } }`, map[string]any{"id": p.ID}); err != nil {
		t.Fatal(err)
	}
	if d := ws.nextData(t, ctx, "r", "records"); d["kind"] != "RECENT" {
		t.Fatalf("first records event %+v", d)
	}
	const batches = 40
	for i := range batches {
		body := fmt.Sprintf(`[{"n": %d}, {"n": %d}]`, 2*i, 2*i+1)
		resp, err := http.Post(s.URL+"/hooks/"+p.HookToken, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("webhook: %d", resp.StatusCode)
		}
	}
	next := 0
	for events := 0; next < 2*batches; events++ {
		d := ws.nextData(t, ctx, "r", "records")
		recs, _ := d["records"].([]any)
		if d["kind"] != "RECORDS" || d["count"] != float64(len(recs)) {
			t.Fatalf("event %d: %+v", events, d)
		}
		for _, r := range recs {
			n := r.(map[string]any)["data"].(map[string]any)["n"]
			if n != float64(next) {
				t.Fatalf("record %v, want %d (event %d: %+v)", n, next, events, d)
			}
			next++
		}
	}
}
