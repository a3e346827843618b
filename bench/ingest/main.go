// Command ingest is Tributary's webhook ingest benchmark. It starts the
// real server binary, creates a webhook pipeline with a 10-field mapping,
// and drives it over loopback with a keep-alive load generator, next to two
// baselines measured in the same run:
//
//   - a plain net/http handler that decodes, maps the same way with the
//     same mapping package, encodes and discards (the ceiling of request
//     handling without storage);
//   - raw pgx COPY of the same rows into the same records table (the
//     ceiling of storage), PostgreSQL only;
//   - raw pgx commits of one row each (a commit per request), PostgreSQL
//     only, and fdatasync on the database's file system, the disk's bound
//     on acknowledging after commit.
//
// It prints requests/s, rows/s, p50/p99 acknowledgement latency at full
// load and at half of it, the server's peak RSS, and the ratios the ingest
// issue asks for. Example:
//
//	make build && go run ./bench/ingest -bin bin/tributary -database-url postgres://…
//	go run ./bench/ingest -bin bin/tributary            # SQLite
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/mapping"
)

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/tributary", "tributary binary to benchmark")
	flag.StringVar(&o.dbURL, "database-url", "", "PostgreSQL URL (an empty, dedicated database); empty benchmarks SQLite")
	flag.IntVar(&o.conns, "conns", 32, "keep-alive connections of the load generator")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of each measured phase")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up before each phase")
	flag.StringVar(&o.telegraf, "telegraf", "", "Telegraf binary built from bench/telegraf, run as the peer (PostgreSQL only); empty skips it")
	flag.StringVar(&o.summary, "summary", "", "file to write the summary table to, in Markdown")
	flag.StringVar(&o.pgPidFile, "pg-pid-file", "", "postmaster.pid of the PostgreSQL cluster, to report its CPU time per record")
	flag.BoolVar(&o.quick, "quick", false, "measure only Tributary at full load (1 and 100 records per request), and raw commits on PostgreSQL, for profiling")
	flag.BoolVar(&o.half, "half", false, "with -quick, also measure at half of the full load, for the latency")
	flag.Parse()
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "ingest bench:", err)
		os.Exit(1)
	}
}

type options struct {
	bin              string
	dbURL            string
	conns            int
	duration, warmup time.Duration
	telegraf         string
	summary          string
	quick, half      bool
	pgPidFile        string
}

// mappingSpec is the 10-field mapping used by every phase.
const mappingSpec = `{
  "timestamp": {"path": "ts", "format": "rfc3339"},
  "fields": {
    "id":        {"path": "id", "type": "integer"},
    "station":   {"path": "station.id", "expr": "upper(value)", "type": "string"},
    "temp_c":    {"path": "temp_k", "expr": "value - 273.15", "type": "number"},
    "humidity":  {"path": "humidity", "type": "number"},
    "pressure":  {"path": "pressure", "type": "number"},
    "wind":      {"path": "wind.speed", "type": "number"},
    "direction": {"path": "wind.dir", "type": "integer"},
    "ok":        {"path": "ok", "type": "boolean"},
    "tags":      {"path": "tags", "type": "array"},
    "note":      {"path": "note", "expr": "trim(value)", "type": "string"}
  }
}`

var seq atomic.Int64

func record() map[string]any {
	n := seq.Add(1)
	return map[string]any{
		"id": n, "ts": time.Now().UTC().Format(time.RFC3339Nano),
		"station": map[string]any{"id": "berlin-" + strconv.FormatInt(n%50, 10)},
		"temp_k":  280.5 + float64(n%20), "humidity": 55.5, "pressure": 1013.2,
		"wind": map[string]any{"speed": 3.4, "dir": n % 360},
		"ok":   true, "tags": []string{"a", "b"}, "note": "  steady  ",
	}
}

func body(n int) []byte {
	recs := make([]map[string]any, n)
	for i := range recs {
		recs[i] = record()
	}
	return marshalBody(recs)
}

// marshalBody is a request's body: one record alone, more as an array.
func marshalBody(recs []map[string]any) []byte {
	var b []byte
	if len(recs) == 1 {
		b, _ = json.Marshal(recs[0])
	} else {
		b, _ = json.Marshal(recs)
	}
	return b
}

// stampLayout is RFC 3339 with a fixed nine-digit fraction: every
// timestamp it formats has the same length, so a body's can be rewritten
// in place.
const stampLayout = "2006-01-02T15:04:05.000000000Z07:00"

// stampedBody is a pre-built body whose records' timestamps are set to
// the time of sending: a sender stamps what it measured now. (Bodies
// sent again with the timestamps they were built with put every record
// of a run on one of a few hundred instants, each new record in the
// middle of the time index instead of at its end.)
type stampedBody struct {
	json  []byte
	at    []int // offsets of the timestamps in json
	stamp int   // their length
}

func newStampedBody(n int) stampedBody {
	placeholder := time.Unix(0, 0).UTC().Format(stampLayout)
	recs := make([]map[string]any, n)
	for i := range recs {
		recs[i] = record()
		recs[i]["ts"] = placeholder
	}
	b := marshalBody(recs)
	// Each record's timestamp is found back by its key.
	key := []byte(`"ts":"` + placeholder + `"`)
	var at []int
	for i := 0; ; {
		j := bytes.Index(b[i:], key)
		if j < 0 {
			break
		}
		at = append(at, i+j+len(`"ts":"`))
		i += j + len(key)
	}
	return stampedBody{json: b, at: at, stamp: len(placeholder)}
}

// stamped appends the body to buf[:0] with every timestamp set to now.
// buf may be the body of an earlier request that was answered with
// success: both servers read a body whole before they answer 2xx.
func (s stampedBody) stamped(buf []byte, now time.Time) []byte {
	buf = append(buf[:0], s.json...)
	var ts [64]byte
	stamp := now.UTC().AppendFormat(ts[:0], stampLayout)
	for _, off := range s.at {
		copy(buf[off:off+s.stamp], stamp)
	}
	return buf
}

func run(ctx context.Context, o options) error {
	backend := "sqlite"
	if o.dbURL != "" {
		backend = "postgres"
	}
	fmt.Printf("backend=%s conns=%d duration=%s\n\n", backend, o.conns, o.duration)
	if o.quick {
		return runQuick(ctx, o)
	}

	// Baseline: plain net/http, same decode + mapping + encode, discard.
	baseURL, stopBase, err := startBaseline()
	if err != nil {
		return err
	}
	base1 := load(o, baseURL, 1, 0, 0)
	base100 := load(o, baseURL, 100, 0, 0)
	stopBase()
	report("baseline net/http, 1 record/request", base1, 1)
	report("baseline net/http, 100 records/request", base100, 100)

	srv, err := startServer(ctx, o)
	if err != nil {
		return err
	}
	defer srv.stop()
	hook, err := srv.createPipeline()
	if err != nil {
		return err
	}
	one := load(o, hook, 1, 0, srv.cmd.Process.Pid)
	report("tributary, 1 record/request", one, 1)
	hundred := load(o, hook, 100, 0, srv.cmd.Process.Pid)
	report("tributary, 100 records/request", hundred, 100)
	half := load(o, hook, 1, one.rps()/2, srv.cmd.Process.Pid)
	report(fmt.Sprintf("tributary, 1 record/request at half load (%.0f req/s)", one.rps()/2), half, 1)
	halfHundred := load(o, hook, 100, hundred.rps()/2, srv.cmd.Process.Pid)
	report(fmt.Sprintf("tributary, 100 records/request at half load (%.0f req/s)", hundred.rps()/2), halfHundred, 100)
	rss := srv.peakRSS()
	fmt.Printf("server peak RSS: %.0f MB\n\n", float64(rss)/(1<<20))

	srv.stop()
	fmt.Printf("ratio single-record req/s vs baseline: %.2f\n", one.rps()/base1.rps())
	sum := summary{backend: backend, base1: base1.rps(), base100: base100.rps() * 100,
		one: one.rps(), hundred: hundred.rps() * 100, halfP99: half.pct(99), halfP99Hundred: halfHundred.pct(99), rss: rss,
		cpu1: perRecord(one, 1), cpu100: perRecord(hundred, 100), conns: o.conns}
	if sum.fsync, err = reportFsync(o, one.rps()); err != nil {
		return err
	}
	if o.dbURL != "" {
		copyRate, copyCPU, err := rawCopy(ctx, o, srv.pipelineID, srv.teamID)
		if err != nil {
			return err
		}
		sum.copy, sum.copyCPU = copyRate, copyCPU
		fmt.Printf("raw pgx COPY of the same rows: %.0f rows/s, %.1f µs of PostgreSQL CPU per row\n", copyRate, float64(copyCPU.Nanoseconds())/1000)
		fmt.Printf("ratio 100-record rows/s vs raw COPY: %.2f (issue asks >= 0.8)\n", hundred.rps()*100/copyRate)
		commits, err := rawCommits(ctx, o, srv.pipelineID, srv.teamID)
		if err != nil {
			return err
		}
		sum.commits = commits
		fmt.Printf("raw pgx commits of one row each from %d connections: %.0f/s\n", o.conns, commits)
		fmt.Printf("ratio single-record req/s vs raw commits: %.2f\n", one.rps()/commits)
		if o.telegraf != "" {
			t1, t100, err := runTelegraf(ctx, o)
			if err != nil {
				fmt.Fprintln(os.Stderr, "telegraf:", err)
			} else {
				report("telegraf, 1 record/request", t1, 1)
				report("telegraf, 100 records/request", t100, 100)
				sum.tel1, sum.tel100 = t1.rps(), t100.rps()*100
				sum.telCPU1, sum.telCPU100 = perRecord(t1, 1), perRecord(t100, 100)
				fmt.Printf("ratio single-record req/s vs Telegraf: %.2f (issue asks >= 1.0)\n", one.rps()/t1.rps())
				fmt.Printf("ratio 100-record rows/s vs Telegraf: %.2f (issue asks >= 1.0)\n", hundred.rps()*100/sum.tel100)
			}
		}
	}
	if o.summary != "" {
		if err := os.WriteFile(o.summary, []byte(sum.markdown()), 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("p99 at half load, single records: %.1f ms (issue asks <= 10 ms)\n", ms(half.pct(99)))
	fmt.Printf("peak RSS: %.0f MB (issue asks <= 250 MB)\n", float64(rss)/(1<<20))
	return nil
}

// runQuick measures Tributary alone at full load: the phases to profile
// (set TRIBUTARY_DEBUG_ADDR to reach the server's pprof and metrics).
func runQuick(ctx context.Context, o options) error {
	srv, err := startServer(ctx, o)
	if err != nil {
		return err
	}
	defer srv.stop()
	hook, err := srv.createPipeline()
	if err != nil {
		return err
	}
	one := load(o, hook, 1, 0, srv.cmd.Process.Pid)
	report("tributary, 1 record/request", one, 1)
	hundred := load(o, hook, 100, 0, srv.cmd.Process.Pid)
	report("tributary, 100 records/request", hundred, 100)
	if o.half {
		report(fmt.Sprintf("tributary, 100 records/request at half load (%.0f req/s)", hundred.rps()/2), load(o, hook, 100, hundred.rps()/2, srv.cmd.Process.Pid), 100)
	}
	if o.dbURL != "" {
		commits, err := rawCommits(ctx, o, srv.pipelineID, srv.teamID)
		if err != nil {
			return err
		}
		fmt.Printf("raw pgx commits of one row each from %d connections: %.0f/s; single-record req/s ÷ raw commits: %.2f\n", o.conns, commits, one.rps()/commits)
	}
	_, err = reportFsync(o, one.rps())
	return err
}

// reportFsync measures fdatasync on the database's file system and prints
// the bound it sets on single-record requests acknowledged after commit.
func reportFsync(o options, oneRPS float64) (time.Duration, error) {
	dir := os.TempDir() // SQLite's file, in the server's temporary data directory
	if o.pgPidFile != "" {
		dir = filepath.Dir(o.pgPidFile) // PostgreSQL's data directory
	}
	d, err := fsyncMedian(dir)
	if err != nil {
		return 0, err
	}
	bound := fsyncBound(o.conns, d)
	fmt.Printf("fdatasync of 8 KiB in %s: median %.2f ms; %d connections ÷ that = %.0f req/s, the bound of acknowledging after commit; single-record req/s ÷ bound: %.2f\n",
		dir, ms(d), o.conns, bound, oneRPS/bound)
	return d, nil
}

// fsyncMedian times fdatasync after an 8 KiB write (a log page, the write
// a commit makes durable) to a preallocated file in dir, for two seconds,
// and returns the median. A commit is durable only after such a flush, on
// PostgreSQL (its WAL) as on SQLite (its write-ahead log, synchronous=FULL).
func fsyncMedian(dir string) (time.Duration, error) {
	f, err := os.CreateTemp(dir, "fsync-bench-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	const page, pages = 8 << 10, 128
	buf := bytes.Repeat([]byte{'x'}, page)
	for i := range pages {
		if _, err := f.WriteAt(buf, int64(i*page)); err != nil {
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	var times []time.Duration
	for i, end := 0, time.Now().Add(2*time.Second); time.Now().Before(end); i++ {
		start := time.Now()
		if _, err := f.WriteAt(buf, int64(i%pages*page)); err != nil {
			return 0, err
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return 0, fmt.Errorf("fdatasync: %w", err)
		}
		times = append(times, time.Since(start))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return times[len(times)/2], nil
}

// fsyncBound is the most requests a second that conns connections, each
// waiting for its acknowledgement, can have acknowledged after commit
// when a commit waits for one flush of d: however requests are grouped
// into commits, each connection has at most one request in flight, and
// that request waits for a whole flush that began after it arrived.
func fsyncBound(conns int, d time.Duration) float64 {
	return float64(conns) / d.Seconds()
}

// result is one phase's outcome.
type result struct {
	requests, failures int
	elapsed            time.Duration
	latencies          []time.Duration // sorted
	firstErr           string
	// appCPU and dbCPU are the CPU time the process under test and the
	// PostgreSQL cluster (all its processes) used during the phase.
	appCPU, dbCPU time.Duration
}

func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)-1, int(float64(len(r.latencies))*p/100))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func report(name string, r result, perReq int) {
	fmt.Printf("%s\n  %.0f req/s, %.0f rows/s, p50 %.2f ms, p99 %.2f ms, failures %d%s\n", name, r.rps(), r.rps()*float64(perReq),
		ms(r.pct(50)), ms(r.pct(99)), r.failures, map[bool]string{true: " (first: " + r.firstErr + ")", false: ""}[r.firstErr != ""])
	if rows := float64(r.requests * perReq); rows > 0 && (r.appCPU > 0 || r.dbCPU > 0) {
		fmt.Printf("  CPU per record: %.1f µs in the server, %.1f µs in PostgreSQL\n",
			float64(r.appCPU.Microseconds())/rows, float64(r.dbCPU.Microseconds())/rows)
	}
	fmt.Println()
}

// dbCPU returns the CPU time, read from /proc, of the postmaster named by o.pgPidFile and of
// each of its children, by process id; nil without a pid file.
func dbCPU(o options) map[int]time.Duration {
	if o.pgPidFile == "" {
		return nil
	}
	b, err := os.ReadFile(o.pgPidFile)
	if err != nil {
		return nil
	}
	pm, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return nil
	}
	m := map[int]time.Duration{pm: procCPU(pm)}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if parent, d := procStat(pid); parent == pm {
			m[pid] = d
		}
	}
	return m
}

// dbCPUSince is the CPU time PostgreSQL's processes used since before was
// taken: that of the processes still running, new ones in full. The
// backends of connections closed meanwhile (a stopped server's) take
// their time with them, which a difference of sums would subtract.
func dbCPUSince(o options, before map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, now := range dbCPU(o) {
		d += now - before[pid]
	}
	return d
}

// procStat returns a process's parent and its user+system CPU time.
func procStat(pid int) (int, time.Duration) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0
	}
	// Fields after the command, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ppid, time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func procCPU(pid int) time.Duration {
	_, d := procStat(pid)
	return d
}

// load posts bodies of n records to url from o.conns keep-alive
// connections; rate > 0 paces requests (open loop) at that many per second.
func load(o options, url string, n int, rate float64, app int) result {
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: o.conns, MaxConnsPerHost: o.conns,
		DisableCompression: true, // Go asks for gzip by default; see DESIGN.md §10
	}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	// Pre-build bodies so the generator spends its CPU on requests.
	bodies := make([]stampedBody, 256)
	for i := range bodies {
		bodies[i] = newStampedBody(n)
	}
	phase := func(d time.Duration, record bool) result {
		var (
			mu  sync.Mutex
			res result
			wg  sync.WaitGroup
		)
		deadline := time.Now().Add(d)
		var ticks chan struct{}
		if rate > 0 {
			ticks = make(chan struct{}, o.conns)
			go func() {
				defer close(ticks)
				interval := time.Duration(float64(time.Second) / rate)
				next := time.Now()
				for time.Now().Before(deadline) {
					next = next.Add(interval)
					time.Sleep(time.Until(next))
					select {
					case ticks <- struct{}{}:
					default: // generator saturated: drop, the rate is then lower
					}
				}
			}()
		}
		// CPU time is what a loaded, shared machine distorts least:
		// figures per record compare across runs where rates do not.
		app0, db0 := procCPU(app), dbCPU(o)
		start := time.Now()
		for w := range o.conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var lat []time.Duration
				var buf []byte
				reqs, fails, first := 0, 0, ""
				for i := w; time.Now().Before(deadline); i += o.conns {
					if ticks != nil {
						if _, ok := <-ticks; !ok {
							break
						}
					}
					t0 := time.Now()
					buf = bodies[i%len(bodies)].stamped(buf, t0)
					resp, err := client.Post(url, "application/json", bytes.NewReader(buf))
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode/100 != 2 { // Telegraf answers 204
							err = fmt.Errorf("status %d", resp.StatusCode)
						}
					}
					if err != nil {
						// The transport may still be sending a body it
						// got an early answer to: never write into it
						// again.
						buf = nil
						fails++
						if first == "" {
							first = err.Error()
						}
						continue
					}
					reqs++
					lat = append(lat, time.Since(t0))
				}
				mu.Lock()
				res.requests += reqs
				res.failures += fails
				res.latencies = append(res.latencies, lat...)
				if res.firstErr == "" {
					res.firstErr = first
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		res.elapsed = time.Since(start)
		res.appCPU, res.dbCPU = procCPU(app)-app0, dbCPUSince(o, db0)
		sort.Slice(res.latencies, func(i, j int) bool { return res.latencies[i] < res.latencies[j] })
		return res
	}
	phase(o.warmup, false)
	return phase(o.duration, true)
}

// startBaseline serves the plain handler on a free loopback port.
func startBaseline() (string, func(), error) {
	var spec mapping.Spec
	if err := json.Unmarshal([]byte(mappingSpec), &spec); err != nil {
		return "", nil, err
	}
	m, err := mapping.Compile(spec)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		var in any
		if err := dec.Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		results, err := m.Apply(in, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		accepted := 0
		for _, res := range results {
			if res.Err == nil {
				if _, err := json.Marshal(res.Fields.Map()); err == nil {
					accepted++
				}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"accepted":%d,"rejected":%d}`, accepted, len(results)-accepted)
	})}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/", func() { srv.Close() }, nil
}

// server is the tributary process under test.
type server struct {
	cmd                *exec.Cmd
	base, token        string
	dir                string
	pipelineID, teamID string
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startServer(ctx context.Context, o options) (*server, error) {
	dir, err := os.MkdirTemp("", "tributary-bench-")
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), "TRIBUTARY_DATA_DIR="+dir, "TRIBUTARY_ADDR="+addr, "TRIBUTARY_DATABASE_URL="+o.dbURL, "TRIBUTARY_LOG_LEVEL=warn", "TRIBUTARY_HOOK_RATE=0")
	cli := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, o.bin, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, stderr.String())
		}
		return strings.TrimSpace(string(out)), nil
	}
	if _, err := cli("user", "create", "--email", "bench@example.com", "--password", "bench-password-1", "--team", "bench"); err != nil {
		return nil, err
	}
	token, err := cli("token", "create", "--team", "bench", "--role", "owner", "--name", "bench")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.bin, "serve")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, base: "http://" + addr, token: token, dir: dir}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("server did not become ready in 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	_ = s.cmd.Wait()
	_ = os.RemoveAll(s.dir)
}

func (s *server) createPipeline() (string, error) {
	spec := `{"name": "bench-` + uuid.NewString()[:8] + `", "kind": "webhook", "persist": true, "mapping": ` + mappingSpec + `}`
	req, _ := http.NewRequest(http.MethodPost, s.base+"/api/v1/pipelines", strings.NewReader(spec))
	req.Header.Set("Authorization", "Bearer "+s.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("create pipeline: %d %s", resp.StatusCode, b)
	}
	var out struct {
		ID        string `json:"id"`
		TeamID    string `json:"team_id"`
		IngestURL string `json:"ingest_url"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.IngestURL == "" {
		return "", fmt.Errorf("create pipeline: unexpected answer %s", b)
	}
	s.pipelineID, s.teamID = out.ID, out.TeamID
	// The server builds the URL from its base URL; aim at our address.
	i := strings.Index(out.IngestURL, "/hooks/")
	return s.base + out.IngestURL[i:], nil
}

// peakRSS reads the server's high-water resident set size.
func (s *server) peakRSS() int64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(s.cmd.Process.Pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// rawCopy measures pgx COPY of the same kind of rows (encoded records of
// the benchmark's shape) into the records table: 1000-row COPYs from two
// connections, the best configuration measured on these machines.
func rawCopy(ctx context.Context, o options, pipelineID, teamID string) (rate float64, dbPerRow time.Duration, err error) {
	pool, err := pgxpool.New(ctx, o.dbURL)
	if err != nil {
		return 0, 0, err
	}
	defer pool.Close()
	var spec mapping.Spec
	_ = json.Unmarshal([]byte(mappingSpec), &spec)
	m, err := mapping.Compile(spec)
	if err != nil {
		return 0, 0, err
	}
	var in any
	dec := json.NewDecoder(bytes.NewReader(body(1000)))
	dec.UseNumber()
	if err := dec.Decode(&in); err != nil {
		return 0, 0, err
	}
	results, err := m.Apply(in, time.Now())
	if err != nil {
		return 0, 0, err
	}
	rows := make([][]any, len(results))
	pid, tid := uuid.MustParse(pipelineID), uuid.MustParse(teamID)
	for i, r := range results {
		data, _ := json.Marshal(r.Fields.Map())
		rows[i] = []any{pid, tid, r.TS, 1, string(data)}
	}
	var total atomic.Int64
	deadline := time.Now().Add(o.duration)
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), dbCPU(o)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					rs := make([][]any, len(rows))
					ids, err := nextIDs(ctx, tx, len(rows))
					if err != nil {
						return err
					}
					for i := range rows {
						rs[i] = append([]any{ids[i]}, rows[i]...)
					}
					_, err = tx.CopyFrom(ctx, pgx.Identifier{"records"}, []string{"id", "pipeline_id", "team_id", "ts", "version", "data"}, pgx.CopyFromRows(rs))
					return err
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, "raw copy:", err)
					return
				}
				total.Add(int64(len(rows)))
			}
		}()
	}
	wg.Wait()
	n := total.Load()
	if n == 0 {
		return 0, 0, errors.New("raw copy: no rows copied")
	}
	return float64(n) / time.Since(start).Seconds(), dbCPUSince(o, cpu0) / time.Duration(n), nil
}

// rawCommits measures a commit per request: as many connections as the
// load generator's, each inserting one row of the benchmark's shape into
// the records table and committing (one transaction a row, PostgreSQL
// sharing WAL flushes between concurrent commits), then starting the
// next, in commits a second. Tributary groups concurrent requests into
// one commit, so it passes this row only when the rest of its work per
// request costs less than a bare commit does; fsyncBound is the disk's
// own limit.
func rawCommits(ctx context.Context, o options, pipelineID, teamID string) (float64, error) {
	cfg, err := pgxpool.ParseConfig(o.dbURL)
	if err != nil {
		return 0, err
	}
	cfg.MaxConns = int32(o.conns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer pool.Close()
	data := `{"direction":12,"humidity":55.5,"id":1234,"note":"steady","ok":true,"pressure":1013.2,"station":"BERLIN-1","tags":["a","b"],"temp_c":17.35,"wind":3.4}`
	pid, tid := uuid.MustParse(pipelineID), uuid.MustParse(teamID)
	var total atomic.Int64
	deadline := time.Now().Add(o.duration)
	var wg sync.WaitGroup
	start := time.Now()
	for range o.conns {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if _, err := pool.Exec(ctx, `INSERT INTO records (id, team_id, pipeline_id, ts, version, size, data)
					VALUES (nextval('records_id_seq'), $1, $2, now(), 1, $3, $4)`, tid, pid, len(data), data); err != nil {
					fmt.Fprintln(os.Stderr, "raw commits:", err)
					return
				}
				total.Add(1)
			}
		})
	}
	wg.Wait()
	n := total.Load()
	if n == 0 {
		return 0, errors.New("raw commits: none")
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func nextIDs(ctx context.Context, tx pgx.Tx, n int) ([]int64, error) {
	rows, err := tx.Query(ctx, `SELECT nextval('records_id_seq') FROM generate_series(1, $1)`, n)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// summary is one run's figures, for the table of docs/benchmarks.md.
type summary struct {
	backend                 string
	base1, base100          float64       // net/http baseline: req/s, records/s
	one, hundred            float64       // tributary: req/s, records/s
	tel1, tel100            float64       // Telegraf, when run
	copy                    float64       // raw COPY rows/s, PostgreSQL only
	commits                 float64       // raw commits/s, PostgreSQL only
	fsync                   time.Duration // median fdatasync of the database's file system
	conns                   int
	copyCPU                 time.Duration // PostgreSQL's CPU time per row of raw COPY
	halfP99, halfP99Hundred time.Duration
	rss                     int64
	// CPU time per record, server and PostgreSQL: Tributary's and
	// Telegraf's at 1 and 100 records per request.
	cpu1, cpu100, telCPU1, telCPU100 [2]time.Duration
}

// perRecord is a phase's CPU time per record: the server's, PostgreSQL's.
func perRecord(r result, perReq int) [2]time.Duration {
	n := int64(r.requests * perReq)
	if n == 0 {
		return [2]time.Duration{}
	}
	return [2]time.Duration{r.appCPU / time.Duration(n), r.dbCPU / time.Duration(n)}
}

func (s summary) markdown() string {
	ratio := func(a, b float64) string {
		if b == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f×", a/b)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| %s | single-record req/s | 100-record records/s |\n|---|---|---|\n", s.backend)
	fmt.Fprintf(&b, "| Tributary (acknowledges after commit) | %.0f | %.0f |\n", s.one, s.hundred)
	if s.tel1 > 0 {
		fmt.Fprintf(&b, "| Telegraf (answers before writing) | %.0f | %.0f |\n", s.tel1, s.tel100)
		fmt.Fprintf(&b, "| Tributary ÷ Telegraf | %s | %s |\n", ratio(s.one, s.tel1), ratio(s.hundred, s.tel100))
	}
	if s.copy > 0 {
		fmt.Fprintf(&b, "| raw pgx COPY, 2 connections, 1,000-row batches | – | %.0f |\n", s.copy)
		fmt.Fprintf(&b, "| Tributary ÷ raw COPY | – | %s |\n", ratio(s.hundred, s.copy))
	}
	if s.commits > 0 {
		fmt.Fprintf(&b, "| raw pgx commits, a transaction of one row each, as many connections as the load | %.0f | – |\n", s.commits)
		fmt.Fprintf(&b, "| Tributary ÷ raw commits | %s | – |\n", ratio(s.one, s.commits))
	}
	if s.fsync > 0 {
		bound := fsyncBound(s.conns, s.fsync)
		fmt.Fprintf(&b, "| bound of acknowledging after commit on this disk: %d connections ÷ one fdatasync (median %.2f ms) | %.0f | – |\n", s.conns, ms(s.fsync), bound)
		fmt.Fprintf(&b, "| Tributary ÷ that bound | %s | – |\n", ratio(s.one, bound))
	}
	fmt.Fprintf(&b, "| net/http baseline (decode, map, discard) | %.0f | %.0f |\n", s.base1, s.base100)
	fmt.Fprintf(&b, "| Tributary ÷ net/http | %s | %s |\n\n", ratio(s.one, s.base1), ratio(s.hundred, s.base100))
	fmt.Fprintf(&b, "p99 at half of peak: %.1f ms (single records), %.1f ms (100-record requests); Tributary peak RSS %.0f MB.\n",
		ms(s.halfP99), ms(s.halfP99Hundred), float64(s.rss)/(1<<20))
	us := func(c [2]time.Duration) string {
		if s.backend == "sqlite" {
			return fmt.Sprintf("%.0f µs", float64(c[0].Nanoseconds())/1000)
		}
		return fmt.Sprintf("%.0f + %.0f µs", float64(c[0].Nanoseconds())/1000, float64(c[1].Nanoseconds())/1000)
	}
	if s.cpu1[0] > 0 {
		what := "server + PostgreSQL"
		if s.backend == "sqlite" {
			what = "server, SQLite included"
		}
		fmt.Fprintf(&b, "\nCPU time per record (%s), which a loaded machine distorts far less than rates: Tributary %s (single records), %s (100-record requests)",
			what, us(s.cpu1), us(s.cpu100))
		if s.telCPU1[0] > 0 {
			fmt.Fprintf(&b, "; Telegraf %s, %s", us(s.telCPU1), us(s.telCPU100))
		}
		if s.copyCPU > 0 {
			fmt.Fprintf(&b, "; raw COPY %.0f µs in PostgreSQL", float64(s.copyCPU.Nanoseconds())/1000)
		}
		b.WriteString(".\n")
	}
	return b.String()
}

// telegrafConf configures the peer: the same load, parsed by Telegraf's
// JSON parser, written by outputs.postgresql to the same database. Its
// buffer holds everything a phase sends, so that no metric is dropped.
const telegrafConf = `[agent]
  interval = "1s"
  flush_interval = "200ms"
  flush_jitter = "0s"
  metric_batch_size = 1000
  metric_buffer_limit = 5000000
  omit_hostname = true

[[inputs.http_listener_v2]]
  service_address = "%s"
  paths = ["/telegraf"]
  methods = ["POST"]
  data_format = "json"
  json_time_key = "ts"
  json_time_format = "2006-01-02T15:04:05.999999999Z07:00"
  json_string_fields = ["note", "station_id"]
  name_override = "weather"

[[outputs.postgresql]]
  connection = "%s"
`

// runTelegraf starts the Telegraf peer on the benchmark's database and
// measures it with the same load as Tributary.
func runTelegraf(ctx context.Context, o options) (one, hundred result, err error) {
	dir, err := os.MkdirTemp("", "tributary-bench-telegraf-")
	if err != nil {
		return one, hundred, err
	}
	defer os.RemoveAll(dir)
	addr, err := freeAddr()
	if err != nil {
		return one, hundred, err
	}
	conf := filepath.Join(dir, "telegraf.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(telegrafConf, addr, o.dbURL)), 0o600); err != nil {
		return one, hundred, err
	}
	cmd := exec.CommandContext(ctx, o.telegraf, "-config", conf)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return one, hundred, err
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	url := "http://" + addr + "/telegraf"
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Post(url, "application/json", bytes.NewReader(body(1)))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				break
			}
		}
		if time.Now().After(deadline) {
			return one, hundred, fmt.Errorf("telegraf did not answer in 30s: %s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	one = load(o, url, 1, 0, cmd.Process.Pid)
	hundred = load(o, url, 100, 0, cmd.Process.Pid)
	return one, hundred, nil
}
