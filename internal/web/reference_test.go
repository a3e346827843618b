package web_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tributary-dev/tributary/internal/auth"
)

// externalRef finds a reference to another site in a page: an src or
// href attribute with a scheme, or a protocol-relative one.
var externalRef = regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//`)

// assetRef finds the bundles a page loads.
var assetRef = regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`)

// TestReferencePages fetches the GraphiQL page (at /graphiql and as a
// browser's GET /graphql) and the REST reference (/api/docs), and every
// asset they load: all from this server, with their content types, no
// inline script, and never the pages' own bundle.
func TestReferencePages(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(filepath.Join("static", "dist", "manifest.json")); err != nil {
		need(t, "the front-end bundles are not built (run make web)")
	}
	s := startServer(t)
	get := func(path, accept string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		raw, _ := io.ReadAll(res.Body)
		return res, string(raw)
	}
	for _, tc := range []struct {
		path, accept, id string
		assets           []string
	}{
		{"/graphiql", "", `id="graphiql"`, []string{"/static/graphiql-", "/static/graphiql-"}},
		{"/graphql", "text/html,application/xhtml+xml", `id="graphiql"`, []string{"/static/graphiql-", "/static/graphiql-"}},
		{"/api/docs", "", `id="api-docs"`, []string{"/static/apidocs-", "/static/apidocs-"}},
	} {
		res, body := get(tc.path, tc.accept)
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: %d %s", tc.path, res.StatusCode, res.Header.Get("Content-Type"))
			continue
		}
		if !strings.Contains(body, tc.id) {
			t.Errorf("GET %s: no %s in\n%s", tc.path, tc.id, body)
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: CSP %q", tc.path, csp)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, "<script type") {
			t.Errorf("GET %s: an inline script:\n%s", tc.path, body)
		}
		if m := externalRef.FindString(body); m != "" {
			t.Errorf("GET %s: a reference to another site (%s):\n%s", tc.path, m, body)
		}
		refs := assetRef.FindAllStringSubmatch(body, -1)
		if len(refs) != 2 {
			t.Errorf("GET %s: loads %d assets, want a script and a style sheet:\n%s", tc.path, len(refs), body)
		}
		for _, ref := range refs {
			if !strings.HasPrefix(ref[1], tc.assets[0]) {
				t.Errorf("GET %s: loads %s", tc.path, ref[1])
			}
			ares, asset := get(ref[1], "")
			want := "text/javascript"
			if strings.HasSuffix(ref[1], ".css") {
				want = "text/css"
			}
			if ares.StatusCode != http.StatusOK || !strings.HasPrefix(ares.Header.Get("Content-Type"), want) || len(asset) < 10000 {
				t.Errorf("GET %s: %d %s, %d bytes", ref[1], ares.StatusCode, ares.Header.Get("Content-Type"), len(asset))
			}
			if strings.HasSuffix(ref[1], ".css") {
				if m := regexp.MustCompile(`url\(\s*["']?(https?:)?//[^)]*\)|@import`).FindString(asset); m != "" {
					t.Errorf("GET %s: loads from another site: %.120s", ref[1], m)
				}
			}
		}
	}
	// An API client's GET /graphql still says to POST.
	if res, _ := get("/graphql", "application/json"); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /graphql as JSON: %d, want 405", res.StatusCode)
	}
}

// TestReferencePagesInBrowser runs a query in GraphiQL as a signed-in
// user and sees its result, and sees the REST reference list the API's
// operations, with no violation of the pages' policy.
func TestReferencePagesInBrowser(t *testing.T) {
	if _, err := os.Stat(filepath.Join("static", "dist", "manifest.json")); err != nil {
		need(t, "the front-end bundles are not built (run make web)")
	}
	s := startServer(t)
	if _, _, err := s.Accounts.CreateUser(context.Background(), "grace@example.com", testPassword, "Navy", auth.Owner); err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	step(t, ctx, "sign in",
		chromedp.Navigate(s.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#email`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), "grace@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#password`), testPassword),
		chromedp.Submit(chromedp.CSS(`#password`)),
		// The navigation shows once signed in (the login page has a main
		// too: waiting for it raced the form's post with the next page).
		chromedp.WaitVisible(chromedp.CSS(`nav.nav`)),
	)
	// The policy's violations are counted from the first script on.
	const watch = `window.__csp = []; document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + e.blockedURI)); true`
	step(t, ctx, "GraphiQL", chromedp.Navigate(s.URL+"/graphiql"),
		chromedp.WaitVisible(chromedp.CSS(`.graphiql-execute-button`)))
	eval[bool](t, ctx, watch)
	step(t, ctx, "run the query", chromedp.Click(chromedp.CSS(`.graphiql-execute-button`)))
	waitFor(t, ctx, "the query's result", `document.querySelector(".result-window") && document.querySelector(".result-window").innerText.includes("grace@example.com")`)
	if text := eval[string](t, ctx, `document.querySelector(".result-window").innerText`); !strings.Contains(text, "OWNER") && !strings.Contains(text, "owner") {
		t.Errorf("GraphiQL's result has no role:\n%s", text)
	}
	if v := eval[[]string](t, ctx, `window.__csp`); len(v) > 0 {
		t.Errorf("GraphiQL violates the policy: %v", v)
	}

	step(t, ctx, "REST reference", chromedp.Navigate(s.URL+"/api/docs"))
	eval[bool](t, ctx, watch)
	waitFor(t, ctx, "the operations", `document.querySelectorAll(".swagger-ui .opblock").length > 20`)
	if text := eval[string](t, ctx, `document.body.innerText`); !strings.Contains(text, "Tributary API") || !strings.Contains(text, "/api/v1/pipelines") {
		t.Errorf("the REST reference:\n%.2000s", text)
	}
	if v := eval[[]string](t, ctx, `window.__csp`); len(v) > 0 {
		t.Errorf("the REST reference violates the policy: %v", v)
	}
}
