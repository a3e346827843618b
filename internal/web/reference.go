package web

import (
	"html/template"
	"net/http"
)

// The GraphiQL page and the REST reference load big bundles of their
// own (graphiql.js/.css, apidocs.js/.css in the manifest), never the
// pages' bundle, and hold no inline script.

// referenceCSP is the Content-Security-Policy of the GraphiQL page and
// the REST reference: the pages' policy, with fonts also from data: URLs
// (GraphiQL's style sheet carries its fonts inline) and WebSockets to
// the same host for GraphiQL's subscriptions ('self' covers them in
// current browsers; ws: and wss: are for older ones).
const referenceCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

var referencePage = template.Must(template.New("reference").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Tributary</title>
{{if .Style}}<link rel="stylesheet" href="{{.Style}}">{{end}}
{{if .Script}}<script defer src="{{.Script}}"></script>{{end}}
</head>
<body>
<main id="{{.ID}}" {{range $k, $v := .Data}} data-{{$k}}="{{$v}}"{{end}}>{{if .Script}}<noscript>This page needs JavaScript.</noscript>{{else}}<p>The front-end bundles are not built (run make web).</p>{{end}}</main>
</body>
</html>
`))

type referenceData struct {
	Title, ID, Style, Script string
	Data                     map[string]string
}

// GraphiQL serves the GraphiQL page, which runs queries against
// /graphql as the signed-in user. httpapi mounts it at /graphiql, and
// the GraphQL handler answers a browser's GET /graphql with it.
func (h *Handler) GraphiQL() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.reference(w, r, referenceData{Title: "GraphiQL", ID: "graphiql", Style: h.assets.url("graphiql.css"),
			Script: h.assets.url("graphiql.js"), Data: map[string]string{"endpoint": "/graphql"}})
	})
}

// APIDocs serves the REST API's reference page (Swagger UI over
// /api/v1/openapi.json).
func (h *Handler) APIDocs() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.reference(w, r, referenceData{Title: "REST API reference", ID: "api-docs", Style: h.assets.url("apidocs.css"),
			Script: h.assets.url("apidocs.js"), Data: map[string]string{"spec": "/api/v1/openapi.json"}})
	})
}

func (h *Handler) reference(w http.ResponseWriter, r *http.Request, d referenceData) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", referenceCSP)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	if err := referencePage.Execute(w, d); err != nil && r.Context().Err() == nil {
		h.log.ErrorContext(r.Context(), "render reference page", "path", r.URL.Path, "err", err)
	}
}
