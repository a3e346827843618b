package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/pgtest"
)

// TestEditor drives the pipeline editor over plain HTTP on both
// backends: the preview, creating and editing through the form, errors
// shown with what was typed, and the server refusing viewers and
// cross-site posts.
func TestEditor(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			dsn := ""
			if backend == "postgres" {
				dsn = pgtest.DatabaseURL(t)
			}
			testEditor(t, startServerOn(t, dsn))
		})
	}
}

func testEditor(t *testing.T, s *server) {
	ctx := context.Background()
	if _, _, err := s.Accounts.CreateUser(ctx, "ada@example.com", testPassword, "Acme", auth.Owner); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Accounts.CreateUser(ctx, "vic@example.com", testPassword, "Acme", auth.Viewer); err != nil {
		t.Fatal(err)
	}
	owner := login(t, s.URL, "ada@example.com")
	viewer := login(t, s.URL, "vic@example.com")
	noRedirect := func(c *http.Client) *http.Client {
		cp := *c
		cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return &cp
	}
	send := func(c *http.Client, method, path string, form url.Values) (*http.Response, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, s.URL+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := noRedirect(c).Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}

	// The list offers the editor to editors only.
	if _, page := send(owner.c, "GET", "/pipelines", nil); !strings.Contains(page, `href="/pipelines/new"`) {
		t.Errorf("the owner's list has no New pipeline button")
	}
	if _, page := send(viewer.c, "GET", "/pipelines", nil); strings.Contains(page, `/pipelines/new`) {
		t.Errorf("the viewer's list offers the editor")
	}

	// A new pipeline's editor: a commented example and its preview.
	res, page := send(owner.c, "GET", "/pipelines/new", nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "kind: webhook") || !strings.Contains(page, `hx-trigger="keyup changed delay:400ms"`) ||
		!strings.Contains(page, `data-accepted>1<`) || !strings.Contains(page, `data-rejected>1<`) {
		t.Fatalf("GET /pipelines/new: %d\n%s", res.StatusCode, page)
	}

	// The preview pane as the user types: raw, mapped, valid or rejected.
	spec := "name: orders\nkind: webhook\nmapping:\n  fields:\n    total: { path: amount, type: number }\n"
	res, page = send(owner.c, "POST", "/pipelines/preview", url.Values{"spec": {spec}, "input": {`[{"amount": 12.5}, {"amount": "lots"}]`}})
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `data-accepted>1<`) || !strings.Contains(page, `data-rejected>1<`) ||
		!strings.Contains(page, "{&#34;total&#34;:12.5}") || strings.Contains(page, "<html") {
		t.Errorf("preview: %d\n%s", res.StatusCode, page)
	}
	// Spec errors with their path, in the pane (htmx swaps 200s only).
	res, page = send(owner.c, "POST", "/pipelines/preview", url.Values{"spec": {"name: orders\nkind: webhook\nmapping:\n  fields:\n    total: { path: amount, type: nope }\n"}, "input": {`{"amount": 1}`}})
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "data-preview-errors") || !strings.Contains(page, "<code>mapping.fields.total") {
		t.Errorf("preview of a bad spec: %d\n%s", res.StatusCode, page)
	}
	if res, page = send(owner.c, "POST", "/pipelines/preview", url.Values{"spec": {"name: [unclosed"}}); res.StatusCode != http.StatusOK || !strings.Contains(page, "data-preview-errors") {
		t.Errorf("preview of bad YAML: %d\n%s", res.StatusCode, page)
	}

	// A bad spec is not saved: the form comes back with what was typed
	// and the errors next to it.
	bad := "name: orders\nkind: webhook\nmapping:\n  fields:\n    total: { path: amount, type: nope }\n# my comment\n"
	res, page = send(owner.c, "POST", "/pipelines/new", url.Values{"spec": {bad}, "input": {`{"amount": 1}`}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "data-save-errors") ||
		!strings.Contains(page, "# my comment") || !strings.Contains(page, "mapping.fields.total") || !strings.Contains(page, "{&#34;amount&#34;: 1}") {
		t.Errorf("create with a bad spec: %d\n%s", res.StatusCode, page)
	}

	// Input that is not JSON is the preview's problem, at its field.
	res, page = send(owner.c, "POST", "/pipelines/preview", url.Values{"spec": {spec}, "input": {`{"amount": `}})
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "data-preview-errors") || !strings.Contains(page, "<code>input</code>") {
		t.Errorf("preview of bad input: %d\n%s", res.StatusCode, page)
	}
	// A webhook pipeline needs a sample to preview.
	res, page = send(owner.c, "POST", "/pipelines/preview", url.Values{"spec": {spec}})
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "data-preview-errors") || !strings.Contains(page, "<code>input</code>") {
		t.Errorf("preview without input: %d\n%s", res.StatusCode, page)
	}
	// A spec that is not a mapping.
	res, page = send(owner.c, "POST", "/pipelines/new", url.Values{"spec": {"- just\n- a list\n"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "must be a mapping") || !strings.Contains(page, "- a list") {
		t.Errorf("create with a list: %d\n%s", res.StatusCode, page)
	}

	// The viewer: no editor, no preview, no create.
	for _, c := range []struct {
		method, path string
		form         url.Values
	}{
		{"GET", "/pipelines/new", nil},
		{"POST", "/pipelines/new", url.Values{"spec": {spec}}},
		{"POST", "/pipelines/preview", url.Values{"spec": {spec}, "input": {"{}"}}},
	} {
		if res, _ := send(viewer.c, c.method, c.path, c.form); res.StatusCode != http.StatusForbidden {
			t.Errorf("viewer %s %s: %d, want 403", c.method, c.path, res.StatusCode)
		}
	}
	// A cross-site post is refused before it reaches the page.
	req, _ := http.NewRequest("POST", s.URL+"/pipelines/new", strings.NewReader(url.Values{"spec": {spec}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if res, err := noRedirect(owner.c).Do(req); err != nil {
		t.Fatal(err)
	} else if res.Body.Close(); res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site create: %d, want 403", res.StatusCode)
	}
	var list struct {
		Pipelines []pipelineJSON `json:"pipelines"`
	}
	owner.do("GET", "/api/v1/pipelines", nil, &list)
	if len(list.Pipelines) != 0 {
		t.Fatalf("refused creates made pipelines: %v", list.Pipelines)
	}

	// Create: to the dashboard, whose flash shows the ingest URL once.
	res, _ = send(owner.c, "POST", "/pipelines/new", url.Values{"spec": {spec}, "input": {`{"amount": 1}`}})
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/pipelines/") {
		t.Fatalf("create: %d to %q", res.StatusCode, loc)
	}
	id := strings.TrimPrefix(loc, "/pipelines/")
	_, page = send(owner.c, "GET", loc, nil)
	if !strings.Contains(page, "is created") || !strings.Contains(page, "/hooks/") || !strings.Contains(page, "curl -X POST") ||
		!strings.Contains(page, `href="/pipelines/`+id+`/edit"`) {
		t.Errorf("the dashboard after create:\n%s", page)
	}
	if _, page = send(owner.c, "GET", loc, nil); strings.Contains(page, "/hooks/") {
		t.Errorf("the ingest URL shows a second time")
	}
	if _, page = send(viewer.c, "GET", loc, nil); strings.Contains(page, "/edit") {
		t.Errorf("the viewer's dashboard offers the editor")
	}

	// A second pipeline of the same name is refused, keeping the form.
	res, page = send(owner.c, "POST", "/pipelines/new", url.Values{"spec": {spec + "# again\n"}})
	if res.StatusCode != http.StatusConflict || !strings.Contains(page, "# again") || !strings.Contains(page, "data-save-errors") {
		t.Errorf("create a taken name: %d\n%s", res.StatusCode, page)
	}

	// Edit: the current spec, and a save that keeps the kind.
	res, page = send(owner.c, "GET", loc+"/edit", nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(page, "name: orders") || !strings.Contains(page, `name="version" value="1"`) {
		t.Fatalf("GET edit: %d\n%s", res.StatusCode, page)
	}
	if res, _ := send(viewer.c, "GET", loc+"/edit", nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("viewer GET edit: %d, want 403", res.StatusCode)
	}
	if res, _ := send(viewer.c, "POST", loc+"/edit", url.Values{"spec": {spec}, "version": {"1"}}); res.StatusCode != http.StatusForbidden {
		t.Errorf("viewer POST edit: %d, want 403", res.StatusCode)
	}
	res, page = send(owner.c, "POST", loc+"/edit", url.Values{"spec": {strings.Replace(spec, "webhook", "poll", 1)}, "version": {"1"}, "name": {"orders"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, "data-save-errors") {
		t.Errorf("edit to another kind: %d\n%s", res.StatusCode, page)
	}
	res, _ = send(owner.c, "POST", loc+"/edit", url.Values{"spec": {spec + "retention: 7d\n"}, "version": {"1"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != loc {
		t.Fatalf("edit: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	var got struct {
		Version int `json:"version"`
	}
	owner.do("GET", "/api/v1/pipelines/"+id, nil, &got)
	if got.Version != 2 {
		t.Errorf("after the edit the pipeline is at version %d", got.Version)
	}
	// A save based on an old version is refused, keeping what was typed.
	res, page = send(owner.c, "POST", loc+"/edit", url.Values{"spec": {spec + "# stale\n"}, "version": {"1"}})
	if res.StatusCode != http.StatusConflict || !strings.Contains(page, "# stale") || !strings.Contains(page, "data-save-errors") {
		t.Errorf("stale edit: %d\n%s", res.StatusCode, page)
	}
}
