package graphql_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/internal/apptest"
	"github.com/tributary-dev/tributary/internal/graphql"
)

// postBody posts a request body of its own to /graphql.
func postBody(t *testing.T, url, token string, body map[string]any) gqlResponse {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/graphql", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := gqlResponse{Status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("status %d, not a GraphQL response: %v", resp.StatusCode, err)
	}
	return out
}

// wantPQ fails unless r has one error with code whose message holds text.
func wantPQ(t *testing.T, r gqlResponse, code, text string) {
	t.Helper()
	if c := r.code(t); c != code || !strings.Contains(r.Errors[0].Message, text) {
		t.Fatalf("code %q, want %s with %q: %+v", c, code, text, r.Errors)
	}
}

func persisted(hash string) map[string]any {
	return map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
}

// TestPersistedQueries: a hash the server does not hold answers
// PERSISTED_QUERY_NOT_FOUND; sent once with its query, the hash alone
// runs it; a hash that does not match its query, and a query over the
// size limit, are refused and not held.
func TestPersistedQueries(t *testing.T) {
	s := apptest.Start(t, "sqlite")
	query := `query { teams { role team { slug } } }`
	sum := sha256.Sum256([]byte(query))
	hash := hex.EncodeToString(sum[:])

	wantPQ(t, postBody(t, s.URL, s.Token, map[string]any{"extensions": persisted(hash)}), graphql.CodePersistedQueryNotFound, "send the query")

	r := postBody(t, s.URL, s.Token, map[string]any{"query": query, "extensions": persisted(hash)})
	if len(r.Errors) > 0 || !strings.Contains(string(r.Data["teams"]), `"slug"`) {
		t.Fatalf("query with its hash: %+v", r)
	}
	r = postBody(t, s.URL, s.Token, map[string]any{"extensions": persisted(hash)})
	if len(r.Errors) > 0 || !strings.Contains(string(r.Data["teams"]), `"slug"`) {
		t.Fatalf("hash alone: %+v", r)
	}

	// A hash that is not the query's: refused, and nothing is held under it.
	other := strings.Repeat("ab", 32)
	wantPQ(t, postBody(t, s.URL, s.Token, map[string]any{"query": query, "extensions": persisted(other)}), graphql.CodeInvalid, "hash")
	wantPQ(t, postBody(t, s.URL, s.Token, map[string]any{"extensions": persisted(other)}), graphql.CodePersistedQueryNotFound, "")
	wantPQ(t, postBody(t, s.URL, s.Token, map[string]any{"query": query, "extensions": map[string]any{"persistedQuery": map[string]any{"version": 2, "sha256Hash": hash}}}),
		graphql.CodeInvalid, "")

	// A query over the size limit is refused before it is held.
	big := "query { teams { role } }" + strings.Repeat(" ", graphql.DefaultMaxQueryBytes)
	sum = sha256.Sum256([]byte(big))
	bigHash := hex.EncodeToString(sum[:])
	wantPQ(t, postBody(t, s.URL, s.Token, map[string]any{"query": big, "extensions": persisted(bigHash)}), graphql.CodeQueryTooLarge, "")
	wantPQ(t, postBody(t, s.URL, s.Token, map[string]any{"extensions": persisted(bigHash)}), graphql.CodePersistedQueryNotFound, "")

}
