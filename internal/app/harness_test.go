package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/app"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/config"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/httpapi"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/postgres"
	"github.com/tributary-dev/tributary/internal/store/sqlite"
)

// password is the password of every user the tests create.
const password = "correct horse battery staple"

// backends are the storage backends every test runs on.
var backends = []string{"sqlite", "postgres"}

// eachBackend runs fn as one parallel subtest per backend. Every subtest
// starts its own server on its own database, so they share nothing.
func eachBackend(t *testing.T, fn func(t *testing.T, backend string)) {
	t.Helper()
	t.Parallel()
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// testConfig is config.Default on a free loopback port, a fresh data dir
// and, for "postgres", a fresh database.
func testConfig(t *testing.T, backend string) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.LogFormat = "json"
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.JobWorkers = 2
	cfg.MetricsToken = testMetricsToken
	switch backend {
	case "sqlite":
	case "postgres":
		cfg.DatabaseURL = pgtest.DatabaseURL(t)
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	if err := cfg.Validate(false); err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg
}

// testMetricsToken opens /metrics on test servers.
const testMetricsToken = "test-metrics-token"

// testServer is a running app.Serve and a second, independent store on the
// same database for arranging and inspecting data behind the server's back.
type testServer struct {
	t        *testing.T
	Backend  string
	Config   config.Config
	URL      string // http://127.0.0.1:port
	Store    store.Store
	Accounts *account.Service
	// Logs holds everything the server logged.
	Logs *syncBuffer

	// StopMayFail lets the test end with Serve returning an error.
	StopMayFail bool

	cancel context.CancelFunc
	stop   func() (time.Duration, error)
}

// startServer starts a server on a fresh database of backend.
func startServer(t *testing.T, backend string) *testServer {
	t.Helper()
	return serveConfig(t, backend, testConfig(t, backend))
}

// openStore opens and migrates a store on cfg's database, closed at the
// end of the test.
func openStore(t *testing.T, cfg config.Config) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := app.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

// serveConfig runs app.Serve with cfg until the end of the test, when it
// cancels the context and requires Serve to return nil (a graceful stop).
func serveConfig(t *testing.T, backend string, cfg config.Config) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- app.Serve(ctx, cfg, app.NewLogger(cfg, logs), func(addr string) { ready <- addr })
	}()

	ts := &testServer{t: t, Backend: backend, Config: cfg, Logs: logs, cancel: cancel}
	var cancelledAt time.Time
	ts.stop = sync.OnceValues(func() (time.Duration, error) {
		cancelledAt = time.Now()
		cancel()
		select {
		case err := <-done:
			return time.Since(cancelledAt), err
		case <-time.After(cfg.ShutdownTimeout + 15*time.Second):
			return time.Since(cancelledAt), errors.New("Serve did not return after its context was cancelled")
		}
	})
	t.Cleanup(func() {
		if _, err := ts.stop(); err != nil && !ts.StopMayFail {
			t.Errorf("graceful stop: Serve returned %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})

	select {
	case addr := <-ready:
		ts.URL = "http://" + addr
	case err := <-done:
		done <- err // for stop
		t.Fatalf("Serve returned before it was ready: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("Serve was not ready within a minute")
	}
	ts.Store = openStore(t, cfg)
	ts.Accounts = account.New(ts.Store, cfg.SessionTTL)
	return ts
}

// Stop cancels Serve's context and returns how long Serve took to return
// and what it returned. Later calls return the same.
func (ts *testServer) Stop() (time.Duration, error) { return ts.stop() }

func (ts *testServer) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	ts.t.Cleanup(cancel)
	return ctx
}

// createUser creates a user with the test password through the account
// rules the CLI uses: the team is created with the user as owner, or
// joined with role when it exists. The first user is an instance admin.
func (ts *testServer) createUser(email, team string, role auth.Role) (core.User, core.Team) {
	ts.t.Helper()
	u, tm, err := ts.Accounts.CreateUser(ts.ctx(), email, password, team, role)
	if err != nil {
		ts.t.Fatalf("create user %s in %s: %v", email, team, err)
	}
	return u, tm
}

// issueToken creates an API token and returns it with its secret.
func (ts *testServer) issueToken(teamID uuid.UUID, role auth.Role) (core.Token, string) {
	ts.t.Helper()
	tok, secret, err := ts.Accounts.IssueToken(ts.ctx(), teamID, "test "+string(role), role, nil, nil)
	if err != nil {
		ts.t.Fatalf("issue %s token: %v", role, err)
	}
	return tok, secret
}

// count runs a query returning one integer on the raw database, written
// with ? placeholders for both backends.
func (ts *testServer) count(query string, args ...any) int {
	ts.t.Helper()
	var n int
	var err error
	switch st := ts.Store.(type) {
	case *sqlite.Store:
		err = st.DB().QueryRowContext(ts.ctx(), query, args...).Scan(&n)
	case *postgres.Store:
		err = st.Pool().QueryRow(ts.ctx(), rebind(query), args...).Scan(&n)
	default:
		ts.t.Fatalf("unknown store %T", ts.Store)
	}
	if err != nil {
		ts.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// rebind turns ? placeholders into PostgreSQL's $n.
func rebind(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// client talks to a test server like a program or a browser would: with
// a cookie jar, optionally a bearer token, and without following
// redirects so tests see them.
type client struct {
	t      *testing.T
	base   string
	hc     *http.Client
	jar    http.CookieJar
	token  string
	header http.Header
}

// client returns an anonymous client with an empty cookie jar.
func (ts *testServer) client() *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		ts.t.Fatal(err)
	}
	return &client{
		t: ts.t, base: ts.URL, jar: jar, header: http.Header{},
		hc: &http.Client{
			Jar:           jar,
			Timeout:       30 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// bearer returns a client authenticating with an API token.
func (ts *testServer) bearer(token string) *client {
	c := ts.client()
	c.token = token
	return c
}

// login signs in through the API and returns a client holding the session
// cookie.
func (ts *testServer) login(email string) *client {
	ts.t.Helper()
	c := ts.client()
	res := c.do("POST", "/api/v1/auth/login", map[string]string{"email": email, "password": password})
	res.want(http.StatusOK)
	if c.session() == "" {
		ts.t.Fatalf("login as %s set no session cookie", email)
	}
	return c
}

// signIn returns a client holding a new session of u, made the way a
// sign-in makes it but without the password check, which is slow by
// design; the tests of signing in use login.
func (ts *testServer) signIn(u core.User) *client {
	ts.t.Helper()
	sid, hash := auth.NewSessionID()
	now := core.Now()
	if err := ts.Store.CreateSession(ts.ctx(), core.Session{IDHash: hash, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(ts.Config.SessionTTL)}); err != nil {
		ts.t.Fatalf("create session of %s: %v", u.Email, err)
	}
	c := ts.client()
	base, _ := url.Parse(ts.URL)
	c.jar.SetCookies(base, []*http.Cookie{{Name: httpapi.SessionCookie, Value: sid, Path: "/"}})
	return c
}

// with returns a copy of c that also sends header k: v.
func (c *client) with(k, v string) *client {
	cp := *c
	cp.header = c.header.Clone()
	cp.header.Set(k, v)
	return &cp
}

// session returns the session cookie's value in the jar, or "".
func (c *client) session() string {
	u, _ := url.Parse(c.base)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == httpapi.SessionCookie {
			return ck.Value
		}
	}
	return ""
}

// response is a read response.
type response struct {
	t      *testing.T
	req    string
	Status int
	Header http.Header
	Body   []byte
}

// do sends a request. body is sent as JSON, except a string or []byte
// (sent raw as JSON) and url.Values (sent as a form).
func (c *client) do(method, path string, body any) *response {
	c.t.Helper()
	return c.send(method, path, body, false)
}

// doChunked sends body without a Content-Length, as a stream would.
func (c *client) doChunked(method, path string, body any) *response {
	c.t.Helper()
	return c.send(method, path, body, true)
}

func (c *client) send(method, path string, body any, chunked bool) *response {
	c.t.Helper()
	var r io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		r, ctype = strings.NewReader(b), "application/json"
	case []byte:
		r, ctype = bytes.NewReader(b), "application/json"
	case url.Values:
		r, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		r, ctype = bytes.NewReader(j), "application/json"
	}
	if chunked && r != nil {
		r = io.MultiReader(r) // hides the length from net/http
	}
	req, err := http.NewRequest(method, c.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	} else if path == "/metrics" {
		// Test servers open /metrics with a token (TestMetricsNeedToken
		// checks that it is required).
		req.Header.Set("Authorization", "Bearer "+testMetricsToken)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return &response{t: c.t, req: method + " " + path, Status: res.StatusCode, Header: res.Header, Body: b}
}

// want fails the test unless the status is one of codes.
func (r *response) want(codes ...int) *response {
	r.t.Helper()
	for _, c := range codes {
		if r.Status == c {
			return r
		}
	}
	r.t.Fatalf("%s: status %d, want %v; body: %s", r.req, r.Status, codes, r.Body)
	return r
}

// json decodes the body into v.
func (r *response) json(v any) {
	r.t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		r.t.Fatalf("%s: decode %s: %v", r.req, r.Body, err)
	}
}

// problem is an RFC 9457 body.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Message  string `json:"message"`
		Location string `json:"location"`
	} `json:"errors"`
}

// wantProblem requires an RFC 9457 problem response with the status.
func (r *response) wantProblem(status int) problem {
	r.t.Helper()
	r.want(status)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		r.t.Fatalf("%s: Content-Type %q, want application/problem+json; body: %s", r.req, ct, r.Body)
	}
	var p problem
	r.json(&p)
	if p.Title == "" || p.Status != status || p.Detail == "" {
		r.t.Fatalf("%s: problem %+v lacks title, status %d or detail", r.req, p, status)
	}
	return p
}

// cookie returns the Set-Cookie of name in the response, or nil.
func (r *response) cookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// eventually polls cond every few milliseconds until it holds or the
// deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
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

// Wire shapes the tests read.

type userJSON struct {
	ID      uuid.UUID `json:"id"`
	Email   string    `json:"email"`
	IsAdmin bool      `json:"is_admin"`
}

type teamJSON struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
	Slug string    `json:"slug"`
	Role string    `json:"role"`
}

type tokenJSON struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Hint       string     `json:"hint"`
	Secret     string     `json:"secret"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

type memberJSON struct {
	User userJSON `json:"user"`
	Role string   `json:"role"`
}

type meJSON struct {
	User  *userJSON  `json:"user"`
	Token *tokenJSON `json:"token"`
	Teams []teamJSON `json:"teams"`
}

// teamQuery is the ?team= selector.
func teamQuery(id uuid.UUID) string { return "?team=" + id.String() }

// must fails the test on err.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
