package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// readyProxy is the load balancer of a rolling restart: it spreads
// requests over the nodes whose /readyz answered 200 at its last check
// (every 100 ms), as a Kubernetes Service or a proxy with health checks
// does, and answers 502 when the node it picked fails.
type readyProxy struct {
	mu    sync.Mutex
	nodes map[string]bool // base URL -> ready
	next  atomic.Uint64
	srv   *http.Server
	url   string
}

func startReadyProxy(t *testing.T, bases ...string) *readyProxy {
	t.Helper()
	p := &readyProxy{nodes: map[string]bool{}}
	for _, b := range bases {
		p.nodes[b] = true
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			u, _ := url.Parse(r.In.Context().Value(backendKey{}).(string))
			r.SetURL(u)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { w.WriteHeader(http.StatusBadGateway) },
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.url = "http://" + ln.Addr().String()
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := p.pick()
		if b == "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), backendKey{}, b)))
	})}
	go func() { _ = p.srv.Serve(ln) }()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		client := &http.Client{Timeout: time.Second}
		for ctx.Err() == nil {
			p.mu.Lock()
			bases := make([]string, 0, len(p.nodes))
			for b := range p.nodes {
				bases = append(bases, b)
			}
			p.mu.Unlock()
			for _, b := range bases {
				resp, err := client.Get(b + "/readyz")
				ready := err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					resp.Body.Close()
				}
				p.mu.Lock()
				if _, ok := p.nodes[b]; ok {
					p.nodes[b] = ready
				}
				p.mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		_ = p.srv.Close()
	})
	return p
}

type backendKey struct{}

func (p *readyProxy) pick() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ready []string
	for b, ok := range p.nodes {
		if ok {
			ready = append(ready, b)
		}
	}
	if len(ready) == 0 {
		return ""
	}
	return ready[p.next.Add(1)%uint64(len(ready))]
}

// replace swaps a node's address for its successor's, which the next
// health check admits.
func (p *readyProxy) replace(old, new string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.nodes, old)
	p.nodes[new] = false
}

// TestThreeNodesRollingRestart restarts the three nodes one after the
// other (SIGTERM, drain, a new process) under webhook load through a
// proxy with health checks. The client retries what a client of a load
// balancer retries — 502 and 503, and connections refused — so the test
// counts every other 5xx, and every request left unacknowledged after its
// retries: both must be zero, and every acknowledged record must be in
// the database.
func TestThreeNodesRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs server processes")
	}
	c := startCluster3(t, "TRIBUTARY_HOOK_RATE=0", "TRIBUTARY_DRAIN_DELAY=1s", "TRIBUTARY_SHUTDOWN_TIMEOUT=20s")
	id, hook := c.webhook(t, "rolling")
	bases := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		bases[i] = n.base
	}
	proxy := startReadyProxy(t, bases...)

	var (
		acked              sync.Map // seq -> true
		retried, failed    atomic.Int64
		unretried5xx, sent atomic.Int64
		stop               atomic.Bool
		wg                 sync.WaitGroup
	)
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				seq := w*1_000_000 + i
				sent.Add(1)
				ok := false
				for attempt := 0; attempt < 100 && !ok; attempt++ {
					code, err := post(client, proxy.url+hook, fmt.Sprintf(`{"seq":%d}`, seq))
					switch {
					case err == nil && code == http.StatusAccepted:
						ok = true
					case err != nil || code == http.StatusBadGateway || code == http.StatusServiceUnavailable:
						retried.Add(1)
						time.Sleep(50 * time.Millisecond)
					default:
						if code >= 500 {
							unretried5xx.Add(1)
						}
						t.Errorf("seq %d: answered %d", seq, code)
						attempt = 100
					}
				}
				if ok {
					acked.Store(seq, true)
				} else {
					failed.Add(1)
				}
			}
		})
	}

	time.Sleep(2 * time.Second)
	for i, n := range c.nodes {
		if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := n.cmd.Wait(); err != nil {
			t.Errorf("node %d exited with %v\n%s", i, err, n.logs.String())
		}
		next := k9Start(t, c.bin, c.env)
		proxy.replace(n.base, next.base)
		c.nodes[i] = next
		time.Sleep(2 * time.Second) // load on the new node before the next restart
	}
	stop.Store(true)
	wg.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT (data->>'seq')::int FROM records WHERE pipeline_id = $1`, id)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[int]bool{}
	for rows.Next() {
		var seq int
		if err := rows.Scan(&seq); err != nil {
			t.Fatal(err)
		}
		stored[seq] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	lost, n := 0, 0
	acked.Range(func(k, _ any) bool {
		n++
		if !stored[k.(int)] {
			lost++
		}
		return true
	})
	t.Logf("rolling restart of 3 nodes: %d requests, %d acknowledged, %d retries (502/503/refused), %d stored records; lost %d, unretried 5xx %d, given up %d",
		sent.Load(), n, retried.Load(), len(stored), lost, unretried5xx.Load(), failed.Load())
	if lost != 0 || unretried5xx.Load() != 0 || failed.Load() != 0 {
		t.Errorf("lost %d acknowledged records, %d 5xx answers were not retryable, %d requests never acknowledged", lost, unretried5xx.Load(), failed.Load())
	}
	if n == 0 {
		t.Fatal("no request was acknowledged")
	}
}
