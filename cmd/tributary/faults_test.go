package main

import (
	"context"
	"encoding/json"
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

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/app"
	"github.com/tributary-dev/tributary/internal/config"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/store"
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

// hookResult is one webhook request of the fault test.
type hookResult struct {
	start, end time.Time
	status     int
	retryAfter string
	keys       []string
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
		bin := buildBinary(t)
		direct := pgtest.DatabaseURL(t)
		u, err := url.Parse(direct)
		if err != nil {
			t.Fatal(err)
		}
		proxy := newFaultProxy(t, u.Host)
		u.Host = proxy.ln.Addr().String()
		const metricsToken = "proof-metrics-token-0123456789"
		env := []string{"TRIBUTARY_DATA_DIR=" + t.TempDir(), "TRIBUTARY_LOG_LEVEL=error",
			"TRIBUTARY_DATABASE_URL=" + u.String(), "TRIBUTARY_METRICS_TOKEN=" + metricsToken}
		k9CLI(t, bin, env, "user", "create", "--email", "faults@example.com", "--password", "faults-password-1", "--team", "faults")
		token := k9CLI(t, bin, env, "token", "create", "--team", "faults", "--role", "editor", "--name", "writer")
		p := k9Start(t, bin, env)
		var me struct {
			Teams []struct {
				ID uuid.UUID `json:"id"`
			} `json:"teams"`
		}
		k9API(t, http.MethodGet, p.base+"/api/v1/me", token, "", &me)
		var pipe struct {
			ID        uuid.UUID `json:"id"`
			IngestURL string    `json:"ingest_url"`
		}
		k9API(t, http.MethodPost, p.base+"/api/v1/pipelines", token, `{"name": "faults", "kind": "webhook", "persist": true}`, &pipe)
		hookURL := p.base + pipe.IngestURL[strings.Index(pipe.IngestURL, "/hooks/"):]

		var (
			mu      sync.Mutex
			results []hookResult
			wg      sync.WaitGroup
		)
		stop := make(chan struct{})
		client := &http.Client{Timeout: 30 * time.Second}
		for w := range 8 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
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
					resp, err := client.Post(hookURL, "application/json", strings.NewReader("["+strings.Join(recs, ",")+"]"))
					r.end = time.Now()
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						r.status, r.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
					}
					mu.Lock()
					results = append(results, r)
					mu.Unlock()
				}
			})
		}
		acked := func(after time.Time) bool {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range slices.Backward(results) {
				if r.status == http.StatusAccepted && r.start.After(after) {
					return true
				}
			}
			return false
		}
		waitFor := func(what string, cond func() bool, limit time.Duration) time.Duration {
			start := time.Now()
			for !cond() {
				if time.Since(start) > limit {
					t.Fatalf("%s: not within %s", what, limit)
				}
				time.Sleep(10 * time.Millisecond)
			}
			return time.Since(start)
		}
		now := time.Now()
		waitFor("first acknowledgement", func() bool { return acked(now) }, 30*time.Second)
		baseline := goroutines(t, p.base, metricsToken)

		// Delay every packet by 50 ms: slower, still stored.
		proxy.setDelay(50 * time.Millisecond)
		delayStart := time.Now()
		waitFor("an acknowledgement with delayed connections", func() bool { return acked(delayStart.Add(time.Second)) }, 60*time.Second)
		proxy.setDelay(0)
		delayEnd := time.Now()

		var recoveries []time.Duration
		for range cycles {
			proxy.cut()
			cutAt := time.Now()
			// Down long enough that requests arrive while it is.
			waitFor("a 503 while the database is down", func() bool {
				mu.Lock()
				defer mu.Unlock()
				for _, r := range slices.Backward(results) {
					if r.start.After(cutAt) && r.status == http.StatusServiceUnavailable {
						return true
					}
				}
				return false
			}, 60*time.Second)
			proxy.restore()
			restored := time.Now()
			recoveries = append(recoveries, waitFor("recovery", func() bool { return acked(restored) }, 120*time.Second))
		}
		close(stop)
		wg.Wait()
		client.CloseIdleConnections()
		var after int
		waitFor("goroutines back to baseline", func() bool {
			after = goroutines(t, p.base, metricsToken)
			return after <= baseline+5
		}, 60*time.Second)

		// What the store holds, read directly.
		cfg := config.Default()
		cfg.DatabaseURL = direct
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		st, err := app.OpenStore(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		stored := storedKeys(t, ctx, st, me.Teams[0].ID, pipe.ID)
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

// storedKeys counts the stored records of a pipeline by their "key".
func storedKeys(t *testing.T, ctx context.Context, st store.Store, team, pipeline uuid.UUID) map[string]int {
	t.Helper()
	stored := map[string]int{}
	q := store.RecordQuery{Limit: store.MaxLimit}
	for {
		page, err := st.Records(ctx, team, pipeline, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return stored
		}
		for _, r := range page {
			var rec struct {
				Key string `json:"key"`
			}
			if err := json.Unmarshal(r.Data, &rec); err != nil {
				t.Fatal(err)
			}
			stored[rec.Key]++
		}
		last := page[len(page)-1]
		q.BeforeTS, q.BeforeID = last.TS, last.ID
	}
}
