//go:build unix

package pgtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// benchConf is appended to postgresql.conf of a benchmark cluster. Unlike
// the test cluster it keeps PostgreSQL's durable defaults (fsync,
// synchronous_commit, full_page_writes): what a benchmark measures is the
// cost of committing for real.
const benchConf = `
# Added by internal/pgtest: a throwaway cluster for benchmarks.
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
max_connections = 200
shared_buffers = 256MB
shared_preload_libraries = 'pg_stat_statements'
`

// StartBench creates a throwaway PostgreSQL cluster with durable settings
// in dir (made afresh: whatever dir held is removed), starts it and
// returns a superuser URL of a new empty database "bench" on it. Stop it
// with [StopBench]. It is for benchmark commands, not tests: tests use
// [DatabaseURL]. pg_stat_statements is preloaded so that a benchmark can
// see where the database spends its time.
func StartBench(ctx context.Context, dir string) (string, error) {
	bin, err := findBin()
	if err != nil {
		return "", err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	_ = StopBench(ctx, dir)
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("remove old benchmark cluster: %w", err)
	}
	c, err := newCluster(dir, bin)
	if err != nil {
		return "", err
	}
	c.conf = benchConf
	u, err := c.ensure(ctx)
	if err != nil {
		return "", err
	}
	if err := execAdmin(u, "CREATE DATABASE bench"); err != nil {
		return "", fmt.Errorf("create benchmark database: %w", err)
	}
	return u[:len(u)-len("/postgres?sslmode=disable")] + "/bench?sslmode=disable", nil
}

// StopBench stops the benchmark cluster in dir and removes it.
func StopBench(ctx context.Context, dir string) error {
	bin, err := findBin()
	if err != nil {
		return err
	}
	c, err := newCluster(dir, bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(c.path("data", "PG_VERSION")); err != nil {
		return nil
	}
	if err := c.run(ctx, "pg_ctl", "stop", "-D", c.path("data"), "-m", "fast", "-t", "60"); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}
