package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/client"
	"github.com/tributary-dev/tributary/internal/apptest"
	"github.com/tributary-dev/tributary/internal/cli"
)

// remoteEnv is the environment of client commands against srv, with a
// configuration directory of the test's own.
func remoteEnv(t *testing.T, srv *apptest.Server) map[string]string {
	t.Helper()
	return map[string]string{"TRIBUTARY_URL": srv.URL, "TRIBUTARY_TOKEN": srv.Token, "XDG_CONFIG_HOME": t.TempDir()}
}

// runCLI runs a command line with stdin as standard input.
func runCLI(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr syncBuffer
	err := cli.Run(ctx, args, cli.Env{Getenv: func(k string) string { return env[k] }, Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr})
	return result{err, stdout.String(), stderr.String()}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func clientOf(t *testing.T, srv *apptest.Server) *client.Client {
	t.Helper()
	c, err := client.New(srv.URL, srv.Token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pipelineNames(t *testing.T, c *client.Client) string {
	t.Helper()
	ps, err := c.ListPipelines(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	return strings.Join(names, ",")
}

const ordersYAML = `name: orders
kind: webhook
mapping:
  fields:
    total: { path: amount, type: number }
    customer: { path: customer.id, type: string }
retention: 30d
sinks:
  - name: alerts
    http: { url: "https://hooks.example.com/orders", signing_secret: alerts-key }
`

const moreYAML = `pipelines:
  - name: weather
    kind: polling
    source:
      interval: 1h
      http:
        url: https://api.example.com/v1/obs
        auth: { type: bearer, secret: weather-token }
  - name: scratch
    kind: webhook
    persist: false
`

// TestApplyExportRoundTrip: apply creates, apply again changes nothing,
// export then apply changes nothing, an edit is a one-line diff, and prune
// deletes only when confirmed; on both backends.
func TestApplyExportRoundTrip(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			srv := apptest.Start(t, backend)
			env := remoteEnv(t, srv)
			c := clientOf(t, srv)
			for _, name := range []string{"alerts-key", "weather-token"} {
				value := "some-credential"
				if name == "alerts-key" {
					value = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
				}
				if _, err := c.CreateSecret(t.Context(), name, value); err != nil {
					t.Fatal(err)
				}
			}
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "orders.yaml"), ordersYAML)
			writeFile(t, filepath.Join(dir, "more.yml"), moreYAML)

			r := runCLI(t, env, "", "apply", "-f", dir, "--dry-run").wantOK(t)
			for _, w := range []string{"--- /dev/null", "+++ orders (", "+name: orders", "+- name: alerts", "3 to create, 0 to update, 0 unchanged (dry run"} {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("dry run does not show %q:\n%s", w, r.stdout)
				}
			}
			if got := pipelineNames(t, c); got != "" {
				t.Fatalf("the dry run created %s", got)
			}

			r = runCLI(t, env, "", "apply", "-f", dir).wantOK(t)
			if !strings.Contains(r.stdout, "created pipeline weather") || pipelineNames(t, c) != "orders,scratch,weather" {
				t.Fatalf("apply:\n%s\npipelines: %s", r.stdout, pipelineNames(t, c))
			}
			unchanged := func(what string, r result) {
				t.Helper()
				if strings.Contains(r.stdout, "---") || !strings.Contains(r.stdout, "0 to create, 0 to update, 3 unchanged") {
					t.Errorf("%s changed something:\n%s", what, r.stdout)
				}
			}
			unchanged("apply again", runCLI(t, env, "", "apply", "-f", dir).wantOK(t))

			out := t.TempDir()
			r = runCLI(t, env, "", "export", "-o", out).wantOK(t)
			if !strings.Contains(r.stdout, filepath.Join(out, "orders.yaml")) {
				t.Errorf("export:\n%s", r.stdout)
			}
			exported, _ := os.ReadFile(filepath.Join(out, "orders.yaml"))
			if !strings.Contains(string(exported), "signing_secret: alerts-key") || strings.Contains(string(exported), "whsec_") {
				t.Errorf("exported orders.yaml:\n%s", exported)
			}
			unchanged("apply after export", runCLI(t, env, "", "apply", "-f", out).wantOK(t))
			r = runCLI(t, env, "", "export", "--pipeline", "scratch", "-o", "-").wantOK(t)
			if !strings.HasPrefix(r.stdout, "name: scratch\n") {
				t.Errorf("export --pipeline scratch -o -:\n%s", r.stdout)
			}

			writeFile(t, filepath.Join(dir, "orders.yaml"), strings.Replace(ordersYAML, "retention: 30d", "retention: 7d", 1))
			r = runCLI(t, env, "", "apply", "-f", dir).wantOK(t)
			if !strings.Contains(r.stdout, "-retention: 30d\n+retention: 7d\n") || !strings.Contains(r.stdout, "updated pipeline orders to version 2") {
				t.Errorf("update:\n%s", r.stdout)
			}

			os.Remove(filepath.Join(dir, "more.yml"))
			r = runCLI(t, env, "n\n", "apply", "-f", dir, "--prune")
			r.wantOneLine(t, "not confirmed")
			if got := pipelineNames(t, c); got != "orders,scratch,weather" {
				t.Errorf("an unconfirmed prune left %s", got)
			}
			r = runCLI(t, env, "", "apply", "-f", dir, "--prune", "--yes").wantOK(t)
			if got := pipelineNames(t, c); got != "orders" || !strings.Contains(r.stdout, "deleted pipeline weather") {
				t.Errorf("prune left %s:\n%s", got, r.stdout)
			}
		})
	}
}

// TestApplyRefusesBadFiles: every problem is listed with file, line and
// path, and nothing is applied.
func TestApplyRefusesBadFiles(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, "sqlite")
	env := remoteEnv(t, srv)
	c := clientOf(t, srv)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a-good.yaml"), "name: good\nkind: webhook\n")
	writeFile(t, filepath.Join(dir, "b-bad.yaml"), "name: bad\nkind: webhook\nretention: soon\nmapping:\n  fields:\n    x: { path: a, type: nonsense }\n")
	writeFile(t, filepath.Join(dir, "c-secret.yaml"), "name: leaky\nkind: polling\nsource:\n  http:\n    url: https://x.example.com\n    auth: { type: bearer, secret: { value: hunter2-token } }\n")
	r := runCLI(t, env, "", "apply", "-f", dir)
	r.wantOneLine(t, "3 problems", "nothing was applied")
	for _, w := range []string{
		filepath.Join(dir, "b-bad.yaml") + ":3: retention:",
		filepath.Join(dir, "b-bad.yaml") + ":6: mapping.fields.x",
		filepath.Join(dir, "c-secret.yaml") + ":6: source.http.auth.secret",
		"create a secret",
	} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("problems do not show %q:\n%s", w, r.stderr)
		}
	}
	if strings.Contains(r.output(), "hunter2") {
		t.Errorf("the inline secret was printed:\n%s", r.output())
	}
	if got := pipelineNames(t, c); got != "" {
		t.Errorf("an invalid apply created %s", got)
	}

	// The server's checks run before the first write too: a secret the
	// team does not have.
	dir = t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yaml"), "name: first\nkind: webhook\n")
	writeFile(t, filepath.Join(dir, "b.yaml"), "name: second\nkind: polling\nsource:\n  http:\n    url: https://x.example.com\n    auth: { type: bearer, secret: missing-secret }\n")
	r = runCLI(t, env, "", "apply", "-f", dir)
	r.wantOneLine(t, "nothing was applied")
	if !strings.Contains(r.stderr, filepath.Join(dir, "b.yaml")+":6: source.http.auth.secret") || !strings.Contains(r.stderr, "missing-secret") {
		t.Errorf("the missing secret is not reported at its line:\n%s", r.stderr)
	}
	if got := pipelineNames(t, c); got != "" {
		t.Errorf("an invalid apply created %s", got)
	}

	runCLI(t, env, "", "apply").wantOneLine(t, "-f")
	runCLI(t, env, "", "apply", "-f", filepath.Join(dir, "nope.yaml")).wantOneLine(t, "nope.yaml")
}

func TestPipelineCommands(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, "postgres")
	env := remoteEnv(t, srv)
	c := clientOf(t, srv)
	hook, err := c.CreatePipeline(t.Context(), json.RawMessage(`{"name":"orders","kind":"webhook"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreatePipeline(t.Context(), json.RawMessage(`{"name":"weather","kind":"polling","source":{"interval":"1h","http":{"url":"https://api.example.com/x"}}}`)); err != nil {
		t.Fatal(err)
	}

	r := runCLI(t, env, "", "pipelines", "list").wantOK(t)
	if !strings.HasPrefix(r.stdout, "NAME ") || !strings.Contains(r.stdout, "orders") || !strings.Contains(r.stdout, "weather") {
		t.Errorf("list:\n%s", r.stdout)
	}
	r = runCLI(t, env, "", "pipelines", "list", "-o", "json").wantOK(t)
	var ps []client.Pipeline
	if err := json.Unmarshal([]byte(r.stdout), &ps); err != nil || len(ps) != 2 {
		t.Errorf("list -o json: %v\n%s", err, r.stdout)
	}
	r = runCLI(t, env, "", "pipelines", "list", "-o", "yaml").wantOK(t)
	if !strings.Contains(r.stdout, "- id: ") {
		t.Errorf("list -o yaml:\n%s", r.stdout)
	}
	runCLI(t, env, "", "pipelines", "list", "-o", "xml").wantOneLine(t, "table, json or yaml")

	for _, ref := range []string{"orders", hook.ID} {
		r = runCLI(t, env, "", "pipelines", "get", ref).wantOK(t)
		if !strings.Contains(r.stdout, "Name:") || !strings.Contains(r.stdout, "kind: webhook") || !strings.Contains(r.stdout, "Ingest URL:") {
			t.Errorf("get %s:\n%s", ref, r.stdout)
		}
	}
	r = runCLI(t, env, "", "pipelines", "pause", "orders").wantOK(t)
	if r.stdout != "pipeline orders is paused\n" {
		t.Errorf("pause: %q", r.stdout)
	}
	runCLI(t, env, "", "pipelines", "resume", "orders").wantOK(t)
	runCLI(t, env, "", "pipelines", "run", "weather").wantOK(t)
	runCLI(t, env, "", "pipelines", "run", "orders").wantOneLine(t, "409")
	runCLI(t, env, "", "pipelines", "get", "nope").wantOneLine(t, `no pipeline named "nope"`)
	runCLI(t, env, "", "pipelines", "get").wantOneLine(t, "PIPELINE")
	runCLI(t, env, "", "pipelines", "frobnicate").wantOneLine(t, `unknown command "pipelines frobnicate"`)

	runCLI(t, env, "no\n", "pipelines", "delete", "weather").wantOneLine(t, "not confirmed")
	runCLI(t, env, "y\n", "pipelines", "delete", "weather").wantOK(t)
	runCLI(t, env, "", "pipelines", "delete", "orders", "--yes").wantOK(t)
	if got := pipelineNames(t, c); got != "" {
		t.Errorf("left after delete: %s", got)
	}
}

func TestRecordsAndUpload(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, "sqlite")
	env := remoteEnv(t, srv)
	c := clientOf(t, srv)
	p, err := c.CreatePipeline(t.Context(), json.RawMessage(`{"name":"events","kind":"webhook"}`))
	if err != nil {
		t.Fatal(err)
	}

	// tail follows the live stream until interrupted.
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, []string{"records", "tail", "events"}, cli.Env{Getenv: func(k string) string { return env[k] }, Stdout: &stdout, Stderr: &stderr})
	}()
	// Post until the stream has picked a record up: the tail may connect
	// after the first post, and then prints it from the recent records.
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(stdout.String(), `"data":{"n":1}`) {
		if time.Now().After(deadline) {
			t.Fatalf("tail printed nothing within a minute:\n%s\n%s", stdout.String(), stderr.String())
		}
		if stdout.String() == "" {
			res, err := http.Post(p.IngestURL, "application/json", strings.NewReader(`{"n":1}`))
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("tail returned %v after an interrupt", err)
	}
	first, _, _ := strings.Cut(stdout.String(), "\n")
	var rec client.Record
	if err := json.Unmarshal([]byte(first), &rec); err != nil || rec.ID == 0 {
		t.Errorf("tail printed %q, want a JSON record", first)
	}

	file := filepath.Join(t.TempDir(), "rows.csv")
	writeFile(t, file, "n,name\n2,two\n3,three\n")
	r := runCLI(t, env, "", "upload", "events", file).wantOK(t)
	if !strings.Contains(r.stdout, "2 rows accepted, 0 rejected") {
		t.Errorf("upload:\n%s\n%s", r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "\r") {
		t.Errorf("a progress bar was drawn on a non-terminal:\n%q", r.stderr)
	}
	runCLI(t, env, "", "upload", "events", filepath.Join(t.TempDir(), "missing.csv")).wantOneLine(t, "missing.csv")

	r = runCLI(t, env, "", "records", "query", "events", "--from", "1h", "-o", "json").wantOK(t)
	var recs []client.Record
	if err := json.Unmarshal([]byte(r.stdout), &recs); err != nil || len(recs) < 3 {
		t.Errorf("query: %v\n%s", err, r.stdout)
	}
	r = runCLI(t, env, "", "records", "query", "events", "--from", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "--to", "0s").wantOK(t)
	if !strings.HasPrefix(r.stdout, "TS ") || strings.Count(r.stdout, "\n") < 4 {
		t.Errorf("query table:\n%s", r.stdout)
	}
	runCLI(t, env, "", "records", "query", "events", "--from", "yesterday").wantOneLine(t, "--from")
}

func TestLoginAndConnection(t *testing.T) {
	t.Parallel()
	srv := apptest.Start(t, "sqlite")
	cfgHome := t.TempDir()
	env := map[string]string{"XDG_CONFIG_HOME": cfgHome}

	runCLI(t, env, "", "pipelines", "list").wantOneLine(t, "TRIBUTARY_URL", "tributary login")
	runCLI(t, env, "", "login", "--url", srv.URL, "--token", "trb_wrong").wantOneLine(t, "does not accept the token")

	r := runCLI(t, env, srv.Token+"\n", "login", "--url", srv.URL).wantOK(t)
	if !strings.Contains(r.stdout, "team acme") {
		t.Errorf("login: %q", r.stdout)
	}
	path := filepath.Join(cfgHome, "tributary", "config.json")
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("stored login: %v, mode %v", err, st.Mode())
	}
	runCLI(t, env, "", "pipelines", "list").wantOK(t)

	// With email and password: a token for the CLI is made.
	env2 := map[string]string{"XDG_CONFIG_HOME": t.TempDir(), "TRIBUTARY_PASSWORD": apptest.Password}
	runCLI(t, env2, "", "login", "--url", srv.URL, "--email", srv.Email).wantOK(t)
	runCLI(t, env2, "", "pipelines", "list").wantOK(t)
	env3 := map[string]string{"XDG_CONFIG_HOME": t.TempDir(), "TRIBUTARY_PASSWORD": "wrong password!"}
	runCLI(t, env3, "", "login", "--url", srv.URL, "--email", srv.Email).wantOneLine(t, "wrong")

	// A server that is down: one line naming it.
	down := map[string]string{"TRIBUTARY_URL": "http://127.0.0.1:1", "TRIBUTARY_TOKEN": srv.Token, "XDG_CONFIG_HOME": t.TempDir()}
	for _, args := range [][]string{{"pipelines", "list"}, {"records", "tail", "x"}, {"export", "-o", "-"}} {
		runCLI(t, down, "", args...).wantOneLine(t, "cannot reach the server at http://127.0.0.1:1")
	}
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := runCLI(t, nil, "", "completion", shell).wantOK(t)
		if !strings.Contains(r.stdout, "tributary") || len(r.stdout) < 500 {
			t.Errorf("completion %s printed %d bytes", shell, len(r.stdout))
		}
	}
	r := runCLI(t, nil, "", "help").wantOK(t)
	for _, cmd := range []string{"login", "pipelines", "records", "upload", "apply", "export", "completion"} {
		if !strings.Contains(r.stdout, cmd) {
			t.Errorf("help does not mention %s", cmd)
		}
	}
}
