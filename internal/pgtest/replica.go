//go:build unix

package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Primary is a PostgreSQL server a test has to itself, to replicate, stop
// or slow down without touching the server other tests share.
type Primary struct {
	// URL is its superuser URL, over TCP, to database "postgres".
	URL string
	c   *cluster
}

// StartPrimary starts a PostgreSQL server of the test's own (initdb, then
// pg_ctl start on a free loopback port, tuned as the shared test server
// is) and stops and removes it when the test ends. It is a few seconds'
// work: tests that only need a database use [DatabaseURL].
//
// Without PostgreSQL's server programs it skips the test, or fails it
// under CI.
func StartPrimary(t testing.TB) *Primary {
	t.Helper()
	bin := serverBin(t)
	dir, err := os.MkdirTemp("", "tributary-pgtest-primary-")
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCluster(dir, bin)
	if err != nil {
		os.RemoveAll(dir)
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if live, _ := c.postmaster(); live {
			_ = c.run(context.Background(), "pg_ctl", "stop", "-D", c.path("data"), "-m", "immediate", "-w", "-t", "30")
		}
		os.RemoveAll(dir)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.makeDir(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if err := c.initdb(ctx); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if err := c.start(ctx); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u, err := c.url()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return &Primary{URL: u, c: c}
}

// Stop stops the server with pg_ctl's shutdown mode ("smart", "fast" or
// "immediate") and waits until it is gone: with "fast" its sessions are
// ended and open transactions rolled back; with "immediate" every process
// quits at once, as in a crash, and the next start recovers from the WAL.
// [Primary.Start] starts it again on the same port.
func (p *Primary) Stop(t testing.TB, mode string) {
	t.Helper()
	if err := p.c.run(context.Background(), "pg_ctl", "stop", "-D", p.c.path("data"), "-m", mode, "-w", "-t", "60"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// Start starts a stopped server again on the port it had, so that its
// clients' URLs still reach it, and returns once it accepts connections.
func (p *Primary) Start(t testing.TB) {
	t.Helper()
	port, err := os.ReadFile(p.c.path("port"))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.c.startOn(ctx, strings.TrimSpace(string(port))); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// DatabaseURL creates database name on the primary and returns its
// superuser URL. The database goes with the server when the test ends.
func (p *Primary) DatabaseURL(t testing.TB, name string) string {
	t.Helper()
	if err := execAdmin(p.URL, `CREATE DATABASE "`+strings.ReplaceAll(name, `"`, `""`)+`"`); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	u, _ := url.Parse(p.URL)
	u.Path, u.RawPath = "/"+name, ""
	return u.String()
}

// Replica is a hot standby streaming from a primary: a copy made with
// pg_basebackup -R (standby.signal and primary_conninfo written for it),
// started on a free loopback port. It has the primary's users, passwords
// and databases, so [Replica.URL] of a primary's URL reaches the same
// database on the replica.
type Replica struct {
	dir  string
	bin  string
	port string
	cred *syscall.Credential
	// admin is the replica's superuser URL to database "postgres".
	admin string
}

// StartReplica makes a streaming replica of the server at adminURL (a
// superuser URL over TCP, such as [Primary.URL] or [Server]'s; the server
// must allow replication connections, as initdb's defaults do on
// loopback) and starts it. It is stopped and removed when the test ends.
//
// Prefer a replica of a [StartPrimary] server: a base backup of the shared
// server copies every other test's databases, and its WAL too.
func StartReplica(t testing.TB, adminURL string) *Replica {
	t.Helper()
	u, err := url.Parse(adminURL)
	if err != nil || u.Hostname() == "" {
		t.Fatal("pgtest: StartReplica needs a postgres:// URL with a host")
	}
	r := &Replica{bin: serverBin(t)}
	c, err := newCluster("", r.bin) // only for the user to run as
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	r.cred = c.cred
	// Not t.TempDir: the postgres user must be able to enter it.
	if r.dir, err = os.MkdirTemp("", "tributary-pgtest-replica-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.stop("immediate")
		os.RemoveAll(r.dir)
	})
	if r.cred != nil {
		if err := os.Chown(r.dir, int(r.cred.Uid), int(r.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	if r.port, err = freePort(); err != nil {
		t.Fatal(err)
	}
	ru := *u
	ru.Host = net.JoinHostPort("127.0.0.1", r.port)
	ru.Path = "/postgres"
	r.admin = ru.String()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pw, _ := u.User.Password()
	// The password goes in the environment, not on a command line others
	// can read; -R writes it into the replica's primary_conninfo, in its
	// private data directory.
	conn := fmt.Sprintf("host=%s port=%s user=%s", u.Hostname(), u.Port(), u.User.Username())
	// A busy server may recycle WAL the backup still needs before the
	// backup's temporary slot holds it: try again.
	for attempt := 1; ; attempt++ {
		err := r.run(ctx, []string{"PGPASSWORD=" + pw}, "pg_basebackup", "-d", conn, "-D", r.path("data"),
			"-R", "-X", "stream", "-c", "fast", "--no-sync")
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("pgtest: %v", err)
		}
		_ = os.RemoveAll(r.path("data"))
	}
	if err := r.start(ctx); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return r
}

// URL is dbURL (a URL of the primary) pointed at the replica.
func (r *Replica) URL(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return ""
	}
	u.Host = net.JoinHostPort("127.0.0.1", r.port)
	return u.String()
}

// Addr is the replica's host:port, as the read routing names it.
func (r *Replica) Addr() string { return net.JoinHostPort("127.0.0.1", r.port) }

// Stop stops the replica (pg_ctl stop -m fast): its clients are cut off.
func (r *Replica) Stop(t testing.TB) {
	t.Helper()
	if err := r.run(context.Background(), nil, "pg_ctl", "stop", "-D", r.path("data"), "-m", "fast", "-w", "-t", "60"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// Start starts a stopped replica again on its port; it catches up from
// the primary.
func (r *Replica) Start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := r.start(ctx); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// PauseReplay stops the replica applying the WAL it receives
// (pg_wal_replay_pause): it answers, but falls ever further behind the
// primary while the primary writes.
func (r *Replica) PauseReplay(t testing.TB) {
	t.Helper()
	if err := execAdmin(r.admin, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatalf("pgtest: pause replay: %v", err)
	}
}

// ResumeReplay lets a paused replica catch up.
func (r *Replica) ResumeReplay(t testing.TB) {
	t.Helper()
	if err := execAdmin(r.admin, `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatalf("pgtest: resume replay: %v", err)
	}
}

func (r *Replica) start(ctx context.Context) error {
	log := r.path("log")
	err := r.run(ctx, nil, "pg_ctl", "start", "-w", "-t", "60", "-D", r.path("data"), "-l", log,
		"-o", fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c hot_standby=on", r.port, r.dir))
	if err != nil {
		out, _ := os.ReadFile(log)
		return fmt.Errorf("%w; replica log:\n%s", err, out)
	}
	return nil
}

// stop stops the replica if it runs; mode is pg_ctl's.
func (r *Replica) stop(mode string) {
	if _, err := os.Stat(r.path("data", "postmaster.pid")); err != nil {
		return
	}
	_ = r.run(context.Background(), nil, "pg_ctl", "stop", "-D", r.path("data"), "-m", mode, "-w", "-t", "30")
}

func (r *Replica) run(ctx context.Context, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(r.bin, name), args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (r *Replica) path(elem ...string) string {
	return filepath.Join(append([]string{r.dir}, elem...)...)
}

// serverBin finds PostgreSQL's server programs, pg_basebackup among them,
// or skips the test (fails it under CI).
func serverBin(t testing.TB) string {
	t.Helper()
	bin, err := findBin()
	if err == nil {
		if _, statErr := os.Stat(filepath.Join(bin, "pg_basebackup")); statErr != nil {
			err = fmt.Errorf("%w: no pg_basebackup next to pg_ctl in %s", errUnavailable, bin)
		}
	}
	switch {
	case errors.Is(err, errUnavailable) && !inCI():
		t.Skipf("pgtest: skipping: %v", err)
	case errors.Is(err, errUnavailable) && os.Getenv(EnvURL) != "":
		// CI on a server of its own, without the programs to start one.
		t.Skipf("pgtest: skipping: %v (%s is set: this machine runs no PostgreSQL of its own)", err, EnvURL)
	case err != nil:
		t.Fatalf("pgtest: CI is set and CI must not skip PostgreSQL tests: %v", err)
	}
	return bin
}
