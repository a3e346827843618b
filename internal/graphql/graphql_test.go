package graphql_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/apptest"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/graphql"
)

// gqlError is an error of a GraphQL response.
type gqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code     string `json:"code"`
		Problems []struct {
			Path    string `json:"path"`
			Message string `json:"message"`
		} `json:"problems"`
	} `json:"extensions"`
}

type gqlResponse struct {
	Status int
	Data   map[string]json.RawMessage `json:"data"`
	Errors []gqlError                 `json:"errors"`
}

// code returns the code of the only error of r.
func (r gqlResponse) code(t *testing.T) string {
	t.Helper()
	if len(r.Errors) != 1 {
		t.Fatalf("want one error, got %+v", r.Errors)
	}
	return r.Errors[0].Extensions.Code
}

// post sends a GraphQL request with token ("" for none).
func post(t *testing.T, url, token, query string, vars map[string]any) gqlResponse {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/graphql", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := gqlResponse{Status: resp.StatusCode}
	if resp.StatusCode == http.StatusUnauthorized {
		return out
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("status %d, not a GraphQL response: %v\n%s", resp.StatusCode, err, b)
	}
	return out
}

type pipeline struct {
	ID      string          `json:"id"`
	Name    string          `json:"name"`
	Kind    string          `json:"kind"`
	Status  string          `json:"status"`
	Version int             `json:"version"`
	Spec    json.RawMessage `json:"spec"`
	Stats   struct {
		RecordCount  int     `json:"recordCount"`
		LastRecordAt *string `json:"lastRecordAt"`
	} `json:"stats"`
	CreatedAt string `json:"createdAt"`
}

// pipelinePage is a page of the pipelines connection.
type pipelinePage struct {
	Edges []struct {
		Cursor string   `json:"cursor"`
		Node   pipeline `json:"node"`
	} `json:"edges"`
	Nodes    []pipeline `json:"nodes"`
	PageInfo struct {
		HasNextPage     bool    `json:"hasNextPage"`
		HasPreviousPage bool    `json:"hasPreviousPage"`
		StartCursor     *string `json:"startCursor"`
		EndCursor       *string `json:"endCursor"`
	} `json:"pageInfo"`
	TotalCount int `json:"totalCount"`
}

const fields = `id name kind status version spec hookTokenPrefix stats { recordCount rejectedCount storedBytes lastRecordAt lastRunAt } createdAt updatedAt`

func decode[T any](t *testing.T, r gqlResponse, field string) T {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("%s: errors %+v", field, r.Errors)
	}
	var v T
	if err := json.Unmarshal(r.Data[field], &v); err != nil {
		t.Fatalf("%s: %v: %s", field, err, r.Data[field])
	}
	return v
}

func TestPipelines(t *testing.T) {
	for _, backend := range apptest.Backends {
		t.Run(backend, func(t *testing.T) {
			s := apptest.Start(t, backend)
			editor := s.NewToken(t, auth.Editor)
			viewer := s.NewToken(t, auth.Viewer)
			// Another user with a team of their own.
			_, teamB, err := s.Accounts.CreateUser(t.Context(), "bob@example.com", apptest.Password, "Bobco", "")
			if err != nil {
				t.Fatal(err)
			}
			_, other, err := s.Accounts.IssueToken(t.Context(), teamB.ID, "bob", auth.Admin, nil, nil)
			if err != nil {
				t.Fatal(err)
			}

			create := `mutation($spec: JSON!) { createPipeline(spec: $spec) { ` + fields + ` } }`
			p := decode[pipeline](t, post(t, s.URL, editor, create, map[string]any{
				"spec": map[string]any{"name": "hook", "kind": "webhook"},
			}), "createPipeline")
			if p.Name != "hook" || p.Kind != "webhook" || p.Status != "active" || p.Version != 1 || p.CreatedAt == "" {
				t.Fatalf("created %+v", p)
			}
			var spec map[string]any
			if err := json.Unmarshal(p.Spec, &spec); err != nil || spec["name"] != "hook" {
				t.Fatalf("spec %s: %v", p.Spec, err)
			}

			// The team's members see it, with the team named or not.
			list := `query($team: ID) { pipelines(team: $team) { nodes { id name } } }`
			for _, tc := range []struct {
				token string
				team  any
			}{{editor, nil}, {viewer, nil}, {s.Token, s.Team.ID.String()}} {
				ps := decode[pipelinePage](t, post(t, s.URL, tc.token, list, map[string]any{"team": tc.team}), "pipelines").Nodes
				if len(ps) != 1 || ps[0].ID != p.ID {
					t.Fatalf("pipelines %+v", ps)
				}
			}
			one := `query($id: ID!) { pipeline(id: $id) { ` + fields + ` } }`
			if got := decode[pipeline](t, post(t, s.URL, viewer, one, map[string]any{"id": p.ID}), "pipeline"); got.ID != p.ID {
				t.Fatalf("pipeline %+v", got)
			}

			// Another team sees nothing and touches nothing: its answers
			// are those for an id that does not exist.
			if ps := decode[pipelinePage](t, post(t, s.URL, other, list, nil), "pipelines").Nodes; len(ps) != 0 {
				t.Fatalf("other team lists %+v", ps)
			}
			missing := "6f1c2d3e-0000-4000-8000-000000000000"
			for _, id := range []string{p.ID, missing, "not-a-uuid"} {
				for _, q := range []string{
					`query($id: ID!) { pipeline(id: $id) { id } }`,
					`mutation($id: ID!) { pausePipeline(id: $id) { id } }`,
					`mutation($id: ID!) { resumePipeline(id: $id) { id } }`,
					`mutation($id: ID!) { deletePipeline(id: $id) }`,
				} {
					r := post(t, s.URL, other, q, map[string]any{"id": id})
					if c := r.code(t); c != graphql.CodeNotFound {
						t.Fatalf("other team, %s on %s: code %q", q, id, c)
					}
					if id != missing && r.Errors[0].Message != post(t, s.URL, other, q, map[string]any{"id": missing}).Errors[0].Message {
						t.Fatalf("another team's pipeline is told apart from a missing one: %q", r.Errors[0].Message)
					}
				}
			}
			// Naming team A does not help a member of team B.
			r := post(t, s.URL, other, list, map[string]any{"team": s.Team.ID.String()})
			if c := r.code(t); c != graphql.CodeNotFound && c != graphql.CodeForbidden {
				t.Fatalf("other team naming team A: %q", c)
			}

			// A viewer reads but does not write.
			r = post(t, s.URL, viewer, create, map[string]any{"spec": map[string]any{"name": "v", "kind": "webhook"}})
			if c := r.code(t); c != graphql.CodeForbidden {
				t.Fatalf("viewer creates: %q", c)
			}
			r = post(t, s.URL, viewer, `mutation($id: ID!) { pausePipeline(id: $id) { id } }`, map[string]any{"id": p.ID})
			if c := r.code(t); c != graphql.CodeForbidden {
				t.Fatalf("viewer pauses: %q", c)
			}

			// An invalid spec: INVALID with the problems' paths.
			r = post(t, s.URL, editor, create, map[string]any{"spec": map[string]any{"name": "", "kind": "carrier-pigeon"}})
			if c := r.code(t); c != graphql.CodeInvalid {
				t.Fatalf("invalid spec: %q", c)
			}
			paths := map[string]bool{}
			for _, pr := range r.Errors[0].Extensions.Problems {
				paths[pr.Path] = true
			}
			if !paths["kind"] {
				t.Fatalf("invalid spec: problems %+v", r.Errors[0].Extensions.Problems)
			}
			r = post(t, s.URL, editor, create, map[string]any{"spec": []int{1}})
			if c := r.code(t); c != graphql.CodeInvalid {
				t.Fatalf("spec not an object: %q", c)
			}
			// A name taken.
			r = post(t, s.URL, editor, create, map[string]any{"spec": map[string]any{"name": "hook", "kind": "webhook"}})
			if c := r.code(t); c != graphql.CodeConflict {
				t.Fatalf("name taken: %q %+v", c, r.Errors)
			}

			// Pause, resume, delete.
			pause := `mutation($id: ID!) { pausePipeline(id: $id) { id status } }`
			if got := decode[pipeline](t, post(t, s.URL, editor, pause, map[string]any{"id": p.ID}), "pausePipeline"); got.Status != "paused" {
				t.Fatalf("paused %+v", got)
			}
			resume := `mutation($id: ID!) { resumePipeline(id: $id) { id status } }`
			if got := decode[pipeline](t, post(t, s.URL, editor, resume, map[string]any{"id": p.ID}), "resumePipeline"); got.Status != "active" {
				t.Fatalf("resumed %+v", got)
			}
			del := `mutation($id: ID!) { deletePipeline(id: $id) }`
			if !decode[bool](t, post(t, s.URL, editor, del, map[string]any{"id": p.ID}), "deletePipeline") {
				t.Fatal("delete answered false")
			}
			r = post(t, s.URL, editor, one, map[string]any{"id": p.ID})
			if c := r.code(t); c != graphql.CodeNotFound {
				t.Fatalf("deleted pipeline: %q", c)
			}
			if string(r.Data["pipeline"]) != "null" {
				t.Fatalf("deleted pipeline: data %s", r.Data["pipeline"])
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	s := apptest.Start(t, "sqlite")

	// No credential: UNAUTHENTICATED; a bad token: 401 from the middleware.
	r := post(t, s.URL, "", `{ pipelines { nodes { id } } }`, nil)
	if c := r.code(t); c != graphql.CodeUnauthenticated {
		t.Fatalf("anonymous: %q", c)
	}
	if r := post(t, s.URL, "trb_not-a-token", `{ pipelines { nodes { id } } }`, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("bad token: status %d", r.Status)
	}

	// A browser's cross-origin request (the session cookie would ride
	// along) is refused by the CSRF check before GraphQL sees it.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/graphql",
		strings.NewReader(`{"query":"mutation { createPipeline(spec: {name: \"x\", kind: \"webhook\"}) { id } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin POST: status %d", resp.StatusCode)
	}

	// Syntax errors and unknown fields.
	r = post(t, s.URL, s.Token, `{ pipelines { nodes { id `, nil)
	if c := r.code(t); c != "GRAPHQL_PARSE_FAILED" || r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("syntax error: %d %q %+v", r.Status, c, r.Errors)
	}
	r = post(t, s.URL, s.Token, `{ pipelines { nodes { id password } } }`, nil)
	if c := r.code(t); c != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(r.Errors[0].Message, "password") {
		t.Fatalf("unknown field: %q %+v", c, r.Errors)
	}

	// Over the complexity limit: a few aliases of a list with many fields.
	var q strings.Builder
	q.WriteString("{")
	for i := range 12 {
		q.WriteString(" p")
		q.WriteString(string(rune('a'+i%26)) + string(rune('a'+i/26)))
		q.WriteString(": pipelines { nodes { " + fields + " runs { edges { cursor node { id version trigger startedAt durationMs fetched stored rejected bytes error } } pageInfo { hasNextPage endCursor } } } } ")
	}
	q.WriteString(" }")
	r = post(t, s.URL, s.Token, q.String(), nil)
	if c := r.code(t); c != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Fatalf("complex query: %q %+v", c, r.Errors)
	}
	// A list costs its page size times what each element selects: few
	// fields, but pages that could hold 100,000 runs, are over the limit;
	// the same shape with small pages is not.
	r = post(t, s.URL, s.Token, `{ pipelines(first: 1000) { nodes { runs(first: 100) { edges { node { id } } } } } }`, nil)
	if c := r.code(t); c != "COMPLEXITY_LIMIT_EXCEEDED" {
		t.Fatalf("pages of 1000 pipelines × 100 runs: %q %+v", c, r.Errors)
	}
	r = post(t, s.URL, s.Token, `{ pipelines(first: 10) { nodes { runs(first: 5) { edges { node { id } } } } } }`, nil)
	if len(r.Errors) > 0 {
		t.Fatalf("pages of 10 pipelines × 5 runs: %+v", r.Errors)
	}

	// Over the size limit.
	big := "{ pipelines { nodes { id } } }" + strings.Repeat(" ", graphql.DefaultMaxQueryBytes)
	r = post(t, s.URL, s.Token, big, nil)
	if c := r.code(t); c != graphql.CodeQueryTooLarge {
		t.Fatalf("large query: %q %+v", c, r.Errors)
	}

	// Introspection is on.
	r = post(t, s.URL, s.Token, `{ __schema { queryType { name } } }`, nil)
	if len(r.Errors) > 0 || !strings.Contains(string(r.Data["__schema"]), "Query") {
		t.Fatalf("introspection: %+v %s", r.Errors, r.Data["__schema"])
	}

	// No GraphQL over GET: a mutation in a URL does nothing.
	p := decode[pipeline](t, post(t, s.URL, s.Token, `mutation { createPipeline(spec: {name: "hook", kind: "webhook"}) { id } }`, nil), "createPipeline")
	req, err = http.NewRequestWithContext(t.Context(), http.MethodGet,
		s.URL+"/graphql?query="+strings.ReplaceAll(`mutation{deletePipeline(id:"`+p.ID+`")}`, " ", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /graphql answered %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if ps := decode[pipelinePage](t, post(t, s.URL, s.Token, `{ pipelines { nodes { id } } }`, nil), "pipelines").Nodes; len(ps) != 1 {
		t.Fatalf("after GET: pipelines %+v", ps)
	}
}
