package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/tributary-dev/tributary/internal/auth"
)

// TestBrowserSettingsAndForm covers, in Chromium: a token created on the
// settings page, shown once and revoked; a webhook pipeline created with
// the editor's form and Suggest mapping; a file dropped on the uploads
// tab, uploaded with a progress bar and processed; dragging across a
// chart picking a custom range; a viewer without edit controls; and axe
// scans of the pages.
func TestBrowserSettingsAndForm(t *testing.T) {
	if _, err := os.Stat(filepath.Join("static", "dist", "manifest.json")); err != nil {
		need(t, "the front-end bundles are not built (run make web)")
	}
	s := startServer(t)
	web := s.URL
	ctx := browser(t)
	bg := context.Background()
	if _, _, err := s.Accounts.CreateUser(bg, "ada@example.com", testPassword, "Acme", auth.Owner); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Accounts.CreateUser(bg, "vic@example.com", testPassword, "Acme", auth.Viewer); err != nil {
		t.Fatal(err)
	}
	signIn := func(email string) {
		t.Helper()
		step(t, ctx, "sign in "+email, chromedp.Navigate(web+"/login"),
			chromedp.WaitVisible(chromedp.CSS(`form[action="/login"]`)),
			chromedp.SendKeys(chromedp.CSS(`#email`), email),
			chromedp.SendKeys(chromedp.CSS(`#password`), testPassword),
			chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`nav.nav`)))
	}
	signIn("ada@example.com")

	// Settings: a token, shown once with a copy button, then revoked.
	step(t, ctx, "settings", chromedp.Navigate(web+"/settings"), chromedp.WaitVisible(chromedp.CSS(`#tokens`)))
	step(t, ctx, "create a token",
		chromedp.SendKeys(chromedp.CSS(`#token-name`), "ci"),
		chromedp.Click(chromedp.CSS(`form[action="/settings/tokens"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-new-token]`)))
	secret := eval[string](t, ctx, `document.querySelector("[data-token-secret]").value`)
	if secret == "" || eval[string](t, ctx, `document.querySelector("[data-new-token] [data-copy]").getAttribute("data-copy")`) != secret {
		t.Fatalf("the new token is not shown with a copy button: %q", secret)
	}
	axeScan(t, ctx, "settings")
	eval[bool](t, ctx, `(() => { window.scrollTo(0, 0); return true })()`)
	screenshot(t, ctx, "settings")
	step(t, ctx, "settings again", chromedp.Navigate(web+"/settings"), chromedp.WaitVisible(chromedp.CSS(`[data-token="ci"]`)))
	if strings.Contains(eval[string](t, ctx, `document.documentElement.outerHTML`), secret) {
		t.Fatal("the token is shown a second time")
	}
	eval[bool](t, ctx, `(() => { window.confirm = () => true; return true })()`)
	step(t, ctx, "revoke the token", chromedp.Click(chromedp.CSS(`[data-token="ci"] form button`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash.success`)))
	waitFor(t, ctx, "the token revoked", `document.querySelector('[data-token="ci"] .badge')?.innerText === "revoked"`)

	// The editor's form: a webhook pipeline, its fields suggested.
	step(t, ctx, "editor form", chromedp.Navigate(web+"/pipelines/new?mode=form"), chromedp.WaitVisible(chromedp.CSS(`[data-spec-form]`)))
	eval[bool](t, ctx, `(() => { const n = document.querySelector("#f-name"); n.value = "readings";
		document.querySelector("#input").value = '[{"temp": 21.5, "room": "kitchen"}, {"temp": 19, "room": "hall"}]'; return true })()`)
	step(t, ctx, "suggest mapping", chromedp.Click(chromedp.CSS(`[data-suggest]`)))
	waitFor(t, ctx, "suggested fields", `document.querySelector('[data-field-row="temp"] select')?.value === "number"
		&& document.querySelector('[data-field-row="room"] select')?.value === "string"`)
	step(t, ctx, "add a field row", chromedp.Click(chromedp.CSS(`[data-add-field]`)))
	if n := eval[int](t, ctx, `document.querySelectorAll("[data-fields] tr[data-field-row]").length`); n < 4 {
		t.Errorf("%d field rows after adding one", n)
	}
	// The preview follows the form.
	step(t, ctx, "type in the form", chromedp.SendKeys(chromedp.CSS(`#f-retention`), "7d"))
	waitFor(t, ctx, "the form's preview", `document.querySelector("#preview [data-accepted]")?.innerText === "2"`)
	axeScan(t, ctx, "editor form")
	eval[bool](t, ctx, `(() => { document.activeElement?.blur(); window.scrollTo(0, 0); return true })()`)
	screenshot(t, ctx, "editor-form")
	step(t, ctx, "create from the form", chromedp.Click(chromedp.CSS(`form[data-editor] button.btn-primary[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-dashboard]`)))
	id := eval[string](t, ctx, `location.pathname.split("/").pop()`)
	var p struct {
		Spec struct {
			Retention string `json:"retention"`
			Mapping   struct {
				Fields map[string]struct {
					Type string `json:"type"`
				} `json:"fields"`
			} `json:"mapping"`
		} `json:"spec"`
	}
	owner := login(t, s.URL, "ada@example.com")
	owner.do("GET", "/api/v1/pipelines/"+id, nil, &p)
	if p.Spec.Retention != "7d" || p.Spec.Mapping.Fields["temp"].Type != "number" {
		t.Fatalf("the pipeline built from the form: %+v", p.Spec)
	}

	// Uploads: a file dropped on the tab (a DataTransfer made in the
	// page), its upload progress, then its processing.
	step(t, ctx, "uploads tab", chromedp.Navigate(web+"/pipelines/"+id+"?tab=uploads"), chromedp.WaitVisible(chromedp.CSS(`[data-dropzone]`)))
	eval[bool](t, ctx, `(() => {
		const lines = []; for (let i = 0; i < 500; i++) lines.push(JSON.stringify({temp: 20 + i % 7, room: "r" + i}));
		const dt = new DataTransfer();
		dt.items.add(new File([lines.join("\n") + "\n"], "readings.ndjson", {type: "application/x-ndjson"}));
		const zone = document.querySelector("[data-dropzone]");
		zone.dispatchEvent(new DragEvent("dragover", {bubbles: true, cancelable: true, dataTransfer: dt}));
		zone.dispatchEvent(new DragEvent("drop", {bubbles: true, cancelable: true, dataTransfer: dt}));
		return true })()`)
	waitFor(t, ctx, "the upload's progress bar", `(() => { const b = document.querySelector("[data-upload-progress]"); return b && !b.hidden && b.value > 0 || document.querySelector("#tab-panel tbody tr") })()`)
	waitFor(t, ctx, "the upload processed", `(() => { const r = document.querySelector("#tab-panel tbody tr");
		return r && r.innerText.includes("readings.ndjson") && r.querySelector(".badge")?.innerText === "done" })()`)
	if got := eval[string](t, ctx, `document.querySelector("#tab-panel tbody tr td[data-label=Accepted]").innerText`); got != "500" {
		t.Errorf("the upload accepted %s records, want 500", got)
	}
	axeScan(t, ctx, "uploads tab")

	// Dragging across a chart picks that span as a custom range.
	step(t, ctx, "dashboard", chromedp.Navigate(web+"/pipelines/"+id+"?range=24h"),
		chromedp.WaitVisible(chromedp.CSS(`[data-chart="temp"] canvas`)))
	type box struct{ X, Y, W, H float64 }
	b := eval[box](t, ctx, `(() => { const o = document.querySelector('[data-chart="temp"] .u-over'); o.scrollIntoView({block: "center"});
		const r = o.getBoundingClientRect(); return {X: r.left, Y: r.top, W: r.width, H: r.height} })()`)
	y := b.Y + b.H/2
	step(t, ctx, "drag across the chart",
		chromedp.MouseEvent("mouseMoved", b.X+b.W*0.3, y),
		chromedp.MouseEvent("mousePressed", b.X+b.W*0.3, y, chromedp.ButtonLeft, chromedp.ClickCount(1)),
		chromedp.MouseEvent("mouseMoved", b.X+b.W*0.5, y, chromedp.ButtonLeft),
		chromedp.MouseEvent("mouseMoved", b.X+b.W*0.7, y, chromedp.ButtonLeft),
		chromedp.MouseEvent("mouseReleased", b.X+b.W*0.7, y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	step(t, ctx, "the custom range of the dragged span", chromedp.WaitVisible(chromedp.CSS(`[data-dashboard][data-range="custom"] [data-chart="temp"] canvas`)))
	if q := eval[string](t, ctx, `location.search`); !strings.Contains(q, "range=custom") || !strings.Contains(q, "from=") {
		t.Errorf("the dragged span's address: %s", q)
	}

	// A viewer: settings without edit controls.
	step(t, ctx, "sign out", chromedp.Navigate(web+"/settings"), chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"]`)),
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS(`form[action="/login"]`)))
	signIn("vic@example.com")
	step(t, ctx, "viewer's settings", chromedp.Navigate(web+"/settings"), chromedp.WaitVisible(chromedp.CSS(`#members`)))
	if n := eval[int](t, ctx, `document.querySelectorAll("[data-edit-controls], #tokens, form[action*='/remove'], form[action*='/delete'], form[action*='/role']").length`); n != 0 {
		t.Errorf("a viewer sees %d edit controls on the settings", n)
	}
	axeScan(t, ctx, "viewer's settings")
	step(t, ctx, "viewer's uploads", chromedp.Navigate(web+"/pipelines/"+id+"?tab=uploads"), chromedp.WaitVisible(chromedp.CSS(`#tab-panel`)))
	if eval[bool](t, ctx, `!!document.querySelector("[data-dropzone]")`) {
		t.Error("a viewer sees the upload drop zone")
	}
}
