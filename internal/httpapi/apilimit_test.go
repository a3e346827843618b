package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/tributary-dev/tributary/internal/ratelimit"
)

// TestAPIRateLimit: a team's API tokens share one bucket; beyond it the
// API answers 429 with Retry-After, while another team, and requests
// that need no principal, pass.
func TestAPIRateLimit(t *testing.T) {
	// One request a second, three at once, per team (no Redis: one node
	// enforces all of it).
	lim := ratelimit.New(ratelimit.Config{Rate: 1, Burst: 3, Name: "api"}, nil)
	eachBackend(t, func(t *testing.T, e *env) {
		a, b := e.newTeam(), e.newTeam()
		for i, tok := range []string{a.viewer, a.editor, a.owner} {
			if r := e.do(http.MethodGet, "/api/v1/pipelines", tok, nil); r.status != http.StatusOK {
				t.Fatalf("request %d within the burst: %v", i, r)
			}
		}
		r := e.do(http.MethodGet, "/api/v1/pipelines", a.admin, nil)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
			t.Fatalf("beyond the burst, another token of the team: %v (Retry-After %q)", r, r.header.Get("Retry-After"))
		}
		if r := e.do(http.MethodGet, "/api/v1/pipelines", b.viewer, nil); r.status != http.StatusOK {
			t.Fatalf("another team: %v", r)
		}
		if r := e.do(http.MethodGet, "/healthz", "", nil); r.status != http.StatusOK {
			t.Fatalf("/healthz: %v", r)
		}
	}, func(c *envConfig) { c.APILimiter = lim })
}
