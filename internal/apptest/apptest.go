package apptest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/app"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/config"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pgtest"
)

// Password is the password of the users Start creates.
const Password = "correct horse battery staple"

// Backends are the storage backends a server can run on.
var Backends = []string{"sqlite", "postgres"}

// Server is a running server with a team, its owner and a token.
type Server struct {
	// Backend is "sqlite" or "postgres".
	Backend string
	// Config is the server's configuration.
	Config config.Config
	// URL is the server's base URL, http://127.0.0.1:port.
	URL string
	// Accounts is an account service on the server's database.
	Accounts *account.Service
	// Team is the team of Email, its owner.
	Team core.Team
	// Email is the owner's email; their password is Password.
	Email string
	// Token is an API token of the team with the admin role.
	Token string
	// Logs is what the server logged.
	Logs *Buffer
}

// Start serves a fresh database of backend until the end of the test and
// sets up a team "acme" with owner ada@example.com and an admin token.
// Each configure function may change the configuration first.
func Start(t testing.TB, backend string, configure ...func(*config.Config)) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.LogFormat = "json"
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.JobWorkers = 2
	switch backend {
	case "sqlite":
	case "postgres":
		cfg.DatabaseURL = pgtest.DatabaseURL(t)
	default:
		t.Fatalf("apptest: unknown backend %q", backend)
	}
	for _, f := range configure {
		f(&cfg)
	}
	if err := cfg.Validate(false); err != nil {
		t.Fatalf("apptest: config: %v", err)
	}
	logs := &Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, cfg, app.NewLogger(cfg, logs), func(addr string) { ready <- addr }) }()
	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(cfg.ShutdownTimeout + 15*time.Second):
			return errors.New("serve did not return after its context was cancelled")
		}
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("apptest: serve: %v\nlog:\n%s", err, logs.String())
		}
	})
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		done <- err
		t.Fatalf("apptest: serve ended before serving: %v\nlog:\n%s", err, logs.String())
	case <-time.After(time.Minute):
		t.Fatalf("apptest: the server did not start within a minute\nlog:\n%s", logs.String())
	}

	st, err := app.OpenStore(t.Context(), cfg)
	if err != nil {
		t.Fatalf("apptest: open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	s := &Server{Backend: backend, Config: cfg, URL: "http://" + addr, Accounts: account.New(st, cfg.SessionTTL),
		Email: "ada@example.com", Logs: logs}
	_, team, err := s.Accounts.CreateUser(t.Context(), s.Email, Password, "Acme", "")
	if err != nil {
		t.Fatalf("apptest: create user: %v", err)
	}
	s.Team = team
	s.Token = s.NewToken(t, auth.Admin)
	return s
}

// NewToken issues an API token of the team with role.
func (s *Server) NewToken(t testing.TB, role auth.Role) string {
	t.Helper()
	_, secret, err := s.Accounts.IssueToken(context.Background(), s.Team.ID, fmt.Sprintf("test-%s-%d", role, time.Now().UnixNano()), role, nil, nil)
	if err != nil {
		t.Fatalf("apptest: issue token: %v", err)
	}
	return secret
}

// Buffer is a bytes buffer safe for concurrent use.
type Buffer struct {
	mu sync.Mutex
	b  []byte
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	return len(p), nil
}

// String returns what was written.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}
