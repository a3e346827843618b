package graphql_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tributary-dev/tributary/internal/apptest"
	"github.com/tributary-dev/tributary/internal/graphql"
)

// TestBadInputs: every bad input of the issue gets a clear, coded error.
func TestBadInputs(t *testing.T) {
	f := newFixture(t)
	s := f.s
	for _, tc := range []struct {
		name, query string
		vars        map[string]any
		code, says  string
	}{
		{"syntax error", `{ pipelines { nodes { id `, nil, "GRAPHQL_PARSE_FAILED", "Expected"},
		{"unknown field", `{ pipelines { nodes { id password } } }`, nil, "GRAPHQL_VALIDATION_FAILED", "password"},
		{"unknown argument", `{ pipelines(owner: "x") { nodes { id } } }`, nil, "GRAPHQL_VALIDATION_FAILED", "owner"},
		{"too deep", `{ pipelines { nodes { sinks { downstream { sinks { downstream { sinks { downstream { sinks { downstream { id } } } } } } } } } } }`, nil,
			graphql.CodeDepthLimit, "deep"},
		{"too many aliases", "{ " + strings.Repeat("x: me { user { id } } ", 0) + aliases(graphql.DefaultMaxAliases+1) + " }", nil, graphql.CodeAliasLimit, "aliased"},
		{"too large", "{ me { user { id } } }" + strings.Repeat(" ", graphql.DefaultMaxQueryBytes), nil, graphql.CodeQueryTooLarge, "limit"},
		{"page too large", `query($id: ID!) { pipeline(id: $id) { runs(first: 1000) { edges { cursor } } } }`, map[string]any{"id": f.pipeline.ID},
			graphql.CodeInvalid, "first"},
		{"bad cursor", `query($id: ID!) { pipeline(id: $id) { records(after: "nonsense") { edges { cursor } } } }`, map[string]any{"id": f.pipeline.ID},
			graphql.CodeInvalid, "after"},
		{"bad bucket", `query($id: ID!) { pipeline(id: $id) { series(field: "v", bucket: "fortnight") { bucket } } }`, map[string]any{"id": f.pipeline.ID},
			graphql.CodeInvalid, "bucket"},
		{"not a uuid", `{ pipeline(id: "42") { id } }`, nil, graphql.CodeNotFound, "no such pipeline"},
		{"list page too large", `{ pipelines(first: 1001) { nodes { id } } }`, nil, graphql.CodeInvalid, "first"},
		{"bad list cursor", `{ pipelines(after: "bm9uc2Vuc2U") { nodes { id } } }`, nil, graphql.CodeInvalid, "after"},
		{"another kind's cursor", `query($id: ID!) { pipeline(id: $id) { runs { pageInfo { endCursor } } } pipelines(after: "cnVuOjE6Mg") { nodes { id } } }`,
			map[string]any{"id": f.pipeline.ID}, graphql.CodeInvalid, "after"},
		{"bad time", `query($id: ID!) { pipeline(id: $id) { records(from: "yesterday") { edges { cursor } } } }`, map[string]any{"id": f.pipeline.ID},
			graphql.CodeInvalid, "from"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(t, s.URL, s.Token, tc.query, tc.vars)
			if len(r.Errors) == 0 || r.Errors[0].Extensions.Code != tc.code || !strings.Contains(strings.ToLower(r.Errors[0].Message), strings.ToLower(tc.says)) {
				t.Fatalf("want %s saying %q, got %+v", tc.code, tc.says, r.Errors)
			}
		})
	}

	// A mutation over GET does nothing and says to use POST.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+`/graphql?query=mutation{deletePipeline(id:"`+f.pipeline.ID+`")}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
		t.Fatalf("GET /graphql: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if r := post(t, s.URL, s.Token, `query($id: ID!) { pipeline(id: $id) { id } }`, map[string]any{"id": f.pipeline.ID}); len(r.Errors) > 0 {
		t.Fatalf("the pipeline is gone after GET: %+v", r.Errors)
	}

	// WebSocket authentication.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name    string
		header  http.Header
		payload map[string]any
	}{
		{"no credential", nil, nil},
		{"bad token", nil, map[string]any{"token": "trb_not-a-token"}},
		{"bad scheme", nil, map[string]any{"Authorization": "Basic eDp5"}},
		{"session from another origin", http.Header{"Cookie": {sessionCookie(t, s)}, "Origin": {"https://evil.example"}}, nil},
	} {
		ws, err := dialWS(ctx, s.URL, tc.header, tc.payload)
		if err == nil {
			ws.close()
			t.Fatalf("%s: connection acknowledged", tc.name)
		}
		if c := closeStatus(err); c != 4403 {
			t.Fatalf("%s: %v (close status %d)", tc.name, err, c)
		}
	}
	// The session from the server's own pages, and a token in the
	// Authorization form, are accepted.
	for _, tc := range []struct {
		header  http.Header
		payload map[string]any
	}{
		{http.Header{"Cookie": {sessionCookie(t, s)}, "Origin": {s.URL}}, nil},
		{nil, map[string]any{"Authorization": "Bearer " + s.Token}},
	} {
		ws, err := dialWS(ctx, s.URL, tc.header, tc.payload)
		if err != nil {
			t.Fatalf("%v: %v", tc.header, err)
		}
		if err := ws.subscribe(ctx, "1", `subscription($id: ID!) { pipelineStatus(pipelineId: $id) { kind } }`, map[string]any{"id": f.pipeline.ID}); err != nil {
			t.Fatal(err)
		}
		if d := ws.nextData(t, ctx, "1", "pipelineStatus"); d["kind"] != "STATUS" {
			t.Fatalf("first event %+v", d)
		}
		// Bad input in a subscription: a syntax error and an unknown
		// pipeline end the operation with an error.
		if err := ws.subscribe(ctx, "2", `subscription { records(pipelineId: "x") { kind `, nil); err != nil {
			t.Fatal(err)
		}
		if e := ws.subscriptionError(t, ctx, "2"); e.Extensions.Code != "GRAPHQL_PARSE_FAILED" {
			t.Fatalf("syntax error: %+v", e)
		}
		ws.close()
	}
	_ = websocket.StatusNormalClosure
}

// aliases writes n aliased cheap fields.
func aliases(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(" a")
		b.WriteString(strings.Repeat("x", i+1))
		b.WriteString(": me { token { id } }")
	}
	return b.String()
}

// sessionCookie signs in the team's owner and returns the Cookie header.
func sessionCookie(t *testing.T, s *apptest.Server) string {
	t.Helper()
	resp, err := http.Post(s.URL+"/api/v1/auth/login", "application/json",
		strings.NewReader(`{"email":"`+s.Email+`","password":"`+apptest.Password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "tributary_session" {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("login: %d, no session cookie", resp.StatusCode)
	return ""
}
