package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/config"
	"github.com/tributary-dev/tributary/internal/pgtest"
)

// faultProxy is a TCP proxy between the server and PostgreSQL that can
// cut every connection (and refuse new ones) or delay every chunk of data.
type faultProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	delay  time.Duration
	conns  map[net.Conn]struct{}
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *faultProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		go p.pipe(c)
	}
}

func (p *faultProxy) pipe(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		p.drop(c)
		return
	}
	p.mu.Lock()
	p.conns[u] = struct{}{}
	p.mu.Unlock()
	copyDelayed := func(dst, src net.Conn) {
		defer p.drop(dst)
		defer p.drop(src)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.mu.Lock()
				d := p.delay
				p.mu.Unlock()
				if d > 0 {
					time.Sleep(d) // the fault being injected, not a wait for a condition
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go copyDelayed(u, c)
	copyDelayed(c, u)
}

func (p *faultProxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// cut closes every connection and refuses new ones until restore.
func (p *faultProxy) cut() {
	p.mu.Lock()
	p.down = true
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		p.drop(c)
	}
}

func (p *faultProxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

func (p *faultProxy) setDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

func (p *faultProxy) close() {
	p.ln.Close()
	p.cut()
}

// faultMetricsToken is the metrics token of a faultTarget.
const faultMetricsToken = "proof-metrics-token-0123456789"

// faultTarget is what the dependency fault tests run faults under: a
// server process on PostgreSQL, with a metrics token and a persisted
// webhook pipeline.
type faultTarget struct {
	k9Fixture
	hookURL string
}

// startFaultTarget starts a server process on the database at
// databaseURL, with a team, user, pipeline and editor token named name.
func startFaultTarget(t *testing.T, name, databaseURL string) *faultTarget {
	t.Helper()
	bin := buildBinary(t)
	env := []string{"TRIBUTARY_DATA_DIR=" + t.TempDir(), "TRIBUTARY_LOG_LEVEL=error",
		"TRIBUTARY_DATABASE_URL=" + databaseURL, "TRIBUTARY_METRICS_TOKEN=" + faultMetricsToken}
	f := k9Setup(t, bin, env, k9Account{email: name + "@example.com", password: name + "-password-1", team: name, tokenName: "writer"},
		`{"name": "`+name+`", "kind": "webhook", "persist": true}`)
	return &faultTarget{k9Fixture: f, hookURL: f.p.base + f.hookPath}
}

// goroutines reads go_goroutines from the server's metrics.
func (ft *faultTarget) goroutines(t *testing.T) int {
	t.Helper()
	return goroutines(t, ft.p.base, faultMetricsToken)
}

// goroutinesBackTo waits for the server's goroutines to come back to
// (within 5 of) baseline and returns their number.
func (ft *faultTarget) goroutinesBackTo(t *testing.T, baseline int) int {
	t.Helper()
	var n int
	ft.waitFor(t, "goroutines back to baseline", func() bool {
		n = ft.goroutines(t)
		return n <= baseline+5
	}, 60*time.Second)
	return n
}

// waitFor polls cond until it holds and returns how long that took; after
// limit it fails the test with the server's logs.
func (ft *faultTarget) waitFor(t *testing.T, what string, cond func() bool, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s; server logs:\n%s", what, limit, ft.p.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

// storedKeys counts the stored records of the target's pipeline by their
// "key", read from the database at databaseURL directly.
func (ft *faultTarget) storedKeys(t *testing.T, databaseURL string) map[string]int {
	t.Helper()
	cfg := config.Default()
	cfg.DatabaseURL = databaseURL
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return storedKeys(t, ctx, openStore(t, ctx, cfg), ft.team, ft.pipeline)
}

// hookResult is one webhook request of a fault test.
type hookResult struct {
	start, end time.Time
	status     int
	retryAfter string
	keys       []string
}

// hookWriters post numbered records to a webhook, five a request, each
// writer in a loop, and record every answer until stopped.
type hookWriters struct {
	client  *http.Client
	quit    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	results []hookResult
}

// startHookWriters starts n writers posting to url. After an answer other
// than 202 a writer pauses for pause, if that is not zero.
func startHookWriters(url string, n int, pause time.Duration) *hookWriters {
	h := &hookWriters{client: &http.Client{Timeout: 30 * time.Second}, quit: make(chan struct{})}
	for w := range n {
		h.wg.Go(func() { h.write(url, w, pause) })
	}
	return h
}

// write is writer w: its keys are "w-i-j", record j of its request i.
func (h *hookWriters) write(url string, w int, pause time.Duration) {
	for i := 0; ; i++ {
		select {
		case <-h.quit:
			return
		default:
		}
		r := hookResult{start: time.Now()}
		var recs []string
		for j := range 5 {
			k := fmt.Sprintf("%d-%d-%d", w, i, j)
			r.keys = append(r.keys, k)
			recs = append(recs, fmt.Sprintf(`{"key":%q}`, k))
		}
		resp, err := h.client.Post(url, "application/json", strings.NewReader("["+strings.Join(recs, ",")+"]"))
		r.end = time.Now()
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			r.status, r.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
		}
		h.mu.Lock()
		h.results = append(h.results, r)
		h.mu.Unlock()
		if pause > 0 && r.status != http.StatusAccepted {
			time.Sleep(pause)
		}
	}
}

// stop stops the writers, waits for them and returns every result.
func (h *hookWriters) stop() []hookResult {
	close(h.quit)
	h.wg.Wait()
	h.client.CloseIdleConnections()
	return h.results
}

// answered reports whether a request started after from was answered
// with status.
func (h *hookWriters) answered(status int, from time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range slices.Backward(h.results) {
		if r.status == status && r.start.After(from) {
			return true
		}
	}
	return false
}

// firstAck is the end of the first 202 to a request started at or after
// from, zero if none yet.
func (h *hookWriters) firstAck(from time.Time) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	var first time.Time
	for _, r := range h.results {
		if r.status == http.StatusAccepted && !r.start.Before(from) && (first.IsZero() || r.end.Before(first)) {
			first = r.end
		}
	}
	return first
}

// TestDependencyFaults runs a server process on PostgreSQL through a TCP
// proxy that delays, then cuts, every connection, while webhook writers
// post: while the database is unreachable every answer is 503 with
// Retry-After, never a 2xx for a record that was not stored; ingest
// recovers without a restart (the recovery time is reported); the
// server's goroutines come back to their baseline. It runs
// TRIBUTARY_PROOF_FAULT_CYCLES cut cycles and only when that is set
// (`make proof`).
func TestDependencyFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a server process")
	}
	cycles := 0
	if os.Getenv("TRIBUTARY_PROOF_FAULT_CYCLES") != "" {
		cycles = proofInt(t, "TRIBUTARY_PROOF_FAULT_CYCLES", 1)
	}
	if cycles == 0 {
		t.Skip("set TRIBUTARY_PROOF_FAULT_CYCLES to run (make proof does)")
	}
	t.Run("postgres", func(t *testing.T) {
		direct := pgtest.DatabaseURL(t)
		u, err := url.Parse(direct)
		if err != nil {
			t.Fatal(err)
		}
		proxy := newFaultProxy(t, u.Host)
		u.Host = proxy.ln.Addr().String()
		ft := startFaultTarget(t, "faults", u.String())

		writers := startHookWriters(ft.hookURL, 8, 0)
		acked := func(after time.Time) bool { return writers.answered(http.StatusAccepted, after) }
		now := time.Now()
		ft.waitFor(t, "first acknowledgement", func() bool { return acked(now) }, 30*time.Second)
		baseline := ft.goroutines(t)

		// Delay every packet by 50 ms: slower, still stored.
		proxy.setDelay(50 * time.Millisecond)
		delayStart := time.Now()
		ft.waitFor(t, "an acknowledgement with delayed connections", func() bool { return acked(delayStart.Add(time.Second)) }, 60*time.Second)
		proxy.setDelay(0)
		delayEnd := time.Now()

		var recoveries []time.Duration
		for range cycles {
			proxy.cut()
			cutAt := time.Now()
			// Down long enough that requests arrive while it is.
			ft.waitFor(t, "a 503 while the database is down", func() bool { return writers.answered(http.StatusServiceUnavailable, cutAt) }, 60*time.Second)
			proxy.restore()
			restored := time.Now()
			recoveries = append(recoveries, ft.waitFor(t, "recovery", func() bool { return acked(restored) }, 120*time.Second))
		}
		results := writers.stop()
		after := ft.goroutinesBackTo(t, baseline)

		// What the store holds, read directly.
		stored := ft.storedKeys(t, direct)
		var lost, ackedN, down503, badStatus, noRetryAfter int
		var delayed []time.Duration
		for _, r := range results {
			switch {
			case r.status == http.StatusAccepted:
				ackedN += len(r.keys)
				for _, k := range r.keys {
					if stored[k] == 0 {
						lost++
					}
				}
				if !r.start.Before(delayStart) && r.end.Before(delayEnd) {
					delayed = append(delayed, r.end.Sub(r.start))
				}
			case r.status == http.StatusServiceUnavailable:
				down503++
				if n, err := strconv.Atoi(r.retryAfter); err != nil || n < 1 {
					noRetryAfter++
				}
			case r.status == 0:
				// the client gave up; not acknowledged
			default:
				badStatus++
				t.Errorf("status %d during the faults", r.status)
			}
		}
		slices.Sort(delayed)
		p99 := time.Duration(0)
		if len(delayed) > 0 {
			p99 = delayed[len(delayed)*99/100]
		}
		maxRecovery := slices.Max(recoveries)
		proofReport(t, proofRow{Promise: "dependency faults: PostgreSQL connections cut and delayed through a TCP proxy", Runs: cycles,
			Failed: lost > 0 || noRetryAfter > 0 || badStatus > 0,
			Figures: map[string]any{"acknowledged": ackedN, "lost": lost, "503 while down": down503, "503 without Retry-After": noRetryAfter,
				"recovery max ms": maxRecovery.Milliseconds(), "p99 with 50ms delay ms": p99.Milliseconds(),
				"goroutines": fmt.Sprintf("%d before, %d after", baseline, after)}})
		if lost > 0 {
			t.Errorf("%d acknowledged records are not stored", lost)
		}
		if noRetryAfter > 0 {
			t.Errorf("%d answers 503 without a Retry-After", noRetryAfter)
		}
	})
}

// goroutines reads go_goroutines from the server's metrics.
func goroutines(t *testing.T, base, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(n)
		}
	}
	t.Fatalf("no go_goroutines in the metrics (status %d)", resp.StatusCode)
	return 0
}
