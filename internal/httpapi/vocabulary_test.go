package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestAuthVocabulary: sinks say api_key for a key in a header, as sources
// do; the old spelling "header" is read and saved as api_key.
func TestAuthVocabulary(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		want(t, e.do("POST", "/api/v1/secrets", tm.editor, `{"name": "k", "value": "v"}`), http.StatusCreated)
		for _, typ := range []string{"api_key", "header"} {
			spec := `{"name":"v-` + typ + `","kind":"webhook","sinks":[{"name":"out","http":{"url":"https://hooks.example.com/x",` +
				`"auth":{"type":"` + typ + `","header":"X-Api-Key","secret":"k"}}}]}`
			p := e.createPipeline(tm, spec)
			got := e.do("GET", "/api/v1/pipelines/"+p.ID.String(), tm.viewer, nil)
			want(t, got, http.StatusOK)
			if s := string(got.body); !strings.Contains(s, `"type":"api_key"`) || strings.Contains(s, `"type":"header"`) {
				t.Fatalf("auth type %s: the pipeline reads %s", typ, got.body)
			}
		}
	})
}
