package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/auth"
)

// TestDashboardPages drives the dashboard pages over plain HTTP: bad
// input answers with a clear message, the forms keep what was typed, and
// a viewer is refused.
func TestDashboardPages(t *testing.T) {
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
	var d struct {
		ID string `json:"id"`
	}
	owner.do("POST", "/api/v1/dashboards", map[string]any{"name": "ops", "widgets": []map[string]any{
		{"kind": "stat", "series": []map[string]any{{"pipeline": p.ID, "field": "temp"}}},
	}}, &d)
	base := "/dashboards/" + d.ID

	fetch := func(c *http.Client, method, path, form string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(form))
		if form != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		cp := *c
		cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		res, err := cp.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}

	for _, c := range []struct {
		path string
		want int
		text string
	}{
		{"/dashboards", 200, "ops"},
		{base, 200, "dashboard-data"},
		{base + "?range=bogus", 200, `aria-current="true">Live`},
		{base + "?from=2026-01-01T00:00&to=nonsense", 200, "A custom range needs a start and an end"},
		{base + "?from=2026-02-01T00:00&to=2026-01-01T00:00", 200, "The end of the range must be after its start."},
		{base + "?from=2020-01-01T00:00&to=2026-01-01T00:00", 200, "The range can be at most 400 days long."},
		{base + "?from=2026-01-01T00:00&to=2026-01-02T00:00", 200, "Not live: a past range"},
		{base + "/edit", 200, "data-editing"},
		{base + "/widgets/new?kind=table", 200, `<option value="table" selected`},
		{base + "/widgets/0", 200, `value="temp"`},
		{base + "/widgets/7", 404, "no such widget"},
		{base + "/widgets/x", 404, "no such widget"},
		{"/dashboards/not-a-uuid", 404, ""},
		{"/dashboards/01a248b2-9ee6-7689-b2c8-5c027d7bd59d", 404, "no such dashboard"},
	} {
		code, body := fetch(owner.c, "GET", c.path, "")
		if code != c.want || !strings.Contains(body, c.text) {
			t.Errorf("GET %s: %d, want %d with %q", c.path, code, c.want, c.text)
		}
	}

	// Bad forms: the error next to the field, what was typed kept.
	code, body := fetch(owner.c, "POST", base+"/widgets/new", url.Values{"version": {"1"}, "kind": {"line"}, "series": {"1"},
		"title": {"Mine"}, "s0-pipeline": {p.ID}, "s0-field": {"temp"}, "s0-aggregate": {"median"}}.Encode())
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="err-series-0-aggregate"`) || !strings.Contains(body, `value="Mine"`) {
		t.Errorf("a bad aggregate: %d\n%s", code, body)
	}
	code, body = fetch(owner.c, "POST", base+"/widgets/new", url.Values{"version": {"1"}, "kind": {"table"}, "rows": {"many"}, "pipeline": {p.ID}}.Encode())
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="err-rows"`) {
		t.Errorf("bad rows: %d", code)
	}
	code, body = fetch(owner.c, "POST", base+"/widgets/new", url.Values{"version": {"1"}, "kind": {"line"}, "series": {"1"}}.Encode())
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "name a numeric field") {
		t.Errorf("no series: %d", code)
	}
	code, body = fetch(owner.c, "POST", "/dashboards", url.Values{"name": {"ops"}}.Encode())
	if code != http.StatusConflict || !strings.Contains(body, "already has a dashboard named") {
		t.Errorf("a taken name: %d", code)
	}
	// A stale form is refused, not applied.
	code, _ = fetch(owner.c, "POST", base+"/widgets/0/place", url.Values{"version": {"99"}, "x": {"1"}, "y": {"0"}, "w": {"3"}, "h": {"2"}}.Encode())
	if code != http.StatusSeeOther {
		t.Errorf("a stale move: %d", code)
	}
	req, _ := http.NewRequest("POST", s.URL+base+"/widgets/0/place", strings.NewReader("version=1&x=a&y=0&w=3&h=2"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	res, err := owner.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(raw), "whole number") {
		t.Errorf("a bad move: %d %s", res.StatusCode, raw)
	}
	var got struct {
		Version int `json:"version"`
	}
	owner.do("GET", "/api/v1"+base, nil, &got)
	if got.Version != 1 {
		t.Errorf("refused changes changed the dashboard: version %d", got.Version)
	}

	// A viewer reads, but neither edits nor sees the forms.
	for path, want := range map[string]int{base: 200, base + "/edit": 403, base + "/widgets/new": 403, base + "/widgets/0": 403} {
		if code, _ := fetch(viewer.c, "GET", path, ""); code != want {
			t.Errorf("viewer GET %s: %d, want %d", path, code, want)
		}
	}
	if code, _ := fetch(viewer.c, "POST", base+"/settings", "version=1&name=x&range=live"); code != http.StatusForbidden {
		t.Errorf("viewer POST settings: %d", code)
	}
}
