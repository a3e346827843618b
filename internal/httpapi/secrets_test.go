package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/signature"
)

type secretBody struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	RotatedAt time.Time `json:"rotated_at"`
}

func TestSecrets(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		r := e.do("POST", "/api/v1/secrets", tm.editor, map[string]string{"name": "api-key_1", "value": "s3cr3t"})
		want(t, r, http.StatusCreated)
		var s secretBody
		r.json(t, &s)
		if s.Name != "api-key_1" || s.CreatedAt.IsZero() || !s.RotatedAt.Equal(s.CreatedAt) {
			t.Fatalf("created %s", r.body)
		}
		var fields map[string]any
		r.json(t, &fields)
		delete(fields, "$schema")
		if len(fields) != 3 {
			t.Fatalf("a secret shows only name and dates: %s", r.body)
		}
		want(t, e.do("POST", "/api/v1/secrets", tm.editor, map[string]string{"name": "api-key_1", "value": "x"}), http.StatusConflict)

		// Roles: viewers read, editors create and rotate, admins delete.
		want(t, e.do("GET", "/api/v1/secrets", tm.viewer, nil), http.StatusOK)
		want(t, e.do("GET", "/api/v1/secrets/api-key_1", tm.viewer, nil), http.StatusOK)
		want(t, e.do("POST", "/api/v1/secrets", tm.viewer, map[string]string{"name": "v", "value": "x"}), http.StatusForbidden)
		want(t, e.do("PUT", "/api/v1/secrets/api-key_1", tm.viewer, map[string]string{"value": "x"}), http.StatusForbidden)
		want(t, e.do("DELETE", "/api/v1/secrets/api-key_1", tm.editor, nil), http.StatusForbidden)

		time.Sleep(2 * time.Millisecond)
		r = e.do("PUT", "/api/v1/secrets/api-key_1", tm.editor, map[string]string{"value": "n3w"})
		want(t, r, http.StatusOK)
		var rotated secretBody
		r.json(t, &rotated)
		if !rotated.CreatedAt.Equal(s.CreatedAt) || !rotated.RotatedAt.After(s.RotatedAt) {
			t.Fatalf("rotated %s, created %+v", r.body, s)
		}
		want(t, e.do("PUT", "/api/v1/secrets/nope", tm.editor, map[string]string{"value": "x"}), http.StatusNotFound)

		want(t, e.do("POST", "/api/v1/secrets", tm.editor, map[string]string{"name": "b", "value": "x"}), http.StatusCreated)
		r = e.do("GET", "/api/v1/secrets", tm.viewer, nil)
		var list struct{ Secrets []secretBody }
		r.json(t, &list)
		if len(list.Secrets) != 2 || list.Secrets[0].Name != "api-key_1" || list.Secrets[1].Name != "b" {
			t.Fatalf("list %s", r.body)
		}

		want(t, e.do("DELETE", "/api/v1/secrets/api-key_1", tm.admin, nil), http.StatusNoContent)
		want(t, e.do("DELETE", "/api/v1/secrets/api-key_1", tm.admin, nil), http.StatusNotFound)
		want(t, e.do("GET", "/api/v1/secrets/api-key_1", tm.viewer, nil), http.StatusNotFound)
		// The name is free again.
		want(t, e.do("POST", "/api/v1/secrets", tm.editor, map[string]string{"name": "api-key_1", "value": "again"}), http.StatusCreated)

		for _, tc := range []struct {
			name   string
			body   any
			status int
		}{
			{"name with capitals", map[string]string{"name": "Key", "value": "x"}, 422},
			{"name with a dot", map[string]string{"name": "a.b", "value": "x"}, 422},
			{"name too long", map[string]string{"name": strings.Repeat("a", 65), "value": "x"}, 422},
			{"empty name", map[string]string{"name": "", "value": "x"}, 422},
			{"empty value", map[string]string{"name": "e", "value": ""}, 422},
			{"value too large", map[string]string{"name": "big", "value": strings.Repeat("v", 64<<10+1)}, 422},
			{"no value", map[string]string{"name": "n"}, 422},
			{"number value", `{"name": "n", "value": 5}`, 422},
			{"not json", `name=n&value=x`, 400},
			{"empty body", ``, 400},
		} {
			t.Run(tc.name, func(t *testing.T) {
				want(t, e.do("POST", "/api/v1/secrets", tm.editor, tc.body), tc.status)
			})
		}
		want(t, e.do("POST", "/api/v1/secrets", tm.editor, map[string]string{"name": strings.Repeat("a", 64), "value": strings.Repeat("v", 64<<10)}), http.StatusCreated)
	})
}

// TestSecretCanary plants secret values and looks for them in every
// response and every log line after creating, rotating, failing
// validation, listing, using them in a pipeline and in its webhook.
func TestSecretCanary(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		plain := "canary-" + uuid.NewString()
		rotatedPlain := "canary-rotated-" + uuid.NewString()
		keyBytes := []byte("canary-key-" + uuid.NewString())
		hookKey := "whsec_" + base64.StdEncoding.EncodeToString(keyBytes)
		rotatedKeyBytes := []byte("canary-key2-" + uuid.NewString())
		rotatedHookKey := "whsec_" + base64.StdEncoding.EncodeToString(rotatedKeyBytes)
		canaries := []string{plain, rotatedPlain, hookKey, rotatedHookKey,
			string(keyBytes), string(rotatedKeyBytes), strings.TrimPrefix(hookKey, "whsec_"), strings.TrimPrefix(rotatedHookKey, "whsec_")}

		want(t, e.do("POST", "/api/v1/secrets", tm.editor, map[string]string{"name": "plain", "value": plain}), http.StatusCreated)
		want(t, e.do("POST", "/api/v1/secrets", tm.editor, map[string]string{"name": "hook", "value": hookKey}), http.StatusCreated)
		want(t, e.do("PUT", "/api/v1/secrets/plain", tm.editor, map[string]string{"value": rotatedPlain}), http.StatusOK)
		// Requests that fail, with the value in them.
		for _, body := range []string{
			`{"name": "plain", "value": "` + plain + `"}`,                   // name taken
			`{"name": "Bad Name!", "value": "` + plain + `"}`,               // invalid name
			`{"name": "` + plain + `!", "value": "x"}`,                      // the value pasted as the name
			`{"value": "` + plain + `"}`,                                    // no name
			`{"name": "x", "value": "` + plain + `", "extra": true}`,        // unknown field
			`{"name": "x", "` + plain + `": 1}`,                             // the value as a key
			`{"name": 5, "value": "` + plain + `"}`,                         // wrong type
			`{"name": "x", "value": "` + plain + `"`,                        // truncated
			`{"name": "x", "value": "` + plain + `"}} trailing`,             // trailing data
			`{"name": "x", "value": "` + strings.Repeat(plain, 2000) + `"}`, // too large
		} {
			r := e.do("POST", "/api/v1/secrets", tm.editor, body)
			if r.status < 400 {
				t.Fatalf("accepted %s: %s", body, r)
			}
		}
		for _, body := range []string{`{"value": ""}`, `{"value": "` + plain + `", "name": "x"}`, `{"value": ` + plain + `}`} {
			if r := e.do("PUT", "/api/v1/secrets/plain", tm.editor, body); r.status < 400 {
				t.Fatalf("rotation accepted %s: %s", body, r)
			}
		}
		want(t, e.do("PUT", "/api/v1/secrets/missing", tm.editor, map[string]string{"value": plain}), http.StatusNotFound)
		want(t, e.do("PUT", "/api/v1/secrets/plain", tm.viewer, map[string]string{"value": plain}), http.StatusForbidden)
		want(t, e.do("POST", "/api/v1/secrets", tm.viewer, map[string]string{"name": "v", "value": plain}), http.StatusForbidden)
		want(t, e.do("GET", "/api/v1/secrets", tm.viewer, nil), http.StatusOK)
		want(t, e.do("GET", "/api/v1/secrets/hook", tm.viewer, nil), http.StatusOK)

		// Use them: a pipeline whose webhook is signed with one, a
		// pipeline refused because the other is no signing key.
		p := e.createPipeline(tm, webhookSpec("signed", `"source": {"webhook": {"signing_secret": "hook"}}`))
		want(t, e.do("POST", "/api/v1/pipelines", tm.editor, webhookSpec("bad", `"source": {"webhook": {"signing_secret": "plain"}}`)), http.StatusUnprocessableEntity)
		want(t, e.do("GET", "/api/v1/pipelines/"+p.ID.String(), tm.editor, nil), http.StatusOK)
		want(t, e.do("GET", "/api/v1/pipelines", tm.viewer, nil), http.StatusOK)
		key, err := signature.ParseSecret(hookKey)
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(`{"a": 1}`)
		send := func(id string, k signature.Secret) resp {
			h := http.Header{}
			signature.SetHeaders(h, id, time.Now(), body, k)
			return e.hook(p.IngestURL, body, "webhook-id", id, "webhook-timestamp", h.Get("webhook-timestamp"), "webhook-signature", h.Get("webhook-signature"))
		}
		want(t, send("m1", key), http.StatusAccepted)
		want(t, send("m2", signature.GenerateSecret()), http.StatusUnauthorized)
		want(t, e.do("PUT", "/api/v1/secrets/hook", tm.editor, map[string]string{"value": rotatedHookKey}), http.StatusOK)
		want(t, send("m3", key), http.StatusUnauthorized)
		rotatedKey, _ := signature.ParseSecret(rotatedHookKey)
		want(t, send("m4", rotatedKey), http.StatusAccepted)
		want(t, e.do("DELETE", "/api/v1/secrets/hook", tm.admin, nil), http.StatusConflict)
		want(t, e.do("DELETE", "/api/v1/secrets/plain", tm.admin, nil), http.StatusNoContent)

		// The OpenAPI document mentions none of it either.
		want(t, e.do("GET", "/api/v1/openapi.json", "", nil), http.StatusOK)

		// And the database keeps only sealed values.
		for _, name := range []string{"hook"} {
			sec, err := e.store.Secret(e.ctx(), tm.id, name)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range canaries {
				if bytes.Contains(sec.Sealed, []byte(c)) {
					t.Fatalf("secret %s is stored in the clear", name)
				}
			}
		}

		e.mu.Lock()
		bodies := append([][]byte(nil), e.bodies...)
		e.mu.Unlock()
		if len(bodies) < 30 {
			t.Fatalf("only %d responses recorded", len(bodies))
		}
		logs := e.logs.String()
		if !strings.Contains(logs, `"msg":"http request"`) {
			t.Fatal("no access log captured")
		}
		for _, c := range canaries {
			for _, b := range bodies {
				if bytes.Contains(b, []byte(c)) || bytes.Contains(b, []byte(jsonEscaped(c))) {
					t.Fatalf("a response carries a secret value: %s", b)
				}
			}
			if strings.Contains(logs, c) || strings.Contains(logs, jsonEscaped(c)) {
				t.Fatalf("the log carries a secret value:\n%s", logs)
			}
		}
	})
}

// jsonEscaped is s as it appears inside a JSON string.
func jsonEscaped(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
