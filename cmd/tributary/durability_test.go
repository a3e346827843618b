package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/app"
	"github.com/tributary-dev/tributary/internal/config"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/store"
)

// TestAcknowledgedRecordsSurviveKill9 shows the ingest guarantee the hard
// way: webhook writers hammer a real server process, the process is killed
// with SIGKILL mid-stream, and after a restart every record that got a 202
// is in the store.
func TestAcknowledgedRecordsSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server process")
	}
	k9OnBackends(t, nil, testKill9)
}

// k9OnBackends runs test on SQLite and on PostgreSQL, in parallel, with
// the environment of a server process: a data directory of its own, the
// log level warn, then extraEnv, then the database URL on PostgreSQL.
func k9OnBackends(t *testing.T, extraEnv []string, test func(t *testing.T, bin string, env []string)) {
	bin := buildBinary(t)
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			env := append([]string{"TRIBUTARY_DATA_DIR=" + t.TempDir(), "TRIBUTARY_LOG_LEVEL=warn"}, extraEnv...)
			if backend == "postgres" {
				env = append(env, "TRIBUTARY_DATABASE_URL="+pgtest.DatabaseURL(t))
			}
			test(t, bin, env)
		})
	}
}

// binary is the tributary binary the process tests run, built once per
// test process.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

// buildBinary builds cmd/tributary once and returns its path.
func buildBinary(t *testing.T) string {
	t.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "tributary-bin-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "tributary")
		binary.out, binary.err = exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
	})
	if binary.err != nil {
		t.Fatalf("build: %v\n%s", binary.err, binary.out)
	}
	return binary.path
}

type k9Proc struct {
	cmd  *exec.Cmd
	base string
	// logs is written by the process's output copier while the test
	// reads it.
	logs *syncBuffer
}

func k9Start(t *testing.T, bin string, env []string) *k9Proc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(append(os.Environ(), env...), "TRIBUTARY_ADDR="+addr)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &k9Proc{cmd: cmd, base: "http://" + addr, logs: logs}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(p.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
	}
	t.Fatalf("server did not become ready; logs:\n%s", logs.String())
	return nil
}

// kill9 kills the process with SIGKILL and waits for it to be gone. It
// returns the peak resident set the process reached, in bytes.
func (p *k9Proc) kill9(t *testing.T) int64 {
	t.Helper()
	peak := procPeakRSS(p.cmd.Process.Pid)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	return peak
}

func k9CLI(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tributary %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}

func k9API(t *testing.T, method, url, token, body string, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %v: %s", method, url, err, b)
	}
}

// k9Account is the user, team and API token a process test creates with
// the CLI before it starts the server.
type k9Account struct {
	email, password, team, tokenName string
}

// k9Fixture is a server process with an account and one pipeline.
type k9Fixture struct {
	p        *k9Proc
	token    string // an editor's
	team     uuid.UUID
	pipeline uuid.UUID
	// hookPath is the path of the pipeline's webhook, "/hooks/…"; empty
	// if it has none.
	hookPath string
}

// k9Setup creates acct with the CLI, starts the server and creates the
// pipeline that pipelineJSON describes.
func k9Setup(t *testing.T, bin string, env []string, acct k9Account, pipelineJSON string) k9Fixture {
	t.Helper()
	k9CLI(t, bin, env, "user", "create", "--email", acct.email, "--password", acct.password, "--team", acct.team)
	token := k9CLI(t, bin, env, "token", "create", "--team", acct.team, "--role", "editor", "--name", acct.tokenName)
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
	k9API(t, http.MethodPost, p.base+"/api/v1/pipelines", token, pipelineJSON, &pipe)
	f := k9Fixture{p: p, token: token, team: me.Teams[0].ID, pipeline: pipe.ID}
	if i := strings.Index(pipe.IngestURL, "/hooks/"); i >= 0 {
		f.hookPath = pipe.IngestURL[i:]
	}
	return f
}

// k9OpenStore opens the store of the server process that runs with env,
// for the test to read what it committed. The store is closed when the
// test ends.
func k9OpenStore(t *testing.T, ctx context.Context, env []string) store.Store {
	t.Helper()
	cfg := config.Default()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "TRIBUTARY_DATA_DIR":
			cfg.DataDir = v
		case "TRIBUTARY_DATABASE_URL":
			cfg.DatabaseURL = v
		}
	}
	return openStore(t, ctx, cfg)
}

// openStore opens the store cfg names; it is closed when the test ends.
func openStore(t *testing.T, ctx context.Context, cfg config.Config) store.Store {
	t.Helper()
	st, err := app.OpenStore(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// storedRecords calls fn with the data of every stored record of a
// pipeline, page by page.
func storedRecords(t *testing.T, ctx context.Context, st store.Store, team, pipeline uuid.UUID, fn func(data json.RawMessage)) {
	t.Helper()
	q := store.RecordQuery{Limit: store.MaxLimit}
	for {
		page, err := st.Records(ctx, team, pipeline, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return
		}
		for _, r := range page {
			fn(r.Data)
		}
		last := page[len(page)-1]
		q.BeforeTS, q.BeforeID = last.TS, last.ID
	}
}

// storedBy counts the stored records of a pipeline by the value of one
// field of theirs ("key", "id").
func storedBy[K comparable](t *testing.T, ctx context.Context, st store.Store, team, pipeline uuid.UUID, field string) map[K]int {
	t.Helper()
	stored := map[K]int{}
	storedRecords(t, ctx, st, team, pipeline, func(data json.RawMessage) {
		var rec map[string]json.RawMessage
		var k K
		if err := json.Unmarshal(data, &rec); err != nil {
			t.Fatal(err)
		}
		if raw, ok := rec[field]; ok {
			if err := json.Unmarshal(raw, &k); err != nil {
				t.Fatal(err)
			}
		}
		stored[k]++
	})
	return stored
}

// storedKeys counts the stored records of a pipeline by their "key".
func storedKeys(t *testing.T, ctx context.Context, st store.Store, team, pipeline uuid.UUID) map[string]int {
	t.Helper()
	return storedBy[string](t, ctx, st, team, pipeline, "key")
}

// storedIDs counts the stored records of a pipeline by their "id".
func storedIDs(t *testing.T, ctx context.Context, st store.Store, team, pipeline uuid.UUID) map[int]int {
	t.Helper()
	return storedBy[int](t, ctx, st, team, pipeline, "id")
}

func testKill9(t *testing.T, bin string, env []string) {
	f := k9Setup(t, bin, env, k9Account{email: "kill@example.com", password: "kill-9-password", team: "durable", tokenName: "writer"},
		`{"name": "durable", "kind": "webhook", "persist": true}`)
	p := f.p

	// Writers post single records and small arrays until the server dies,
	// remembering every key that was acknowledged. The server is killed
	// TRIBUTARY_PROOF_KILLS times (1 by default) at random points, each
	// once about TRIBUTARY_PROOF_RECORDS / kills more records (2000 in
	// all by default) were acknowledged.
	kills := proofInt(t, "TRIBUTARY_PROOF_KILLS", 1)
	total := proofInt(t, "TRIBUTARY_PROOF_RECORDS", 2000)
	const writers = 16
	var (
		mu      sync.Mutex
		acked   = map[string]bool{}
		peakRSS int64
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: writers, DisableCompression: true}, Timeout: 10 * time.Second}
	for round := range kills {
		if round > 0 {
			p = k9Start(t, bin, env)
		}
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					n := 1 + i%3*5 // 1, 6 or 11 records
					keys := make([]string, n)
					recs := make([]string, n)
					for j := range n {
						keys[j] = fmt.Sprintf("%d-%d-%d-%d", round, w, i, j)
						recs[j] = fmt.Sprintf(`{"key":%q,"w":%d}`, keys[j], w)
					}
					body := recs[0]
					if n > 1 {
						body = "[" + strings.Join(recs, ",") + "]"
					}
					resp, err := client.Post(p.base+f.hookPath, "application/json", strings.NewReader(body))
					if err != nil {
						continue // the server is gone or going; not acknowledged
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusAccepted {
						mu.Lock()
						for _, k := range keys {
							acked[k] = true
						}
						mu.Unlock()
					}
				}
			}()
		}
		// Kill at a random point once enough records are acknowledged,
		// mid-stream.
		want := total * (round + 1) / kills
		want -= rand.IntN(total/kills/2 + 1)
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: only %d records acknowledged in 60s", round, n)
			}
		}
		peakRSS = max(peakRSS, p.kill9(t))
		close(stop)
		wg.Wait()
	}

	// Restart: the server must come up on the same data, then read back.
	k9Start(t, bin, env)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stored := storedKeys(t, ctx, k9OpenStore(t, ctx, env), f.team, f.pipeline)
	lost, dups := 0, 0
	for k := range acked {
		if stored[k] == 0 {
			lost++
		}
	}
	for _, n := range stored {
		dups += n - 1
	}
	t.Logf("acknowledged %d records, stored %d distinct (%d not acknowledged but committed), duplicates %d",
		len(acked), len(stored), len(stored)-len(acked)+lost, dups)
	proofReport(t, proofRow{Promise: "crash: webhook ingest, acknowledged records survive kill -9", Runs: kills,
		Figures: map[string]any{"acknowledged": len(acked), "lost": lost, "duplicates": dups, "peak_rss_mb": peakRSS >> 20}, Failed: lost > 0 || dups > 0})
	if lost > 0 {
		t.Fatalf("%d acknowledged records are missing after kill -9", lost)
	}
	if dups > 0 {
		t.Fatalf("%d records stored twice", dups)
	}
}

// TestMain removes the binary that the process tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}
