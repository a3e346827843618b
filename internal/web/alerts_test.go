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

// TestAlertsPage drives the alerts page over plain HTTP: an editor's
// forms (a rule, bad input, a silence), the badge fragment, a viewer's
// page without edit controls and the server refusing their writes.
func TestAlertsPage(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	// The first account owns the team; the others join it.
	for _, u := range []struct {
		email string
		role  auth.Role
	}{{"ada@example.com", auth.Owner}, {"eve@example.com", auth.Editor}, {"vic@example.com", auth.Viewer}} {
		if _, _, err := s.Accounts.CreateUser(ctx, u.email, testPassword, "Acme", u.role); err != nil {
			t.Fatal(err)
		}
	}
	owner := login(t, s.URL, "ada@example.com")
	editor := login(t, s.URL, "eve@example.com")
	viewer := login(t, s.URL, "vic@example.com")
	owner.do("POST", "/api/v1/pipelines", []byte(`{"name":"sensors","kind":"webhook","retention":"1h",
		"mapping":{"fields":{"temp":{"type":"number"}}}}`), nil)

	page := func(a *api) string {
		t.Helper()
		res, err := a.c.Get(s.URL + "/alerts")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /alerts: %s", res.Status)
		}
		return string(body)
	}
	// form posts and follows the redirect back to the page.
	form := func(a *api, path string, v url.Values) (int, string) {
		t.Helper()
		res, err := a.c.PostForm(s.URL+path, v)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}

	// An editor saves a rule; the page lists it.
	code, body := form(editor, "/alerts/rules", url.Values{"rule": {"name: hot\npipeline: sensors\nthreshold: { field: temp, op: '>', value: 30, window: 5m }\n"}})
	if code != http.StatusOK || !strings.Contains(body, "Alert rule hot is saved") || !strings.Contains(body, `data-rule="hot"`) {
		t.Fatalf("save a rule: %d\n%s", code, body)
	}
	// Bad input is a flash naming the problem, and nothing is saved.
	for _, c := range []struct{ rule, want string }{
		{"name: wet\npipeline: sensors\nthreshold: { field: humidity, op: '>', value: 1, window: 5m }\n", "does not produce a field"},
		{"name: wet\npipeline: sensors\nthreshold: { field: temp, op: '>', value: 1, window: 2h }\n", "longer than pipeline sensors keeps its data"},
		{"name: wet\nthreshold: { field: temp, op: '>', value: high, window: 5m }\n", "must be a number"},
	} {
		code, body = form(editor, "/alerts/rules", url.Values{"rule": {c.rule}})
		if code != http.StatusOK || !strings.Contains(body, c.want) || strings.Contains(body, `data-rule="wet"`) {
			t.Errorf("bad rule %q: %d, page does not say %q or holds the rule", c.rule, code, c.want)
		}
	}
	// A silence with a reason.
	code, body = form(editor, "/alerts/silences", url.Values{"pipeline": {"sensors"}, "hours": {"2"}, "reason": {"moving the sensor"}})
	if code != http.StatusOK || !strings.Contains(body, "Silenced until") || !strings.Contains(body, "moving the sensor") {
		t.Errorf("silence: %d", code)
	}
	// Editors do not manage channels; admins do.
	if code, _ = form(editor, "/alerts/channels", url.Values{"channel": {"name: ui\ninapp: {}\n"}}); code != http.StatusForbidden {
		t.Errorf("an editor's channel: %d, want 403", code)
	}
	if code, body = form(owner, "/alerts/channels", url.Values{"channel": {"name: ui\ninapp: {}\n"}}); code != http.StatusOK || !strings.Contains(body, `data-channel="ui"`) {
		t.Errorf("the owner's channel: %d", code)
	}
	if !strings.Contains(page(editor), "Test notification") || strings.Contains(page(editor), `action="/alerts/channels"`) {
		t.Error("an editor's page: test buttons but no channel form expected")
	}

	// The badge: nothing fires, so an empty fragment.
	res, err := viewer.c.Get(s.URL + "/alerts/badge")
	if err != nil {
		t.Fatal(err)
	}
	badge, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || strings.TrimSpace(string(badge)) != "" {
		t.Errorf("badge: %s %q", res.Status, badge)
	}

	// A viewer: the page without edit controls, every write refused.
	vp := page(viewer)
	if !strings.Contains(vp, `data-rule="hot"`) || strings.Contains(vp, "data-edit-controls") || strings.Contains(vp, "Test notification") {
		t.Error("a viewer's page shows edit controls (or not the rule)")
	}
	for path, v := range map[string]url.Values{
		"/alerts/rules":    {"rule": {`{"name":"sneaky","failing":{}}`}},
		"/alerts/silences": {"pipeline": {"sensors"}, "hours": {"1"}, "reason": {"x"}},
		"/alerts/channels": {"channel": {`{"name":"x","inapp":{}}`}},
	} {
		if code, _ := form(viewer, path, v); code != http.StatusForbidden {
			t.Errorf("a viewer's POST %s: %d, want 403", path, code)
		}
	}
	var rules struct {
		Rules []struct{ Name string } `json:"rules"`
	}
	owner.do("GET", "/api/v1/alert-rules", nil, &rules)
	if len(rules.Rules) != 1 {
		t.Errorf("rules after the refused writes: %+v", rules.Rules)
	}
}
