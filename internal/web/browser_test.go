package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/app"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/config"
	"github.com/tributary-dev/tributary/internal/store"
)

// The browser tests drive the real server (SQLite) with Debian's
// Chromium, headless. Under CI a missing Chromium or front-end build is a
// failure; elsewhere the tests skip.

const testPassword = "correct horse battery staple"

// need fails under CI and skips elsewhere.
func need(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s; CI installs it (.ci/run)", what)
	}
	t.Skipf("%s; skipping the browser test", what)
}

type server struct {
	URL      string
	Accounts *account.Service
	// Store is a second handle on the server's database, for tests that
	// prepare data behind the server's back.
	Store store.Store
}

func startServer(t *testing.T) *server {
	t.Helper()
	return startServerOn(t, "")
}

// startServerOn starts the server on a database: "" is SQLite in a
// temporary folder, else a PostgreSQL URL.
func startServerOn(t *testing.T, databaseURL string) *server {
	t.Helper()
	cfg := config.Default()
	cfg.DatabaseURL = databaseURL
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.LogFormat = "json"
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.JobWorkers = 2
	cfg.AllowNetworks = "127.0.0.0/8"
	if err := cfg.Validate(false); err != nil {
		t.Fatalf("config: %v", err)
	}
	var logs bytes.Buffer
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Serve(ctx, cfg, app.NewLogger(cfg, writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			return logs.Write(p)
		})), func(addr string) { ready <- addr })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("the server did not stop")
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("server log:\n%s", logs.String())
			mu.Unlock()
		}
	})
	var s server
	select {
	case addr := <-ready:
		s.URL = "http://" + addr
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the server was not ready within a minute")
	}
	octx, ocancel := context.WithTimeout(context.Background(), time.Minute)
	defer ocancel()
	st, err := app.OpenStore(octx, cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	s.Accounts = account.New(st, cfg.SessionTTL)
	s.Store = st
	return &s
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// api is a JSON API client signed in with a session cookie.
type api struct {
	t    *testing.T
	base string
	c    *http.Client
}

func login(t *testing.T, base, email string) *api {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	a := &api{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
	a.do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": testPassword}, nil)
	return a
}

func (a *api) do(method, path string, body any, out any) {
	a.t.Helper()
	var r io.Reader
	if body != nil {
		raw, ok := body.([]byte)
		if !ok {
			raw, _ = json.Marshal(body)
		}
		r = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	res, err := a.c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		a.t.Fatalf("%s %s: %s: %s", method, path, res.Status, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			a.t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
}

type pipelineJSON struct {
	ID        string `json:"id"`
	IngestURL string `json:"ingest_url"`
}

// browser starts headless Chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		need(t, "chromium is not installed")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(acancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// colorScheme has the page follow a system theme of dark or light.
func colorScheme(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	})
}

// step runs browser actions under a deadline.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it is true.
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if _, err := chromedp.Run(sctx, chromedp.Poll[bool]("!!("+cond+")", chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 3000) : ""`))
		t.Fatalf("waiting for %s (%s): %v\npage text:\n%s", what, cond, err, html)
	}
}

// axeScan runs axe-core in the page and fails on serious or critical
// violations.
func axeScan(t *testing.T, ctx context.Context, page string) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "web", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		need(t, "web/node_modules/axe-core is missing (run make web)")
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](string(src)+";true")); err != nil {
		t.Fatalf("inject axe-core: %v", err)
	}
	type violation struct {
		ID     string `json:"id"`
		Impact string `json:"impact"`
		Help   string `json:"help"`
		Nodes  []struct {
			Target []any `json:"target"`
		} `json:"nodes"`
	}
	vs := eval[[]violation](t, ctx, `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => ({target: n.target}))})))`)
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("%s page: axe %s violation %s: %s at %v", page, v.Impact, v.ID, v.Help, v.Nodes)
		} else {
			t.Logf("%s page: axe %s violation %s: %s", page, v.Impact, v.ID, v.Help)
		}
	}
}

// screenshot saves a screenshot into docs/screenshots when
// UPDATE_SCREENSHOTS=1.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if os.Getenv("UPDATE_SCREENSHOTS") != "1" {
		return
	}
	var buf []byte
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	buf, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	ext := ".png"
	if err := os.WriteFile(filepath.Join("..", "..", "docs", "screenshots", name+ext), buf, 0o644); err != nil {
		t.Fatalf("save screenshot: %v", err)
	}
}

func post(t *testing.T, url string, body string) {
	t.Helper()
	res, err := (&http.Client{Timeout: 30 * time.Second}).Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("post records: %v", err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode >= 300 {
		t.Fatalf("post records: %s: %s", res.Status, raw)
	}
}

func TestBrowser(t *testing.T) {
	if _, err := os.Stat(filepath.Join("static", "dist", "manifest.json")); err != nil {
		need(t, "the front-end bundles are not built (run make web)")
	}
	s := startServer(t)
	// The browser goes through a proxy that the test can cut, to lose
	// the live connections on purpose. It closes after the browser (the
	// cleanups run last first): its streams end with the browser.
	target, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(func() {
		proxy.CloseClientConnections()
		proxy.Close()
	})
	web := proxy.URL
	ctx := browser(t)

	// First run: the setup page creates the account and team.
	step(t, ctx, "first-run setup",
		chromedp.Navigate(web+"/"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/setup"]`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), "ada@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#password`), testPassword),
		chromedp.SendKeys(chromedp.CSS(`#team`), "Acme"),
		chromedp.Click(chromedp.CSS(`form[action="/setup"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.empty`)),
	)
	if text := eval[string](t, ctx, `document.querySelector(".empty").innerText`); !strings.Contains(text, "No pipelines yet") || !strings.Contains(text, "/api/v1/pipelines") {
		t.Errorf("the empty list does not say what to do next:\n%s", text)
	}
	if text := eval[string](t, ctx, `document.querySelector(".flashes").innerText`); !strings.Contains(text, "ready") {
		t.Errorf("no flash message after setup: %q", text)
	}

	// The editor: a new user creates a webhook pipeline from the empty
	// list, watching the preview follow what they type.
	step(t, ctx, "open the editor", chromedp.Click(chromedp.CSS(`[data-new-pipeline]`)),
		chromedp.WaitVisible(chromedp.CSS(`#spec`)))
	waitFor(t, ctx, "the example's preview", `document.querySelector("#preview [data-accepted]")`)
	eval[bool](t, ctx, `(() => { document.querySelector("#spec").value = "";
		document.querySelector("#input").value = '[{"amount": 12.5}, {"amount": 3}, {"amount": "lots"}]'; return true })()`)
	step(t, ctx, "type a spec", chromedp.SendKeys(chromedp.CSS(`#spec`),
		"name: orders\nkind: webhook\nmapping:\n  fields:\n    total: { path: amount, type: number }\n"))
	waitFor(t, ctx, "the preview of the typed spec", `(() => { const p = document.querySelector("#preview");
		return p.querySelector("[data-accepted]")?.innerText === "2" && p.querySelector("[data-rejected]")?.innerText === "1"
			&& p.querySelector("[data-mapped]")?.innerText.includes('"total":12.5') })()`)
	screenshot(t, ctx, "editor")
	axeScan(t, ctx, "editor")
	step(t, ctx, "save the pipeline", chromedp.Click(chromedp.CSS(`form[data-editor] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-dashboard]`)))
	if text := eval[string](t, ctx, `document.body.innerText`); !strings.Contains(text, "orders") || !strings.Contains(text, "is created") ||
		!strings.Contains(text, "/hooks/") || !strings.Contains(text, "curl -X POST") {
		t.Errorf("the dashboard after creating in the editor:\n%s", text)
	}
	if !eval[bool](t, ctx, `/^\/pipelines\/[0-9a-f-]{36}$/.test(location.pathname)`) {
		t.Errorf("the editor did not land on the dashboard: %s", eval[string](t, ctx, `location.href`))
	}

	// Pipelines created through the API: a webhook pipeline, and a polling
	// one pointed at an API that fails.
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream is down", http.StatusBadGateway)
	}))
	t.Cleanup(failing.Close)
	owner := login(t, s.URL, "ada@example.com")
	var sensors, weather pipelineJSON
	owner.do("POST", "/api/v1/pipelines", []byte(`{"name":"sensors","kind":"webhook","mapping":{"fields":{
		"temperature":{"path":"temperature","type":"number"},"humidity":{"path":"humidity","type":"number"},
		"tag":{"path":"tag","type":"string"}}}}`), &sensors)
	owner.do("POST", "/api/v1/pipelines", []byte(`{"name":"weather-api","kind":"polling","source":{"interval":"1s","http":{"url":"`+failing.URL+`/obs"}}}`), &weather)
	for i := range 3 {
		post(t, sensors.IngestURL, fmt.Sprintf(`{"temperature":%d.5,"humidity":%d,"tag":"warmup-%d"}`, 20+i, 40+i, i))
	}

	// The list shows both, and the polling pipeline turns failing with its
	// error without a reload.
	step(t, ctx, "pipelines list", chromedp.Navigate(web+"/pipelines"),
		chromedp.WaitVisible(chromedp.CSS(`#p-`+sensors.ID)))
	eval[bool](t, ctx, `window.__noReload = true`)
	row := func(id string) string { return eval[string](t, ctx, `document.getElementById("p-`+id+`").innerText`) }
	if text := row(sensors.ID); !strings.Contains(text, "sensors") || !strings.Contains(text, "webhook") || !strings.Contains(text, "active") {
		t.Errorf("sensors row: %q", text)
	}
	waitFor(t, ctx, "the failing pipeline's row", `(() => { const r = document.getElementById("p-`+weather.ID+`");
		return r && r.querySelector('[data-status="failing"]') && r.querySelector("[data-last-error]") })()`)
	if text := row(weather.ID); !strings.Contains(text, "502") {
		t.Errorf("the failing row does not show the error: %q", text)
	}
	waitFor(t, ctx, "the list's live connection", `document.querySelector("[data-conn]").dataset.state === "live"`)
	waitFor(t, ctx, "the sensors count to move live", `document.querySelector("#p-`+sensors.ID+` [data-records]").innerText === "3"`)
	if !eval[bool](t, ctx, `window.__noReload === true`) {
		t.Error("the list reloaded")
	}
	screenshot(t, ctx, "pipelines")
	axeScan(t, ctx, "pipelines list")

	// The dark theme follows the system's: the page turns dark and still
	// passes the scan (its contrast included).
	step(t, ctx, "dark theme", colorScheme("dark"))
	waitFor(t, ctx, "the dark background", `(() => { const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\d+/g).map(Number); return r + g + b < 150 })()`)
	axeScan(t, ctx, "pipelines list, dark")
	screenshot(t, ctx, "pipelines-dark")
	step(t, ctx, "light theme", colorScheme("light"))

	// The dashboard: records posted to the webhook appear without reload,
	// in the table and the charts.
	step(t, ctx, "dashboard", chromedp.Navigate(web+"/pipelines/"+sensors.ID),
		chromedp.WaitVisible(chromedp.CSS(`[data-chart="temperature"] canvas`)))
	waitFor(t, ctx, "the dashboard's live connection", `document.querySelector("[data-conn]").dataset.state === "live"`)
	waitFor(t, ctx, "the recent records", `document.querySelectorAll("[data-records] tbody tr[data-id]").length === 3`)
	eval[bool](t, ctx, `window.__noReload = true`)
	points := func() int {
		return eval[int](t, ctx, `Number(document.querySelector('[data-chart="temperature"]').dataset.points)`)
	}
	before := points()
	if !eval[bool](t, ctx, `document.querySelector("[data-edit-controls]") !== null`) {
		t.Error("the owner sees no edit controls")
	}
	// Note when each tagged row shows up, in the page's clock.
	eval[bool](t, ctx, `(() => { window.__seen = {}; new MutationObserver(() => {
		for (const tr of document.querySelectorAll("[data-records] tbody tr[data-id]")) {
			for (const td of tr.cells) {
				const tag = td.textContent;
				if (tag.startsWith("live-") && !(tag in window.__seen)) window.__seen[tag] = Date.now();
			}
		}
	}).observe(document.querySelector("[data-records] tbody"), {childList: true}); return true })()`)
	const posts = 100 // the p99 is over 100 posts
	var lat []time.Duration
	for i := range posts {
		tag := fmt.Sprintf("live-%d", i)
		sent := time.Now()
		post(t, sensors.IngestURL, fmt.Sprintf(`{"temperature":%d.25,"humidity":%d,"tag":%q}`, 15+i%10, 50+i%7, tag))
		waitFor(t, ctx, "row "+tag, `"`+tag+`" in window.__seen`)
		seen := eval[float64](t, ctx, `window.__seen["`+tag+`"]`)
		lat = append(lat, time.UnixMilli(int64(seen)).Sub(sent))
	}
	waitFor(t, ctx, "the chart points", fmt.Sprintf(`Number(document.querySelector('[data-chart="temperature"]').dataset.points) >= %d`, before+posts))
	// The table keeps the newest 100 rows.
	if rows := eval[int](t, ctx, `document.querySelectorAll("[data-records] tbody tr[data-id]").length`); rows != min(3+posts, 100) {
		t.Errorf("the table has %d rows, want %d", rows, min(3+posts, 100))
	}
	if !eval[bool](t, ctx, `window.__noReload === true`) {
		t.Error("the dashboard reloaded")
	}
	slices.Sort(lat)
	t.Logf("POST to row visible over %d posts: p50 %v, p99 %v, max %v", posts, lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
	screenshot(t, ctx, "dashboard")
	axeScan(t, ctx, "dashboard")

	// On a phone the dashboard reads in one column, without sideways
	// scrolling of the page.
	step(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844))
	waitFor(t, ctx, "the phone layout", `document.documentElement.scrollWidth <= window.innerWidth`)
	screenshot(t, ctx, "dashboard-phone")
	step(t, ctx, "laptop viewport", chromedp.EmulateViewport(1280, 900))

	// A lost connection: the page says so, reconnects by itself and
	// catches up with what was committed meanwhile.
	eval[bool](t, ctx, `(() => { window.__states = []; const c = document.querySelector("[data-dashboard] [data-conn]");
		new MutationObserver(() => window.__states.push(c.dataset.state)).observe(c, {attributes: true}); return true })()`)
	proxy.CloseClientConnections()
	waitFor(t, ctx, "the offline indicator", `window.__states.includes("offline")`)
	for i := range 2 {
		post(t, sensors.IngestURL, fmt.Sprintf(`{"temperature":30.5,"humidity":60,"tag":"gap-%d"}`, i))
	}
	waitFor(t, ctx, "the reconnection", `window.__states.lastIndexOf("live") > window.__states.indexOf("offline")`)
	waitFor(t, ctx, "the records committed while offline", `[...document.querySelectorAll("[data-records] tbody td")].filter(td => td.textContent.startsWith("gap-")).length === 2`)
	if !eval[bool](t, ctx, `window.__noReload === true`) {
		t.Error("the dashboard reloaded to reconnect")
	}

	// The runs tab loads in place.
	step(t, ctx, "runs tab", chromedp.Click(chromedp.CSS(`[role=tab][href*="tab=runs"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#tab-panel table`)))

	// A viewer sees no edit controls.
	if _, _, err := s.Accounts.CreateUser(context.Background(), "vic@example.com", testPassword, "Acme", auth.Viewer); err != nil {
		t.Fatalf("create viewer: %v", err)
	}
	step(t, ctx, "sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login"]`)))
	axeScan(t, ctx, "login")
	step(t, ctx, "viewer signs in",
		chromedp.SendKeys(chromedp.CSS(`#email`), "vic@example.com"),
		chromedp.SendKeys(chromedp.CSS(`#password`), testPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#p-`+sensors.ID)))
	step(t, ctx, "viewer's dashboard", chromedp.Navigate(web+"/pipelines/"+sensors.ID+"?tab=deliveries"),
		chromedp.WaitVisible(chromedp.CSS(`[data-dashboard]`)))
	if n := eval[int](t, ctx, `document.querySelectorAll("[data-edit-controls], form[action$='/pause'], form[action$='/retry'], form[action$='/replay']").length`); n != 0 {
		t.Errorf("a viewer sees %d edit controls", n)
	}
	if strings.Contains(eval[string](t, ctx, `document.body.innerText`), "/hooks/") {
		t.Error("a viewer sees the ingest URL")
	}
	// The server refuses a viewer's write anyway.
	viewer := login(t, s.URL, "vic@example.com")
	req, _ := http.NewRequest("POST", s.URL+"/pipelines/"+sensors.ID+"/pause", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := viewer.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var p struct {
		Status string `json:"status"`
	}
	owner.do("GET", "/api/v1/pipelines/"+sensors.ID, nil, &p)
	if p.Status != "active" {
		t.Errorf("a viewer paused the pipeline: status %q", p.Status)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		t.Error("the browser went away")
	}
}
