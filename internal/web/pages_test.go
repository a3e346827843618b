package web_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/auth"
)

// TestPages drives the pages over plain HTTP: headers, redirects, bad
// input, the live list's stream and the server refusing a viewer.
func TestPages(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	if _, _, err := s.Accounts.CreateUser(ctx, "ada@example.com", testPassword, "Acme", auth.Owner); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Accounts.CreateUser(ctx, "vic@example.com", testPassword, "Acme", auth.Viewer); err != nil {
		t.Fatal(err)
	}
	owner := login(t, s.URL, "ada@example.com")
	viewer := login(t, s.URL, "vic@example.com")
	var p pipelineJSON
	owner.do("POST", "/api/v1/pipelines", []byte(`{"name":"sensors","kind":"webhook"}`), &p)
	noRedirect := func(c *http.Client) *http.Client {
		cp := *c
		cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return &cp
	}

	get := func(c *http.Client, path string) *http.Response {
		t.Helper()
		res, err := noRedirect(c).Get(s.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		res.Body.Close()
		return res
	}

	// Pages carry a strict policy: no inline script, no eval.
	res := get(http.DefaultClient, "/login")
	csp := res.Header.Get("Content-Security-Policy")
	if res.StatusCode != http.StatusOK || !strings.Contains(csp, "script-src 'self';") || strings.Contains(csp, "unsafe-eval") ||
		strings.Contains(csp, "script-src 'self' 'unsafe-inline'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("GET /login: %d, CSP %q", res.StatusCode, csp)
	}

	// Signed out: pages send to the sign-in page, and back after it.
	res = get(http.DefaultClient, "/pipelines/"+p.ID)
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/login?next="+url.QueryEscape("/pipelines/"+p.ID) {
		t.Errorf("signed-out dashboard: %d to %q", res.StatusCode, loc)
	}

	// Bad input: ids that are not pipelines of the team, unknown tabs.
	for path, want := range map[string]int{
		"/pipelines/" + p.ID:                              http.StatusOK,
		"/pipelines/" + p.ID + "?range=bogus":             http.StatusOK, // the picker falls back to live
		"/pipelines/not-a-uuid":                           http.StatusNotFound,
		"/pipelines/01a248b2-9ee6-7689-b2c8-5c027d7bd59d": http.StatusNotFound,
		"/pipelines/" + p.ID + "/tabs/runs":               http.StatusOK,
		"/pipelines/" + p.ID + "/tabs/deliveries":         http.StatusOK,
		"/pipelines/" + p.ID + "/tabs/uploads":            http.StatusOK,
		"/pipelines/" + p.ID + "/tabs/rejected":           http.StatusOK,
		"/pipelines/" + p.ID + "/tabs/secrets":            http.StatusNotFound,
		"/no-such-page":                                   http.StatusNotFound,
	} {
		if res := get(owner.c, path); res.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, res.StatusCode, want)
		}
	}

	// An uploaded file shows in the uploads tab, with its progress once
	// its rows are counted.
	owner.do("POST", "/api/v1/pipelines/"+p.ID+"/uploads?format=ndjson", []byte("{\"v\":1}\n{\"v\":2}\n"), nil)
	uploads := func() string {
		res, err := owner.c.Get(s.URL + "/pipelines/" + p.ID + "/tabs/uploads")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(uploads(), `data-status="done"`) {
		if time.Now().After(deadline) {
			t.Fatalf("the upload did not show as done:\n%s", uploads())
		}
		time.Sleep(50 * time.Millisecond) // polling for a condition, with a deadline
	}
	if page := uploads(); !strings.Contains(page, "<progress") || strings.Contains(page, `hx-trigger="every 2s"`) {
		t.Errorf("a finished upload's tab: %s", page)
	}

	// The server refuses a viewer's write with a page saying why, and
	// leaves the pipeline as it was.
	form := func(c *http.Client, path string) *http.Response {
		t.Helper()
		res, err := noRedirect(c).PostForm(s.URL+path, url.Values{})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := form(viewer.c, "/pipelines/"+p.ID+"/pause"); res.StatusCode != http.StatusForbidden {
		t.Errorf("viewer pause: %d", res.StatusCode)
	}
	var got struct {
		Status string `json:"status"`
	}
	owner.do("GET", "/api/v1/pipelines/"+p.ID, nil, &got)
	if got.Status != "active" {
		t.Fatalf("a viewer paused the pipeline")
	}
	if res := form(owner.c, "/pipelines/"+p.ID+"/pause"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("owner pause: %d", res.StatusCode)
	}
	owner.do("GET", "/api/v1/pipelines/"+p.ID, nil, &got)
	if got.Status != "paused" {
		t.Errorf("the owner's pause left status %q", got.Status)
	}
	// A cross-site form post is refused before it reaches the page.
	req, _ := http.NewRequest("POST", s.URL+"/pipelines/"+p.ID+"/resume", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := noRedirect(owner.c).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site resume: %d, want 403", res.StatusCode)
	}

	// The live list: every row on connect, as an event named after it.
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, _ = http.NewRequestWithContext(sctx, "GET", s.URL+"/pipelines/live", nil)
	res, err = owner.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("live list: %d %q", res.StatusCode, ct)
	}
	sc := bufio.NewScanner(res.Body)
	var event, data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		if line == "" && event.Len() > 0 {
			break
		}
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			event.WriteString(v)
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			data.WriteString(v)
		}
	}
	if event.String() != "p-"+p.ID || !strings.Contains(data.String(), "sensors") || !strings.Contains(data.String(), `data-status="paused"`) {
		t.Errorf("first live event %q: %s", event.String(), data.String())
	}
	if res := get(http.DefaultClient, "/pipelines/live"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("signed-out live list: %d", res.StatusCode)
	}
}
