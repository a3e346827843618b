package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
)

// call is one API request of a table.
type call struct {
	method, path string
	body         any
}

func (c call) String() string { return c.method + " " + c.path }

// teamState renders what a team has, for before/after comparisons: its
// name, its members with their roles, and its tokens with their roles and
// revocation. Token use times are left out: tests use tokens to check
// them.
func teamState(t *testing.T, ts *testServer, teamID uuid.UUID) string {
	t.Helper()
	team, err := ts.Accounts.Team(ts.ctx(), teamID)
	must(t, err)
	ms, err := ts.Accounts.Members(ts.ctx(), teamID)
	must(t, err)
	toks, err := ts.Accounts.Tokens(ts.ctx(), teamID)
	must(t, err)
	var lines []string
	lines = append(lines, fmt.Sprintf("team %s %s %s", team.ID, team.Name, team.Slug))
	for _, m := range ms {
		lines = append(lines, fmt.Sprintf("member %s %s %s", m.UserID, m.User.Email, m.Role))
	}
	for _, tk := range toks {
		lines = append(lines, fmt.Sprintf("token %s %s %s revoked=%v expires=%v", tk.ID, tk.Name, tk.Role, tk.RevokedAt != nil, tk.ExpiresAt))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func TestTenantIsolation(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)

		// Team A: an owner, a viewer and a token of every role.
		ownerA, teamA := ts.createUser("owner-a@example.com", "Team A", "")
		viewerA, _ := ts.createUser("viewer-a@example.com", "Team A", auth.Viewer)
		var tokensA []core.Token
		var secretsA []string
		for _, role := range auth.Roles() {
			tok, secret := ts.issueToken(teamA.ID, role)
			tokensA = append(tokensA, tok)
			secretsA = append(secretsA, secret)
		}
		// A session of A's owner exists too; B must not reach it either.
		ts.signIn(ownerA)

		// Team B: an owner signed in, and a token of every role.
		ownerB, teamB := ts.createUser("owner-b@example.com", "Team B", "")
		attackers := map[string]*client{"B owner session": ts.signIn(ownerB)}
		for _, role := range auth.Roles() {
			_, secret := ts.issueToken(teamB.ID, role)
			attackers["B "+string(role)+" token"] = ts.bearer(secret)
		}

		// What of A must never show up in an answer to B.
		markers := []string{teamA.ID.String(), teamA.Name, teamA.Slug, ownerA.ID.String(), ownerA.Email, viewerA.ID.String(), viewerA.Email}
		for i, tok := range tokensA {
			markers = append(markers, tok.ID.String(), tok.Hint, secretsA[i])
		}

		inA := teamQuery(teamA.ID)
		inB := teamQuery(teamB.ID)
		calls := []call{
			// Team A addressed by ?team=.
			{"GET", "/api/v1/team" + inA, nil},
			{"GET", "/api/v1/team/members" + inA, nil},
			{"POST", "/api/v1/team/members" + inA, map[string]string{"email": ownerB.Email, "role": "owner"}},
			{"POST", "/api/v1/team/members" + inA, map[string]string{"email": ownerB.Email, "role": "viewer"}},
			{"PATCH", "/api/v1/team/members/" + ownerA.ID.String() + inA, map[string]string{"role": "viewer"}},
			{"PATCH", "/api/v1/team/members/" + viewerA.ID.String() + inA, map[string]string{"role": "owner"}},
			{"PATCH", "/api/v1/team/members/" + ownerB.ID.String() + inA, map[string]string{"role": "owner"}},
			{"DELETE", "/api/v1/team/members/" + viewerA.ID.String() + inA, nil},
			{"DELETE", "/api/v1/team/members/" + ownerA.ID.String() + inA, nil},
			{"GET", "/api/v1/team/tokens" + inA, nil},
			{"POST", "/api/v1/team/tokens" + inA, map[string]string{"name": "planted", "role": "owner"}},
			{"POST", "/api/v1/team/tokens" + inA, map[string]string{"name": "planted", "role": "viewer"}},
			// A's members addressed within B (implicitly and explicitly).
			{"PATCH", "/api/v1/team/members/" + viewerA.ID.String(), map[string]string{"role": "owner"}},
			{"PATCH", "/api/v1/team/members/" + ownerA.ID.String() + inB, map[string]string{"role": "viewer"}},
			{"DELETE", "/api/v1/team/members/" + viewerA.ID.String(), nil},
			{"DELETE", "/api/v1/team/members/" + ownerA.ID.String() + inB, nil},
		}
		for _, tok := range tokensA {
			calls = append(calls,
				call{"DELETE", "/api/v1/team/tokens/" + tok.ID.String() + inA, nil},
				call{"DELETE", "/api/v1/team/tokens/" + tok.ID.String(), nil},
				call{"DELETE", "/api/v1/team/tokens/" + tok.ID.String() + inB, nil},
			)
		}

		before := teamState(t, ts, teamA.ID)
		leaks := 0
		for name, c := range attackers {
			for _, cl := range calls {
				res := c.do(cl.method, cl.path, cl.body)
				switch {
				case res.Status >= 200 && res.Status < 300:
					leaks++
					t.Errorf("%s: %s: status %d; body %s", name, cl, res.Status, res.Body)
				case res.Status == http.StatusNotFound || res.Status == http.StatusForbidden:
					res.wantProblem(res.Status)
				default:
					t.Errorf("%s: %s: status %d, want 404 or 403; body %s", name, cl, res.Status, res.Body)
				}
				for _, m := range markers {
					if bytes.Contains(res.Body, []byte(m)) {
						leaks++
						t.Errorf("%s: %s: the answer contains team A's %q: %s", name, cl, m, res.Body)
					}
				}
			}
			// B's own views show nothing of A.
			for _, path := range []string{"/api/v1/me", "/api/v1/teams", "/api/v1/team", "/api/v1/team/members", "/api/v1/team/tokens"} {
				res := c.do("GET", path, nil)
				for _, m := range markers {
					if bytes.Contains(res.Body, []byte(m)) {
						leaks++
						t.Errorf("%s: GET %s contains team A's %q: %s", name, path, m, res.Body)
					}
				}
			}
		}
		if leaks != 0 {
			t.Fatalf("%d leaks from team A to team B", leaks)
		}
		if after := teamState(t, ts, teamA.ID); after != before {
			t.Fatalf("team B changed team A:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		for i, secret := range secretsA {
			var got teamJSON
			ts.bearer(secret).do("GET", "/api/v1/team", nil).want(http.StatusOK).json(&got)
			if got.ID != teamA.ID || got.Role != string(tokensA[i].Role) {
				t.Errorf("team A's %s token now acts as %+v", tokensA[i].Role, got)
			}
		}
		// And the other way round, A's owner cannot reach B either.
		a := ts.signIn(ownerA)
		a.do("GET", "/api/v1/team/members"+inB, nil).wantProblem(http.StatusNotFound)
		a.do("DELETE", "/api/v1/team/members/"+ownerB.ID.String()+inB, nil).wantProblem(http.StatusNotFound)
	})
}

func TestMemberOfTwoTeams(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		ownerA, teamA := ts.createUser("owner-a@example.com", "Team A", "")
		ownerB, teamB := ts.createUser("owner-b@example.com", "Team B", "")
		both, _ := ts.createUser("both@example.com", "Team A", auth.Editor)
		// B's owner invites the user as admin through the API.
		var m memberJSON
		ts.signIn(ownerB).do("POST", "/api/v1/team/members", map[string]string{"email": "both@example.com", "role": "admin"}).want(http.StatusCreated).json(&m)
		if m.User.ID != both.ID || m.Role != "admin" {
			t.Fatalf("added member = %+v", m)
		}

		c := ts.signIn(both)
		var me meJSON
		c.do("GET", "/api/v1/me", nil).want(http.StatusOK).json(&me)
		roles := map[uuid.UUID]string{}
		for _, tm := range me.Teams {
			roles[tm.ID] = tm.Role
		}
		if len(roles) != 2 || roles[teamA.ID] != "editor" || roles[teamB.ID] != "admin" {
			t.Fatalf("teams of a member of two teams = %+v", me.Teams)
		}

		var team teamJSON
		c.do("GET", "/api/v1/team", nil).want(http.StatusOK).json(&team)
		if team.ID != teamA.ID {
			t.Errorf("without ?team= the request acts on %s, want the first team joined (A)", team.Slug)
		}
		for id, owner := range map[uuid.UUID]string{teamA.ID: "owner-a@example.com", teamB.ID: "owner-b@example.com"} {
			res := c.do("GET", "/api/v1/team/members"+teamQuery(id), nil).want(http.StatusOK)
			if !bytes.Contains(res.Body, []byte(owner)) {
				t.Errorf("members of %s do not include %s: %s", id, owner, res.Body)
			}
		}
		// The role is the one in the team asked for.
		c.do("POST", "/api/v1/team/tokens"+teamQuery(teamA.ID), map[string]string{"name": "x", "role": "viewer"}).wantProblem(http.StatusForbidden)
		var tok tokenJSON
		c.do("POST", "/api/v1/team/tokens"+teamQuery(teamB.ID), map[string]string{"name": "x", "role": "admin"}).want(http.StatusCreated).json(&tok)

		// The token belongs to B only, even though its creator is in A too.
		bt := ts.bearer(tok.Secret)
		bt.do("GET", "/api/v1/team", nil).want(http.StatusOK).json(&team)
		if team.ID != teamB.ID {
			t.Errorf("a token created with ?team=B acts on %s", team.Slug)
		}
		bt.do("GET", "/api/v1/team/members"+teamQuery(teamA.ID), nil).wantProblem(http.StatusNotFound)

		// Removed from A, the user loses A at once (same session).
		ts.signIn(ownerA).do("DELETE", "/api/v1/team/members/"+both.ID.String(), nil).want(http.StatusNoContent)
		c.do("GET", "/api/v1/team/members"+teamQuery(teamA.ID), nil).wantProblem(http.StatusNotFound)
		c.do("GET", "/api/v1/team", nil).want(http.StatusOK).json(&team)
		if team.ID != teamB.ID {
			t.Errorf("after leaving A the default team is %s, want B", team.Slug)
		}
	})
}

func TestRoles(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		owner, team := ts.createUser("owner@example.com", "Acme", "")
		admin, _ := ts.createUser("admin@example.com", "Acme", auth.Admin)
		editor, _ := ts.createUser("editor@example.com", "Acme", auth.Editor)
		viewer, _ := ts.createUser("viewer@example.com", "Acme", auth.Viewer)
		ts.createUser("newcomer@example.com", "Elsewhere", "")
		tokens := map[auth.Role]*client{}
		var someToken core.Token
		for _, role := range auth.Roles() {
			tok, secret := ts.issueToken(team.ID, role)
			tokens[role] = ts.bearer(secret)
			someToken = tok
		}
		sessions := map[auth.Role]*client{
			auth.Owner:  ts.signIn(owner),
			auth.Admin:  ts.signIn(admin),
			auth.Editor: ts.signIn(editor),
			auth.Viewer: ts.signIn(viewer),
		}
		member := func(u core.User) string { return "/api/v1/team/members/" + u.ID.String() }
		newToken := func(role string) map[string]string { return map[string]string{"name": "n", "role": role} }

		forbidden := map[auth.Role][]call{
			auth.Viewer: {
				{"POST", "/api/v1/team/tokens", newToken("viewer")},
				{"GET", "/api/v1/team/tokens", nil},
				{"DELETE", "/api/v1/team/tokens/" + someToken.ID.String(), nil},
				{"POST", "/api/v1/team/members", map[string]string{"email": "newcomer@example.com", "role": "viewer"}},
				{"PATCH", member(viewer), map[string]string{"role": "editor"}},
				{"DELETE", member(viewer), nil},
			},
			auth.Editor: {
				{"POST", "/api/v1/team/tokens", newToken("viewer")},
				{"GET", "/api/v1/team/tokens", nil},
				{"DELETE", "/api/v1/team/tokens/" + someToken.ID.String(), nil},
				{"POST", "/api/v1/team/members", map[string]string{"email": "newcomer@example.com", "role": "viewer"}},
				{"PATCH", member(viewer), map[string]string{"role": "editor"}},
				{"DELETE", member(viewer), nil},
			},
			auth.Admin: {
				// Admins cannot make or touch owners, nor mint an owner token.
				{"POST", "/api/v1/team/tokens", newToken("owner")},
				{"POST", "/api/v1/team/members", map[string]string{"email": "newcomer@example.com", "role": "owner"}},
				{"PATCH", member(editor), map[string]string{"role": "owner"}},
				{"PATCH", member(owner), map[string]string{"role": "viewer"}},
				{"DELETE", member(owner), nil},
			},
		}
		state := teamState(t, ts, team.ID)
		for role, calls := range forbidden {
			for _, c := range []*client{tokens[role], sessions[role]} {
				for _, cl := range calls {
					c.do(cl.method, cl.path, cl.body).wantProblem(http.StatusForbidden)
				}
			}
		}
		if after := teamState(t, ts, team.ID); after != state {
			t.Fatalf("refused requests changed the team:\nbefore:\n%s\nafter:\n%s", state, after)
		}

		// Everyone reads.
		for _, role := range auth.Roles() {
			tokens[role].do("GET", "/api/v1/team/members", nil).want(http.StatusOK)
			sessions[role].do("GET", "/api/v1/team/members", nil).want(http.StatusOK)
		}

		// A token never outranks its creator.
		for _, tc := range []struct {
			by    *client
			name  string
			role  string
			allow bool
		}{
			{tokens[auth.Admin], "admin token", "owner", false},
			{tokens[auth.Admin], "admin token", "admin", true},
			{tokens[auth.Admin], "admin token", "viewer", true},
			{sessions[auth.Admin], "admin session", "owner", false},
			{sessions[auth.Admin], "admin session", "admin", true},
			{tokens[auth.Owner], "owner token", "owner", true},
			{sessions[auth.Owner], "owner session", "owner", true},
		} {
			res := tc.by.do("POST", "/api/v1/team/tokens", newToken(tc.role))
			if tc.allow {
				res.want(http.StatusCreated)
			} else {
				res.wantProblem(http.StatusForbidden)
			}
		}

		// Admins manage editors and viewers.
		sessions[auth.Admin].do("PATCH", member(viewer), map[string]string{"role": "editor"}).want(http.StatusOK)
		tokens[auth.Admin].do("PATCH", member(viewer), map[string]string{"role": "viewer"}).want(http.StatusOK)
		tokens[auth.Admin].do("POST", "/api/v1/team/members", map[string]string{"email": "newcomer@example.com", "role": "editor"}).want(http.StatusCreated)
		// Only an owner grants or takes away owner.
		var m memberJSON
		sessions[auth.Owner].do("PATCH", member(admin), map[string]string{"role": "owner"}).want(http.StatusOK).json(&m)
		if m.Role != "owner" {
			t.Errorf("promoted member = %+v", m)
		}
		tokens[auth.Owner].do("PATCH", member(admin), map[string]string{"role": "admin"}).want(http.StatusOK)
		sessions[auth.Admin].do("PATCH", member(owner), map[string]string{"role": "admin"}).wantProblem(http.StatusForbidden)
	})
}

func TestLastOwner(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		owner, team := ts.createUser("owner@example.com", "Acme", "")
		second, _ := ts.createUser("second@example.com", "Acme", auth.Editor)
		_, secret := ts.issueToken(team.ID, auth.Owner)
		session := ts.signIn(owner)
		token := ts.bearer(secret)
		self := "/api/v1/team/members/" + owner.ID.String()

		for name, c := range map[string]*client{"session": session, "owner token": token} {
			p := c.do("PATCH", self, map[string]string{"role": "admin"}).wantProblem(http.StatusConflict)
			if !strings.Contains(p.Detail, "owner") {
				t.Errorf("%s: demoting the last owner: detail %q does not say why", name, p.Detail)
			}
			c.do("DELETE", self, nil).wantProblem(http.StatusConflict)
		}
		if n := ts.count(`SELECT count(*) FROM memberships WHERE team_id = ? AND role = 'owner'`, team.ID); n != 1 {
			t.Fatalf("%d owners, want 1", n)
		}

		// With a second owner the first may step down; then the second is
		// the last one.
		session.do("PATCH", "/api/v1/team/members/"+second.ID.String(), map[string]string{"role": "owner"}).want(http.StatusOK)
		session.do("PATCH", self, map[string]string{"role": "admin"}).want(http.StatusOK)
		token.do("DELETE", "/api/v1/team/members/"+second.ID.String(), nil).wantProblem(http.StatusConflict)
		token.do("PATCH", "/api/v1/team/members/"+second.ID.String(), map[string]string{"role": "viewer"}).wantProblem(http.StatusConflict)
		// The former owner, now admin, cannot touch the owner at all.
		session.do("DELETE", "/api/v1/team/members/"+second.ID.String(), nil).wantProblem(http.StatusForbidden)
		if n := ts.count(`SELECT count(*) FROM memberships WHERE team_id = ? AND role = 'owner'`, team.ID); n != 1 {
			t.Fatalf("%d owners, want 1", n)
		}
	})
}

// TestTenantIsolationEveryOperation sweeps every operation of the OpenAPI
// document that takes ?team=, so that operations added later are held to
// the same rule without changing this test: team B's owner, with a token
// and with a session, asking for team A gets 404 or 403 (or 422 where the
// request is refused for its shape first), never a success, and never
// anything of A.
func TestTenantIsolationEveryOperation(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		ownerA, teamA := ts.createUser("owner-a@example.com", "Team A", "")
		tokenA, secretA := ts.issueToken(teamA.ID, auth.Owner)
		ownerB, teamB := ts.createUser("owner-b@example.com", "Team B", "")
		_, secretB := ts.issueToken(teamB.ID, auth.Owner)
		attackers := map[string]*client{"B owner token": ts.bearer(secretB), "B owner session": ts.signIn(ownerB)}
		for _, c := range attackers {
			c.hc.Timeout = 10 * time.Second // a stream answered by mistake must not hang the test
		}
		markers := []string{teamA.ID.String(), teamA.Slug, ownerA.ID.String(), ownerA.Email, tokenA.ID.String(), tokenA.Hint, secretA}

		var doc struct {
			Paths map[string]map[string]struct {
				Parameters []struct {
					Name     string `json:"name"`
					In       string `json:"in"`
					Required bool   `json:"required"`
				} `json:"parameters"`
				RequestBody json.RawMessage `json:"requestBody"`
			} `json:"paths"`
		}
		ts.client().do("GET", "/api/v1/openapi.json", nil).want(http.StatusOK).json(&doc)
		pathValue := map[string]string{"user": ownerA.ID.String(), "token": tokenA.ID.String(), "name": "x"}
		before := teamState(t, ts, teamA.ID)
		swept := 0
		for path, ops := range doc.Paths {
			for method, op := range ops {
				scoped, mayBe422 := false, len(op.RequestBody) > 0
				p := path
				for _, prm := range op.Parameters {
					switch {
					case prm.In == "query" && prm.Name == "team":
						scoped = true
					case prm.In == "path":
						v, ok := pathValue[prm.Name]
						if !ok {
							v = uuid.NewString()
						}
						p = strings.ReplaceAll(p, "{"+prm.Name+"}", v)
					case prm.Required:
						mayBe422 = true
					}
				}
				if !scoped {
					continue
				}
				swept++
				var body any
				if len(op.RequestBody) > 0 {
					body = map[string]any{}
				}
				for name, c := range attackers {
					res := c.do(strings.ToUpper(method), p+teamQuery(teamA.ID), body)
					switch {
					case res.Status == http.StatusNotFound || res.Status == http.StatusForbidden:
					case res.Status == http.StatusUnprocessableEntity && mayBe422:
					default:
						t.Errorf("%s: %s %s?team=A: status %d, want 404 or 403; body %s", name, strings.ToUpper(method), p, res.Status, res.Body)
					}
					for _, m := range markers {
						if bytes.Contains(res.Body, []byte(m)) {
							t.Errorf("%s: %s %s?team=A: the answer contains team A's %q", name, strings.ToUpper(method), p, m)
						}
					}
				}
			}
		}
		if swept < 9 {
			t.Fatalf("swept %d team-scoped operations; the OpenAPI document should list at least the 9 of teams, members and tokens", swept)
		}
		if after := teamState(t, ts, teamA.ID); after != before {
			t.Fatalf("the sweep changed team A:\nbefore:\n%s\nafter:\n%s", before, after)
		}
		t.Logf("swept %d team-scoped operations", swept)
	})
}
