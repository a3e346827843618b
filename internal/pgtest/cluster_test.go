//go:build unix

package pgtest

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestClusterRecovers drives a private cluster, not the shared one, through
// what a developer's machine does to it between runs.
func TestClusterRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster of its own: slow")
	}
	t.Parallel()
	ctx := t.Context()

	bin, err := findBin()
	switch {
	case errors.Is(err, errUnavailable) && !inCI():
		t.Skip(err)
	case err != nil:
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "tributary-pgtest-recover-")
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCluster(dir, bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if live, _ := c.postmaster(); live {
			_ = c.run(context.Background(), "pg_ctl", "stop", "-D", c.path("data"), "-m", "immediate")
		}
		os.RemoveAll(dir)
	})

	// ensure returns a working URL and the server's start time, which tells
	// a reuse from a restart.
	ensure := func(t *testing.T) (string, time.Time) {
		t.Helper()
		u, err := c.ensure(ctx)
		if err != nil {
			t.Fatalf("ensure: %v", err)
		}
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer conn.Close(ctx)
		var started time.Time
		if err := conn.QueryRow(ctx, "SELECT pg_postmaster_start_time()").Scan(&started); err != nil {
			t.Fatalf("query: %v", err)
		}
		return u, started
	}

	url1, started1 := ensure(t)

	t.Run("running cluster is reused", func(t *testing.T) {
		url2, started2 := ensure(t)
		if url2 != url1 || !started2.Equal(started1) {
			t.Fatalf("cluster was restarted: %s at %v, then %s at %v", url1, started1, url2, started2)
		}
	})

	t.Run("killed cluster with stale postmaster.pid is restarted", func(t *testing.T) {
		pidFile, err := os.ReadFile(c.path("data", "postmaster.pid"))
		if err != nil {
			t.Fatal(err)
		}
		line, _, _ := strings.Cut(string(pidFile), "\n")
		pid, err := strconv.Atoi(line)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(c.path("data", "postmaster.pid")); err != nil {
			t.Fatalf("want a stale postmaster.pid left behind: %v", err)
		}
		password, err := os.ReadFile(c.path("password"))
		if err != nil {
			t.Fatal(err)
		}
		_, started := ensure(t)
		if started.Equal(started1) {
			t.Fatal("killed server still answers")
		}
		// Restarted, not rebuilt: initdb would have made a new password.
		if again, _ := os.ReadFile(c.path("password")); string(again) != string(password) {
			t.Fatal("cluster was rebuilt rather than restarted")
		}
	})

	t.Run("damaged data directory is rebuilt", func(t *testing.T) {
		if err := c.run(ctx, "pg_ctl", "stop", "-D", c.path("data"), "-m", "fast"); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(c.path("data", "PG_VERSION"), []byte("6\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		ensure(t)
	})
}
