package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/tributary-dev/tributary/internal/auth"
)

// signIn signs a user in through the login page.
func signIn(t *testing.T, ctx context.Context, base, email string) {
	t.Helper()
	step(t, ctx, "sign in as "+email,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/login"]`)),
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
		chromedp.SendKeys(chromedp.CSS(`#password`), testPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.nav`)),
	)
}

// TestBrowserCustomDashboard builds a dashboard over two pipelines in
// the browser (forms, keyboard placement and drag), watches it update
// live as records are posted to both webhooks, and checks what a viewer
// sees and may do, and a widget whose pipeline was deleted.
func TestBrowserCustomDashboard(t *testing.T) {
	if _, err := os.Stat(filepath.Join("static", "dist", "manifest.json")); err != nil {
		need(t, "the front-end bundles are not built (run make web)")
	}
	s := startServer(t)
	bg := context.Background()
	if _, _, err := s.Accounts.CreateUser(bg, "ada@example.com", testPassword, "Acme", auth.Owner); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Accounts.CreateUser(bg, "vic@example.com", testPassword, "Acme", auth.Viewer); err != nil {
		t.Fatal(err)
	}
	owner := login(t, s.URL, "ada@example.com")
	var sensors, weather pipelineJSON
	owner.do("POST", "/api/v1/pipelines", []byte(`{"name":"sensors","kind":"webhook","mapping":{"fields":{
		"temperature":{"path":"temperature","type":"number"},"room":{"path":"room","type":"string"}}}}`), &sensors)
	owner.do("POST", "/api/v1/pipelines", []byte(`{"name":"weather","kind":"webhook","mapping":{"fields":{
		"wind":{"path":"wind","type":"number"},"station":{"path":"station","type":"string"}}}}`), &weather)
	post(t, sensors.IngestURL, `[{"temperature":20.5,"room":"lab"},{"temperature":21.5,"room":"hall"}]`)
	post(t, weather.IngestURL, `[{"wind":3.5,"station":"north"}]`)

	ctx := browser(t)
	signIn(t, ctx, s.URL, "ada@example.com")

	// Create a dashboard from the list's empty state.
	step(t, ctx, "dashboards list", chromedp.Navigate(s.URL+"/dashboards"), chromedp.WaitVisible(chromedp.CSS(`.empty`)))
	axeScan(t, ctx, "dashboards list")
	step(t, ctx, "create a dashboard",
		chromedp.SendKeys(chromedp.CSS(`#dash-name`), "Operations"),
		chromedp.SendKeys(chromedp.CSS(`#dash-desc`), "Sensors and weather, live"),
		chromedp.Click(chromedp.CSS(`[data-create-dashboard]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-custom-dashboard][data-editing]`)))
	dashPath := eval[string](t, ctx, `location.pathname.replace(/\/edit$/, "")`)

	// Add widgets with the form: a line chart of both pipelines, a stat
	// and a table. A bad bucket first: the error shows next to the field,
	// keeping what was typed.
	addWidget := func(kind string, fill func()) {
		t.Helper()
		step(t, ctx, "open the widget form", chromedp.Click(chromedp.CSS(`[data-add-widget]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-widget-form]`)))
		step(t, ctx, "choose "+kind, chromedp.SetValue(chromedp.CSS(`#kind`), kind))
		eval[bool](t, ctx, `(document.querySelector("#kind").dispatchEvent(new Event("change")), true)`)
		fill()
		step(t, ctx, "save the widget", chromedp.Click(chromedp.CSS(`[data-save-widget]`)))
	}
	addWidget("line", func() {
		step(t, ctx, "fill the line chart",
			chromedp.SetValue(chromedp.CSS(`#s0-pipeline`), sensors.ID),
			chromedp.SendKeys(chromedp.CSS(`#s0-field`), "temperature"),
			chromedp.SendKeys(chromedp.CSS(`#s0-bucket`), "soon"),
			chromedp.SetValue(chromedp.CSS(`#s1-pipeline`), weather.ID),
			chromedp.SendKeys(chromedp.CSS(`#s1-field`), "wind"),
			chromedp.SetValue(chromedp.CSS(`#s1-aggregate`), "max"),
			chromedp.SendKeys(chromedp.CSS(`#title`), "Temperature and wind"))
	})
	step(t, ctx, "the bucket's error next to it", chromedp.WaitVisible(chromedp.CSS(`#err-series-0-bucket`)))
	if v := eval[string](t, ctx, `document.querySelector("#s1-field").value + "|" + document.querySelector("#title").value`); v != "wind|Temperature and wind" {
		t.Errorf("the form lost what was typed: %q", v)
	}
	axeScan(t, ctx, "widget form")
	step(t, ctx, "fix the bucket", chromedp.SetValue(chromedp.CSS(`#s0-bucket`), "10s"),
		chromedp.Click(chromedp.CSS(`[data-save-widget]`)), chromedp.WaitVisible(chromedp.CSS(`[data-widget="0"] canvas`)))
	addWidget("stat", func() {
		step(t, ctx, "fill the stat",
			chromedp.SetValue(chromedp.CSS(`#s0-pipeline`), sensors.ID),
			chromedp.SendKeys(chromedp.CSS(`#s0-field`), "temperature"),
			chromedp.SetValue(chromedp.CSS(`#s0-aggregate`), "max"),
			chromedp.SendKeys(chromedp.CSS(`#title`), "Hottest"))
	})
	step(t, ctx, "the stat", chromedp.WaitVisible(chromedp.CSS(`[data-widget="1"] canvas`)))
	addWidget("table", func() {
		step(t, ctx, "fill the table",
			chromedp.SetValue(chromedp.CSS(`#pipeline`), weather.ID),
			chromedp.SendKeys(chromedp.CSS(`#rows`), "20"))
	})
	step(t, ctx, "the table", chromedp.WaitVisible(chromedp.CSS(`[data-widget="2"] [data-table]`)))

	// Arrange: the stat moves right of the chart with the keyboard
	// buttons (no reload), the table is dragged up beside them.
	cellOf := func(i int) string {
		return eval[string](t, ctx, fmt.Sprintf(`(() => { const d = document.querySelector('[data-widget="%d"]').dataset; return [d.x, d.y, d.w, d.h].join(",") })()`, i))
	}
	if c := cellOf(1); c != "0,4,3,2" {
		t.Fatalf("the new stat is at %s, want 0,4,3,2", c)
	}
	eval[bool](t, ctx, `window.__noReload = true`)
	// The keyboard: focus a button, press Enter.
	press := func(sel string) {
		t.Helper()
		eval[bool](t, ctx, `(document.querySelector('`+sel+`').focus(), document.activeElement === document.querySelector('`+sel+`'))`)
		step(t, ctx, "press "+sel, chromedp.KeyEvent("\r"))
	}
	for range 6 {
		before := cellOf(1)
		eval[bool](t, ctx, `(window.__errs = [], window.addEventListener("error", e => window.__errs.push(e.message)), window.addEventListener("unhandledrejection", e => window.__errs.push(String(e.reason))), true)`)
		press(`[data-widget="1"] form[data-place][data-dx="1"] button`)

		waitFor(t, ctx, "the stat to move", fmt.Sprintf(`document.querySelector('[data-widget="1"]').dataset.x !== %q`, strings.Split(before, ",")[0]))
	}
	for range 4 {
		before := cellOf(1)
		press(`[data-widget="1"] form[data-place][data-dy="-1"] button`)
		waitFor(t, ctx, "the stat to move", fmt.Sprintf(`document.querySelector('[data-widget="1"]').dataset.y !== %q`, strings.Split(before, ",")[1]))
	}
	waitFor(t, ctx, "the stat beside the chart", `document.querySelector('[data-widget="1"]').dataset.y === "0"`)
	if c := cellOf(1); c != "6,0,3,2" {
		t.Errorf("after the keyboard moves the stat is at %s, want 6,0,3,2", c)
	}
	// Drag the table's handle up and right by about (6 columns, 6 rows).
	type box struct{ X, Y, ColW, RowH float64 }
	held := func(p *input.DispatchMouseEventParams) { p.Buttons = 1 }
	b := eval[box](t, ctx, `(() => { document.querySelector('[data-widget="2"]').scrollIntoView({block: "end"});
		const h = document.querySelector('[data-widget="2"] [data-drag]').getBoundingClientRect();
		const g = document.querySelector("[data-grid]"); const cs = getComputedStyle(g);
		return {X: h.x + h.width / 2, Y: h.y + h.height / 2, ColW: (g.clientWidth + parseFloat(cs.columnGap)) / 12, RowH: (parseFloat(cs.gridAutoRows) || 72) + (parseFloat(cs.rowGap) || 0)} })()`)
	step(t, ctx, "drag the table",
		chromedp.MouseEvent(chromedp.MousePressed, b.X, b.Y, chromedp.ButtonLeft, held, chromedp.ClickCount(1)),
		chromedp.MouseEvent(chromedp.MouseMoved, b.X+3*b.ColW, b.Y-2*b.RowH, chromedp.ButtonLeft, held),
		chromedp.MouseEvent(chromedp.MouseMoved, b.X+6*b.ColW, b.Y-4*b.RowH, chromedp.ButtonLeft, held),
		chromedp.MouseEvent(chromedp.MouseReleased, b.X+6*b.ColW, b.Y-4*b.RowH, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	waitFor(t, ctx, "the dragged table to be saved", `document.querySelector("[data-layout-status]").textContent.startsWith("Placed") && document.querySelector('[data-widget="2"]').dataset.x === "6"`)
	if c := cellOf(2); c != "6,2,6,4" {
		t.Errorf("after the drag the table is at %s, want 6,2,6,4", c)
	}
	if !eval[bool](t, ctx, `window.__noReload === true`) {
		t.Error("arranging reloaded the page")
	}
	screenshot(t, ctx, "custom-dashboard-edit")
	axeScan(t, ctx, "dashboard editing")
	var doc struct {
		Version int `json:"version"`
		Spec    struct {
			Widgets []struct {
				X, Y, W, H int
			} `json:"widgets"`
		} `json:"spec"`
	}
	owner.do("GET", "/api/v1"+dashPath, nil, &doc)
	if ws := doc.Spec.Widgets; len(ws) != 3 || ws[2].X != 6 || ws[2].Y != 2 || ws[1].X != 6 {
		t.Errorf("the saved layout: %+v", ws)
	}

	// The dashboard, live: records posted to both webhooks show in the
	// chart (counted values per series), the stat and the table without
	// a reload.
	step(t, ctx, "view the dashboard", chromedp.Navigate(s.URL+dashPath), chromedp.WaitVisible(chromedp.CSS(`[data-widget="0"] canvas`)))
	waitFor(t, ctx, "the live connection", `document.querySelector("[data-conn]").dataset.state === "live"`)
	if n := eval[int](t, ctx, `document.querySelectorAll("[data-custom-dashboard] [data-edit-controls]").length`); n != 1 {
		t.Errorf("the owner's view shows %d edit controls, want the Edit button", n)
	}
	waitFor(t, ctx, "the chart's first values", `document.querySelector('[data-widget="0"]').dataset.values === "3"`)
	waitFor(t, ctx, "the table's first row", `document.querySelectorAll('[data-widget="2"] tbody tr[data-id]').length === 1`)
	eval[bool](t, ctx, `window.__noReload = true`)
	const rounds = 5
	for i := range rounds {
		post(t, sensors.IngestURL, fmt.Sprintf(`[{"temperature":%d.5,"room":"lab"},{"temperature":19,"room":"hall"}]`, 30+i))
		post(t, weather.IngestURL, fmt.Sprintf(`{"wind":%d,"station":"live-%d"}`, 5+i, i))
	}
	waitFor(t, ctx, "the chart to count the new records", fmt.Sprintf(`document.querySelector('[data-widget="0"]').dataset.values === "%d"`, 3+3*rounds))
	waitFor(t, ctx, "the table's new rows", fmt.Sprintf(`document.querySelectorAll('[data-widget="2"] tbody tr[data-id]').length === %d`, 1+rounds))
	waitFor(t, ctx, "the stat's new maximum", `document.querySelector('[data-widget="1"] [data-stat-value]').textContent === "34.5"`)
	if top := eval[string](t, ctx, `document.querySelector('[data-widget="2"] tbody tr').innerText`); !strings.Contains(top, fmt.Sprintf("live-%d", rounds-1)) {
		t.Errorf("the newest row is not first: %q", top)
	}
	if pts := eval[int](t, ctx, `Number(document.querySelector('[data-widget="0"]').dataset.points)`); pts < 2 {
		t.Errorf("the chart has %d points", pts)
	}
	if !eval[bool](t, ctx, `window.__noReload === true`) {
		t.Error("the dashboard reloaded")
	}
	screenshot(t, ctx, "custom-dashboard")
	axeScan(t, ctx, "custom dashboard")
	// On a phone the widgets stack in one column, without sideways
	// scrolling of the page.
	step(t, ctx, "phone viewport", chromedp.EmulateViewport(390, 844))
	waitFor(t, ctx, "the phone layout", `document.documentElement.scrollWidth <= window.innerWidth &&
		document.querySelector('[data-widget="1"]').getBoundingClientRect().top > document.querySelector('[data-widget="0"]').getBoundingClientRect().bottom`)
	step(t, ctx, "laptop viewport", chromedp.EmulateViewport(1280, 900))
	step(t, ctx, "a past range", chromedp.Click(chromedp.CSS(`.ranges a[href$="range=7d"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.ranges a[aria-current][href$="range=7d"]`)))
	waitFor(t, ctx, "the 7-day chart", fmt.Sprintf(`document.querySelector('[data-widget="0"]').dataset.values === "%d"`, 3+3*rounds))

	// A viewer sees the dashboard without edit controls, and the server
	// refuses the viewer's writes anyway.
	step(t, ctx, "sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS(`form[action="/login"]`)))
	signIn(t, ctx, s.URL, "vic@example.com")
	step(t, ctx, "viewer's dashboard", chromedp.Navigate(s.URL+dashPath), chromedp.WaitVisible(chromedp.CSS(`[data-widget="0"] canvas`)))
	if n := eval[int](t, ctx, `document.querySelectorAll("[data-edit-controls], [data-drag], [data-resize], form[data-place]").length`); n != 0 {
		t.Errorf("a viewer sees %d edit controls", n)
	}
	step(t, ctx, "viewer's list", chromedp.Navigate(s.URL+"/dashboards"), chromedp.WaitVisible(chromedp.CSS(`[data-dashboards]`)))
	if n := eval[int](t, ctx, `document.querySelectorAll("[data-edit-controls], form[action$='/delete']").length`); n != 0 {
		t.Errorf("a viewer's list shows %d edit controls", n)
	}
	viewer := login(t, s.URL, "vic@example.com")
	for _, w := range []struct{ path, form string }{
		{dashPath + "/widgets/1/place", "version=1&x=0&y=0&w=3&h=2"},
		{dashPath + "/widgets/new", "version=1&kind=stat&series=1&s0-pipeline=" + sensors.ID + "&s0-field=temperature"},
		{dashPath + "/widgets/0/delete", ""},
		{dashPath + "/delete", ""},
		{"/dashboards", "name=mine"},
	} {
		req, _ := http.NewRequest("POST", s.URL+w.path, strings.NewReader(w.form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := viewer.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("a viewer's POST %s: %d %s", w.path, res.StatusCode, body)
		}
	}
	var after struct {
		Version int `json:"version"`
		Spec    struct {
			Widgets []struct{ X int } `json:"widgets"`
		} `json:"spec"`
	}
	owner.do("GET", "/api/v1"+dashPath, nil, &after)
	if after.Version != doc.Version || len(after.Spec.Widgets) != 3 {
		t.Errorf("a viewer changed the dashboard: version %d → %d, %d widgets", doc.Version, after.Version, len(after.Spec.Widgets))
	}

	// Deleting a pipeline leaves its widgets saying so; the page stands.
	owner.do("DELETE", "/api/v1/pipelines/"+weather.ID, nil, nil)
	step(t, ctx, "the dashboard after a pipeline is deleted", chromedp.Navigate(s.URL+dashPath+"?"+url.Values{"range": {"1h"}}.Encode()),
		chromedp.WaitVisible(chromedp.CSS(`[data-widget="0"] canvas`)))
	if n := eval[int](t, ctx, `document.querySelectorAll("[data-widget][data-missing] [data-missing-pipeline]").length`); n != 2 {
		t.Errorf("%d widgets say their pipeline was deleted, want 2 (the chart and the table)", n)
	}
	if text := eval[string](t, ctx, `document.querySelector('[data-widget="2"]').innerText`); !strings.Contains(text, "was deleted") {
		t.Errorf("the table widget of the deleted pipeline: %q", text)
	}
	if eval[bool](t, ctx, `document.querySelector('[data-widget="1"]').hasAttribute("data-missing")`) {
		t.Error("the stat of the remaining pipeline is marked missing")
	}

	// Over HTTP/1.1 a page follows 4 pipelines live and says which
	// widgets are not; the page still answers (its connections are not
	// all taken by streams).
	ids := []string{sensors.ID}
	for i := range 4 {
		var more pipelineJSON
		owner.do("POST", "/api/v1/pipelines", []byte(fmt.Sprintf(`{"name":"more-%d","kind":"webhook"}`, i)), &more)
		ids = append(ids, more.ID)
	}
	var widgets []map[string]any
	for i, id := range ids {
		widgets = append(widgets, map[string]any{"kind": "stat", "x": 0, "y": 2 * i, "series": []map[string]any{{"pipeline": id, "field": "temperature"}}})
	}
	var many struct {
		ID string `json:"id"`
	}
	owner.do("POST", "/api/v1/dashboards", map[string]any{"name": "five", "widgets": widgets}, &many)
	step(t, ctx, "a dashboard of five pipelines", chromedp.Navigate(s.URL+"/dashboards/"+many.ID), chromedp.WaitVisible(chromedp.CSS(`[data-widget="4"]`)))
	waitFor(t, ctx, "the live connection", `document.querySelector("[data-conn]").dataset.state === "live"`)
	if n := eval[int](t, ctx, `document.querySelectorAll("[data-not-live]").length`); n != 1 {
		t.Errorf("%d widgets say they are not live, want 1", n)
	}
	if code := eval[int](t, ctx, `fetch("/dashboards").then(r => r.status)`); code != 200 {
		t.Errorf("a request from the page of five pipelines: %d", code)
	}
}
