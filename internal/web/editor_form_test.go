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

// TestEditorForm drives the editor's form mode over plain HTTP: the
// preview and Suggest mapping from a pasted sample, errors at their field
// with what was typed, switching to the spec and back, and creating a
// pipeline; and the dashboard's custom range.
func TestEditorForm(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	if _, _, err := s.Accounts.CreateUser(context.Background(), "ada@example.com", testPassword, "Acme", auth.Owner); err != nil {
		t.Fatal(err)
	}
	owner := login(t, s.URL, "ada@example.com")
	send := func(path string, form url.Values) (int, string) {
		t.Helper()
		cp := *owner.c
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

	code, page := send("/pipelines/new?mode=form", nil)
	if code != http.StatusOK || !strings.Contains(page, `name="mode" value="form"`) || !strings.Contains(page, `data-suggest`) || !strings.Contains(page, `curl -X POST`) {
		t.Fatalf("form mode: %d\n%s", code, page)
	}
	const sample = `[{"temp": 21.5, "room": "kitchen", "at": "2025-01-02T03:04:05Z"}]`
	form := url.Values{"mode": {"form"}, "name": {"readings"}, "kind": {"webhook"}, "persist": {"true"}, "input": {sample},
		"field_name": {"", ""}, "field_path": {"", ""}, "field_expr": {"", ""}, "field_type": {"", ""}}

	// Suggest mapping: the table's rows from the sample.
	code, page = send("/pipelines/suggest", form)
	for _, want := range []string{`data-field-row="temp"`, `value="room"`, `<option value="number" selected>`, `<option value="time" selected>`} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Fatalf("suggest: %d, no %s\n%s", code, want, page)
		}
	}
	empty := url.Values{}
	for k, v := range form {
		empty[k] = v
	}
	empty.Set("input", "")
	if code, page = send("/pipelines/suggest", empty); code != http.StatusOK || !strings.Contains(page, `data-suggest-note`) {
		t.Fatalf("suggest without a sample: %d\n%s", code, page)
	}

	// A bad type and bad schema JSON: errors at their fields, typed kept.
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad["field_name"] = []string{"temperature", "room"}
	bad["field_path"] = []string{"temp", "room"}
	bad["field_expr"] = []string{"", ""}
	bad["field_type"] = []string{"decimal", "string"}
	if code, page = send("/pipelines/new", bad); code != http.StatusUnprocessableEntity || !strings.Contains(page, `data-field-row="temperature"`) ||
		!strings.Contains(page, `class="has-error" data-field-row="temperature"`) || !strings.Contains(page, `value="temp"`) {
		t.Fatalf("a bad field type: %d\n%s", code, page)
	}
	bad["field_type"] = []string{"number", "string"}
	bad.Set("schema", `{"required": [`)
	if code, page = send("/pipelines/new", bad); code != http.StatusUnprocessableEntity || !strings.Contains(page, `data-field-problems="validation"`) ||
		!strings.Contains(page, `{&#34;required&#34;: [`) {
		t.Fatalf("bad schema JSON: %d\n%s", code, page)
	}
	bad.Set("schema", `{"required": ["temperature"]}`)

	// The preview follows the form.
	if code, page = send("/pipelines/preview", bad); code != http.StatusOK || !strings.Contains(page, `data-accepted>1<`) {
		t.Fatalf("form preview: %d\n%s", code, page)
	}

	// To the spec and back: the same pipeline.
	sw := url.Values{}
	for k, v := range bad {
		sw[k] = v
	}
	sw.Set("switch", "spec")
	if code, page = send("/pipelines/new", sw); code != http.StatusOK || !strings.Contains(page, `id="spec"`) || !strings.Contains(page, "temperature:") {
		t.Fatalf("switch to spec: %d\n%s", code, page)
	}

	if code, _ = send("/pipelines/new", bad); code != http.StatusSeeOther {
		t.Fatalf("create from the form: %d", code)
	}
	var list struct {
		Pipelines []struct {
			ID   string         `json:"id"`
			Spec map[string]any `json:"spec"`
		} `json:"pipelines"`
	}
	owner.do("GET", "/api/v1/pipelines", nil, &list)
	if len(list.Pipelines) != 1 {
		t.Fatalf("%d pipelines", len(list.Pipelines))
	}
	id := list.Pipelines[0].ID
	if code, page = send("/pipelines/"+id+"/edit?mode=form", nil); code != http.StatusOK || !strings.Contains(page, `data-field-row="temperature"`) ||
		!strings.Contains(page, `readonly`) {
		t.Fatalf("edit in form mode: %d\n%s", code, page)
	}

	// The dashboard's custom range, and a bad one explained.
	if code, page = send("/pipelines/"+id+"?range=custom&from=2025-01-01T00:00:00Z&to=2025-01-02T00:00:00Z", nil); code != http.StatusOK ||
		!strings.Contains(page, `data-range="custom"`) || !strings.Contains(page, `value="2025-01-01T00:00"`) {
		t.Fatalf("custom range: %d\n%s", code, page)
	}
	if code, page = send("/pipelines/"+id+"?range=custom&from=2025-01-02T00:00&to=2025-01-01T00:00", nil); code != http.StatusOK ||
		!strings.Contains(page, `id="range-error"`) {
		t.Fatalf("a reversed custom range: %d\n%s", code, page)
	}
	if code, page = send("/pipelines/"+id+"/tabs/uploads", nil); code != http.StatusOK || !strings.Contains(page, `data-dropzone`) {
		t.Fatalf("uploads tab: %d\n%s", code, page)
	}
}
