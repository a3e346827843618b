package app_test

import (
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/tributary-dev/tributary/internal/auth"
)

// TestTokenBelongsToItsCreator checks that a token created by a member stops
// working when the member is removed from the team, and acts with at most
// the member's current role.
func TestTokenBelongsToItsCreator(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		owner, team := ts.createUser("owner@example.com", "Acme", "")
		admin, _ := ts.createUser("admin@example.com", "Acme", auth.Admin)
		adminSession := ts.signIn(admin)
		var created struct {
			Secret string `json:"secret"`
		}
		adminSession.do("POST", "/api/v1/team/tokens", map[string]string{"name": "ci", "role": "admin"}).want(http.StatusOK, http.StatusCreated).json(&created)
		tok := ts.bearer(created.Secret)
		// A token minted by that token belongs to the same member.
		var minted struct {
			Secret string `json:"secret"`
		}
		tok.do("POST", "/api/v1/team/tokens", map[string]string{"name": "ci2", "role": "editor"}).want(http.StatusOK, http.StatusCreated).json(&minted)
		tok2 := ts.bearer(minted.Secret)
		tok.do("GET", "/api/v1/team/tokens", nil).want(http.StatusOK)
		tok2.do("GET", "/api/v1/pipelines", nil).want(http.StatusOK)

		ownerSession := ts.signIn(owner)
		member := "/api/v1/team/members/" + admin.ID.String() + teamQuery(team.ID)
		// Demoted to viewer: the admin token acts as a viewer.
		ownerSession.do("PATCH", member, map[string]string{"role": "viewer"}).want(http.StatusOK)
		tok.do("GET", "/api/v1/team/tokens", nil).wantProblem(http.StatusForbidden)
		tok.do("GET", "/api/v1/pipelines", nil).want(http.StatusOK)
		// Removed: neither token works any more.
		ownerSession.do("DELETE", member, nil).want(http.StatusNoContent)
		tok.do("GET", "/api/v1/pipelines", nil).wantProblem(http.StatusUnauthorized)
		tok2.do("GET", "/api/v1/pipelines", nil).wantProblem(http.StatusUnauthorized)
	})
}

// TestAdminCannotRevokeOwnerToken checks that revoking a token needs at
// least the token's role.
func TestAdminCannotRevokeOwnerToken(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		_, team := ts.createUser("owner@example.com", "Acme", "")
		ownerTok, ownerSecret := ts.issueToken(team.ID, auth.Owner)
		_, adminSecret := ts.issueToken(team.ID, auth.Admin)
		editorTok, _ := ts.issueToken(team.ID, auth.Editor)
		admin := ts.bearer(adminSecret)
		admin.do("DELETE", "/api/v1/team/tokens/"+ownerTok.ID.String(), nil).wantProblem(http.StatusForbidden)
		ts.bearer(ownerSecret).do("GET", "/api/v1/me", nil).want(http.StatusOK)
		admin.do("DELETE", "/api/v1/team/tokens/"+editorTok.ID.String(), nil).want(http.StatusNoContent)
		ts.bearer(ownerSecret).do("DELETE", "/api/v1/team/tokens/"+ownerTok.ID.String(), nil).want(http.StatusNoContent)
	})
}

// TestLoginThrottling checks that after a few wrong passwords an account's
// sign-ins are refused with 429 and Retry-After before any password is
// checked, even with the right password, while other accounts sign in.
func TestLoginThrottling(t *testing.T) {
	ts := startServer(t, "sqlite")
	ts.createUser("victim@example.com", "Acme", "")
	ts.createUser("other@example.com", "Acme", "")
	c := ts.client()
	wrong := map[string]string{"email": "victim@example.com", "password": "not the password at all"}
	for range 5 {
		c.do("POST", "/api/v1/auth/login", wrong).wantProblem(http.StatusUnauthorized)
	}
	res := c.do("POST", "/api/v1/auth/login", wrong)
	res.wantProblem(http.StatusTooManyRequests)
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q", res.Header.Get("Retry-After"))
	}
	c.do("POST", "/api/v1/auth/login", map[string]string{"email": "victim@example.com", "password": password}).wantProblem(http.StatusTooManyRequests)
	ts.login("other@example.com")
}

// TestMetricsNeedToken checks that /metrics, which names teams and
// pipelines, needs the metrics token on the public address, and is not
// served there at all without one.
func TestMetricsNeedToken(t *testing.T) {
	ts := startServer(t, "sqlite")
	get := func(url, token string) int {
		req, err := http.NewRequest("GET", url, nil)
		must(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		must(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	for token, want := range map[string]int{"": http.StatusUnauthorized, "wrong": http.StatusUnauthorized, testMetricsToken: http.StatusOK} {
		if got := get(ts.URL+"/metrics", token); got != want {
			t.Errorf("token %q: status %d, want %d", token, got, want)
		}
	}

	cfg := testConfig(t, "sqlite")
	cfg.MetricsToken = ""
	cfg.DebugAddr = freeAddr(t)
	open := serveConfig(t, "sqlite", cfg)
	if got := get(open.URL+"/metrics", ""); got != http.StatusNotFound {
		t.Errorf("without a metrics token: status %d, want 404", got)
	}
	if got := get("http://"+cfg.DebugAddr+"/metrics", ""); got != http.StatusOK {
		t.Errorf("on the debug address: status %d, want 200", got)
	}
}

// freeAddr returns a loopback address with a port free at the time.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	must(t, ln.Close())
	return addr
}
