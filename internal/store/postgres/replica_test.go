package postgres_test

import (
	"context"
	"errors"
	"fmt"
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
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/postgres"
)

// streamingReplica is a hot standby of the pgtest server, started by a
// test: pg_basebackup of the server with -R (standby.signal and
// primary_conninfo), then pg_ctl start on another loopback port.
type streamingReplica struct {
	t    *testing.T
	dir  string
	bin  string
	port string
	cred *syscall.Credential
}

func startReplica(t *testing.T, adminURL string) *streamingReplica {
	t.Helper()
	bin := postgresBin(t)
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	r := &streamingReplica{t: t, bin: bin}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root; pgtest runs its cluster as
		// the postgres OS user, and so does this replica.
		pu, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root without a postgres OS user: %v", err)
		}
		uid, _ := strconv.Atoi(pu.Uid)
		gid, _ := strconv.Atoi(pu.Gid)
		r.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
	}
	// Not t.TempDir: the postgres user must be able to enter it.
	dir, err := os.MkdirTemp("", "tributary-replica-")
	if err != nil {
		t.Fatal(err)
	}
	r.dir = dir
	if r.cred != nil {
		if err := os.Chown(dir, int(r.cred.Uid), int(r.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		r.stop("immediate")
		os.RemoveAll(dir)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, r.port, _ = net.SplitHostPort(l.Addr().String())
	l.Close()

	conn := fmt.Sprintf("host=%s port=%s user=%s", u.Hostname(), u.Port(), u.User.Username())
	r.run(t.Context(), []string{"PGPASSWORD=" + pw}, "pg_basebackup", "-d", conn, "-D", filepath.Join(dir, "data"),
		"-R", "-X", "stream", "-c", "fast", "--no-sync")
	r.run(t.Context(), nil, "pg_ctl", "start", "-w", "-t", "60", "-D", filepath.Join(dir, "data"), "-l", filepath.Join(dir, "log"),
		"-o", fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c hot_standby=on", r.port, dir))
	return r
}

// postgresBin finds the directory holding both pg_basebackup and pg_ctl:
// Debian's versioned directory first (its PATH has wrappers only), then
// the one of pg_ctl on PATH.
func postgresBin(t *testing.T) string {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Slice(found, func(i, j int) bool {
		v := func(p string) float64 {
			f, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(filepath.Dir(p))), 64)
			return f
		}
		return v(found[i]) > v(found[j])
	})
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			found = append(found, real)
		}
	}
	for _, ctl := range found {
		if _, err := os.Stat(filepath.Join(filepath.Dir(ctl), "pg_basebackup")); err == nil {
			return filepath.Dir(ctl)
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("CI is set but pg_basebackup and pg_ctl are not installed side by side")
	}
	t.Skip("pg_basebackup and pg_ctl not found: cannot start a streaming replica")
	return ""
}

func (r *streamingReplica) run(ctx context.Context, env []string, name string, args ...string) {
	r.t.Helper()
	cmd := exec.CommandContext(ctx, filepath.Join(r.bin, name), args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(r.dir, "log"))
		r.t.Fatalf("%s: %v\n%s\nserver log:\n%s", name, err, out, log)
	}
}

// stop stops the replica; mode is pg_ctl's: fast or immediate.
func (r *streamingReplica) stop(mode string) {
	if _, err := os.Stat(filepath.Join(r.dir, "data", "postmaster.pid")); err != nil {
		return
	}
	cmd := exec.Command(filepath.Join(r.bin, "pg_ctl"), "stop", "-D", filepath.Join(r.dir, "data"), "-m", mode, "-w", "-t", "30")
	cmd.Dir = r.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	_ = cmd.Run()
}

// url is dbURL with the replica's port.
func (r *streamingReplica) url(dbURL string) string {
	u, _ := url.Parse(dbURL)
	u.Host = net.JoinHostPort("127.0.0.1", r.port)
	return u.String()
}

func TestReplicaRouting(t *testing.T) {
	t.Parallel()
	admin := pgtest.Server(t)
	e := setupStorage(t, 1)
	pipe := e.pipes[0]
	rep := startReplica(t, admin)
	replicaURL := rep.url(e.url)
	direct, err := pgx.Connect(t.Context(), replicaURL)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(context.Background())

	base := core.Now().Add(-time.Hour).Truncate(time.Second)
	first := e.write(nil, pipe, base, base.Add(time.Second))
	waitReplicated(t, direct, pipe, len(first))

	attach := func(maxLag time.Duration) {
		t.Helper()
		if err := e.st.UseReplica(t.Context(), replicaURL, postgres.ReplicaConfig{MaxLag: maxLag, CheckInterval: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	attach(time.Minute)
	if s := e.st.ReplicaStatus(); !s.Attached || !s.Healthy || !s.Serving || s.Lag > time.Minute {
		t.Fatalf("replica status after attach: %+v", s)
	}

	history := store.RecordQuery{From: base.Add(-time.Hour)}
	count := func(ctx context.Context, q store.RecordQuery) int {
		t.Helper()
		rs, err := e.st.Records(ctx, e.team, pipe, q)
		if err != nil {
			t.Fatal(err)
		}
		return len(rs)
	}
	seriesCount := func() int64 {
		t.Helper()
		s, err := e.st.Series(t.Context(), e.team, pipe, store.SeriesQuery{Field: "v", From: base.Add(-time.Hour), To: base.Add(time.Hour), Bucket: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, p := range s.Points {
			n += p.Count
		}
		return n
	}

	// Freeze the replica: what is written now reaches the primary only.
	if _, err := direct.Exec(t.Context(), `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	second := e.write(nil, pipe, base.Add(2*time.Second), base.Add(3*time.Second), base.Add(4*time.Second))
	total := len(first) + len(second)
	e.st.CheckReplica(t.Context())
	if s := e.st.ReplicaStatus(); !s.Serving {
		t.Fatalf("a replica within its lag bound does not serve: %+v", s)
	}
	before := e.st.ReplicaStatus().Reads
	// History, series and lists come from the replica and do not see the
	// new batch yet; the newest page and WithPrimary reads come from the
	// primary and do.
	if n := count(t.Context(), history); n != len(first) {
		t.Fatalf("history read saw %d records, want the replica's %d", n, len(first))
	}
	if n := seriesCount(); n != int64(len(first)) {
		t.Fatalf("series counted %d records, want the replica's %d", n, len(first))
	}
	if runs, err := e.st.Runs(t.Context(), e.team, pipe, store.RunQuery{}); err != nil || len(runs) != 1 {
		t.Fatalf("runs from the replica: %d, %v", len(runs), err)
	}
	if n := count(t.Context(), store.RecordQuery{}); n != total {
		t.Fatalf("newest page saw %d records, want the primary's %d", n, total)
	}
	if n := count(store.WithPrimary(t.Context()), history); n != total {
		t.Fatalf("WithPrimary history read saw %d records, want %d", n, total)
	}
	if got := e.st.ReplicaStatus().Reads - before; got != 3 {
		t.Fatalf("the replica served %d reads, want 3", got)
	}

	// Beyond the lag bound, reads go to the primary.
	attach(time.Millisecond)
	if s := e.st.ReplicaStatus(); s.Serving || !s.Healthy || s.Lag <= time.Millisecond {
		t.Fatalf("lagging replica status: %+v", s)
	}
	if n := count(t.Context(), history); n != total {
		t.Fatalf("with a lagging replica, history saw %d records, want %d", n, total)
	}
	if n := seriesCount(); n != int64(total) {
		t.Fatalf("with a lagging replica, series counted %d, want %d", n, total)
	}

	// Caught up, it serves again and has everything.
	if _, err := direct.Exec(t.Context(), `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatal(err)
	}
	waitReplicated(t, direct, pipe, total)
	attach(time.Minute)
	before = e.st.ReplicaStatus().Reads
	if n := count(t.Context(), history); n != total || e.st.ReplicaStatus().Reads != before+1 {
		t.Fatalf("caught-up replica: %d records, status %+v", n, e.st.ReplicaStatus())
	}

	// Stopped: reads fail over to the primary at once, and the next check
	// marks the replica down.
	direct.Close(context.Background())
	rep.stop("fast")
	if n := count(t.Context(), history); n != total {
		t.Fatalf("with the replica stopped, history saw %d records", n)
	}
	if n := seriesCount(); n != int64(total) {
		t.Fatalf("with the replica stopped, series counted %d", n)
	}
	if _, err := e.st.Pipelines(t.Context(), e.team); err != nil {
		t.Fatalf("list with the replica stopped: %v", err)
	}
	e.st.CheckReplica(t.Context())
	if s := e.st.ReplicaStatus(); s.Healthy || s.Serving || s.Fallback == 0 {
		t.Fatalf("stopped replica status: %+v", s)
	}
	if n := count(t.Context(), history); n != total {
		t.Fatalf("with the replica down, history saw %d records", n)
	}
}

// waitReplicated waits until the replica has n records of the pipeline.
func waitReplicated(t *testing.T, replica *pgx.Conn, pipeline any, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got int
		err := replica.QueryRow(t.Context(), `SELECT count(*) FROM records WHERE pipeline_id = $1`, pipeline).Scan(&got)
		if err != nil && !strings.Contains(err.Error(), "does not exist") {
			t.Fatal(err)
		}
		if err == nil && got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica has %d records after 30s, want %d (err %v)", got, n, errors.Unwrap(err))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReplicaSpread: with several replicas, reads spread over those that
// serve; one that is down serves nothing, and with none serving reads go
// to the primary.
func TestReplicaSpread(t *testing.T) {
	t.Parallel()
	admin := pgtest.Server(t)
	e := setupStorage(t, 1)
	pipe := e.pipes[0]
	rep := startReplica(t, admin)
	good := rep.url(e.url)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := (&streamingReplica{port: strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)}).url(e.url)
	ln.Close() // nothing listens there now
	base := core.Now().Add(-time.Hour).Truncate(time.Second)
	e.write(nil, pipe, base)

	if err := e.st.UseReplicas(t.Context(), []string{good, down, good}, postgres.ReplicaConfig{MaxLag: time.Minute, CheckInterval: time.Hour}); err != nil {
		t.Fatal(err)
	}
	st := e.st.ReplicaStatuses()
	if len(st) != 3 || !st[0].Serving || st[1].Serving || st[1].Healthy || !st[2].Serving {
		t.Fatalf("statuses = %+v", st)
	}
	if strings.Contains(st[0].Name, "@") || st[0].Name == "" {
		t.Errorf("replica name %q", st[0].Name)
	}
	for range 6 {
		if _, err := e.st.Records(t.Context(), e.team, pipe, store.RecordQuery{From: base.Add(-time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	st = e.st.ReplicaStatuses()
	if st[0].Reads+st[2].Reads != 6 || st[0].Reads < 2 || st[2].Reads < 2 || st[1].Reads != 0 || st[0].Fallback != 0 {
		t.Fatalf("reads not spread over the serving replicas: %+v", st)
	}

	// None serving: the primary answers.
	rep.stop("fast")
	e.st.CheckReplica(t.Context())
	if rs, err := e.st.Records(t.Context(), e.team, pipe, store.RecordQuery{From: base.Add(-time.Hour)}); err != nil || len(rs) != 1 {
		t.Fatalf("with every replica down: %d records, %v", len(rs), err)
	}
	if st := e.st.ReplicaStatuses(); st[0].Fallback == 0 || st[0].Serving || st[2].Serving {
		t.Fatalf("statuses with every replica down = %+v", st)
	}
}
