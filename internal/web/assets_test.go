package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestAssets(t *testing.T) {
	files := fstest.MapFS{
		"static/README.md":              {Data: []byte("readme")},
		"static/dist/manifest.json":     {Data: []byte(`{"app.js":"app-ABC.js","style.css":"style-DEF.css"}`)},
		"static/dist/app-ABC.js":        {Data: []byte("console.log(1)")},
		"static/dist/style-DEF.css":     {Data: []byte("body{}")},
		"static/dist/not-in-the-map.js": {Data: []byte("x")},
	}
	a, err := loadAssets(files)
	if err != nil {
		t.Fatal(err)
	}
	if a.missing() || a.url("app.js") != "/static/app-ABC.js" || a.url("style.css") != "/static/style-DEF.css" {
		t.Fatalf("assets = %+v", a.names)
	}
	get := func(path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	res := get("/static/app-ABC.js")
	if res.Code != http.StatusOK || res.Body.String() != "console.log(1)" {
		t.Fatalf("bundle: %d %q", res.Code, res.Body)
	}
	if cc := res.Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("Cache-Control = %q", cc)
	}
	if ct := res.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("Content-Type = %q", ct)
	}
	// Only the hashed bundles are served.
	for _, path := range []string{"/static/manifest.json", "/static/not-in-the-map.js", "/static/../static/README.md", "/static/app.js"} {
		if res := get(path); res.Code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, res.Code)
		}
	}

	// Before the first front-end build: nothing to serve, pages without
	// bundles.
	a, err = loadAssets(fstest.MapFS{"static/README.md": {Data: []byte("readme")}})
	if err != nil {
		t.Fatal(err)
	}
	if !a.missing() || a.url("app.js") != "" {
		t.Errorf("assets without a build = %+v", a.names)
	}
	if res := get("/static/app-ABC.js"); res.Code != http.StatusNotFound {
		t.Errorf("no build: %d, want 404", res.Code)
	}

	// A broken manifest is an error.
	if _, err := loadAssets(fstest.MapFS{"static/dist/manifest.json": {Data: []byte("{")}}); err == nil {
		t.Error("a broken manifest loaded")
	}
}

func TestSparkline(t *testing.T) {
	line, area := sparkline([]int{0, 5, 10}, 100, 20)
	if line != "M0 19 L50 10 L100 1" || area != line+" L100 20 L0 20 Z" {
		t.Errorf("sparkline = %q, %q", line, area)
	}
	if line, _ := sparkline([]int{0, 0}, 100, 20); line != "M0 19 L100 19" {
		t.Errorf("flat sparkline = %q", line)
	}
	if line, _ := sparkline([]int{3}, 100, 20); line != "" {
		t.Errorf("one point = %q", line)
	}
}

func TestFormat(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := count(in); got != want {
			t.Errorf("count(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[int64]string{512: "512 B", 2048: "2.0 KiB", 5 << 20: "5.0 MiB"} {
		if got := bytesize(in); got != want {
			t.Errorf("bytesize(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"/pipelines": "/pipelines", "//evil.example": "", "https://evil.example": "", "/\\evil": "", "": ""} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
