package pgtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EnvURL names the environment variable holding a superuser URL of an
// existing server; when set, tests use it instead of a throwaway cluster.
const EnvURL = "TRIBUTARY_TEST_DATABASE_URL"

// errUnavailable means this machine offers no PostgreSQL at all: tests skip,
// or fail under CI.
var errUnavailable = errors.New("no PostgreSQL server: " + EnvURL + " is not set and initdb is neither on PATH nor under /usr/lib/postgresql/*/bin")

// server finds or starts the server once per test process. The outcome,
// failure included, is shared by every later test so that a broken setup
// fails fast instead of once per test.
var server = sync.OnceValues(func() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if u := os.Getenv(EnvURL); u != "" {
		if err := checkURL(u); err != nil {
			return "", fmt.Errorf("%s: %w", EnvURL, err)
		}
		if err := ping(ctx, u); err != nil {
			return "", fmt.Errorf("connect to the server in %s: %w", EnvURL, err)
		}
		return u, nil
	}
	return sharedCluster(ctx)
})

// Server returns a superuser URL of the test server, connected to its
// "postgres" database, for tests that administer the server themselves.
// Prefer [DatabaseURL]: what a test creates through Server is not cleaned up
// for it, and other tests share the server.
//
// If there is no server to be had, Server skips the test, or fails it when
// the CI environment variable is set.
func Server(t testing.TB) (adminURL string) {
	t.Helper()
	u, err := server()
	switch {
	case errors.Is(err, errUnavailable) && !inCI():
		t.Skipf("pgtest: skipping: %v (install PostgreSQL or set %s to run it)", err, EnvURL)
	case errors.Is(err, errUnavailable):
		t.Fatalf("pgtest: CI is set and CI must not skip PostgreSQL tests: %v (install PostgreSQL, e.g. apt-get install postgresql, or set %s)", err, EnvURL)
	case err != nil:
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// DatabaseURL creates a new, empty database on the test server and returns
// a postgres:// URL to it, as the superuser. The database is dropped when
// the test and its subtests end, even if connections to it are still open.
//
// It skips or fails the test as [Server] does.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	admin := Server(t)

	// A random name, not one derived from the test name: test processes run
	// concurrently against one server and know nothing of each other. The
	// pid only helps to tell whose database a leftover one was.
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails
	name := fmt.Sprintf("pgtest_%d_%x", os.Getpid(), b)
	ident := pgx.Identifier{name}.Sanitize()

	if err := execAdmin(admin, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// FORCE ends connections the test left open (a pool not closed yet,
		// a server still shutting down), which would block a plain DROP.
		if err := execAdmin(admin, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})

	u, _ := url.Parse(admin) // checked when the server was found
	u.Path, u.RawPath = "/"+name, ""
	return u.String()
}

// execAdmin runs one statement on its own connection. A connection per call
// rather than a shared pool keeps the package free of background goroutines
// that would outlive tests; CREATE DATABASE costs far more than a connect.
func execAdmin(adminURL, sql string) error {
	// Not the test's context: cleanups run after it is canceled.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// ping reports whether a server answers at u. A server that is merely full
// counts as up: restarting it would kill every other test's databases.
func ping(ctx context.Context, u string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "53300" { // too_many_connections
		return nil
	}
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// checkURL rejects what DatabaseURL could not turn into a per-database URL.
// Its errors never quote the URL: it may carry a password.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return errors.New("not a postgres:// URL (key=value connection strings are not supported)")
	}
	return nil
}

// inCI follows the convention of CI systems, which set CI=true.
func inCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "0" && v != "false"
}
