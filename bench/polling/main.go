// Command polling is Tributary's scheduling benchmark for polling
// pipelines. It starts the real server binary on PostgreSQL, serves a fake
// API on loopback, and adds polling pipelines in steps (all at one
// interval, their first polls spread evenly over it). After each step has
// settled it measures, over a window:
//
//   - the scheduling lag of the polls due in the window: when River
//     started the poll job (attempted_at) minus its due time
//     (scheduled_at), p50/p99/max; a poll still waiting at the end of the
//     window counts with its wait so far;
//   - the polls committed per second (runs rows) against the rate the
//     schedule asks for;
//   - the CPU of the server process, of PostgreSQL and of this process
//     (the fake API), in cores.
//
// It stops after the first step whose p99 exceeds the target (1s) and
// reports the largest count that met it. Example:
//
//	make build && go run ./bench/polling -bin bin/tributary -database-url postgres://…/empty_db
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
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
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/poll"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/source"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/postgres"
)

type options struct {
	bin         string
	dbURL       string
	counts      []int
	interval    time.Duration
	settle      time.Duration
	measure     time.Duration
	workers     int
	target      time.Duration
	keepRunning bool
	persist     bool
}

func main() {
	var o options
	var counts string
	flag.StringVar(&o.bin, "bin", "bin/tributary", "tributary binary to benchmark")
	flag.StringVar(&o.dbURL, "database-url", "", "PostgreSQL URL of an empty, dedicated database (required)")
	flag.StringVar(&counts, "counts", "2500,5000,10000,15000,20000", "pipeline counts to step through, ascending")
	flag.DurationVar(&o.interval, "interval", 10*time.Second, "interval of every pipeline")
	flag.DurationVar(&o.settle, "settle", 15*time.Second, "wait after each step before measuring")
	flag.DurationVar(&o.measure, "measure", 30*time.Second, "length of each measuring window")
	flag.IntVar(&o.workers, "workers", 100, "poll workers of the server (TRIBUTARY_POLL_WORKERS)")
	flag.DurationVar(&o.target, "target", time.Second, "the p99 lag a count must meet")
	flag.BoolVar(&o.keepRunning, "all", false, "measure every count, even past the first that misses the target")
	flag.BoolVar(&o.persist, "persist", true, "store the polled records (false: runs and state only, to tell the cost of storing)")
	flag.Parse()
	for _, c := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "polling bench: bad count %q\n", c)
			os.Exit(2)
		}
		o.counts = append(o.counts, n)
	}
	if o.dbURL == "" {
		fmt.Fprintln(os.Stderr, "polling bench: -database-url is required (an empty database)")
		os.Exit(2)
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "polling bench:", err)
		os.Exit(1)
	}
}

// fakeAPI answers every poll with one new record.
type fakeAPI struct {
	srv      *http.Server
	url      string
	requests atomic.Int64
}

func startAPI() (*fakeAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &fakeAPI{url: "http://" + ln.Addr().String()}
	a.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := a.requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"items":[{"id":%d,"ts":%q,"temp_k":%.2f,"station":"st-%d"}]}`,
			n, time.Now().UTC().Format(time.RFC3339Nano), 270+rand.Float64()*30, n%100)
	}), ReadHeaderTimeout: 5 * time.Second}
	go a.srv.Serve(ln)
	return a, nil
}

type server struct {
	cmd *exec.Cmd
	dir string
}

func startServer(o options) (*server, error) {
	dir, err := os.MkdirTemp("", "tributary-bench-polling-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(o.bin, "serve")
	cmd.Env = append(os.Environ(), "TRIBUTARY_DATA_DIR="+dir, "TRIBUTARY_ADDR="+addr, "TRIBUTARY_DATABASE_URL="+o.dbURL,
		"TRIBUTARY_LOG_LEVEL=warn", "TRIBUTARY_ALLOW_NETWORKS=127.0.0.1/32", "TRIBUTARY_POLL_HOST_RATE=0",
		"TRIBUTARY_POLL_WORKERS="+strconv.Itoa(o.workers))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, dir: dir}
	fmt.Fprintf(os.Stderr, "server at http://%s (metrics at /metrics)\n", addr)
	for deadline := time.Now().Add(60 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("server did not become ready in 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Wait()
	_ = os.RemoveAll(s.dir)
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

// postgresCPU sums the CPU time of the PostgreSQL server the benchmark
// uses: its postmaster and the postmaster's children (backends, WAL
// writer, checkpointer...), not of other clusters on the machine.
func postgresCPU(postmaster int) time.Duration {
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
// evenly over the interval, starting a second from now.
func addPipelines(ctx context.Context, st store.Store, team uuid.UUID, from, n int, o options, apiURL string) error {
	start := time.Now().Add(time.Second)
	compiler := pipeline.NewCompiler(source.Builtin(), sink.NewRegistry(sink.HTTPKind))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
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
				args := poll.Args{TeamID: team, PipelineID: p.ID, Due: due}
				opts := args.InsertOpts()
				opts.ScheduledAt = due
				if err := st.ArmPoll(ctx, team, p.ID, due, river.InsertManyParams{Args: args, InsertOpts: &opts}); err != nil {
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

type result struct {
	count          int
	due            int64
	p50, p99, maxL time.Duration
	pollsPerSec    float64
	wantPerSec     float64
	nodeCPU, pgCPU float64
	apiCPU         float64
	otherCPU       float64
	late           int64
}

func measure(ctx context.Context, pool *pgxpool.Pool, count int, o options, pid, postmaster int) (result, error) {
	r := result{count: count, wantPerSec: float64(count) / o.interval.Seconds()}
	c0, p0, s0, h0 := cpu(pid), postgresCPU(postmaster), selfCPU(), hostBusy()
	t0 := time.Now()
	time.Sleep(o.measure)
	t1 := time.Now()
	c1, p1, s1, h1 := cpu(pid), postgresCPU(postmaster), selfCPU(), hostBusy()
	secs := t1.Sub(t0).Seconds()
	r.nodeCPU = (c1 - c0).Seconds() / secs
	r.pgCPU = (p1 - p0).Seconds() / secs
	r.apiCPU = (s1 - s0).Seconds() / secs
	r.otherCPU = max((h1-h0).Seconds()/secs-r.nodeCPU-r.pgCPU-r.apiCPU, 0)
	// Polls due in the window: started (attempted_at) or still waiting.
	var p50, p99, maxL float64
	err := pool.QueryRow(ctx, `
		WITH lag AS (
			SELECT extract(epoch FROM coalesce(attempted_at, $3) - scheduled_at) AS s
			FROM river_job WHERE kind = 'poll' AND scheduled_at >= $1 AND scheduled_at < $2)
		SELECT count(*), coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY s), 0),
			coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY s), 0), coalesce(max(s), 0),
			count(*) FILTER (WHERE s > $4)
		FROM lag`, t0, t1, t1, o.target.Seconds()).Scan(&r.due, &p50, &p99, &maxL, &r.late)
	if err != nil {
		return r, fmt.Errorf("measure lag: %w", err)
	}
	r.p50, r.p99, r.maxL = secsDur(p50), secsDur(p99), secsDur(maxL)
	var runs int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM runs WHERE started_at >= $1 AND started_at < $2`, t0, t1).Scan(&runs); err != nil {
		return r, fmt.Errorf("count runs: %w", err)
	}
	r.pollsPerSec = float64(runs) / secs
	return r, nil
}

func secsDur(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func run(ctx context.Context, o options) error {
	api, err := startAPI()
	if err != nil {
		return err
	}
	defer api.srv.Close()
	srv, err := startServer(o)
	if err != nil {
		return err
	}
	defer srv.stop()
	st, err := postgres.Open(ctx, o.dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.CreateUser(ctx, store.NewUser{Email: "bench-" + uuid.NewString()[:8] + "@example.com", PasswordHash: "x"})
	if err != nil {
		return err
	}
	team, err := st.CreateTeam(ctx, store.NewTeam{Name: "bench", Slug: "bench-" + uuid.NewString()[:8]}, u.ID)
	if err != nil {
		return err
	}
	// The postmaster is the parent of our backend (the database must be on
	// this machine for the PostgreSQL CPU figure).
	var backend int
	if err := st.Pool().QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return err
	}
	postmaster := ppid(backend)
	fmt.Printf("polling benchmark: interval %s, %d poll workers, persist %v, settle %s, window %s, target p99 <= %s, %d cores\n\n",
		o.interval, o.workers, o.persist, o.settle, o.measure, o.target, numCPU())
	fmt.Printf("%9s %9s %9s %9s %9s %9s %9s %8s %8s %8s %8s %8s\n", "pipelines", "want/s", "polls/s", "due", "lag p50", "lag p99", "lag max", "late", "node", "pg", "api", "other")
	best := 0
	have := 0
	for _, n := range o.counts {
		if n > have {
			t := time.Now()
			if err := addPipelines(ctx, st, team.ID, have, n-have, o, api.url); err != nil {
				return fmt.Errorf("add pipelines: %w", err)
			}
			fmt.Fprintf(os.Stderr, "added %d pipelines in %s\n", n-have, time.Since(t).Round(time.Millisecond))
			have = n
		}
		time.Sleep(o.settle)
		r, err := measure(ctx, st.Pool(), n, o, srv.cmd.Process.Pid, postmaster)
		if err != nil {
			return err
		}
		fmt.Printf("%9d %9.0f %9.0f %9d %9s %9s %9s %8d %8.2f %8.2f %8.2f %8.2f\n", r.count, r.wantPerSec, r.pollsPerSec, r.due,
			r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.maxL.Round(time.Millisecond), r.late, r.nodeCPU, r.pgCPU, r.apiCPU, r.otherCPU)
		if r.p99 <= o.target && r.pollsPerSec >= 0.95*r.wantPerSec {
			best = n
		} else if !o.keepRunning {
			break
		}
	}
	fmt.Printf("\nlargest count at p99 lag <= %s (and >= 95%% of the polls asked for): %d pipelines (%.0f polls/s)\n",
		o.target, best, float64(best)/o.interval.Seconds())
	fmt.Println("CPU in cores: node = the tributary server, pg = the PostgreSQL server's processes, api = the fake API and this program,")
	fmt.Println("other = everything else on the machine (another load there makes the figures lower than the machine can do)")
	return nil
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "processor\t:")
}
