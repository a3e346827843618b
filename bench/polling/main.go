// Command polling is Tributary's scheduling benchmark for polling
// pipelines (issue 10: 10,000 polling pipelines per node). It starts the
// real server binary on PostgreSQL or on its SQLite default, serves one
// fake API on loopback that answers every pipeline, and adds polling
// pipelines in steps (all at one interval, their first polls spread evenly
// over it). After each step has settled it measures, over a window:
//
//   - the polls started and committed per second against the rate the
//     schedule asks for (the node's tributary_polls_total{outcome="ok"},
//     and "empty");
//   - how late polls start (the node's tributary_poll_lag_seconds: start
//     of the poll minus its due time), p50/p99 interpolated in the
//     histogram's buckets, and the exact share of polls late by more than
//     the target;
//   - the CPU of the node, of PostgreSQL and of this process (the fake
//     API), in cores, and the node's RSS (now and peak);
//   - the load of the database: on PostgreSQL the statements
//     (pg_stat_statements), transactions and WAL bytes per poll; SQLite
//     runs inside the node, so its cost is in the node's CPU.
//
// It stops after the first step whose p99 exceeds the target (1s) and
// reports the largest count that met it. Examples:
//
//	make build
//	go run ./bench/polling -bin bin/tributary -backend sqlite
//	go run ./bench/polling -bin bin/tributary -database-url postgres://…/empty_db
//
// -cpuprofile FILE writes a 20 s CPU profile of the node taken in the
// middle of the last window.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/source"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/postgres"
	"github.com/tributary-dev/tributary/internal/store/sqlite"
)

type options struct {
	bin         string
	backend     string
	dbURL       string
	counts      []int
	interval    time.Duration
	settle      time.Duration
	measure     time.Duration
	workers     int
	target      time.Duration
	keepRunning bool
	persist     bool
	empty       bool
	cpuprofile  string
	summary     string
}

func main() {
	var o options
	var counts string
	flag.StringVar(&o.bin, "bin", "bin/tributary", "tributary binary to benchmark")
	flag.StringVar(&o.backend, "backend", "", "postgres or sqlite (default: postgres when -database-url is set, else sqlite)")
	flag.StringVar(&o.dbURL, "database-url", "", "PostgreSQL URL of an empty, dedicated database (postgres backend)")
	flag.StringVar(&counts, "counts", "10000", "pipeline counts to step through, ascending")
	flag.DurationVar(&o.interval, "interval", 10*time.Second, "interval of every pipeline")
	flag.DurationVar(&o.settle, "settle", 20*time.Second, "wait after each step before measuring")
	flag.DurationVar(&o.measure, "measure", 30*time.Second, "length of each measuring window")
	flag.IntVar(&o.workers, "workers", 0, "poll workers of the server (TRIBUTARY_POLL_WORKERS; 0: the server's default)")
	flag.DurationVar(&o.target, "target", time.Second, "the p99 lag a count must meet")
	flag.BoolVar(&o.keepRunning, "all", false, "measure every count, even past the first that misses the target")
	flag.BoolVar(&o.persist, "persist", true, "store the polled records (false: runs and state only, to tell the cost of storing)")
	flag.BoolVar(&o.empty, "empty", false, "the API answers no records (a quiet API: every poll after the first is empty)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the node during the last window to this file")
	flag.StringVar(&o.summary, "summary", "", "append a markdown table row per count to this file")
	flag.Parse()
	for _, c := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "polling bench: bad count %q\n", c)
			os.Exit(2)
		}
		o.counts = append(o.counts, n)
	}
	if o.backend == "" {
		o.backend = "sqlite"
		if o.dbURL != "" {
			o.backend = "postgres"
		}
	}
	switch {
	case o.backend == "postgres" && o.dbURL == "":
		fmt.Fprintln(os.Stderr, "polling bench: -database-url is required on postgres (an empty database)")
		os.Exit(2)
	case o.backend != "postgres" && o.backend != "sqlite":
		fmt.Fprintln(os.Stderr, "polling bench: -backend is postgres or sqlite")
		os.Exit(2)
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "polling bench:", err)
		os.Exit(1)
	}
}

// fakeAPI answers every poll with one new record, or with none (empty).
type fakeAPI struct {
	srv      *http.Server
	url      string
	requests atomic.Int64
}

func startAPI(empty bool) (*fakeAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &fakeAPI{url: "http://" + ln.Addr().String()}
	a.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := a.requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if empty {
			fmt.Fprint(w, `{"items":[]}`)
			return
		}
		fmt.Fprintf(w, `{"items":[{"id":%d,"ts":%q,"temp_k":%.2f,"station":"st-%d"}]}`,
			n, time.Now().UTC().Format(time.RFC3339Nano), 270+rand.Float64()*30, n%100)
	}), ReadHeaderTimeout: 5 * time.Second}
	go a.srv.Serve(ln)
	return a, nil
}

type server struct {
	cmd   *exec.Cmd
	debug string // address of /metrics and pprof
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startServer(o options, dataDir string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	debug, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.bin, "serve")
	cmd.Env = append(os.Environ(), "TRIBUTARY_DATA_DIR="+dataDir, "TRIBUTARY_ADDR="+addr, "TRIBUTARY_DEBUG_ADDR="+debug,
		"TRIBUTARY_LOG_LEVEL=warn", "TRIBUTARY_ALLOW_NETWORKS=127.0.0.1/32", "TRIBUTARY_POLL_HOST_RATE=0")
	if o.backend == "postgres" {
		cmd.Env = append(cmd.Env, "TRIBUTARY_DATABASE_URL="+o.dbURL)
	}
	if o.workers > 0 {
		cmd.Env = append(cmd.Env, "TRIBUTARY_POLL_WORKERS="+strconv.Itoa(o.workers))
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, debug: debug}
	for deadline := time.Now().Add(90 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("server did not become ready in 90s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// promSample is what the benchmark reads of the node's metrics.
type promSample struct {
	lagBuckets []bucket // cumulative, ascending
	lagCount   float64
	ok, failed float64
}

type bucket struct{ le, n float64 }

func (s *server) metrics() (promSample, error) {
	var out promSample
	resp, err := http.Get("http://" + s.debug + "/metrics")
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		switch {
		case strings.HasPrefix(name, `tributary_poll_lag_seconds_bucket{le="`):
			le := strings.TrimSuffix(strings.TrimPrefix(name, `tributary_poll_lag_seconds_bucket{le="`), `"}`)
			f := math.Inf(1)
			if le != "+Inf" {
				f, _ = strconv.ParseFloat(le, 64)
			}
			out.lagBuckets = append(out.lagBuckets, bucket{f, v})
		case name == "tributary_poll_lag_seconds_count":
			out.lagCount = v
		case name == `tributary_polls_total{outcome="ok"}`, name == `tributary_polls_total{outcome="empty"}`:
			out.ok += v // an empty poll commits too: its schedule moves
		case name == `tributary_polls_total{outcome="failed"}`:
			out.failed = v
		}
	}
	return out, sc.Err()
}

// quantile interpolates the q-quantile of the lags observed between two
// samples of the histogram.
func quantile(a, b promSample, q float64) float64 {
	if len(a.lagBuckets) != len(b.lagBuckets) {
		a.lagBuckets = make([]bucket, len(b.lagBuckets))
	}
	total := b.lagCount - a.lagCount
	if total <= 0 {
		return 0
	}
	rank := q * total
	prevLE, prevN := 0.0, 0.0
	for i, bk := range b.lagBuckets {
		n := bk.n - a.lagBuckets[i].n
		if n >= rank {
			if math.IsInf(bk.le, 1) {
				return prevLE
			}
			if n == prevN {
				return bk.le
			}
			return prevLE + (bk.le-prevLE)*(rank-prevN)/(n-prevN)
		}
		prevLE, prevN = bk.le, n
	}
	return prevLE
}

// lateShare is the share of the polls between two samples that started
// more than le seconds late (le must be a bucket boundary).
func lateShare(a, b promSample, le float64) float64 {
	total := b.lagCount - a.lagCount
	if total <= 0 {
		return 0
	}
	for i, bk := range b.lagBuckets {
		if bk.le == le {
			var an float64
			if i < len(a.lagBuckets) {
				an = a.lagBuckets[i].n
			}
			return 1 - (bk.n-an)/total
		}
	}
	return math.NaN()
}

// cpu returns the user+system CPU time of a process.
func cpu(pid int) time.Duration {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; fields count from after it.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ is 100 on Linux
}

// rss returns a process's resident set now and at its peak, in MB.
func rss(pid int) (now, peak float64) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[0], 64)
		switch k {
		case "VmRSS":
			now = kb / 1024
		case "VmHWM":
			peak = kb / 1024
		}
	}
	return now, peak
}

// postgresCPU sums the CPU time of the PostgreSQL server the benchmark
// uses: its postmaster and the postmaster's children (backends, WAL
// writer, checkpointer...), not of other clusters on the machine.
func postgresCPU(postmaster int) time.Duration {
	if postmaster == 0 {
		return 0
	}
	entries, _ := os.ReadDir("/proc")
	total := cpu(postmaster)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid(pid) == postmaster {
			total += cpu(pid)
		}
	}
	return total
}

// ppid returns the parent of a process, or 0.
func ppid(pid int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// hostBusy returns the CPU time all processes of the machine used so far
// (user, nice, system, irq, softirq, steal), from /proc/stat.
func hostBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 || i >= 8 { // idle, iowait, guest
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * (time.Second / 100)
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const spec = `{"name":%q,"kind":"polling","persist":%t,"source":{"interval":%q,
	"http":{"url":"%s/obs","query":{"since":"{{ state.since }}"},"records":"items"},
	"state":{"since":{"from":"ts","initial":"2024-01-01T00:00:00Z"}}},
	"mapping":{"timestamp":{"path":"ts"},"fields":{"id":{"type":"integer"},"station":{"type":"string"},
	"temp_c":{"path":"temp_k","expr":"value - 273.15","type":"number"}}}}`

// addPipelines creates n polling pipelines whose first polls are spread
// evenly over the interval, starting at start.
func addPipelines(ctx context.Context, st store.Store, team uuid.UUID, from, n int, o options, apiURL string, start time.Time) error {
	compiler := pipeline.NewCompiler(source.Builtin(), sink.NewRegistry(sink.HTTPKind))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	workers := 16
	if o.backend == "sqlite" {
		workers = 1 // one writer
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				name := fmt.Sprintf("bench-%06d", from+i)
				c, err := compiler.Parse(fmt.Appendf(nil, spec, name, o.persist, o.interval.String(), apiURL))
				if err != nil {
					errs <- err
					return
				}
				canonical, _ := c.Spec.Canonical()
				p, err := st.CreatePipeline(ctx, team, store.NewPipeline{Name: name, Kind: core.KindPolling, Spec: canonical})
				if err != nil {
					errs <- err
					return
				}
				due := start.Add(time.Duration(i) * o.interval / time.Duration(n)).UTC().Truncate(time.Millisecond)
				if err := st.ArmPoll(ctx, team, p.ID, due, false); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// pgLoad is what PostgreSQL counts of its work so far.
type pgLoad struct {
	statements, xacts float64
	walBytes          float64
}

type result struct {
	count                 int
	started, ok, failed   float64 // per second
	wantPerSec            float64
	p50, p99              float64
	late                  float64 // share later than the target
	nodeCPU, pgCPU        float64
	apiCPU, otherCPU      float64
	rssNow, rssPeak       float64
	stmtPerPoll, xactPoll float64
	walPerPoll            float64
}

type bench struct {
	o          options
	srv        *server
	pg         *postgres.Store // nil on SQLite
	postmaster int
}

func (b *bench) pgLoad(ctx context.Context) pgLoad {
	var l pgLoad
	if b.pg == nil {
		return l
	}
	_ = b.pg.Pool().QueryRow(ctx, `SELECT coalesce((SELECT sum(calls) FROM pg_stat_statements), 0)::float8,
		(SELECT xact_commit FROM pg_stat_database WHERE datname = current_database())::float8,
		(pg_current_wal_lsn() - '0/0'::pg_lsn)::float8`).Scan(&l.statements, &l.xacts, &l.walBytes)
	return l
}

func (b *bench) measure(ctx context.Context, count int, profile bool) (result, error) {
	o := b.o
	pid := b.srv.cmd.Process.Pid
	r := result{count: count, wantPerSec: float64(count) / o.interval.Seconds()}
	m0, err := b.srv.metrics()
	if err != nil {
		return r, err
	}
	l0 := b.pgLoad(ctx)
	c0, p0, s0, h0 := cpu(pid), postgresCPU(b.postmaster), selfCPU(), hostBusy()
	t0 := time.Now()
	if profile && o.cpuprofile != "" {
		wait := max(o.measure/2-10*time.Second, 0)
		time.Sleep(wait)
		if err := b.profile(ctx, o.cpuprofile, 20*time.Second); err != nil {
			fmt.Fprintln(os.Stderr, "cpu profile:", err)
		}
		time.Sleep(max(o.measure-time.Since(t0), 0))
	} else {
		time.Sleep(o.measure)
	}
	t1 := time.Now()
	c1, p1, s1, h1 := cpu(pid), postgresCPU(b.postmaster), selfCPU(), hostBusy()
	l1 := b.pgLoad(ctx)
	m1, err := b.srv.metrics()
	if err != nil {
		return r, err
	}
	secs := t1.Sub(t0).Seconds()
	r.nodeCPU = (c1 - c0).Seconds() / secs
	r.pgCPU = (p1 - p0).Seconds() / secs
	r.apiCPU = (s1 - s0).Seconds() / secs
	r.otherCPU = max((h1-h0).Seconds()/secs-r.nodeCPU-r.pgCPU-r.apiCPU, 0)
	r.rssNow, r.rssPeak = rss(pid)
	r.started = (m1.lagCount - m0.lagCount) / secs
	r.ok = (m1.ok - m0.ok) / secs
	r.failed = (m1.failed - m0.failed) / secs
	r.p50, r.p99 = quantile(m0, m1, 0.5), quantile(m0, m1, 0.99)
	r.late = lateShare(m0, m1, o.target.Seconds())
	if polls := m1.ok - m0.ok + m1.failed - m0.failed; polls > 0 && b.pg != nil {
		r.stmtPerPoll = (l1.statements - l0.statements) / polls
		r.xactPoll = (l1.xacts - l0.xacts) / polls
		r.walPerPoll = (l1.walBytes - l0.walBytes) / polls
	}
	return r, nil
}

func (b *bench) profile(ctx context.Context, path string, d time.Duration) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.srv.debug, int(d.Seconds())), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// openStore opens the benchmark's database from this process; on SQLite
// while the server is stopped (one writer).
func openStore(ctx context.Context, o options, dataDir string) (store.Store, error) {
	if o.backend == "postgres" {
		return postgres.Open(ctx, o.dbURL)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dataDir, "tributary.db"))
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

func run(ctx context.Context, o options) error {
	api, err := startAPI(o.empty)
	if err != nil {
		return err
	}
	defer api.srv.Close()
	dataDir, err := os.MkdirTemp("", "tributary-bench-polling-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	b := &bench{o: o}
	if o.backend == "postgres" {
		// The server migrates the database; the benchmark writes to it
		// while the server runs.
		if b.srv, err = startServer(o, dataDir); err != nil {
			return err
		}
		defer func() { b.srv.stop() }()
	}
	st, err := openStore(ctx, o, dataDir)
	if err != nil {
		return err
	}
	u, err := st.CreateUser(ctx, store.NewUser{Email: "bench-" + uuid.NewString()[:8] + "@example.com", PasswordHash: "x"})
	if err != nil {
		return err
	}
	team, err := st.CreateTeam(ctx, store.NewTeam{Name: "bench", Slug: "bench-" + uuid.NewString()[:8]}, u.ID)
	if err != nil {
		return err
	}
	if pg, ok := st.(*postgres.Store); ok {
		b.pg = pg
		defer pg.Close()
		// The postmaster is the parent of our backend (the database must
		// be on this machine for the PostgreSQL CPU figure).
		var backend int
		if err := pg.Pool().QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
			return err
		}
		b.postmaster = ppid(backend)
		if _, err := pg.Pool().Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
			fmt.Fprintln(os.Stderr, "no pg_stat_statements (statements per poll will read 0):", err)
		}
	}
	workers := "the default"
	if o.workers > 0 {
		workers = strconv.Itoa(o.workers)
	}
	fmt.Printf("polling benchmark on %s: interval %s, %s poll workers, persist %v, empty API %v, settle %s, window %s, target p99 <= %s, %d cores\n\n",
		o.backend, o.interval, workers, o.persist, o.empty, o.settle, o.measure, o.target, numCPU())
	fmt.Printf("%9s %7s %7s %7s %7s %8s %8s %7s %6s %6s %6s %6s %7s %7s %6s %6s %8s\n", "pipelines", "want/s", "start/s", "ok/s", "fail/s",
		"lag p50", "lag p99", "late", "node", "pg", "api", "other", "rss MB", "peak", "stmt/p", "xact/p", "WAL B/p")
	best := 0
	have := 0
	for i, n := range o.counts {
		if n > have {
			t := time.Now()
			if o.backend == "sqlite" {
				if b.srv != nil {
					b.srv.stop()
					b.srv = nil
				}
				if st == nil {
					if st, err = openStore(ctx, o, dataDir); err != nil {
						return err
					}
				}
			}
			// First polls spread over one interval from a few seconds on
			// (the SQLite server starts after they are added).
			start := time.Now().Add(3 * time.Second)
			if o.backend == "sqlite" {
				start = time.Now().Add(time.Duration(n-have)*time.Millisecond + 5*time.Second)
			}
			if err := addPipelines(ctx, st, team.ID, have, n-have, o, api.url, start); err != nil {
				return fmt.Errorf("add pipelines: %w", err)
			}
			fmt.Fprintf(os.Stderr, "added %d pipelines in %s\n", n-have, time.Since(t).Round(time.Millisecond))
			have = n
			if o.backend == "sqlite" {
				st.Close()
				st = nil
				if b.srv, err = startServer(o, dataDir); err != nil {
					return err
				}
				defer func() {
					if b.srv != nil {
						b.srv.stop()
						b.srv = nil
					}
				}()
			}
		}
		time.Sleep(o.settle)
		r, err := b.measure(ctx, n, i == len(o.counts)-1)
		if err != nil {
			return err
		}
		fmt.Printf("%9d %7.0f %7.0f %7.0f %7.1f %7.0fms %7.0fms %6.2f%% %6.2f %6.2f %6.2f %6.2f %7.0f %7.0f %6.1f %6.2f %8.0f\n",
			r.count, r.wantPerSec, r.started, r.ok, r.failed, r.p50*1000, r.p99*1000, r.late*100,
			r.nodeCPU, r.pgCPU, r.apiCPU, r.otherCPU, r.rssNow, r.rssPeak, r.stmtPerPoll, r.xactPoll, r.walPerPoll)
		if o.summary != "" {
			if err := appendSummary(o, r); err != nil {
				return err
			}
		}
		if r.p99 <= o.target.Seconds() && r.ok >= 0.95*r.wantPerSec {
			best = n
		} else if !o.keepRunning {
			break
		}
	}
	fmt.Printf("\nlargest count at p99 lag <= %s (and >= 95%% of the polls asked for committed): %d pipelines (%.0f polls/s)\n",
		o.target, best, float64(best)/o.interval.Seconds())
	fmt.Println("lag: start of a poll minus its due time (the node's tributary_poll_lag_seconds, interpolated in its buckets);")
	fmt.Println("late: share of the polls started in the window that started more than the target late.")
	fmt.Println("CPU in cores: node = the tributary server (SQLite included), pg = the PostgreSQL server's processes,")
	fmt.Println("api = the fake API and this program, other = everything else on the machine.")
	fmt.Println("stmt/p, xact/p, WAL B/p: PostgreSQL statements, commits and WAL bytes per poll (the whole database).")
	return nil
}

func appendSummary(o options, r result) error {
	f, err := os.OpenFile(o.summary, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	db := "–"
	if o.backend == "postgres" {
		db = fmt.Sprintf("%.2f cores; %.1f statements, %.2f commits, %.0f WAL bytes per poll", r.pgCPU, r.stmtPerPoll, r.xactPoll, r.walPerPoll)
	}
	_, err = fmt.Fprintf(f, "| %s | %d | %.0f | %.0f | %.0f ms | %.0f ms | %.2f%% | %.2f | %.0f / %.0f MB | %s | %.2f |\n",
		o.backend, r.count, r.wantPerSec, r.ok, r.p50*1000, r.p99*1000, r.late*100, r.nodeCPU, r.rssNow, r.rssPeak, db, r.otherCPU)
	if err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "processor\t:")
}
