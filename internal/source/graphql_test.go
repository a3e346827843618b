package source_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// graphqlAPI is a fake GraphQL server with a Relay connection of 25
// events, filtered by $since, in pages of $first.
func graphqlAPI(t *testing.T) (*api, *atomic.Int64) {
	var requests atomic.Int64
	a := newAPI(t, func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		var req struct {
			Query     string         `json:"query"`
			Variables map[string]any `json:"variables"`
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if r.Header.Get("Authorization") != "Bearer gh-"+canary {
			writeJSON(w, map[string]any{"errors": []any{map[string]any{"message": "Bad credentials"}}})
			return
		}
		if strings.Contains(req.Query, "broken") {
			writeJSON(w, map[string]any{"data": nil, "errors": []any{
				map[string]any{"message": "Field 'broken' doesn't exist on type 'Query'", "path": []any{"query", "broken"}},
				map[string]any{"message": "second problem"},
			}})
			return
		}
		since, _ := req.Variables["since"].(float64)
		first := 10
		if f, ok := req.Variables["first"].(float64); ok {
			first = int(f)
		}
		after := -1
		if c, ok := req.Variables["after"].(string); ok && c != "" {
			after, _ = strconv.Atoi(strings.TrimPrefix(c, "cur"))
		}
		var nodes []any
		last := after
		for i := max(after+1, int(since)); i < total && len(nodes) < first; i++ {
			nodes = append(nodes, map[string]any{"id": i, "seq": i})
			last = i
		}
		writeJSON(w, map[string]any{"data": map[string]any{"repo": map[string]any{"events": map[string]any{
			"nodes":    nodes,
			"pageInfo": map[string]any{"hasNextPage": last+1 < total, "endCursor": fmt.Sprintf("cur%d", last)},
		}}}})
	})
	return a, &requests
}

func TestGraphQL(t *testing.T) {
	t.Parallel()
	a, requests := graphqlAPI(t)
	e := env(loopback, map[string]string{"gh": "gh-" + canary})
	const query = `query($since: Int, $after: String, $first: Int) { repo { events(since: $since, after: $after, first: $first) { nodes { id seq } pageInfo { hasNextPage endCursor } } } }`
	spec := func(extra string) string {
		q, _ := json.Marshal(query)
		return `{"url":"` + a.URL + `/graphql","query":` + string(q) + `,"records":"repo.events.nodes",
			"auth":{"type":"bearer","secret":"gh"}` + extra + `}`
	}
	s := build(t, "graphql", spec(`,"variables":{"since":"{{ state.seq }}","first":10},"pagination":{"max_pages":5}`), `{"seq":{"from":"seq","initial":0}}`)
	res := poll(t, s, e, nil)
	if len(res.Records) != total || requests.Load() != 3 || res.More {
		t.Fatalf("%d records in %d requests (more %v), want %d in 3", len(res.Records), requests.Load(), res.More, total)
	}
	if got, _ := json.Marshal(res.State); string(got) != `{"seq":24}` {
		t.Fatalf("state %s", got)
	}
	// The state's number reaches the variable as a number.
	res = poll(t, s, e, map[string]any{"seq": json.Number("20")})
	if len(res.Records) != 5 || ids(res.Records)[0] != "20" {
		t.Fatalf("from seq 20: %v", ids(res.Records))
	}
	// Max pages.
	s = build(t, "graphql", spec(`,"variables":{"first":5},"pagination":{"max_pages":2}`), "")
	if res := poll(t, s, e, nil); len(res.Records) != 10 || !res.More {
		t.Fatalf("max pages: %d records, more %v", len(res.Records), res.More)
	}
	// Without pagination, one page.
	s = build(t, "graphql", spec(``), "")
	if res := poll(t, s, e, nil); len(res.Records) != 10 || res.More {
		t.Fatalf("one page: %d records", len(res.Records))
	}
}

func TestGraphQLErrors(t *testing.T) {
	t.Parallel()
	a, _ := graphqlAPI(t)
	e := env(loopback, map[string]string{"gh": "gh-" + canary, "wrong": "nope-" + canary})
	for _, tc := range []struct{ spec, want string }{
		{`{"url":"%s/","query":"{ broken }","records":"broken","auth":{"type":"bearer","secret":"gh"}}`,
			"the GraphQL query failed: Field 'broken' doesn't exist on type 'Query' (at query.broken); second problem"},
		{`{"url":"%s/","query":"{ repo { x } }","records":"repo","auth":{"type":"bearer","secret":"wrong"}}`, "the GraphQL query failed: Bad credentials"},
		{`{"url":"%s/","query":"{ repo { events { nodes { id } } } }","records":"repo.nodes","auth":{"type":"bearer","secret":"gh"}}`, `the response's data has nothing at "repo.nodes"`},
		{`{"url":"%s/","query":"query($after: String) { repo { events { nodes { id } } } }","records":"repo.events.nodes","pagination":{"page_info":"repo.info"},"auth":{"type":"bearer","secret":"gh"}}`, `no pageInfo at "repo.info"`},
	} {
		s := build(t, "graphql", fmt.Sprintf(tc.spec, a.URL), "")
		err := pollErr(t, s, e, nil)
		if !strings.Contains(err.Msg, tc.want) || strings.Contains(err.Msg, canary) {
			t.Errorf("%s: error %q, want %q", tc.spec, err.Msg, tc.want)
		}
	}
}
