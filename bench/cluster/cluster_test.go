package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/redistest"
)

func seconds() time.Duration {
	if v, err := strconv.Atoi(os.Getenv("CLUSTER_BENCH_SECONDS")); err == nil && v > 0 {
		return time.Duration(v) * time.Second
	}
	return 8 * time.Second
}

type node struct {
	cmd  *exec.Cmd
	base string
	logs *bytes.Buffer
}

func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tributary")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/tributary").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func start(t *testing.T, bin string, env []string) *node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(append(os.Environ(), env...), "TRIBUTARY_ADDR="+addr)
	n := &node{cmd: cmd, base: "http://" + addr, logs: &bytes.Buffer{}}
	cmd.Stdout, cmd.Stderr = n.logs, n.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(n.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n
			}
		}
	}
	t.Fatalf("node not ready:\n%s", n.logs)
	return nil
}

func cli(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tributary %v: %v", args, err)
	}
	return strings.TrimSpace(string(out))
}

func api(t *testing.T, method, url, token, body string, out any) {
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
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
	}
}

type setup struct {
	bin, token string
	env        []string
	nodes      []*node
}

func cluster(t *testing.T, n int, redis bool, extra ...string) *setup {
	t.Helper()
	s := &setup{bin: build(t)}
	s.env = append([]string{"TRIBUTARY_DATABASE_URL=" + pgtest.DatabaseURL(t), "TRIBUTARY_LOG_LEVEL=warn", "TRIBUTARY_HOOK_RATE=0",
		"TRIBUTARY_ALLOW_NETWORKS=127.0.0.0/8", "TRIBUTARY_POLL_HOST_RATE=0"}, extra...)
	if redis {
		s.env = append(s.env, "TRIBUTARY_REDIS_URL="+redistest.Start(t).URL())
	}
	cli(t, s.bin, s.env, "user", "create", "--email", "bench@example.com", "--password", "bench-password-1", "--team", "bench")
	s.token = cli(t, s.bin, s.env, "token", "create", "--team", "bench", "--role", "editor", "--name", "bench")
	for range n {
		s.nodes = append(s.nodes, start(t, s.bin, s.env))
	}
	return s
}

func (s *setup) webhook(t *testing.T, name string) (string, string) {
	var p struct {
		ID        string `json:"id"`
		IngestURL string `json:"ingest_url"`
	}
	api(t, http.MethodPost, s.nodes[0].base+"/api/v1/pipelines", s.token, `{"name":"`+name+`","kind":"webhook","persist":true}`, &p)
	return p.ID, p.IngestURL[strings.Index(p.IngestURL, "/hooks/"):]
}

// addedNodeCost is the coordination overhead of each node beyond the
// first, on a machine whose cores the nodes share: the throughput lost
// per added node, as a share of one node's.
func addedNodeCost(one, rate float64, n int) string {
	if n == 1 || one == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*(one-rate)/(one*float64(n-1)))
}

// TestIngestThroughput: single-record webhook requests over 32
// connections spread over 1, 2 and 3 nodes.
func TestIngestThroughput(t *testing.T) {
	if os.Getenv("CLUSTER_BENCH") == "" {
		t.Skip("set CLUSTER_BENCH=1 to run")
	}
	var one float64
	for n := 1; n <= 3; n++ {
		s := cluster(t, n, true)
		_, hook := s.webhook(t, "ingest")
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32, DisableCompression: true}}
		var ok, bad atomic.Int64
		ctx, cancel := context.WithTimeout(context.Background(), seconds())
		var wg sync.WaitGroup
		for c := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				base := s.nodes[c%n].base + hook
				for i := 0; ctx.Err() == nil; i++ {
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base, strings.NewReader(fmt.Sprintf(`{"c":%d,"i":%d,"v":1.5}`, c, i)))
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err != nil {
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusAccepted {
						ok.Add(1)
					} else {
						bad.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		cancel()
		rate := float64(ok.Load()) / seconds().Seconds()
		if n == 1 {
			one = rate
		}
		t.Logf("RESULT ingest nodes=%d req/s=%.0f per-node=%.0f efficiency=%.2f cost-per-added-node=%s non-202=%d",
			n, rate, rate/float64(n), rate/(one*float64(n)), addedNodeCost(one, rate, n), bad.Load())
		for _, nd := range s.nodes {
			_ = nd.cmd.Process.Kill()
		}
	}
}

// TestPollingThroughput: 1,000 pipelines due every second over 1, 2 and
// 3 nodes — more than this 2-core machine polls, so polls/s is the
// cluster's throughput, not the due rate; polls run per second.
// CLUSTER_BENCH_PIPELINES changes the number.
func TestPollingThroughput(t *testing.T) {
	if os.Getenv("CLUSTER_BENCH") == "" {
		t.Skip("set CLUSTER_BENCH=1 to run")
	}
	var polls atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		polls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `[{"v":1}]`)
	}))
	t.Cleanup(upstream.Close)
	pipelines := 1000
	if v, err := strconv.Atoi(os.Getenv("CLUSTER_BENCH_PIPELINES")); err == nil && v > 0 {
		pipelines = v
	}
	var one float64
	for n := 1; n <= 3; n++ {
		s := cluster(t, n, true, "TRIBUTARY_POLL_WORKERS=100")
		var wg sync.WaitGroup
		next := make(chan int)
		for range 8 {
			wg.Go(func() {
				for i := range next {
					req, _ := http.NewRequest(http.MethodPost, s.nodes[i%n].base+"/api/v1/pipelines", strings.NewReader(
						fmt.Sprintf(`{"name":"p%d","kind":"polling","persist":true,"source":{"interval":"1s","http":{"url":"%s/p/%d"}}}`, i, upstream.URL, i)))
					req.Header.Set("Authorization", "Bearer "+s.token)
					req.Header.Set("Content-Type", "application/json")
					if resp, err := http.DefaultClient.Do(req); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			})
		}
		for i := range pipelines {
			next <- i
		}
		close(next)
		wg.Wait()
		time.Sleep(5 * time.Second) // warm-up: every chain started
		before := polls.Load()
		time.Sleep(seconds())
		rate := float64(polls.Load()-before) / seconds().Seconds()
		if n == 1 {
			one = rate
		}
		t.Logf("RESULT polling nodes=%d pipelines=%d due/s=%d polls/s=%.0f per-node=%.0f efficiency=%.2f cost-per-added-node=%s",
			n, pipelines, pipelines, rate, rate/float64(n), rate/(one*float64(n)), addedNodeCost(one, rate, n))
		for _, nd := range s.nodes {
			_ = nd.cmd.Process.Kill()
		}
	}
}

// TestBroadcastLatency: 1,000 single-record batches posted one at a time to
// node A, read from a live stream on node B; over Redis and over
// LISTEN/NOTIFY.
func TestBroadcastLatency(t *testing.T) {
	if os.Getenv("CLUSTER_BENCH") == "" {
		t.Skip("set CLUSTER_BENCH=1 to run")
	}
	for _, via := range []string{"redis", "notify"} {
		s := cluster(t, 2, via == "redis")
		id, hook := s.webhook(t, "latency")
		req, _ := http.NewRequest(http.MethodGet, s.nodes[1].base+"/api/v1/pipelines/"+id+"/stream", nil)
		req.Header.Set("Authorization", "Bearer "+s.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		arrived := make(chan time.Time, 1024)
		go func() {
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 16<<20)
			for sc.Scan() {
				if sc.Text() == "event: records" {
					arrived <- time.Now()
				}
			}
		}()
		const batches = 1000
		var lat []time.Duration
		for i := range batches {
			sent := time.Now()
			r, err := http.Post(s.nodes[0].base+hook, "application/json", strings.NewReader(fmt.Sprintf(`{"i":%d}`, i)))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
			select {
			case at := <-arrived:
				lat = append(lat, at.Sub(sent))
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: batch %d never reached node B", via, i)
			}
		}
		slices.Sort(lat)
		t.Logf("RESULT broadcast via=%s batches=%d p50=%v p99=%v max=%v (POST to A sent -> SSE event read on B)",
			via, batches, lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)*99/100].Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
		for _, nd := range s.nodes {
			_ = nd.cmd.Process.Kill()
		}
	}
}
