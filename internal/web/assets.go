package web

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// static holds the bundles web/build.mjs writes into static/dist. The
// README keeps the pattern matching before the first front-end build.
//
//go:embed all:static
var static embed.FS

// assetPrefix is where the bundles are served.
const assetPrefix = "/static/"

// assets are the front-end bundles: their content-hashed names by logical
// name (app.js, style.css), and the files.
type assets struct {
	files fs.FS
	names map[string]string
	// hashed is the set of served names, so that nothing else in the
	// embedded folder (the manifest, the README) is served.
	hashed map[string]bool
}

// loadAssets reads the bundle manifest from files (the embedded folder, or
// one a test gives). A missing manifest is no error: the pages render
// without styles and scripts, and missing reports it.
func loadAssets(files fs.FS) (*assets, error) {
	a := &assets{names: map[string]string{}, hashed: map[string]bool{}}
	dist, err := fs.Sub(files, "static/dist")
	if err != nil {
		return a, nil
	}
	a.files = dist
	raw, err := fs.ReadFile(dist, "manifest.json")
	if err != nil {
		return a, nil
	}
	if err := json.Unmarshal(raw, &a.names); err != nil {
		return nil, err
	}
	for _, name := range a.names {
		a.hashed[name] = true
	}
	return a, nil
}

// missing says whether the bundles were not built.
func (a *assets) missing() bool { return a.names["app.js"] == "" || a.names["style.css"] == "" }

// url returns the URL of a bundle by logical name, "" when it was not built.
func (a *assets) url(name string) string {
	if h := a.names[name]; h != "" {
		return assetPrefix + h
	}
	return ""
}

// ServeHTTP serves a hashed bundle with a year-long immutable cache: its
// name changes whenever its content does.
func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, assetPrefix)
	if !a.hashed[name] || a.files == nil || path.Base(name) != name {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeFileFS(w, r, a.files, name)
}
