package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/app"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/config"
	"github.com/tributary-dev/tributary/internal/pgtest"
)

// pw is the password of the users these tests create.
const pw = "correct horse battery staple"

// result is what one run of the command did.
type result struct {
	err            error
	stdout, stderr string
}

// output is everything the command showed, error included.
func (r result) output() string {
	msg := ""
	if r.err != nil {
		msg = r.err.Error()
	}
	return r.stdout + "\n" + r.stderr + "\n" + msg
}

// runWith runs the command line with env as the whole environment.
func runWith(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr syncBuffer
	err := run(ctx, args, func(k string) string { return env[k] }, &stdout, &stderr)
	return result{err, stdout.String(), stderr.String()}
}

// wantOK fails the test unless the command succeeded.
func (r result) wantOK(t *testing.T) result {
	t.Helper()
	if r.err != nil {
		t.Fatalf("command failed: %v\nstdout: %s\nstderr: %s", r.err, r.stdout, r.stderr)
	}
	return r
}

// wantOneLine fails the test unless the command failed with a one-line
// error containing every want.
func (r result) wantOneLine(t *testing.T, want ...string) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("command succeeded, want an error mentioning %q\nstdout: %s", want, r.stdout)
	}
	msg := r.err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("error has more than one line:\n%s", msg)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not mention %q", msg, w)
		}
	}
}

// backendEnv returns the environment selecting a fresh database of backend.
func backendEnv(t *testing.T, backend string) map[string]string {
	t.Helper()
	env := map[string]string{"TRIBUTARY_DATA_DIR": t.TempDir(), "TRIBUTARY_ADDR": "127.0.0.1:0", "TRIBUTARY_LOG_FORMAT": "json"}
	if backend == "postgres" {
		env["TRIBUTARY_DATABASE_URL"] = pgtest.DatabaseURL(t)
	}
	return env
}

// accountsOf opens the database of env the way the commands do.
func accountsOf(t *testing.T, env map[string]string) *account.Service {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = env["TRIBUTARY_DATA_DIR"]
	cfg.DatabaseURL = env["TRIBUTARY_DATABASE_URL"]
	st, err := app.OpenStore(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return account.New(st, cfg.SessionTTL)
}

var backends = []string{"sqlite", "postgres"}

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	r := runWith(t, nil, "version").wantOK(t)
	if r.stdout != "tributary "+app.Version+"\n" {
		t.Errorf("version printed %q", r.stdout)
	}
	r = runWith(t, nil, "help").wantOK(t)
	for _, cmd := range []string{"serve", "migrate", "user create", "token create", "version"} {
		if !strings.Contains(r.stdout, cmd) {
			t.Errorf("help does not mention %q", cmd)
		}
	}
	r = runWith(t, nil, "serve", "--help")
	if !errors.Is(r.err, flag.ErrHelp) || exitCode(r.err) != 2 {
		t.Errorf("serve --help: %v (exit %d)", r.err, exitCode(r.err))
	}
	if !strings.Contains(r.stderr, "TRIBUTARY_ADDR") || !strings.Contains(r.stderr, "TRIBUTARY_DATABASE_URL") {
		t.Errorf("serve --help does not list the environment variables:\n%s", r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	env := map[string]string{"TRIBUTARY_DATA_DIR": t.TempDir()}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "no command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"user", "delete"}, `unknown command "user delete"`},
		{[]string{"user"}, `unknown command "user"`},
		{[]string{"serve", "--bogus"}, "bogus"},
		{[]string{"serve", "extra"}, `unexpected argument "extra"`},
		{[]string{"user", "create", "--email", "a@example.com"}, "--password"},
		{[]string{"token", "create", "--team", "acme", "--name", "ci"}, "--role"},
		{[]string{"token", "create", "--team", "acme", "--role", "god", "--name", "ci"}, "god"},
		{[]string{"token", "create", "--team", "acme", "--role", "viewer", "--name", "ci", "--expires", "-1h"}, "--expires"},
		{[]string{"user", "create", "--email", "a@example.com", "--password", pw, "--team", "acme", "--role", "king"}, "king"},
	} {
		r := runWith(t, env, tc.args...)
		r.wantOneLine(t, tc.want)
		if code := exitCode(r.err); code != 2 {
			t.Errorf("%q: exit code %d, want 2 (usage)", tc.args, code)
		}
	}
	// Nothing was created by the refused commands.
	if _, err := os.Stat(filepath.Join(env["TRIBUTARY_DATA_DIR"], "tributary.db")); err == nil {
		t.Errorf("a refused command created the database")
	}
}

func TestInvalidConfig(t *testing.T) {
	t.Parallel()
	inUse, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inUse.Close() }) // not defer: the subtests run after this function returns
	keyDir := t.TempDir()
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		cmds   [][]string
		env    map[string]string
		want   []string
		secret string // must not be printed
	}{
		{"mysql URL", [][]string{{"serve"}, {"migrate"}, {"user", "create", "--email", "a@example.com", "--password", pw, "--team", "t"}},
			map[string]string{"TRIBUTARY_DATABASE_URL": "mysql://root:hunter2-db-pw@db.example/x"}, []string{"database URL", "postgres://"}, "hunter2-db-pw"},
		{"URL without host", [][]string{{"migrate"}}, map[string]string{"TRIBUTARY_DATABASE_URL": "postgres:///tributary"}, []string{"database URL"}, ""},
		{"unreachable database", [][]string{{"serve"}, {"migrate"}, {"token", "create", "--team", "t", "--role", "viewer", "--name", "n"}},
			map[string]string{"TRIBUTARY_DATABASE_URL": "postgres://tributary:s3cret-db-pw@127.0.0.1:1/tributary?connect_timeout=5"}, []string{"postgres", "127.0.0.1"}, "s3cret-db-pw"},
		{"missing key file", [][]string{{"serve"}}, map[string]string{"TRIBUTARY_SECRET_KEY_FILE": filepath.Join(keyDir, "missing", "key")}, []string{"secret key file", "missing"}, ""},
		{"key file is a directory", [][]string{{"serve"}}, map[string]string{"TRIBUTARY_SECRET_KEY_FILE": keyDir}, []string{"secret key file"}, ""},
		{"bad key", [][]string{{"serve"}}, map[string]string{"TRIBUTARY_SECRET_KEY": "my-weak-secret-key"}, []string{"TRIBUTARY_SECRET_KEY"}, "my-weak-secret-key"},
		{"key and key file", [][]string{{"serve"}}, map[string]string{"TRIBUTARY_SECRET_KEY": strings.Repeat("ab", 32), "TRIBUTARY_SECRET_KEY_FILE": "/k"}, []string{"not both"}, strings.Repeat("ab", 32)},
		{"nonsense address", [][]string{{"serve"}}, map[string]string{"TRIBUTARY_ADDR": "nonsense"}, []string{"listen address", "nonsense"}, ""},
		{"port out of range", [][]string{{"serve"}}, map[string]string{"TRIBUTARY_ADDR": "127.0.0.1:99999"}, []string{"listen address", "99999"}, ""},
		{"port in use", [][]string{{"serve"}}, map[string]string{"TRIBUTARY_ADDR": inUse.Addr().String()}, []string{inUse.Addr().String()}, ""},
		{"bad duration", [][]string{{"serve"}}, map[string]string{"TRIBUTARY_SHUTDOWN_TIMEOUT": "soon"}, []string{"TRIBUTARY_SHUTDOWN_TIMEOUT", "duration"}, ""},
		{"short session", [][]string{{"serve"}}, map[string]string{"TRIBUTARY_SESSION_TTL": "10s"}, []string{"session TTL"}, ""},
		{"bad number", [][]string{{"serve"}}, map[string]string{"TRIBUTARY_MAX_BODY_BYTES": "lots"}, []string{"TRIBUTARY_MAX_BODY_BYTES"}, ""},
		{"bad bool", [][]string{{"serve"}}, map[string]string{"TRIBUTARY_MIGRATE": "maybe"}, []string{"TRIBUTARY_MIGRATE"}, ""},
		{"bad log level", [][]string{{"serve"}, {"migrate"}}, map[string]string{"TRIBUTARY_LOG_LEVEL": "loud"}, []string{"log level", "loud"}, ""},
		{"bad base URL", [][]string{{"serve"}}, map[string]string{"TRIBUTARY_BASE_URL": "ftp://x"}, []string{"base URL"}, ""},
		{"bad network", [][]string{{"serve"}}, map[string]string{"TRIBUTARY_ALLOW_NETWORKS": "not-a-cidr"}, []string{"allowed networks"}, ""},
		{"data dir is a file", [][]string{{"serve"}, {"migrate"}}, map[string]string{"TRIBUTARY_DATA_DIR": notADir}, []string{"data dir"}, ""},
		{"several problems", [][]string{{"serve"}}, map[string]string{"TRIBUTARY_ADDR": "nonsense", "TRIBUTARY_LOG_LEVEL": "loud"}, []string{"listen address", "log level"}, ""},
		{"bad redis URL", [][]string{{"serve"}}, map[string]string{"TRIBUTARY_REDIS_URL": "http://:hunter2-redis-pw@cache.example:6379"}, []string{"redis URL", "redis://"}, "hunter2-redis-pw"},
		{"bad redis flag", [][]string{{"serve", "--redis-url", "redis://:hunter3-redis-pw@cache.example:notaport"}}, nil, []string{"redis URL"}, "hunter3-redis-pw"},
		{"bad flag value", [][]string{{"serve", "--addr", "nonsense"}}, nil, []string{"listen address", "nonsense"}, ""},
		{"negative drain delay", [][]string{{"serve"}}, map[string]string{"TRIBUTARY_DRAIN_DELAY": "-1s"}, []string{"drain delay", "negative"}, ""},
		{"bad second read URL", [][]string{{"serve"}}, map[string]string{"TRIBUTARY_DATABASE_URL": "postgres://u:p@db.example/x",
			"TRIBUTARY_DATABASE_READ_URL": "postgres://u:p@r1.example/x,mysql://u:hunter5-replica-pw@r2.example/x"}, []string{"database read URL", "URL 2"}, "hunter5-replica-pw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"TRIBUTARY_DATA_DIR": t.TempDir(), "TRIBUTARY_ADDR": "127.0.0.1:0", "TRIBUTARY_LOG_FORMAT": "json"}
			for k, v := range tc.env {
				env[k] = v
			}
			for _, args := range tc.cmds {
				r := runWith(t, env, args...)
				r.wantOneLine(t, tc.want...)
				if code := exitCode(r.err); code != 1 {
					t.Errorf("%q: exit code %d, want 1", args, code)
				}
				if tc.secret != "" && strings.Contains(r.output(), tc.secret) {
					t.Errorf("%q printed a secret:\n%s", args, r.output())
				}
			}
		})
	}
}

func TestPasswordNeverPrinted(t *testing.T) {
	t.Parallel()
	const secret = "my very own secret passphrase"
	const short = "short-pw1"
	dir := t.TempDir()
	env := map[string]string{"TRIBUTARY_DATA_DIR": dir}
	runWith(t, env, "user", "create", "--email", "ada@example.com", "--password", secret, "--team", "Acme").wantOK(t)
	withEnvPW := map[string]string{"TRIBUTARY_DATA_DIR": dir, "TRIBUTARY_PASSWORD": secret}

	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		pw   string
	}{
		{"success", env, []string{"user", "create", "--email", "bob@example.com", "--password", secret, "--team", "Acme"}, secret},
		{"success from TRIBUTARY_PASSWORD", withEnvPW, []string{"user", "create", "--email", "carl@example.com", "--team", "Acme"}, secret},
		{"too short", env, []string{"user", "create", "--email", "dan@example.com", "--password", short, "--team", "Acme"}, short},
		{"bad email", env, []string{"user", "create", "--email", "not an email", "--password", secret, "--team", "Acme"}, secret},
		{"bad email, TRIBUTARY_PASSWORD", withEnvPW, []string{"user", "create", "--email", "not an email", "--team", "Acme"}, secret},
		{"taken email", env, []string{"user", "create", "--email", "ada@example.com", "--password", secret, "--team", "Acme"}, secret},
		{"bad role", env, []string{"user", "create", "--email", "eve@example.com", "--password", secret, "--team", "Acme", "--role", "king"}, secret},
		{"unreachable database", map[string]string{"TRIBUTARY_DATA_DIR": dir, "TRIBUTARY_DATABASE_URL": "postgres://u:x@127.0.0.1:1/db?connect_timeout=5"},
			[]string{"user", "create", "--email", "fay@example.com", "--password", secret, "--team", "Acme"}, secret},
	} {
		r := runWith(t, tc.env, tc.args...)
		if strings.Contains(r.output(), tc.pw) {
			t.Errorf("%s: the password appears in the output:\n%s", tc.name, r.output())
		}
		if tc.name == "too short" {
			r.wantOneLine(t, "10 characters")
		}
	}
}

func TestUserAndTokenCreate(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			env := backendEnv(t, backend)
			r := runWith(t, env, "user", "create", "--email", "ada@example.com", "--password", pw, "--team", "Acme Data").wantOK(t)
			if !regexp.MustCompile(`^created user ada@example.com \([0-9a-f-]{36}\) in team acme-data \([0-9a-f-]{36}\)\n$`).MatchString(r.stdout) {
				t.Errorf("user create printed %q", r.stdout)
			}
			if strings.Contains(r.output(), pw) {
				t.Errorf("user create printed the password")
			}
			// Joining the existing team (by slug) with a role.
			runWith(t, env, "user", "create", "--email", "bob@example.com", "--password", pw, "--team", "acme-data", "--role", "editor").wantOK(t)
			// Without --role a newcomer joins as viewer.
			runWith(t, env, "user", "create", "--email", "cy@example.com", "--password", pw, "--team", "Acme Data").wantOK(t)
			runWith(t, env, "user", "create", "--email", "ada@example.com", "--password", pw, "--team", "Acme Data").wantOneLine(t, "already exists")

			accounts := accountsOf(t, env)
			team, err := accounts.ResolveTeam(t.Context(), "acme-data")
			if err != nil {
				t.Fatal(err)
			}
			members, err := accounts.Members(t.Context(), team.ID)
			if err != nil {
				t.Fatal(err)
			}
			roles := map[string]auth.Role{}
			for _, m := range members {
				roles[m.User.Email] = m.Role
			}
			if want := map[string]auth.Role{"ada@example.com": auth.Owner, "bob@example.com": auth.Editor, "cy@example.com": auth.Viewer}; fmt.Sprint(roles) != fmt.Sprint(want) {
				t.Errorf("members = %v, want %v", roles, want)
			}
			if _, _, err := accounts.Login(t.Context(), "bob@example.com", pw); err != nil {
				t.Errorf("bob cannot sign in: %v", err)
			}

			r = runWith(t, env, "token", "create", "--team", "acme-data", "--role", "admin", "--name", "ci").wantOK(t)
			token := strings.TrimSuffix(r.stdout, "\n")
			if !auth.LooksLikeToken(token) || strings.Contains(token, "\n") {
				t.Fatalf("token create printed %q on stdout, want the token alone", r.stdout)
			}
			if !strings.Contains(r.stderr, "shown only once") {
				t.Errorf("token create does not warn the token is shown once: %q", r.stderr)
			}
			p, err := accounts.AuthenticateToken(t.Context(), token)
			if err != nil {
				t.Fatalf("the printed token does not authenticate: %v", err)
			}
			if p.Token.TeamID != team.ID || p.Token.Role != auth.Admin || p.Token.Name != "ci" || p.Token.ExpiresAt != nil || p.Token.CreatedBy != nil {
				t.Errorf("token = %+v", p.Token)
			}

			r = runWith(t, env, "token", "create", "--team", team.ID.String(), "--role", "viewer", "--name", "short-lived", "--expires", "1h").wantOK(t)
			p, err = accounts.AuthenticateToken(t.Context(), strings.TrimSpace(r.stdout))
			if err != nil {
				t.Fatalf("the token made with a team id does not authenticate: %v", err)
			}
			if p.Token.ExpiresAt == nil || time.Until(*p.Token.ExpiresAt) > time.Hour || time.Until(*p.Token.ExpiresAt) < 59*time.Minute {
				t.Errorf("--expires 1h gave expiry %v", p.Token.ExpiresAt)
			}
			runWith(t, env, "token", "create", "--team", "nope", "--role", "viewer", "--name", "n").wantOneLine(t, `team "nope"`, "not found")

			// migrate is idempotent.
			for range 2 {
				r = runWith(t, env, "migrate").wantOK(t)
				if r.stdout != "migrations applied ("+backend+")\n" {
					t.Errorf("migrate printed %q", r.stdout)
				}
			}
		})
	}
}

// serveInBackground runs `tributary serve` through run and returns the
// address it listens on, read from its log, and a function that stops it
// and returns what run returned.
func serveInBackground(t *testing.T, env map[string]string, args ...string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve"}, args...), func(k string) string { return env[k] }, &stdout, &stderr)
	}()
	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(time.Minute):
			return errors.New("serve did not stop within a minute")
		}
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v\nlog:\n%s", err, stderr.String())
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		for _, line := range strings.Split(stderr.String(), "\n") {
			var entry struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "tributary serving" {
				return entry.Addr, stop
			}
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve ended before serving: %v\nlog:\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start within a minute; log:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func get(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	return res.StatusCode, b.Bytes()
}

// TestCommandsWhileServing runs `serve` and, on the same database at the
// same time, `user create` and `token create` several at once, while the
// server answers requests; the tokens printed work against the server.
func TestCommandsWhileServing(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			env := backendEnv(t, backend)
			// Flags win over the environment.
			env["TRIBUTARY_ADDR"] = "nonsense"
			addr, stop := serveInBackground(t, env, "--addr", "127.0.0.1:0")
			base := "http://" + addr
			if code, _ := get(t, base+"/readyz", ""); code != http.StatusOK {
				t.Fatalf("/readyz: %d", code)
			}

			runWith(t, env, "user", "create", "--email", "ada@example.com", "--password", pw, "--team", "Acme").wantOK(t)
			const n = 4
			var wg sync.WaitGroup
			tokens := make([]string, n)
			errs := make([]error, 2*n)
			busy, quit := make(chan struct{}), make(chan struct{})
			go func() { // keep the server busy meanwhile
				defer close(busy)
				for {
					select {
					case <-quit:
						return
					default:
						if res, err := http.Get(base + "/readyz"); err == nil {
							res.Body.Close()
						}
					}
				}
			}()
			for i := range n {
				wg.Go(func() {
					r := runWith(t, env, "user", "create", "--email", fmt.Sprintf("user%d@example.com", i), "--password", pw, "--team", "Acme", "--role", "editor")
					errs[i] = r.err
				})
				wg.Go(func() {
					r := runWith(t, env, "token", "create", "--team", "acme", "--role", "editor", "--name", fmt.Sprintf("t%d", i))
					errs[n+i], tokens[i] = r.err, strings.TrimSpace(r.stdout)
				})
			}
			wg.Wait()
			close(quit)
			<-busy
			for i, err := range errs {
				if err != nil {
					t.Errorf("command %d failed while the server ran: %v", i, err)
				}
			}
			for _, tok := range tokens {
				code, body := get(t, base+"/api/v1/me", tok)
				if code != http.StatusOK || !bytes.Contains(body, []byte(`"slug":"acme"`)) {
					t.Errorf("a token from token create gets %d from the running server: %s", code, body)
				}
			}
			accounts := accountsOf(t, env)
			team, err := accounts.ResolveTeam(t.Context(), "acme")
			if err != nil {
				t.Fatal(err)
			}
			if ms, err := accounts.Members(t.Context(), team.ID); err != nil || len(ms) != n+1 {
				t.Errorf("members: %d (%v), want %d", len(ms), err, n+1)
			}
			if err := stop(); err != nil {
				t.Errorf("serve returned %v on stop, want nil", err)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWrongDatabasePassword: a database refusing the password gives one
// line that does not repeat it.
func TestWrongDatabasePassword(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(pgtest.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "not-the-db-password-4711"
	u.User = url.UserPassword(u.User.Username(), wrong)
	env := map[string]string{"TRIBUTARY_DATA_DIR": t.TempDir(), "TRIBUTARY_ADDR": "127.0.0.1:0", "TRIBUTARY_DATABASE_URL": u.String()}
	for _, args := range [][]string{{"migrate"}, {"serve"}, {"token", "create", "--team", "t", "--role", "viewer", "--name", "n"}} {
		r := runWith(t, env, args...)
		r.wantOneLine(t, "postgres", "password")
		if strings.Contains(r.output(), wrong) {
			t.Errorf("%q printed the database password:\n%s", args, r.output())
		}
	}
}
