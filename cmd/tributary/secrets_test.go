package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/signature"
)

// TestSecretsHygiene plants canary secrets in every kind of configuration
// a server process takes — a user's password, an API token, the metrics
// token, team secrets used as a polled API's bearer token, a sink's bearer
// token and signing key and a webhook signing key, and the webhook ingest
// token — uses them all, and then scans a dump of the database, the
// server's logs (at debug level), every API response and the metrics for
// them in plaintext: there must be none.
func TestSecretsHygiene(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server process")
	}
	bin := buildBinary(t)
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			env := []string{"TRIBUTARY_DATA_DIR=" + dir, "TRIBUTARY_LOG_LEVEL=debug", "TRIBUTARY_ALLOW_NETWORKS=127.0.0.1/32"}
			dbURL := ""
			if backend == "postgres" {
				dbURL = pgtest.DatabaseURL(t)
				env = append(env, "TRIBUTARY_DATABASE_URL="+dbURL)
			}
			testSecretsHygiene(t, bin, env, dir, dbURL)
		})
	}
}

func testSecretsHygiene(t *testing.T, bin string, env []string, dir, dbURL string) {
	canary := func(what string) string { return "Canary_" + what + fmt.Sprintf("%x", time.Now().UnixNano()) }
	password, metricsToken := canary("pw"), canary("metrics")
	sourceToken, sinkToken := canary("source"), canary("sink")
	hookKeyRaw, sinkKeyRaw := canary("hookkey"), canary("sinkkey")
	hookKey, err := signature.ParseSecret("whsec_" + base64.StdEncoding.EncodeToString([]byte(hookKeyRaw)))
	if err != nil {
		t.Fatal(err)
	}
	sinkKey := "whsec_" + base64.StdEncoding.EncodeToString([]byte(sinkKeyRaw))
	env = append(env, "TRIBUTARY_METRICS_TOKEN="+metricsToken)

	// The polled API and the sink's receiver check the credentials.
	var polled, received, badAuth atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+sourceToken {
			badAuth.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		polled.Add(1)
		fmt.Fprintf(w, `{"items":[{"n":%d}]}`, polled.Load())
	}))
	defer api.Close()
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get("Authorization") != "Bearer "+sinkToken || r.Header.Get("webhook-signature") == "" {
			badAuth.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		received.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()

	k9CLI(t, bin, env, "user", "create", "--email", "canary@example.com", "--password", password, "--team", "canaries")
	token := k9CLI(t, bin, env, "token", "create", "--team", "canaries", "--role", "admin", "--name", "canary")
	p := k9Start(t, bin, env)

	var (
		mu        sync.Mutex
		responses bytes.Buffer
	)
	call := func(method, path, auth string, body string, hdr ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, p.base+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		mu.Lock()
		fmt.Fprintf(&responses, "%s %s %d %v\n%s\n", method, path, resp.StatusCode, resp.Header, b)
		mu.Unlock()
		return resp.StatusCode, string(b)
	}
	mustCall := func(want int, method, path, auth, body string, hdr ...string) string {
		t.Helper()
		code, b := call(method, path, auth, body, hdr...)
		if code != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, code, want, b)
		}
		return b
	}
	for name, value := range map[string]string{"source-token": sourceToken, "sink-token": sinkToken, "hook-key": hookKey.Encode(), "sink-key": sinkKey} {
		mustCall(http.StatusCreated, http.MethodPost, "/api/v1/secrets", token, fmt.Sprintf(`{"name":%q,"value":%q}`, name, value))
	}
	// A value pasted where a name belongs, and a duplicate: refused.
	call(http.MethodPost, "/api/v1/secrets", token, fmt.Sprintf(`{"name":%q,"value":"x"}`, sourceToken))
	call(http.MethodPost, "/api/v1/secrets", token, fmt.Sprintf(`{"name":"source-token","value":%q}`, sourceToken))
	mustCall(http.StatusCreated, http.MethodPost, "/api/v1/pipelines", token, `{"name":"polled","kind":"polling","source":{"interval":"1s","http":{"url":"`+api.URL+
		`/items","auth":{"type":"bearer","secret":"source-token"},"records":"items"}},"sinks":[{"name":"out","http":{"url":"`+sink.URL+
		`/in","auth":{"type":"bearer","secret":"sink-token"},"signing_secret":"sink-key"}}]}`)
	hook := mustCall(http.StatusCreated, http.MethodPost, "/api/v1/pipelines", token, `{"name":"signed","kind":"webhook","source":{"webhook":{"signing_secret":"hook-key"}}}`)
	ingest := hook[strings.Index(hook, "/hooks/"):]
	ingest = ingest[:strings.IndexAny(ingest, `"?`)]
	hookToken := ingest[strings.LastIndex(ingest, "/")+1:]
	body := []byte(`{"n":1}`)
	h := http.Header{}
	signature.SetHeaders(h, "msg_canary", time.Now(), body, hookKey)
	mustCall(http.StatusAccepted, http.MethodPost, ingest, "", string(body),
		"webhook-id", h.Get("webhook-id"), "webhook-timestamp", h.Get("webhook-timestamp"), "webhook-signature", h.Get("webhook-signature"))
	call(http.MethodPost, ingest, "", string(body)) // unsigned: refused
	call(http.MethodPost, "/api/v1/auth/login", "", `{"email":"canary@example.com","password":"`+password+`x"}`)
	call(http.MethodPost, "/api/v1/auth/login", "", `{"email":"canary@example.com","password":"`+password+`"}`)
	for deadline := time.Now().Add(60 * time.Second); polled.Load() < 2 || received.Load() < 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("polled %d times, %d deliveries received, %d with bad credentials; logs:\n%s", polled.Load(), received.Load(), badAuth.Load(), p.logs)
		}
	}
	if badAuth.Load() > 0 {
		t.Errorf("%d requests reached the API or the sink with the wrong credentials", badAuth.Load())
	}
	mustCall(http.StatusOK, http.MethodGet, "/api/v1/secrets", token, "")
	metrics := mustCall(http.StatusOK, http.MethodGet, "/metrics", metricsToken, "")

	// The database, dumped.
	var dump bytes.Buffer
	if dbURL == "" {
		for _, f := range []string{"tributary.db", "tributary.db-wal"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err == nil {
				dump.Write(b)
			}
		}
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, `SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`)
		if err != nil {
			t.Fatal(err)
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, table := range tables {
			rows, err := conn.Query(ctx, `SELECT t::text FROM `+table+` t`)
			if err != nil {
				t.Fatal(err)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&dump, "%s\n%s\n", table, strings.Join(lines, "\n"))
		}
	}
	if dump.Len() == 0 {
		t.Fatal("the database dump is empty")
	}
	logs := p.logs.String()
	canaries := map[string]string{"password": password, "API token": token, "metrics token": metricsToken, "source bearer token": sourceToken,
		"sink bearer token": sinkToken, "webhook signing key": hookKeyRaw, "webhook signing key (encoded)": strings.TrimPrefix(hookKey.Encode(), "whsec_"),
		"sink signing key": sinkKeyRaw, "sink signing key (encoded)": strings.TrimPrefix(sinkKey, "whsec_"), "webhook ingest token": hookToken}
	found := 0
	for what, c := range canaries {
		for place, text := range map[string][]byte{"database": dump.Bytes(), "logs": []byte(logs), "metrics": []byte(metrics)} {
			if bytes.Contains(text, []byte(c)) {
				found++
				t.Errorf("the %s is in plaintext in the %s", what, place)
			}
		}
		// Responses may echo what the caller sent only where the API hands
		// it out once: the ingest URL at creation.
		if what != "webhook ingest token" && bytes.Contains(responses.Bytes(), []byte(c)) {
			found++
			t.Errorf("the %s is in plaintext in an API response", what)
		}
	}
	proofReport(t, proofRow{Promise: "secrets: canaries in every kind of config, scanned in a database dump, logs, responses and metrics", Runs: 1, Failed: found > 0,
		Figures: map[string]any{"canaries": len(canaries), "plaintext found": found, "database dump kb": dump.Len() >> 10, "log kb": len(logs) >> 10}})
}
