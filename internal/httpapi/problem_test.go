package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestNonUUIDPathIsNotFound: an id in a path that is not a UUID addresses
// nothing and answers 404 like a missing object, on every resource route.
// (The routes of sinks and uploads are checked end to end in client's
// tests.)
func TestNonUUIDPathIsNotFound(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/v1/pipelines/not-a-uuid"},
			{"PUT", "/api/v1/pipelines/123"},
			{"DELETE", "/api/v1/pipelines/123"},
			{"POST", "/api/v1/pipelines/abc/pause"},
			{"GET", "/api/v1/pipelines/abc/records"},
			{"GET", "/api/v1/pipelines/abc/runs"},
			{"DELETE", "/api/v1/team/tokens/abc"},
			{"DELETE", "/api/v1/team/members/abc"},
		} {
			r := e.do(c.method, c.path, tm.owner, nil)
			want(t, r, http.StatusNotFound)
			pr := r.problem(t)
			if len(pr.Errors) == 0 || !strings.HasPrefix(pr.Errors[0].Location, "path") || strings.Contains(string(r.body), "UUID") {
				t.Errorf("%s %s: %s, want a 404 located in the path", c.method, c.path, r.body)
			}
		}
	})
}

// TestProblemShape: every error carries errors with a location and the
// request id, inside huma and outside it.
func TestProblemShape(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		cases := []struct {
			name     string
			r        resp
			status   int
			location string
		}{
			{"secret name", e.do("POST", "/api/v1/secrets", tm.editor, `{"name": "Bad Name", "value": "x"}`), 422, "body.name"},
			{"secret value missing", e.do("POST", "/api/v1/secrets", tm.editor, `{"name": "ok"}`), 422, "body.value"},
			{"secret value empty", e.do("POST", "/api/v1/secrets", tm.editor, `{"name": "ok", "value": ""}`), 422, "body.value"},
			{"secret not JSON", e.do("POST", "/api/v1/secrets", tm.editor, `{`), 400, "body"},
			{"secret rotate empty", e.do("PUT", "/api/v1/secrets/nope", tm.editor, `{"value": ""}`), 422, "body.value"},
			{"missing secret", e.do("GET", "/api/v1/secrets/nope", tm.viewer, nil), 404, "path"},
			{"spec", e.do("POST", "/api/v1/pipelines", tm.editor, `{"name": "x", "kind": "nope"}`), 422, "body.kind"},
			{"role", e.do("POST", "/api/v1/secrets", tm.viewer, `{"name": "ok", "value": "v"}`), 403, "header.Authorization"},
			{"bad token (middleware)", e.do("GET", "/api/v1/pipelines", "nope", nil), 401, "header.Authorization"},
		}
		for _, c := range cases {
			want(t, c.r, c.status)
			pr := c.r.problem(t)
			if len(pr.Errors) == 0 || pr.Errors[0].Location != c.location || pr.Errors[0].Message == "" {
				t.Errorf("%s: %s, want errors located at %s", c.name, c.r.body, c.location)
			}
			if id := c.r.header.Get("X-Request-Id"); id == "" || pr.RequestID != id {
				t.Errorf("%s: request_id %q, X-Request-Id %q", c.name, pr.RequestID, id)
			}
		}
		// The client's request id is echoed in the header and the body.
		r := e.do("GET", "/api/v1/pipelines/"+"00000000-0000-0000-0000-000000000001", tm.viewer, nil, "X-Request-Id", "trace-42")
		want(t, r, http.StatusNotFound)
		if pr := r.problem(t); pr.RequestID != "trace-42" || r.header.Get("X-Request-Id") != "trace-42" {
			t.Errorf("the client's request id is not echoed: %s", r.body)
		}
	})
}
