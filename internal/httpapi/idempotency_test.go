package httpapi_test

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestIdempotencyKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		spec := webhookSpec("idem")
		first := e.do("POST", "/api/v1/pipelines", tm.editor, spec, "Idempotency-Key", "create-1")
		want(t, first, http.StatusCreated)
		again := e.do("POST", "/api/v1/pipelines", tm.editor, spec, "Idempotency-Key", "create-1")
		want(t, again, http.StatusCreated)
		if !bytes.Equal(first.body, again.body) || again.header.Get("Idempotent-Replayed") != "true" ||
			again.header.Get("ETag") != first.header.Get("ETag") {
			t.Fatalf("the retry answered %s (%v), the first %s", again.body, again.header, first.body)
		}
		var list struct {
			Pipelines []pipelineBody `json:"pipelines"`
		}
		e.do("GET", "/api/v1/pipelines", tm.viewer, nil).json(t, &list)
		if len(list.Pipelines) != 1 {
			t.Fatalf("%d pipelines after a retried create, want 1", len(list.Pipelines))
		}

		// The same key with another body is refused, and says why.
		other := e.do("POST", "/api/v1/pipelines", tm.editor, webhookSpec("idem-2"), "Idempotency-Key", "create-1")
		want(t, other, http.StatusUnprocessableEntity)
		if pr := other.problem(t); pr.Errors[0].Location != "header.Idempotency-Key" || !strings.Contains(pr.Detail, "different request") {
			t.Fatalf("same key, other body: %s", other.body)
		}
		// Keys belong to a principal: another token's key is its own.
		want(t, e.do("POST", "/api/v1/pipelines", tm.admin, webhookSpec("idem-3"), "Idempotency-Key", "create-1"), http.StatusCreated)

		// A failure is not kept: the fixed request may reuse the key.
		want(t, e.do("POST", "/api/v1/secrets", tm.editor, `{"name": "Bad", "value": "v"}`, "Idempotency-Key", "s-1"), http.StatusUnprocessableEntity)
		s1 := e.do("POST", "/api/v1/secrets", tm.editor, `{"name": "good", "value": "v"}`, "Idempotency-Key", "s-1")
		want(t, s1, http.StatusCreated)
		s2 := e.do("POST", "/api/v1/secrets", tm.editor, `{"name": "good", "value": "v"}`, "Idempotency-Key", "s-1")
		want(t, s2, http.StatusCreated)
		if !bytes.Equal(s1.body, s2.body) {
			t.Fatalf("the retried secret answered %s, the first %s", s2.body, s1.body)
		}
		// Tokens: the retry gets the same token, not a second one.
		t1 := e.do("POST", "/api/v1/team/tokens", tm.owner, `{"name": "ci", "role": "viewer"}`, "Idempotency-Key", "t-1")
		want(t, t1, http.StatusCreated)
		t2 := e.do("POST", "/api/v1/team/tokens", tm.owner, `{"name": "ci", "role": "viewer"}`, "Idempotency-Key", "t-1")
		if t2.status != t1.status || !bytes.Equal(t1.body, t2.body) {
			t.Fatalf("the retried token answered %s, the first %s", t2, t1)
		}

		// A key that is not one is refused.
		bad := e.do("POST", "/api/v1/pipelines", tm.editor, webhookSpec("idem-4"), "Idempotency-Key", strings.Repeat("k", 256))
		want(t, bad, http.StatusBadRequest)
		if pr := bad.problem(t); pr.Errors[0].Location != "header.Idempotency-Key" {
			t.Fatalf("a long key: %s", bad.body)
		}
	})
}

// TestIdempotencyKeyConcurrent: of concurrent duplicates, one creates;
// the others get its answer or 409 while it runs.
func TestIdempotencyKeyConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		spec := webhookSpec("race")
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			got []resp
		)
		for range 6 {
			wg.Go(func() {
				req, err := http.NewRequest("POST", e.url("/api/v1/pipelines"), strings.NewReader(spec))
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set("Authorization", "Bearer "+tm.editor)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", "race")
				r := e.send(req)
				mu.Lock()
				got = append(got, r)
				mu.Unlock()
			})
		}
		wg.Wait()
		var created []byte
		for _, r := range got {
			switch r.status {
			case http.StatusCreated:
				if created != nil && !bytes.Equal(created, r.body) {
					t.Errorf("two different creates: %s and %s", created, r.body)
				}
				created = r.body
			case http.StatusConflict:
				if r.header.Get("Retry-After") == "" {
					t.Errorf("409 without Retry-After: %s", r)
				}
			default:
				t.Errorf("unexpected answer %s", r)
			}
		}
		var list struct {
			Pipelines []pipelineBody `json:"pipelines"`
		}
		e.do("GET", "/api/v1/pipelines", tm.viewer, nil).json(t, &list)
		if len(list.Pipelines) != 1 || created == nil {
			t.Fatalf("%d pipelines after concurrent duplicates, want 1", len(list.Pipelines))
		}
	})
}
