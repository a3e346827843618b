package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
)

// pollCanary is the value of the team secret the polls use; nothing the
// server answers, logs or stores about runs may contain it.
const pollCanary = "canary-5e1f0b9a27c4d863"

// fakeAPIs serves a REST API (bearer auth, cursor pages), a REST API that
// refuses its key and echoes it, and a GraphQL API, on one loopback server.
func fakeAPIs(t *testing.T) *httptest.Server {
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/rest":
			if r.Header.Get("Authorization") != "Bearer "+pollCanary {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			page, _ := strconv.Atoi(r.URL.Query().Get("page"))
			var next any
			if page < 2 {
				next = strconv.Itoa(page + 1)
			}
			json.NewEncoder(w).Encode(map[string]any{"items": []any{
				map[string]any{"id": fmt.Sprintf("%d-%d", n, page), "v": page},
			}, "next": next})
		case "/refusing":
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `{"error":"key %s is revoked"}`, r.URL.Query().Get("apikey"))
		case "/graphql":
			if r.Header.Get("X-Api-Key") != pollCanary {
				json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"message": "bad key " + r.Header.Get("X-Api-Key")}}})
				return
			}
			var req struct {
				Variables map[string]any `json:"variables"`
			}
			json.NewDecoder(r.Body).Decode(&req)
			after, _ := req.Variables["after"].(string)
			end, _ := strconv.Atoi(after)
			json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"events": map[string]any{
				"nodes":    []any{map[string]any{"id": fmt.Sprintf("g%d-%d", n, end), "seq": end + 1}},
				"pageInfo": map[string]any{"hasNextPage": end < 2, "endCursor": strconv.Itoa(end + 1)},
			}}})
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPollingEndToEndThroughTheServer(t *testing.T) {
	eachBackend(t, func(t *testing.T, backend string) {
		apis := fakeAPIs(t)
		cfg := testConfig(t, backend)
		cfg.AllowNetworks = "127.0.0.1/32"
		ts := serveConfig(t, backend, cfg)
		_, tm := ts.createUser("owner-"+uuid.NewString()[:8]+"@example.com", "Polling "+uuid.NewString()[:8], auth.Owner)
		_, token := ts.issueToken(tm.ID, auth.Admin)
		c := ts.bearer(token)
		var bodies [][]byte
		do := func(method, path string, body any, codes ...int) *response {
			t.Helper()
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			r := c.do(method, path+sep+"team="+tm.ID.String(), body)
			r.want(codes...)
			bodies = append(bodies, r.Body)
			return r
		}
		do("POST", "/api/v1/secrets", map[string]string{"name": "api-key", "value": pollCanary}, http.StatusCreated)

		specs := map[string]string{
			"rest": `{"name":"rest","kind":"polling","source":{"interval":"1s","http":{"url":"` + apis.URL + `/rest","records":"items",
				"auth":{"type":"bearer","secret":"api-key"},"pagination":{"type":"cursor","next":"next","param":"page"},"dedup":{"key":"id"}}}}`,
			"refusing": `{"name":"refusing","kind":"polling","source":{"interval":"1s","http":{"url":"` + apis.URL + `/refusing",
				"auth":{"type":"api_key","query":"apikey","secret":"api-key"}}}}`,
			"graphql": `{"name":"graphql","kind":"polling","source":{"interval":"1s","graphql":{"url":"` + apis.URL + `/graphql",
				"query":"query($after: String) { events(after: $after) { nodes { id seq } pageInfo { hasNextPage endCursor } } }",
				"records":"events.nodes","pagination":{},"auth":{"type":"api_key","header":"X-Api-Key","secret":"api-key"}},
				"state":{"seq":{"from":"seq"}}}}`,
		}
		ids := map[string]uuid.UUID{}
		for name, spec := range specs {
			var p struct {
				ID uuid.UUID `json:"id"`
			}
			do("POST", "/api/v1/pipelines", spec, http.StatusCreated).json(&p)
			ids[name] = p.ID
		}
		type runs struct {
			Runs []struct {
				Trigger string `json:"trigger"`
				Stored  int    `json:"stored"`
				Error   string `json:"error"`
			} `json:"runs"`
		}
		listRuns := func(name string) runs {
			var rs runs
			do("GET", "/api/v1/pipelines/"+ids[name].String()+"/runs", nil, http.StatusOK).json(&rs)
			return rs
		}
		for name := range specs {
			eventually(t, 30*time.Second, name+" polls", func() bool { return len(listRuns(name).Runs) >= 3 })
		}
		for _, r := range listRuns("rest").Runs {
			if r.Error != "" || r.Stored != 3 {
				t.Fatalf("rest run %+v", r)
			}
		}
		for _, r := range listRuns("graphql").Runs {
			if r.Error != "" || r.Stored != 3 {
				t.Fatalf("graphql run %+v", r)
			}
		}
		for _, r := range listRuns("refusing").Runs {
			if !strings.Contains(r.Error, "answered 403 Forbidden") || !strings.Contains(r.Error, "[redacted]") {
				t.Fatalf("refusing run %+v", r)
			}
		}
		eventually(t, 30*time.Second, "the refusing pipeline to be failing", func() bool {
			var p struct {
				Status string `json:"status"`
			}
			do("GET", "/api/v1/pipelines/"+ids["refusing"].String(), nil, http.StatusOK).json(&p)
			return p.Status == "failing"
		})
		do("GET", "/api/v1/pipelines/"+ids["rest"].String()+"/records", nil, http.StatusOK)
		do("GET", "/api/v1/pipelines/"+ids["graphql"].String()+"/records", nil, http.StatusOK)
		do("GET", "/api/v1/pipelines", nil, http.StatusOK)
		do("POST", "/api/v1/pipelines/preview", `{"spec":`+specs["refusing"]+`}`, http.StatusOK)
		do("POST", "/api/v1/pipelines/preview", `{"spec":`+specs["rest"]+`,"max_pages":3}`, http.StatusOK)
		do("POST", "/api/v1/pipelines/"+ids["rest"].String()+"/run", nil, http.StatusAccepted)

		// The canary: in no response, no log line, no run row, no state.
		for _, b := range bodies {
			if strings.Contains(string(b), pollCanary) {
				t.Fatalf("a response carries the secret: %s", b)
			}
		}
		if strings.Contains(ts.Logs.String(), pollCanary) {
			t.Fatal("the log carries the secret")
		}
		if n := ts.count(`SELECT count(*) FROM runs WHERE error LIKE ?`, "%"+pollCanary+"%"); n != 0 {
			t.Fatalf("%d run rows carry the secret", n)
		}
		if n := ts.count(`SELECT count(*) FROM runs WHERE error <> ''`); n < 3 {
			t.Fatalf("%d failed runs", n)
		}
		if n := ts.count(`SELECT count(*) FROM pipelines WHERE CAST(state AS TEXT) LIKE ?`, "%"+pollCanary+"%"); n != 0 {
			t.Fatalf("%d pipeline states carry the secret", n)
		}
	})
}
