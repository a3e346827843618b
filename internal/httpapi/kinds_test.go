package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

// The kind routes publish every kind with its settings schema and
// example, to any API token, and to nobody else.
func TestKindRoutes(t *testing.T) {
	t.Parallel()
	e := setup(t, "sqlite")
	tm := e.newTeam()

	type kind struct {
		Name        string          `json:"name"`
		Pipeline    string          `json:"pipeline"`
		Summary     string          `json:"summary"`
		Doc         string          `json:"doc"`
		Description string          `json:"description"`
		Settings    json.RawMessage `json:"settings"`
		Example     json.RawMessage `json:"example"`
	}
	var kinds struct {
		Kinds []kind `json:"kinds"`
	}
	names := func() []string {
		var out []string
		for _, k := range kinds.Kinds {
			out = append(out, k.Name)
			var schema map[string]any
			if json.Unmarshal(k.Settings, &schema) != nil || schema["$schema"] != "https://json-schema.org/draft/2020-12/schema" ||
				!json.Valid(k.Example) || k.Summary == "" || k.Description == "" {
				t.Errorf("kind %s: %+v", k.Name, k)
			}
		}
		return out
	}

	r := e.do("GET", "/api/v1/source-kinds", tm.viewer, nil)
	want(t, r, http.StatusOK)
	r.json(t, &kinds)
	if got, w := names(), []string{"webhook", "http", "graphql", "pipeline"}; !slices.Equal(got, w) {
		t.Errorf("source kinds %v, want %v", got, w)
	}
	if kinds.Kinds[1].Pipeline != "polling" {
		t.Errorf("http is for %q pipelines", kinds.Kinds[1].Pipeline)
	}

	kinds.Kinds = nil
	r = e.do("GET", "/api/v1/sink-kinds", tm.viewer, nil)
	want(t, r, http.StatusOK)
	r.json(t, &kinds)
	if got, w := names(), []string{"http"}; !slices.Equal(got, w) {
		t.Errorf("sink kinds %v, want %v", got, w)
	}
	if k := kinds.Kinds[0]; k.Doc != k.Summary {
		t.Errorf("doc %q, summary %q", k.Doc, k.Summary)
	}

	for _, path := range []string{"/api/v1/source-kinds", "/api/v1/sink-kinds"} {
		want(t, e.do("GET", path, "", nil), http.StatusUnauthorized)
	}
}
