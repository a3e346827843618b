package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAccessLog: every request's log line names its request id, route,
// status and, when it was authenticated, its principal; a webhook's path,
// which holds its credential, is hidden.
func TestAccessLog(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		want(t, e.do("GET", "/api/v1/pipelines", tm.viewer, nil, "X-Request-Id", "log-token-1"), http.StatusOK)
		line := e.accessLine(t, "log-token-1")
		if line["route"] != "GET /api/v1/pipelines" || line["status"] != float64(http.StatusOK) || line["path"] != "/api/v1/pipelines" {
			t.Errorf("access log line %v: want route, status and path of the request", line)
		}
		if p, _ := line["principal"].(string); !strings.HasPrefix(p, "token:") {
			t.Errorf("access log line %v: principal %q, want the token", line, p)
		}

		want(t, e.do("GET", "/api/v1/pipelines", "", nil, "X-Request-Id", "log-anon-1"), http.StatusUnauthorized)
		if line := e.accessLine(t, "log-anon-1"); line["principal"] != nil || line["status"] != float64(http.StatusUnauthorized) {
			t.Errorf("anonymous request's line %v: want status 401 and no principal", line)
		}

		want(t, e.do("POST", "/hooks/not-a-real-token", "", `{"a": 1}`, "X-Request-Id", "log-hook-1"), http.StatusNotFound)
		line = e.accessLine(t, "log-hook-1")
		if line["path"] != "/hooks/…" || strings.Contains(e.logs.String(), "not-a-real-token") {
			t.Errorf("webhook line %v: the path must be hidden", line)
		}
	})
}

// accessLine waits for the access log line of the request with id (it is
// written after the response) and returns it decoded.
func (e *env) accessLine(t *testing.T, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, l := range strings.Split(e.logs.String(), "\n") {
			if !strings.Contains(l, `"msg":"http request"`) || !strings.Contains(l, `"request_id":"`+id+`"`) {
				continue
			}
			var line map[string]any
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("access log line %q: %v", l, err)
			}
			return line
		}
		if time.Now().After(deadline) {
			t.Fatalf("no access log line for request %s", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
