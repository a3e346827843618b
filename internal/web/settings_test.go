package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/auth"
)

// TestSettings drives the team settings page over plain HTTP: members,
// tokens shown once, secrets never shown, usage, errors next to their
// field with what was typed, and viewers without controls whose posts the
// server refuses.
func TestSettings(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	if _, _, err := s.Accounts.CreateUser(ctx, "ada@example.com", testPassword, "Acme", auth.Owner); err != nil {
		t.Fatal(err)
	}
	vic, _, err := s.Accounts.CreateUser(ctx, "vic@example.com", testPassword, "Acme", auth.Viewer)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Accounts.CreateUser(ctx, "bob@example.com", testPassword, "Elsewhere", auth.Owner); err != nil {
		t.Fatal(err)
	}
	owner := login(t, s.URL, "ada@example.com")
	viewer := login(t, s.URL, "vic@example.com")
	var p pipelineJSON
	owner.do("POST", "/api/v1/pipelines", map[string]any{"name": "sensors", "kind": "webhook"}, &p)

	send := func(c *http.Client, path string, form url.Values) (int, string) {
		t.Helper()
		cp := *c
		cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		var res *http.Response
		var err error
		if form == nil {
			res, err = cp.Get(s.URL + path)
		} else {
			res, err = cp.PostForm(s.URL+path, form)
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}

	// The owner sees every section with its controls.
	code, page := send(owner.c, "/settings", nil)
	for _, want := range []string{`id="members"`, `id="tokens"`, `id="secrets"`, `data-usage-pipeline="sensors"`, `action="/settings/members"`, `action="/settings/tokens"`, `action="/settings/secrets"`} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Fatalf("owner's settings: %d, no %s\n%s", code, want, page)
		}
	}

	// Adding an unknown email: the error next to the field, the email kept.
	code, page = send(owner.c, "/settings/members", url.Values{"email": {"nobody@example.com"}, "role": {"editor"}})
	if code != http.StatusNotFound || !strings.Contains(page, `id="member-email-error"`) || !strings.Contains(page, `value="nobody@example.com"`) {
		t.Fatalf("adding an unknown email: %d\n%s", code, page)
	}
	if code, _ = send(owner.c, "/settings/members", url.Values{"email": {"bob@example.com"}, "role": {"editor"}}); code != http.StatusSeeOther {
		t.Fatalf("adding bob: %d", code)
	}
	if _, page = send(owner.c, "/settings", nil); !strings.Contains(page, `data-member="bob@example.com"`) {
		t.Fatal("bob is not listed")
	}

	// A token: shown once with a copy button, then only its hint.
	code, page = send(owner.c, "/settings/tokens", url.Values{"name": {"ci"}, "role": {"editor"}})
	secret := regexp.MustCompile(`data-token-secret[^>]*value="([^"]+)"|value="([^"]+)"[^>]*data-token-secret`).FindStringSubmatch(page)
	if code != http.StatusCreated || secret == nil || !strings.Contains(page, `data-copy=`) {
		t.Fatalf("create token: %d\n%s", code, page)
	}
	plain := secret[1] + secret[2]
	req, _ := http.NewRequest("GET", s.URL+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+plain)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the new token does not work: %v %v", res, err)
	}
	if _, page = send(owner.c, "/settings", nil); strings.Contains(page, plain) || !strings.Contains(page, `data-token="ci"`) {
		t.Fatal("the token is shown again, or not listed")
	}
	if code, page = send(owner.c, "/settings/tokens", url.Values{"name": {""}, "role": {"editor"}}); code != http.StatusUnprocessableEntity || !strings.Contains(page, `id="token-name-error"`) {
		t.Fatalf("a token without a name: %d\n%s", code, page)
	}
	revoke := regexp.MustCompile(`action="(/settings/tokens/[^/"]+/revoke)"`).FindStringSubmatch(page)
	if revoke == nil {
		t.Fatal("no revoke button")
	}
	if code, _ = send(owner.c, revoke[1], url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("revoke: %d", code)
	}
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the revoked token still works: %v %v", res.StatusCode, err)
	}

	// Secrets: stored, replaced, deleted; the value never on a page.
	const value = "s3cr3t-value-never-shown"
	if code, page = send(owner.c, "/settings/secrets", url.Values{"name": {"Bad Name"}, "value": {value}}); code != http.StatusUnprocessableEntity ||
		!strings.Contains(page, `id="secret-name-error"`) || strings.Contains(page, value) || !strings.Contains(page, `value="Bad Name"`) {
		t.Fatalf("a bad secret name: %d\n%s", code, page)
	}
	if code, _ = send(owner.c, "/settings/secrets", url.Values{"name": {"api_key"}, "value": {value}}); code != http.StatusSeeOther {
		t.Fatalf("create secret: %d", code)
	}
	if _, page = send(owner.c, "/settings", nil); !strings.Contains(page, `data-secret="api_key"`) || strings.Contains(page, value) {
		t.Fatal("the secret is not listed, or its value shows")
	}
	if code, _ = send(owner.c, "/settings/secrets/api_key", url.Values{"value": {"another"}}); code != http.StatusSeeOther {
		t.Fatalf("replace secret: %d", code)
	}

	// The viewer: members and usage, no controls; the server refuses anyway.
	_, page = send(viewer.c, "/settings", nil)
	for _, bad := range []string{`data-edit-controls`, `id="tokens"`, `/remove"`, `/delete"`, `/settings/secrets/api_key"`} {
		if strings.Contains(page, bad) {
			t.Errorf("the viewer's settings show %s", bad)
		}
	}
	if !strings.Contains(page, `data-member="ada@example.com"`) || !strings.Contains(page, `data-secret="api_key"`) {
		t.Errorf("the viewer does not see members or secret names")
	}
	for path, form := range map[string]url.Values{
		"/settings/tokens":                               {"name": {"mine"}, "role": {"viewer"}},
		"/settings/members":                              {"email": {"bob@example.com"}, "role": {"owner"}},
		"/settings/secrets/api_key/delete":               {},
		"/settings/members/" + vic.ID.String() + "/role": {"role": {"owner"}},
	} {
		if code, _ := send(viewer.c, path, form); code != http.StatusForbidden {
			t.Errorf("viewer POST %s: %d, want 403", path, code)
		}
	}

	if code, _ = send(owner.c, "/settings/secrets/api_key/delete", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("delete secret: %d", code)
	}

	// Usage counts the pipeline's runs once records arrive.
	post(t, p.IngestURL, `[{"n": 1}, {"n": 2}]`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, page = send(viewer.c, "/settings", nil)
		if strings.Contains(page, `data-runs>1<`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the usage shows no run:\n%s", page)
		}
		time.Sleep(50 * time.Millisecond) // polling for a condition, with a deadline
	}
}
