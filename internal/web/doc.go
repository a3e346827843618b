// Package web serves Tributary's pages for people: first-run setup, sign
// in and out, the team switcher, the pipelines list, each pipeline's live
// dashboard, the pipeline editor (a spec, or a form that builds the spec
// server-side; editor.go, editor_form.go), the team's custom dashboards
// (dashboards.go), the team settings (members, API tokens, secrets, usage;
// settings.go) and the alerts page (alerts.go, with UseAlerts).
//
// Pages are server-rendered templ components (*.templ, with the generated
// *_templ.go committed; `make generate`). Each handler decodes the request,
// calls one method of the pipeline service (orchestrator) or the account
// service, and renders: no SQL and no role check lives here; edit controls
// are shown by the role the service reports and refused by the service
// anyway.
//
// Live parts use Server-Sent Events. The pipelines list subscribes to the
// broker topics of the team's pipelines and re-renders a row at most once
// a second (pipelines.go); htmx's SSE extension swaps the row in. The
// dashboard's script reads the JSON API's stream of a pipeline
// (/api/v1/pipelines/{id}/stream) and coalesces renders in the browser.
// The navigation's badge of firing alerts is a plain htmx poll of
// /alerts/badge (NavEntry.Badge), not a stream.
// Custom dashboards (dashboards.go) embed their widgets' data in the page;
// web/src/dashboards.js draws it, follows the streams of the pipelines the
// widgets read the same way, and saves drag and resize through the
// dashboard service.
//
// The front-end bundles are built from web/ by `make web` into
// static/dist (git-ignored), embedded, and served under content-hashed
// names with an immutable cache (assets.go). Without them the pages still
// render, unstyled, and New logs a warning.
//
// Extension points: Layout is the shell every page renders in, and
// Handler.AddNav adds an entry to the navigation (dashboards and alerts
// slot in there; Settings is built in).
package web
