//go:build unix

package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serverConf is appended to postgresql.conf: durability is worthless for
// throwaway test data, and speed is not; many packages each run parallel
// tests with pools of their own, hence the connection limit.
const serverConf = `
# Added by internal/pgtest: a throwaway cluster for tests.
listen_addresses = '127.0.0.1'
unix_socket_directories = '%s'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
`

// cluster is a throwaway PostgreSQL cluster in one directory. The directory
// holds the data directory, the server's log and unix socket, a lock file
// that serializes the processes sharing the cluster, and the two facts a
// client needs: the superuser's password and the port.
type cluster struct {
	dir string
	// conf is appended to postgresql.conf at initdb, with %s standing for
	// the socket directory; serverConf when empty.
	conf string
	bin  string // directory holding initdb and pg_ctl
	// cred is the user initdb and pg_ctl run as when we are root (PostgreSQL
	// refuses to run as root); nil otherwise.
	cred *syscall.Credential
}

// sharedCluster returns the superuser URL of the cluster shared by all test
// processes of this OS user, starting it if need be.
func sharedCluster(ctx context.Context) (string, error) {
	bin, err := findBin()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("tributary-pgtest-%d", os.Geteuid()))
	c, err := newCluster(dir, bin)
	if err != nil {
		return "", err
	}
	return c.ensure(ctx)
}

func newCluster(dir, bin string) (*cluster, error) {
	c := &cluster{dir: dir, bin: bin}
	if os.Geteuid() != 0 {
		return c, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses to run as root, but there is no postgres OS user to run it as (create one with useradd --system postgres, or set %s): %w", EnvURL, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("parse ids of OS user postgres: %w", err)
	}
	c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
	return c, nil
}

// findBin finds the directory of initdb and pg_ctl: PATH first, else the
// newest version of Debian's layout, which keeps them off PATH.
func findBin() (string, error) {
	initdb, err := exec.LookPath("initdb")
	if err == nil {
		// Resolve symlinks such as /usr/local/bin/initdb: pg_ctl may only
		// be installed next to the real file.
		if real, err := filepath.EvalSymlinks(initdb); err == nil {
			initdb = real
		}
	} else {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
		if len(found) == 0 {
			return "", errUnavailable
		}
		// Numerically, so that 15 beats 9.6.
		version := func(p string) float64 {
			v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(p))), 64)
			return v
		}
		sort.Slice(found, func(i, j int) bool { return version(found[i]) > version(found[j]) })
		initdb = found[0]
	}
	bin := filepath.Dir(initdb)
	if _, err := os.Stat(filepath.Join(bin, "pg_ctl")); err != nil {
		return "", fmt.Errorf("found %s but no pg_ctl next to it: %w", initdb, err)
	}
	return bin, nil
}

// ensure returns the superuser URL of a running cluster, reusing the one
// already there when it answers, restarting it when it is down (killed,
// machine rebooted), and rebuilding it when it will not start (a crash
// mid-initdb, a different PostgreSQL version): the data is throwaway.
func (c *cluster) ensure(ctx context.Context) (string, error) {
	if err := c.makeDir(); err != nil {
		return "", err
	}
	unlock, err := c.lock()
	if err != nil {
		return "", err
	}
	defer unlock()

	if u, err := c.url(); err == nil && ping(ctx, u) == nil {
		return u, nil
	}
	switch live, stale := c.postmaster(); {
	case live:
		// Up but not answering: stop it hard. Only once it is known to be
		// ours: pg_ctl would signal whatever process has the pid.
		_ = c.run(ctx, "pg_ctl", "stop", "-D", c.path("data"), "-m", "immediate", "-t", "10")
	case stale:
		// postgres refuses to start while the pid in the file exists,
		// even as a zombie or another program.
		_ = os.Remove(c.path("data", "postmaster.pid"))
	}
	var startErr error
	if _, err := os.Stat(c.path("data", "PG_VERSION")); err == nil {
		if startErr = c.start(ctx); startErr == nil {
			return c.url()
		}
	}
	if err := c.initdb(ctx); err != nil {
		return "", errors.Join(startErr, err)
	}
	if err := c.start(ctx); err != nil {
		return "", err
	}
	return c.url()
}

// makeDir creates the cluster directory, owned by the user the server runs
// as, and refuses one it did not make: its name is predictable and lives in
// a directory everybody can write.
func (c *cluster) makeDir() error {
	if err := os.Mkdir(c.dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create cluster directory: %w", err)
	}
	fi, err := os.Lstat(c.dir)
	if err != nil {
		return fmt.Errorf("create cluster directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || (st.Uid != uint32(os.Geteuid()) && (c.cred == nil || st.Uid != c.cred.Uid)) {
		return fmt.Errorf("%s exists but is not a directory owned by this user; remove it", c.dir)
	}
	if err := c.chown(c.dir); err != nil {
		return err
	}
	if err := os.Chmod(c.dir, 0o700); err != nil {
		return fmt.Errorf("restrict cluster directory: %w", err)
	}
	return nil
}

// lock takes the exclusive lock on the cluster directory, waiting for any
// other test process that holds it. The kernel drops a flock when its holder
// exits, so a test process killed mid-start leaves nothing to clean up.
func (c *cluster) lock() (unlock func(), err error) {
	f, err := os.OpenFile(c.path("lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open cluster lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock cluster directory: %w", err)
	}
	return func() { f.Close() }, nil
}

// initdb creates the data directory afresh, with a new random superuser
// password. Clients on the unix socket are trusted, as its directory is
// private; clients on TCP need the password, since any local user can
// reach the port.
func (c *cluster) initdb(ctx context.Context) error {
	data := c.path("data")
	if err := os.RemoveAll(data); err != nil {
		return fmt.Errorf("remove old data directory: %w", err)
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails
	if err := c.writeFile("password", hex.EncodeToString(b[:])); err != nil {
		return err
	}
	err := c.run(ctx, "initdb", "-D", data, "-U", "postgres", "--pwfile", c.path("password"),
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync")
	if err != nil {
		return err
	}
	tmpl := c.conf
	if tmpl == "" {
		tmpl = serverConf
	}
	conf := fmt.Sprintf(tmpl, strings.ReplaceAll(c.dir, "'", "''"))
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("tune test cluster: %w", err)
	}
	if _, err := f.WriteString(conf); err != nil {
		f.Close()
		return fmt.Errorf("tune test cluster: %w", err)
	}
	return f.Close()
}

// start starts the server on a free port. The port is chosen anew at each
// start, not fixed at initdb: a port free then may be taken after a reboot.
func (c *cluster) start(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	return c.startOn(ctx, port)
}

// startOn starts the server on port and records the port.
func (c *cluster) startOn(ctx context.Context, port string) error {
	log := c.path("log")
	_ = os.Remove(log) // so that an error shows this attempt's log only
	err := c.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", c.path("data"), "-l", log, "-o", "-p "+port)
	if err != nil {
		out, _ := os.ReadFile(log)
		return fmt.Errorf("%w; server log:\n%s", err, out)
	}
	return c.writeFile("port", port)
}

// url is the superuser URL, over TCP so that it works for any client.
func (c *cluster) url() (string, error) {
	pw, err1 := os.ReadFile(c.path("password"))
	port, err2 := os.ReadFile(c.path("port"))
	if err := errors.Join(err1, err2); err != nil {
		return "", fmt.Errorf("read cluster settings: %w", err)
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword("postgres", strings.TrimSpace(string(pw))),
		Host:     net.JoinHostPort("127.0.0.1", strings.TrimSpace(string(port))),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}
	return u.String(), nil
}

// postmaster reports whether the pid in postmaster.pid is this cluster's
// live postmaster, or a stale leftover: a process that is gone, a zombie
// (when nothing reaps orphans, as in some containers) or an unrelated
// process that reused the pid. The postmaster is told by its working
// directory, which is its data directory. Without Linux's /proc it cannot
// tell and says neither; postgres still copes with a pid that is gone.
func (c *cluster) postmaster() (live, stale bool) {
	pidFile, err := os.ReadFile(c.path("data", "postmaster.pid"))
	if err != nil {
		return false, false
	}
	if _, err := os.Stat("/proc/self/cwd"); err != nil {
		return false, false
	}
	pid, _, _ := strings.Cut(string(pidFile), "\n")
	cwd, _ := os.Readlink(filepath.Join("/proc", strings.TrimSpace(pid), "cwd"))
	data, _ := filepath.EvalSymlinks(c.path("data"))
	live = cwd != "" && cwd == data
	return live, !live
}

// run runs a PostgreSQL program from the cluster's bin directory, as the
// cluster's user.
func (c *cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir // the postgres user may not be able to enter ours
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	// pg_ctl start leaves the server running; should it ever hold our
	// output pipe open, do not wait for it forever.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

// writeFile writes a small file in the cluster directory, readable by the
// cluster's user only.
func (c *cluster) writeFile(name, content string) error {
	p := c.path(name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		return fmt.Errorf("write cluster %s: %w", name, err)
	}
	return c.chown(p)
}

func (c *cluster) chown(p string) error {
	if c.cred == nil {
		return nil
	}
	if err := os.Chown(p, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("hand %s to the postgres user: %w", p, err)
	}
	return nil
}

func (c *cluster) path(elem ...string) string {
	return filepath.Join(append([]string{c.dir}, elem...)...)
}

// freePort asks the kernel for a port free right now. Another process may
// take it before the server binds it; the server then fails to start, and
// ensure rebuilds and starts the cluster once more on another port.
func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	return port, err
}
