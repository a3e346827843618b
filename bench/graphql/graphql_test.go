package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/tributary-dev/tributary/internal/apptest"
)

// listQuery is the GraphQL side: 100 pipelines with their 5 newest runs
// and their sinks in one request.
const listQuery = `{ pipelines { nodes { id name status stats { recordCount } runs(first: 5) { edges { node { id stored startedAt } } }
	sinks { name kind status delivered } } } }`

func do(tb testing.TB, method, url, token string, body []byte) []byte {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode/100 != 2 {
		tb.Fatalf("%s %s: %d %v %s", method, url, resp.StatusCode, err, b)
	}
	return b
}

// setup starts a server with 100 webhook pipelines, each with two
// (disabled) sinks and a run of two batches.
func setup(b *testing.B) (*apptest.Server, []string) {
	s := apptest.Start(b, "sqlite")
	var ids []string
	for i := range 100 {
		spec := fmt.Sprintf(`{"name":"p%03d","kind":"webhook","sinks":[{"name":"a","enabled":false,"http":{"url":"https://93.184.215.14/a"}},{"name":"b","enabled":false,"http":{"url":"https://93.184.215.14/b"}}]}`, i)
		var p struct {
			ID         string `json:"id"`
			WebhookURL string `json:"ingest_url"`
		}
		if err := json.Unmarshal(do(b, "POST", s.URL+"/api/v1/pipelines", s.Token, []byte(spec)), &p); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, p.ID)
		for range 2 {
			do(b, "POST", p.WebhookURL, "", []byte(`{"v": 1}`))
		}
	}
	return s, ids
}

// BenchmarkPipelinesList compares one GraphQL request with the REST calls
// that get the same data: the list, then each pipeline's runs and sinks
// (sequentially, and 8 at a time as a browser would).
func BenchmarkPipelinesList(b *testing.B) {
	s, ids := setup(b)
	gql, _ := json.Marshal(map[string]any{"query": listQuery})
	b.Run("graphql", func(b *testing.B) {
		for b.Loop() {
			out := do(b, "POST", s.URL+"/graphql", s.Token, gql)
			if bytes.Contains(out, []byte(`"errors"`)) {
				b.Fatalf("%s", out)
			}
		}
	})
	rest := func(b *testing.B, parallel int) {
		for b.Loop() {
			do(b, "GET", s.URL+"/api/v1/pipelines", s.Token, nil)
			sem := make(chan struct{}, parallel)
			var wg sync.WaitGroup
			for _, id := range ids {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					do(b, "GET", s.URL+"/api/v1/pipelines/"+id+"/runs?limit=5", s.Token, nil)
					do(b, "GET", s.URL+"/api/v1/pipelines/"+id+"/sinks", s.Token, nil)
				})
			}
			wg.Wait()
		}
	}
	b.Run("rest-sequential", func(b *testing.B) { rest(b, 1) })
	b.Run("rest-8-concurrent", func(b *testing.B) { rest(b, 8) })
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestSubscriptionFanout opens GQL_SUBSCRIBERS (default 1000) records
// subscriptions on one webhook pipeline, posts GQL_RATE (default 100)
// one-record batches a second for GQL_SECONDS (default 5), and reports
// the delivery latency (post time carried in the record to receipt) and
// the heap per subscription (server and clients share this process).
func TestSubscriptionFanout(t *testing.T) {
	if os.Getenv("GQL_SUBSCRIBERS") == "" {
		t.Skip("set GQL_SUBSCRIBERS to run")
	}
	subs, rate, secs := envInt("GQL_SUBSCRIBERS", 1000), envInt("GQL_RATE", 100), envInt("GQL_SECONDS", 5)
	// GQL_RECORDS records per batch (default 1), each with about 100 bytes
	// of data besides the send time.
	perBatch := envInt("GQL_RECORDS", 1)
	s := apptest.Start(t, "sqlite")
	var p struct {
		ID         string `json:"id"`
		WebhookURL string `json:"ingest_url"`
	}
	if err := json.Unmarshal(do(t, "POST", s.URL+"/api/v1/pipelines", s.Token, []byte(`{"name":"fan","kind":"webhook"}`)), &p); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	var mu sync.Mutex
	var lat []time.Duration
	ready := make(chan struct{}, subs)
	var wg sync.WaitGroup
	for range subs {
		wg.Go(func() {
			c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.URL, "http")+"/graphql", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
			if err != nil {
				t.Error(err)
				ready <- struct{}{}
				return
			}
			defer c.CloseNow()
			c.SetReadLimit(1 << 20)
			_ = wsjson.Write(ctx, c, map[string]any{"type": "connection_init", "payload": map[string]any{"token": s.Token}})
			_ = wsjson.Write(ctx, c, map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{
				"query": `subscription($id: ID!) { records(pipelineId: $id) { kind records } }`, "variables": map[string]any{"id": p.ID}}})
			first := true
			for {
				var m struct {
					Type    string `json:"type"`
					Payload struct {
						Data struct {
							Records struct {
								Kind    string `json:"kind"`
								Records []struct {
									Data struct {
										Sent int64 `json:"sent"`
									} `json:"data"`
								} `json:"records"`
							} `json:"records"`
						} `json:"data"`
					} `json:"payload"`
				}
				if err := wsjson.Read(ctx, c, &m); err != nil {
					return
				}
				if m.Type == "ping" {
					_ = wsjson.Write(ctx, c, map[string]any{"type": "pong"})
					continue
				}
				if m.Type != "next" {
					continue
				}
				if first {
					first = false
					ready <- struct{}{}
					continue
				}
				now := time.Now().UnixNano()
				if m.Payload.Data.Records.Kind == "RECORDS" {
					mu.Lock()
					for _, r := range m.Payload.Data.Records.Records {
						lat = append(lat, time.Duration(now-r.Data.Sent))
					}
					mu.Unlock()
				}
			}
		})
	}
	for range subs {
		<-ready
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	perSub := (int64(after.HeapInuse) - int64(before.HeapInuse)) / int64(subs)

	cpu0 := cpuTime()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	deadline := time.Now().Add(time.Duration(secs) * time.Second)
	posted := 0
	var posts sync.WaitGroup
	for time.Now().Before(deadline) {
		<-tick.C
		var body string
		if perBatch == 1 {
			body = fmt.Sprintf(`{"sent": %d}`, time.Now().UnixNano())
		} else {
			recs := make([]string, perBatch)
			for i := range recs {
				recs[i] = fmt.Sprintf(`{"sent": %d, "i": %d, "pad": "%s"}`, time.Now().UnixNano(), i, strings.Repeat("x", 80))
			}
			body = "[" + strings.Join(recs, ",") + "]"
		}
		posts.Go(func() { do(t, "POST", p.WebhookURL, "", []byte(body)) })
		posted++
	}
	tick.Stop()
	posts.Wait()
	want := posted * subs * perBatch
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n >= want {
			break
		}
		time.Sleep(50 * time.Millisecond) // waiting for deliveries to drain, not synchronizing
	}
	cpu := cpuTime() - cpu0
	cancel()
	wg.Wait()
	slices.Sort(lat)
	q := func(f float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(f*float64(len(lat))))]
	}
	t.Logf("subscribers=%d rate=%d/s records/batch=%d seconds=%d batches=%d deliveries=%d/%d", subs, rate, perBatch, secs, posted, len(lat), want)
	t.Logf("latency p50=%v p99=%v max=%v", q(0.5), q(0.99), q(1))
	t.Logf("heap per subscription (server + client, one process): %d bytes", perSub)
	if len(lat) > 0 {
		// CPU time does not depend on what else the machine runs, unlike
		// the latencies on a shared machine.
		n := len(lat) / perBatch
		t.Logf("process CPU (server + clients + poster) per batch delivered to one subscriber: %.1f µs (%v for %d)",
			float64(cpu.Microseconds())/float64(n), cpu.Round(time.Millisecond), n)
	}
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
