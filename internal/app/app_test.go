package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/app"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/httpapi"
	"github.com/tributary-dev/tributary/internal/store"
)

// wantSessionCookie checks the flags of a session cookie set over plain
// HTTP.
func wantSessionCookie(t *testing.T, res *response) *http.Cookie {
	t.Helper()
	c := res.cookie(httpapi.SessionCookie)
	switch {
	case c == nil:
		t.Fatalf("%s: no %s cookie set; headers %v", res.req, httpapi.SessionCookie, res.Header)
	case c.Value == "" || c.MaxAge <= 0:
		t.Errorf("%s: session cookie %q has no value or lifetime", res.req, c.Raw)
	case !c.HttpOnly:
		t.Errorf("%s: session cookie %q is not HttpOnly", res.req, c.Raw)
	case c.SameSite != http.SameSiteLaxMode:
		t.Errorf("%s: session cookie %q is not SameSite=Lax", res.req, c.Raw)
	case c.Secure:
		t.Errorf("%s: session cookie %q is Secure on a plain-HTTP server without an https base URL", res.req, c.Raw)
	case c.Path != "/":
		t.Errorf("%s: session cookie %q has path %q, want /", res.req, c.Raw, c.Path)
	}
	return c
}

func TestFirstRun(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		setupForm := func(email string) url.Values {
			return url.Values{"email": {email}, "password": {password}, "team": {"Acme Data"}}
		}

		res := ts.client().do("GET", "/", nil).want(http.StatusOK)
		if !bytes.Contains(res.Body, []byte(`action="/setup"`)) {
			t.Fatalf("GET / on a fresh install does not offer the setup form:\n%s", res.Body)
		}

		// A foreign site cannot set the instance up in the visitor's browser.
		ts.client().with("Sec-Fetch-Site", "cross-site").do("POST", "/setup", setupForm("mallory@example.com")).wantProblem(http.StatusForbidden)
		// A bad form is shown again with the reason and creates nothing.
		res = ts.client().do("POST", "/setup", url.Values{"email": {"ada@example.com"}, "password": {"short"}, "team": {"Acme"}}).want(http.StatusUnprocessableEntity)
		if !bytes.Contains(res.Body, []byte("10 characters")) {
			t.Errorf("setup with a short password does not say why:\n%s", res.Body)
		}
		if n := ts.count(`SELECT count(*) FROM users`); n != 0 {
			t.Fatalf("%d users after refused setups, want 0", n)
		}

		browser := ts.client()
		res = browser.do("POST", "/setup", setupForm("ada@example.com")).want(http.StatusSeeOther)
		if loc := res.Header.Get("Location"); loc != "/" {
			t.Errorf("setup redirects to %q, want /", loc)
		}
		wantSessionCookie(t, res)

		res = browser.do("GET", "/", nil).want(http.StatusOK)
		if bytes.Contains(res.Body, []byte(`action="/setup"`)) || !bytes.Contains(res.Body, []byte("ada@example.com")) {
			t.Errorf("GET / after setup is not the signed-in home page:\n%s", res.Body)
		}
		var me meJSON
		browser.do("GET", "/api/v1/me", nil).want(http.StatusOK).json(&me)
		if me.User == nil || me.User.Email != "ada@example.com" || !me.User.IsAdmin {
			t.Errorf("me after setup = %+v, want ada@example.com, instance admin", me.User)
		}
		if len(me.Teams) != 1 || me.Teams[0].Name != "Acme Data" || me.Teams[0].Slug != "acme-data" || me.Teams[0].Role != "owner" {
			t.Errorf("teams after setup = %+v, want Acme Data (acme-data) as owner", me.Teams)
		}

		// The page is one-time: a second setup sends to the sign-in page
		// and creates nobody.
		other := ts.client()
		res = other.do("POST", "/setup", setupForm("mallory@example.com")).want(http.StatusSeeOther)
		if loc := res.Header.Get("Location"); loc != "/login" {
			t.Errorf("second setup redirects to %q, want /login", loc)
		}
		if c := res.cookie(httpapi.SessionCookie); c != nil && c.Value != "" {
			t.Errorf("second setup set a session cookie %q", c.Raw)
		}
		if n := ts.count(`SELECT count(*) FROM users`); n != 1 {
			t.Errorf("%d users after a second setup, want 1", n)
		}
		if n := ts.count(`SELECT count(*) FROM teams`); n != 1 {
			t.Errorf("%d teams after a second setup, want 1", n)
		}
		other.do("POST", "/api/v1/auth/login", map[string]string{"email": "mallory@example.com", "password": password}).wantProblem(http.StatusUnauthorized)

		res = ts.client().do("GET", "/", nil).want(http.StatusSeeOther)
		if loc := res.Header.Get("Location"); loc != "/login" {
			t.Errorf("anonymous GET / after setup redirects to %q, want /login", loc)
		}
		res = ts.client().do("GET", "/login", nil).want(http.StatusOK)
		if !bytes.Contains(res.Body, []byte(`action="/login"`)) {
			t.Errorf("GET /login has no sign-in form:\n%s", res.Body)
		}
	})
}

func TestLoginSessionLogout(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		ts.createUser("ada@example.com", "Acme", "")
		creds := map[string]string{"email": "ada@example.com", "password": password}

		c := ts.client()
		res := c.do("POST", "/api/v1/auth/login", creds).want(http.StatusOK)
		wantSessionCookie(t, res)
		var login struct{ User userJSON }
		res.json(&login)
		if login.User.Email != "ada@example.com" {
			t.Errorf("login body user = %+v", login.User)
		}
		var me meJSON
		c.do("GET", "/api/v1/me", nil).want(http.StatusOK).json(&me)
		if me.User == nil || me.User.Email != "ada@example.com" || me.Token != nil || len(me.Teams) != 1 || me.Teams[0].Slug != "acme" {
			t.Errorf("me with the session cookie = %+v", me)
		}

		// Logout ends the session on the server, not only in the browser.
		sid := c.session()
		res = c.do("POST", "/api/v1/auth/logout", nil).want(http.StatusNoContent)
		if ck := res.cookie(httpapi.SessionCookie); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("logout does not clear the cookie: %v", res.Header["Set-Cookie"])
		}
		if n := ts.count(`SELECT count(*) FROM sessions WHERE id_hash = ?`, auth.HashSessionID(sid)); n != 0 {
			t.Errorf("session still stored after logout")
		}
		replay := ts.client().with("Cookie", httpapi.SessionCookie+"="+sid)
		replay.do("GET", "/api/v1/me", nil).wantProblem(http.StatusUnauthorized)
		replay.do("POST", "/api/v1/team/tokens", map[string]string{"name": "x", "role": "viewer"}).wantProblem(http.StatusUnauthorized)

		// Wrong password and unknown email are indistinguishable.
		wrong := ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "ada@example.com", "password": "not the password"})
		wrong.wantProblem(http.StatusUnauthorized)
		unknown := ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "nobody@example.com", "password": password})
		unknown.wantProblem(http.StatusUnauthorized)
		// Alike but for the request id every error carries.
		if requestIDField.ReplaceAllString(string(wrong.Body), "") != requestIDField.ReplaceAllString(string(unknown.Body), "") {
			t.Errorf("wrong password and unknown email differ:\n%s\n%s", wrong.Body, unknown.Body)
		}
		for _, r := range []*response{wrong, unknown} {
			if r.cookie(httpapi.SessionCookie) != nil {
				t.Errorf("failed login set a cookie: %v", r.Header["Set-Cookie"])
			}
			if bytes.Contains(r.Body, []byte("example.com")) || bytes.Contains(bytes.ToLower(r.Body), []byte("password")) {
				t.Errorf("failed login body hints at the cause: %s", r.Body)
			}
		}

		// The sign-in page works the same way.
		form := ts.client()
		res = form.do("POST", "/login", url.Values{"email": {"ada@example.com"}, "password": {password}}).want(http.StatusSeeOther)
		wantSessionCookie(t, res)
		form.do("GET", "/api/v1/me", nil).want(http.StatusOK)
		wrongPage := ts.client().do("POST", "/login", url.Values{"email": {"ada@example.com"}, "password": {"not the password"}}).want(http.StatusUnauthorized)
		unknownPage := ts.client().do("POST", "/login", url.Values{"email": {"nobody@example.com"}, "password": {password}}).want(http.StatusUnauthorized)
		if !bytes.Contains(wrongPage.Body, []byte("Wrong email or password")) || !bytes.Contains(unknownPage.Body, []byte("Wrong email or password")) {
			t.Errorf("failed page sign-ins do not both say 'Wrong email or password'")
		}
		sid = form.session()
		res = form.do("POST", "/logout", url.Values{}).want(http.StatusSeeOther)
		if loc := res.Header.Get("Location"); loc != "/login" {
			t.Errorf("page logout redirects to %q, want /login", loc)
		}
		ts.client().with("Cookie", httpapi.SessionCookie+"="+sid).do("GET", "/api/v1/me", nil).wantProblem(http.StatusUnauthorized)
	})
}

func TestExpiredOrUnknownSession(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		u, _ := ts.createUser("ada@example.com", "Acme", "")
		sid, hash := auth.NewSessionID()
		now := core.Now()
		must(t, ts.Store.CreateSession(ts.ctx(), core.Session{IDHash: hash, UserID: u.ID, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Minute)}))
		unknown, _ := auth.NewSessionID()

		for name, value := range map[string]string{"expired": sid, "unknown": unknown, "garbage": "not-a-session"} {
			c := ts.client().with("Cookie", httpapi.SessionCookie+"="+value)
			res := c.do("GET", "/api/v1/me", nil)
			res.wantProblem(http.StatusUnauthorized)
			if ck := res.cookie(httpapi.SessionCookie); ck == nil || ck.MaxAge >= 0 {
				t.Errorf("%s session: the stale cookie is not cleared: %v", name, res.Header["Set-Cookie"])
			}
			res = c.do("GET", "/", nil).want(http.StatusSeeOther)
			if loc := res.Header.Get("Location"); loc != "/login" {
				t.Errorf("%s session: GET / redirects to %q, want /login", name, loc)
			}
		}
	})
}

func TestTokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		ada, team := ts.createUser("ada@example.com", "Acme", "")
		owner := ts.signIn(ada)

		var created tokenJSON
		res := owner.do("POST", "/api/v1/team/tokens", map[string]string{"name": "ci", "role": "editor"}).want(http.StatusCreated)
		res.json(&created)
		secret := created.Secret
		if !auth.LooksLikeToken(secret) || created.Role != "editor" || created.Name != "ci" {
			t.Fatalf("created token = %+v", created)
		}
		if hint := strings.TrimSuffix(created.Hint, "…"); hint == created.Hint || !strings.HasPrefix(secret, hint) || len(hint) > 10 {
			t.Errorf("hint %q is not a short prefix of the token", created.Hint)
		}

		// The secret is shown once: never in the list.
		list := func() []tokenJSON {
			t.Helper()
			res := owner.do("GET", "/api/v1/team/tokens", nil).want(http.StatusOK)
			if bytes.Contains(res.Body, []byte(secret)) || bytes.Contains(res.Body, []byte(`"secret"`)) {
				t.Fatalf("token list shows the secret: %s", res.Body)
			}
			var l struct{ Tokens []tokenJSON }
			res.json(&l)
			return l.Tokens
		}
		if l := list(); len(l) != 1 || l[0].ID != created.ID || l[0].LastUsedAt != nil || l[0].RevokedAt != nil {
			t.Fatalf("token list = %+v", l)
		}

		bearer := ts.bearer(secret)
		var me meJSON
		res = bearer.do("GET", "/api/v1/me", nil).want(http.StatusOK)
		res.json(&me)
		if bytes.Contains(res.Body, []byte(secret)) {
			t.Errorf("me shows the token secret: %s", res.Body)
		}
		if me.User != nil || me.Token == nil || me.Token.ID != created.ID || len(me.Teams) != 1 || me.Teams[0].ID != team.ID || me.Teams[0].Role != "editor" {
			t.Errorf("me with the token = %+v", me)
		}
		if l := list(); l[0].LastUsedAt == nil {
			t.Errorf("last use not recorded: %+v", l[0])
		}

		// An expiry in the past is refused; one in the future is kept.
		owner.do("POST", "/api/v1/team/tokens", map[string]any{"name": "old", "role": "viewer", "expires_at": time.Now().Add(-time.Hour)}).wantProblem(http.StatusUnprocessableEntity)
		var dated tokenJSON
		owner.do("POST", "/api/v1/team/tokens", map[string]any{"name": "dated", "role": "viewer", "expires_at": time.Now().Add(time.Hour)}).want(http.StatusCreated).json(&dated)
		ts.bearer(dated.Secret).do("GET", "/api/v1/team", nil).want(http.StatusOK)

		// Revoked, expired, unknown and malformed tokens are refused alike.
		owner.do("DELETE", "/api/v1/team/tokens/"+created.ID.String(), nil).want(http.StatusNoContent)
		for _, tok := range list() {
			if tok.ID == created.ID && tok.RevokedAt == nil {
				t.Errorf("revoked token not marked revoked: %+v", tok)
			}
		}
		expired, hash := auth.NewToken()
		past := core.Now().Add(-time.Minute)
		if _, err := ts.Store.CreateToken(ts.ctx(), team.ID, store.NewToken{Name: "expired", Role: auth.Owner, Hash: hash, Hint: auth.TokenHint(expired), ExpiresAt: &past}); err != nil {
			t.Fatal(err)
		}
		neverIssued, _ := auth.NewToken()
		refusals := map[string]*client{
			"revoked":              ts.bearer(secret),
			"expired":              ts.bearer(expired),
			"never issued":         ts.bearer(neverIssued),
			"bad checksum":         ts.bearer(neverIssued[:len(neverIssued)-1] + "x"),
			"garbage":              ts.bearer("hunter2"),
			"empty bearer":         ts.client().with("Authorization", "Bearer "),
			"basic":                ts.client().with("Authorization", "Basic YWRhQGV4YW1wbGUuY29tOmNvcnJlY3QgaG9yc2UgYmF0dGVyeSBzdGFwbGU="),
			"token without scheme": ts.client().with("Authorization", dated.Secret),
		}
		var bodies []string
		for name, c := range refusals {
			for _, r := range []struct {
				method, path string
				body         any
			}{
				{"GET", "/api/v1/me", nil},
				{"GET", "/api/v1/team", nil},
				{"POST", "/api/v1/team/tokens", map[string]string{"name": "x", "role": "viewer"}},
			} {
				res := c.do(r.method, r.path, r.body)
				res.wantProblem(http.StatusUnauthorized)
				if !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s token: %s: WWW-Authenticate %q", name, r.path, res.Header.Get("WWW-Authenticate"))
				}
				if name != "basic" && name != "token without scheme" {
					// Alike but for the request id every error carries.
					bodies = append(bodies, requestIDField.ReplaceAllString(string(res.Body), ""))
				}
			}
		}
		for _, b := range bodies[1:] {
			if b != bodies[0] {
				t.Errorf("refused tokens give different bodies, which tells an attacker why:\n%s\n%s", bodies[0], b)
			}
		}
		if n := ts.count(`SELECT count(*) FROM api_tokens`); n != 3 {
			t.Errorf("%d tokens stored, want 3 (refused requests must create none)", n)
		}
	})
}

func TestCrossOriginProtection(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		owner, team := ts.createUser("ada@example.com", "Acme", "")
		editor, _ := ts.createUser("bob@example.com", "Acme", auth.Editor)
		_, adminToken := ts.issueToken(team.ID, auth.Admin)
		browser := ts.signIn(owner)

		state := func() [4]int {
			return [4]int{
				ts.count(`SELECT count(*) FROM api_tokens`),
				ts.count(`SELECT count(*) FROM teams`),
				ts.count(`SELECT count(*) FROM memberships WHERE role = 'editor'`),
				ts.count(`SELECT count(*) FROM sessions`),
			}
		}
		before := state()
		newToken := map[string]string{"name": "x", "role": "viewer"}
		writes := []struct {
			method, path string
			body         any
		}{
			{"POST", "/api/v1/team/tokens", newToken},
			{"POST", "/api/v1/teams", map[string]string{"name": "Evil"}},
			{"PATCH", "/api/v1/team/members/" + editor.ID.String(), map[string]string{"role": "viewer"}},
			{"DELETE", "/api/v1/team/members/" + editor.ID.String(), nil},
			{"POST", "/api/v1/auth/logout", nil},
			{"POST", "/logout", url.Values{}},
		}
		foreign := map[string]*client{
			"Sec-Fetch-Site: cross-site":   browser.with("Sec-Fetch-Site", "cross-site"),
			"Sec-Fetch-Site: same-site":    browser.with("Sec-Fetch-Site", "same-site"),
			"Origin: https://evil.example": browser.with("Origin", "https://evil.example"),
		}
		for name, c := range foreign {
			for _, w := range writes {
				res := c.do(w.method, w.path, w.body)
				if res.Status != http.StatusForbidden {
					t.Errorf("%s: %s %s with the session cookie: status %d, want 403", name, w.method, w.path, res.Status)
					continue
				}
				res.wantProblem(http.StatusForbidden)
			}
			// Reading is not a write: a link from elsewhere still works.
			c.do("GET", "/api/v1/me", nil).want(http.StatusOK)
		}
		if after := state(); after != before {
			t.Fatalf("cross-origin writes changed state: before %v, after %v", before, after)
		}
		// A foreign page cannot sign the browser into an account either.
		creds := map[string]string{"email": "ada@example.com", "password": password}
		ts.client().with("Sec-Fetch-Site", "cross-site").do("POST", "/api/v1/auth/login", creds).wantProblem(http.StatusForbidden)
		ts.client().with("Origin", "https://evil.example").do("POST", "/login", url.Values{"email": {"ada@example.com"}, "password": {password}}).wantProblem(http.StatusForbidden)

		// The same origin writes.
		browser.with("Sec-Fetch-Site", "same-origin").do("POST", "/api/v1/team/tokens", newToken).want(http.StatusCreated)
		browser.with("Origin", ts.URL).do("POST", "/api/v1/team/tokens", newToken).want(http.StatusCreated)
		browser.with("Sec-Fetch-Site", "same-origin").do("PATCH", "/api/v1/team/members/"+editor.ID.String(), map[string]string{"role": "viewer"}).want(http.StatusOK)

		// Bearer tokens are not sent by browsers on their own, so they are
		// not subject to the check.
		api := ts.bearer(adminToken)
		api.with("Sec-Fetch-Site", "cross-site").do("POST", "/api/v1/team/tokens", newToken).want(http.StatusCreated)
		api.with("Origin", "https://evil.example").do("POST", "/api/v1/team/tokens", newToken).want(http.StatusCreated)
		if got, want := ts.count(`SELECT count(*) FROM api_tokens`), before[0]+4; got != want {
			t.Errorf("%d tokens, want %d", got, want)
		}
	})
}

func TestBadInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := testConfig(t, backend)
		cfg.MaxBodyBytes = 4096
		ts := serveConfig(t, backend, cfg)
		ada, team := ts.createUser("ada@example.com", "Acme", "")
		_, secret := ts.issueToken(team.ID, auth.Admin)
		api := ts.bearer(secret)
		session := ts.signIn(ada)

		// Malformed JSON: 400 saying what is wrong with the body.
		for name, body := range map[string]string{
			"truncated":     `{"name": "ci", "role":`,
			"not JSON":      `name=ci&role=viewer`,
			"trailing junk": `{"name": "ci", "role": "viewer"} {`,
		} {
			for who, c := range map[string]*client{"token": api, "session": session} {
				p := c.do("POST", "/api/v1/team/tokens", body).wantProblem(http.StatusBadRequest)
				if len(p.Errors) == 0 || p.Errors[0].Location != "body" || p.Errors[0].Message == "" {
					t.Errorf("%s JSON (%s): the problem does not say what is wrong with the body: %+v", name, who, p)
				}
			}
		}
		ts.client().do("POST", "/api/v1/auth/login", `{"email": `).wantProblem(http.StatusBadRequest)
		// Well-formed JSON of the wrong shape: 422 naming the field.
		for name, tc := range map[string]struct{ body, location string }{
			"wrong type":    {`{"name": 5, "role": "viewer"}`, "body.name"},
			"unknown role":  {`{"name": "ci", "role": "superuser"}`, "body.role"},
			"empty name":    {`{"name": "", "role": "viewer"}`, "body.name"},
			"missing field": {`{"name": "ci"}`, "body"},
		} {
			p := api.do("POST", "/api/v1/team/tokens", tc.body).wantProblem(http.StatusUnprocessableEntity)
			if len(p.Errors) == 0 || p.Errors[0].Location != tc.location || p.Errors[0].Message == "" {
				t.Errorf("%s: the problem does not point at %s: %+v", name, tc.location, p)
			}
		}
		api.do("GET", "/api/v1/team?team=not-a-uuid", nil).wantProblem(http.StatusUnprocessableEntity)
		// An id that is not a UUID addresses nothing: 404, like a missing
		// token (issue 12; it was 422).
		api.do("DELETE", "/api/v1/team/tokens/not-a-uuid", nil).wantProblem(http.StatusNotFound)

		// Bodies over TRIBUTARY_MAX_BODY_BYTES, with and without a length.
		big := `{"name": "` + strings.Repeat("a", 5000) + `", "role": "viewer"}`
		p := api.do("POST", "/api/v1/team/tokens", big).wantProblem(http.StatusRequestEntityTooLarge)
		if !strings.Contains(p.Detail, "4096") {
			t.Errorf("413 does not say the limit: %q", p.Detail)
		}
		ts.client().do("POST", "/api/v1/auth/login", `{"email": "`+strings.Repeat("a", 5000)+`"}`).wantProblem(http.StatusRequestEntityTooLarge)
		// Without a Content-Length the limit trips while huma reads the body.
		res := api.doChunked("POST", "/api/v1/team/tokens", big)
		if res.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("oversized body without Content-Length: status %d, want 413; body %s", res.Status, res.Body)
		}
		res = ts.client().doChunked("POST", "/setup", url.Values{"email": {"a@example.com"}, "password": {strings.Repeat("a", 5000)}, "team": {"x"}})
		if res.Status != http.StatusRequestEntityTooLarge && res.Status != http.StatusBadRequest {
			t.Errorf("oversized setup form: status %d, want 413 or 400", res.Status)
		}
		if n := ts.count(`SELECT count(*) FROM api_tokens`); n != 1 {
			t.Errorf("%d tokens after bad requests, want 1", n)
		}
		if n := ts.count(`SELECT count(*) FROM users`); n != 1 {
			t.Errorf("%d users after bad requests, want 1", n)
		}

		// Unknown routes.
		api.do("GET", "/api/v1/nope", nil).want(http.StatusNotFound)
		api.do("POST", "/api/v1/nope", `{}`).want(http.StatusNotFound)
		ts.client().do("GET", "/nope", nil).want(http.StatusNotFound)
		api.do("DELETE", "/api/v1/team/tokens/"+uuid.NewString(), nil).wantProblem(http.StatusNotFound)

		// Nothing above broke the server.
		for _, line := range strings.Split(ts.Logs.String(), "\n") {
			if strings.Contains(line, "panic") {
				t.Errorf("server logged a panic: %s", line)
			}
		}
	})
}

func TestOperations(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		anon := ts.client()
		if res := anon.do("GET", "/healthz", nil).want(http.StatusOK); strings.TrimSpace(string(res.Body)) != "ok" {
			t.Errorf("/healthz body %q", res.Body)
		}
		anon.do("GET", "/readyz", nil).want(http.StatusOK)

		// Metrics count requests by route pattern: ids in paths do not
		// become label values.
		_, team := ts.createUser("ada@example.com", "Acme", "")
		_, secret := ts.issueToken(team.ID, auth.Owner)
		missing := uuid.New()
		ts.bearer(secret).do("DELETE", "/api/v1/team/tokens/"+missing.String(), nil).want(http.StatusNotFound)
		anon.do("GET", "/api/v1/me", nil).want(http.StatusUnauthorized)
		res := anon.do("GET", "/metrics", nil).want(http.StatusOK)
		for _, want := range []string{
			`tributary_http_requests_total{code="200",method="GET",route="GET /healthz"} 1`,
			`tributary_http_requests_total{code="401",method="GET",route="GET /api/v1/me"} 1`,
			`tributary_http_requests_total{code="404",method="DELETE",route="DELETE /api/v1/team/tokens/{token}"} 1`,
		} {
			if !bytes.Contains(res.Body, []byte(want)) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if !regexp.MustCompile(`(?m)^tributary_http_request_duration_seconds_bucket\{`).Match(res.Body) {
			t.Errorf("/metrics lacks the request latency histogram")
		}
		if bytes.Contains(res.Body, []byte(missing.String())) {
			t.Errorf("/metrics contains an id from a path")
		}

		// The OpenAPI document.
		res = anon.do("GET", "/api/v1/openapi.json", nil).want(http.StatusOK)
		var doc struct {
			OpenAPI    string                     `json:"openapi"`
			Paths      map[string]json.RawMessage `json:"paths"`
			Components struct {
				SecuritySchemes map[string]json.RawMessage `json:"securitySchemes"`
			} `json:"components"`
		}
		res.json(&doc)
		if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
			t.Errorf("openapi %q, want 3.1.x", doc.OpenAPI)
		}
		for _, p := range []string{"/api/v1/me", "/api/v1/team/tokens", "/api/v1/team/tokens/{token}", "/api/v1/auth/login", "/api/v1/team/members"} {
			if _, ok := doc.Paths[p]; !ok {
				t.Errorf("OpenAPI document lacks %s", p)
			}
		}
		if _, ok := doc.Components.SecuritySchemes["bearer"]; !ok {
			t.Errorf("OpenAPI document lacks the bearer security scheme")
		}
	})
}

func TestJobDashboardAccess(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		ts := startServer(t, backend)
		root, _ := ts.createUser("root@example.com", "Ops", "") // the first user: instance admin
		dev, devTeam := ts.createUser("dev@example.com", "Dev", "")
		_, ownerToken := ts.issueToken(devTeam.ID, auth.Owner)

		for _, path := range []string{"/admin/jobs/", "/admin/jobs/api/queues"} {
			ts.client().do("GET", path, nil).wantProblem(http.StatusUnauthorized)
			// A team owner is not an instance admin.
			ts.signIn(dev).do("GET", path, nil).wantProblem(http.StatusForbidden)
			ts.bearer(ownerToken).do("GET", path, nil).wantProblem(http.StatusForbidden)
		}
		admin := ts.signIn(root)
		res := admin.do("GET", "/admin/jobs/", nil).want(http.StatusOK)
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("dashboard Content-Type %q", ct)
		}
		admin.do("GET", "/admin/jobs/api/queues", nil).want(http.StatusOK)
		res = admin.do("GET", "/admin/jobs", nil).want(http.StatusMovedPermanently)
		if loc := res.Header.Get("Location"); loc != "/admin/jobs/" {
			t.Errorf("/admin/jobs redirects to %q", loc)
		}
	})
}

func TestMaintenanceJobRunsOnStart(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := testConfig(t, backend)
		// Arrange the database before the server starts.
		st := openStore(t, cfg)
		ctx := t.Context()
		u, err := st.CreateUser(ctx, store.NewUser{Email: "ada@example.com", PasswordHash: "unused"})
		must(t, err)
		now := core.Now()
		_, expired := auth.NewSessionID()
		_, live := auth.NewSessionID()
		must(t, st.CreateSession(ctx, core.Session{IDHash: expired, UserID: u.ID, CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Hour)}))
		must(t, st.CreateSession(ctx, core.Session{IDHash: live, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))

		ts := serveConfig(t, backend, cfg)
		eventually(t, 30*time.Second, "the expired session is deleted by the maintenance job", func() bool {
			return ts.count(`SELECT count(*) FROM sessions WHERE id_hash = ?`, expired) == 0
		})
		eventually(t, 30*time.Second, "the maintenance job is recorded as completed", func() bool {
			return ts.count(`SELECT count(*) FROM river_job WHERE kind = 'maintenance' AND state = 'completed'`) == 1
		})
		if n := ts.count(`SELECT count(*) FROM sessions WHERE id_hash = ?`, live); n != 1 {
			t.Errorf("maintenance deleted a live session")
		}
	})
}

// TestBodyLimitAboveDefault: a TRIBUTARY_MAX_BODY_BYTES above huma's own
// 1 MiB default applies to API routes too.
func TestBodyLimitAboveDefault(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := testConfig(t, backend)
		cfg.MaxBodyBytes = 4 << 20
		ts := serveConfig(t, backend, cfg)
		_, team := ts.createUser("ada@example.com", "Acme", "")
		_, secret := ts.issueToken(team.ID, auth.Admin)
		// 2 MiB of JSON, within the configured limit: refused for its
		// content (name too long), not for its size.
		body := `{"name": "` + strings.Repeat("a", 2<<20) + `", "role": "viewer"}`
		res := ts.bearer(secret).do("POST", "/api/v1/team/tokens", body)
		if res.Status == http.StatusRequestEntityTooLarge {
			t.Errorf("a 2 MiB body under a 4 MiB TRIBUTARY_MAX_BODY_BYTES is refused as too large: %s", res.Body)
		}
		res.wantProblem(http.StatusUnprocessableEntity)
	})
}

// TestRestart stops a server and starts another on the same data dir and
// database: migrations run again harmlessly, the data and the secrets key
// are kept, and the new configuration (an https base URL) applies.
func TestRestart(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := testConfig(t, backend)
		ts := serveConfig(t, backend, cfg)
		_, team := ts.createUser("ada@example.com", "Acme", "")
		_, secret := ts.issueToken(team.ID, auth.Viewer)
		keyFile := filepath.Join(cfg.DataDir, "secret.key")
		fi, err := os.Stat(keyFile)
		must(t, err)
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("secrets key file created with mode %04o, want 0600", fi.Mode().Perm())
		}
		key, err := os.ReadFile(keyFile)
		must(t, err)
		if _, err := ts.Stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}

		cfg.BaseURL = "https://tributary.example.com"
		ts = serveConfig(t, backend, cfg)
		ts.bearer(secret).do("GET", "/api/v1/team", nil).want(http.StatusOK)
		if res := ts.client().do("GET", "/", nil).want(http.StatusSeeOther); res.Header.Get("Location") != "/login" {
			t.Errorf("after a restart GET / redirects to %q, want /login", res.Header.Get("Location"))
		}
		if again, err := os.ReadFile(keyFile); err != nil || !bytes.Equal(again, key) {
			t.Errorf("the secrets key changed across a restart (%v)", err)
		}
		res := ts.client().do("POST", "/api/v1/auth/login", map[string]string{"email": "ada@example.com", "password": password}).want(http.StatusOK)
		if c := res.cookie(httpapi.SessionCookie); c == nil || !c.Secure {
			t.Errorf("behind an https base URL the session cookie is not Secure: %v", res.Header["Set-Cookie"])
		}
	})
}

// TestServeRefusesUnmigratedDatabase: with TRIBUTARY_MIGRATE=false a
// fresh database is refused at start with a message saying what to do.
func TestServeRefusesUnmigratedDatabase(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		cfg := testConfig(t, backend)
		cfg.Migrate = false
		err := app.Serve(t.Context(), cfg, app.NewLogger(cfg, io.Discard), func(string) {
			t.Error("Serve became ready on an unmigrated database")
		})
		if err == nil || !strings.Contains(err.Error(), "tributary migrate") {
			t.Errorf("Serve on an unmigrated database returned %v, want an error saying to run tributary migrate", err)
		}
	})
}

// requestIDField matches the request id of a problem body.
var requestIDField = regexp.MustCompile(`,?"request_id":"[^"]*"`)
