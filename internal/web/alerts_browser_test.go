package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tributary-dev/tributary/internal/auth"
)

// TestBrowserAlerts: a rule on a failing polling pipeline fires; the
// alerts page shows it firing with its history, the navigation badge
// counts it, the pipeline's row and dashboard carry its state, a silence
// is created from the page, a channel's test notification to a failing
// receiver shows its last error; a viewer sees no edit controls and the
// server refuses their writes.
func TestBrowserAlerts(t *testing.T) {
	if _, err := os.Stat(filepath.Join("static", "dist", "manifest.json")); err != nil {
		need(t, "the front-end bundles are not built (run make web)")
	}
	t.Setenv("TRIBUTARY_ALERT_INTERVAL", "1s")
	s := startServer(t)
	ctx := browser(t)
	step(t, ctx, "first-run setup",
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/setup"]`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), "ada@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#password`), testPassword),
		chromedp.SendKeys(chromedp.CSS(`#team`), "Acme"),
		chromedp.Click(chromedp.CSS(`form[action="/setup"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.empty`)),
	)

	// A polling pipeline on an API that fails, a receiver that refuses
	// notifications, and a rule sending to it and to the page.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream is down", http.StatusBadGateway)
	}))
	t.Cleanup(down.Close)
	owner := login(t, s.URL, "ada@example.com")
	var weather pipelineJSON
	owner.do("POST", "/api/v1/pipelines", []byte(`{"name":"weather-api","kind":"polling","source":{"interval":"1s","http":{"url":"`+down.URL+`/obs"}}}`), &weather)
	owner.do("POST", "/api/v1/alert-channels", []byte(`{"name":"ui","inapp":{}}`), nil)
	owner.do("POST", "/api/v1/alert-channels", []byte(`{"name":"ops-hook","webhook":{"url":"`+down.URL+`/alerts"}}`), nil)
	owner.do("POST", "/api/v1/alert-rules", []byte(`{"name":"weather down","pipeline":"weather-api","failing":{},"severity":"critical","channels":["ui"]}`), nil)
	deadline := time.Now().Add(time.Minute)
	for {
		var st struct {
			States []struct {
				State string `json:"state"`
			} `json:"states"`
		}
		owner.do("GET", "/api/v1/alert-states", nil, &st)
		if len(st.States) == 1 && st.States[0].State == "firing" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rule did not fire within a minute: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}

	step(t, ctx, "alerts page", chromedp.Navigate(s.URL+"/alerts"),
		chromedp.WaitVisible(chromedp.CSS(`[data-active-alert="firing"]`)))
	if text := eval[string](t, ctx, `document.querySelector("[data-alerts-active]").innerText`); !strings.Contains(text, "weather down") || !strings.Contains(text, "weather-api") {
		t.Errorf("the firing list: %q", text)
	}
	if got := eval[string](t, ctx, `document.querySelector('[data-rule="weather down"] [data-alert-state]').dataset.alertState`); got != "firing" {
		t.Errorf("the rule's state badge says %q", got)
	}
	if text := eval[string](t, ctx, `document.querySelector("[data-alert-history]").innerText`); !strings.Contains(text, "firing") || !strings.Contains(text, "is failing") {
		t.Errorf("the history: %q", text)
	}
	waitFor(t, ctx, "the navigation's badge of firing alerts", `document.querySelector("[data-nav-badge] [data-firing]")?.dataset.firing === "1"`)

	// A silence, from the page.
	eval[bool](t, ctx, `document.querySelector("[data-silence-form]").closest("details").open = true`)
	step(t, ctx, "silence the pipeline",
		chromedp.SetValue(chromedp.CSS(`#silence-pipeline`), weather.ID),
		chromedp.SendKeys(chromedp.CSS(`#silence-reason`), "upstream maintenance"),
		chromedp.Click(chromedp.CSS(`[data-silence-form] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-silences]`)))
	if text := eval[string](t, ctx, `document.querySelector("[data-silences]").innerText`); !strings.Contains(text, "pipeline weather-api") || !strings.Contains(text, "upstream maintenance") {
		t.Errorf("the silences: %q", text)
	}
	// A test notification to a receiver that fails marks the channel
	// failing with its last error.
	step(t, ctx, "test a channel", chromedp.Click(chromedp.CSS(`[data-test-channel="ops-hook"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-channel="ops-hook"] [data-channel-error]`)))
	if text := eval[string](t, ctx, `document.querySelector('[data-channel="ops-hook"]').innerText`); !strings.Contains(text, "failing") || !strings.Contains(text, "502") {
		t.Errorf("the failing channel's row: %q", text)
	}
	if text := eval[string](t, ctx, `document.querySelector(".flashes").innerText`); !strings.Contains(text, "failed") {
		t.Errorf("no flash about the failed test: %q", text)
	}
	waitFor(t, ctx, "the badge after the reload", `document.querySelector("[data-nav-badge] [data-firing]") !== null`)
	screenshot(t, ctx, "alerts")
	axeScan(t, ctx, "alerts")

	// The pipeline's row and dashboard carry the state.
	step(t, ctx, "pipelines list", chromedp.Navigate(s.URL+"/pipelines"),
		chromedp.WaitVisible(chromedp.CSS(`#p-`+weather.ID+` [data-pipeline-alert="firing"]`)))
	step(t, ctx, "dashboard", chromedp.Navigate(s.URL+"/pipelines/"+weather.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-dashboard] [data-pipeline-alert="firing"]`)))

	// A viewer sees no edit controls, and the server refuses their writes.
	if _, _, err := s.Accounts.CreateUser(context.Background(), "vic@example.com", testPassword, "Acme", auth.Viewer); err != nil {
		t.Fatalf("create viewer: %v", err)
	}
	viewer := login(t, s.URL, "vic@example.com")
	res, err := viewer.c.Get(s.URL + "/alerts")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page), "weather down") {
		t.Fatalf("the viewer's alerts page: %s", res.Status)
	}
	for _, control := range []string{"data-edit-controls", "Test notification", `action="/alerts/rules"`} {
		if strings.Contains(string(page), control) {
			t.Errorf("a viewer's alerts page holds %q", control)
		}
	}
	res, err = viewer.c.PostForm(s.URL+"/alerts/rules", url.Values{"rule": {`{"name":"sneaky","failing":{}}`}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var rules struct {
		Rules []struct {
			Name string `json:"name"`
		} `json:"rules"`
	}
	owner.do("GET", "/api/v1/alert-rules", nil, &rules)
	if res.StatusCode != http.StatusForbidden || len(rules.Rules) != 1 {
		t.Errorf("a viewer's rule: %s, rules now %+v", res.Status, rules.Rules)
	}
}
