package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/redistest"
)

// longTests turns on the long versions of the cluster tests
// (TRIBUTARY_LONG_TESTS=1): 1,000 polling pipelines due every 2 s
// instead of every 10 s.
func longTests() bool { return os.Getenv("TRIBUTARY_LONG_TESTS") != "" }

// cluster3 is three `tributary serve` processes on one PostgreSQL database
// and one Redis.
type cluster3 struct {
	bin   string
	env   []string
	db    string
	redis *redistest.Server
	nodes []*k9Proc
	token string
}

func startCluster3(t *testing.T, extra ...string) *cluster3 {
	t.Helper()
	return startCluster3On(t, pgtest.DatabaseURL(t), extra...)
}

// startCluster3On is startCluster3 on the PostgreSQL database at db.
func startCluster3On(t *testing.T, db string, extra ...string) *cluster3 {
	t.Helper()
	c := &cluster3{bin: buildBinary(t), redis: redistest.Start(t), db: db}
	c.env = append([]string{"TRIBUTARY_DATABASE_URL=" + c.db, "TRIBUTARY_REDIS_URL=" + c.redis.URL(),
		"TRIBUTARY_LOG_LEVEL=warn", "TRIBUTARY_ALLOW_NETWORKS=127.0.0.0/8", "TRIBUTARY_POLL_HOST_RATE=0"}, extra...)
	k9CLI(t, c.bin, c.env, "user", "create", "--email", "three@example.com", "--password", "three-nodes-pw", "--team", "three")
	c.token = k9CLI(t, c.bin, c.env, "token", "create", "--team", "three", "--role", "editor", "--name", "writer")
	for range 3 {
		c.nodes = append(c.nodes, k9Start(t, c.bin, c.env))
	}
	return c
}

func (c *cluster3) webhook(t *testing.T, name string) (uuid.UUID, string) {
	t.Helper()
	var pipe struct {
		ID        uuid.UUID `json:"id"`
		IngestURL string    `json:"ingest_url"`
	}
	k9API(t, http.MethodPost, c.nodes[0].base+"/api/v1/pipelines", c.token, `{"name": "`+name+`", "kind": "webhook", "persist": true}`, &pipe)
	return pipe.ID, pipe.IngestURL[strings.Index(pipe.IngestURL, "/hooks/"):]
}

// postAPI sends a JSON body to an API path with a bearer token and
// returns the status; for goroutines, where k9API cannot fail the test.
func postAPI(url, token, body string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// post sends body to a node's webhook path and returns the status.
func post(client *http.Client, url, body string) (int, error) {
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestThreeNodesRateLimit: one team flooding all three nodes with
// webhooks, or with API requests, gets 429 beyond the cluster-wide limit
// (±10%).
func TestThreeNodesRateLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs server processes")
	}
	const rate = 20 // burst: 2 × rate
	c := startCluster3(t, "TRIBUTARY_HOOK_RATE="+strconv.Itoa(rate), "TRIBUTARY_API_RATE="+strconv.Itoa(rate))
	_, hook := c.webhook(t, "flood")
	time.Sleep(3 * time.Second) // the API bucket refills after the setup's requests
	t.Run("webhooks", func(t *testing.T) {
		floodCluster(t, c, rate, func(base string, w, i int) *http.Request {
			req, _ := http.NewRequest(http.MethodPost, base+hook, strings.NewReader(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)))
			req.Header.Set("Content-Type", "application/json")
			return req
		})
	})
	t.Run("api", func(t *testing.T) {
		floodCluster(t, c, rate, func(base string, w, i int) *http.Request {
			req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/pipelines", nil)
			req.Header.Set("Authorization", "Bearer "+c.token)
			return req
		})
	})
}

// floodCluster sends 200 requests to each node, four at a time, and
// checks that the cluster let through its limit of rate a second (burst
// 2 × rate) ±10%, answering 429 to the rest.
func floodCluster(t *testing.T, c *cluster3, rate int, request func(base string, w, i int) *http.Request) {
	const perNode = 200
	var allowed, limited, other atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	start := time.Now()
	for _, n := range c.nodes {
		for w := range 4 {
			wg.Go(func() {
				for i := range perNode / 4 {
					resp, err := client.Do(request(n.base, w, i))
					if err != nil {
						other.Add(1)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch resp.StatusCode {
					case http.StatusOK, http.StatusAccepted:
						allowed.Add(1)
					case http.StatusTooManyRequests:
						if resp.Header.Get("Retry-After") == "" {
							other.Add(1)
						}
						limited.Add(1)
					default:
						other.Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	// The cluster may pass the burst plus the rate over the flood's
	// duration.
	limit := 2*rate + int(float64(rate)*elapsed.Seconds())
	got := int(allowed.Load())
	t.Logf("%d requests over 3 nodes in %v: %d accepted, %d limited; cluster-wide limit %d", 3*perNode, elapsed, got, limited.Load(), limit)
	if other.Load() != 0 {
		t.Errorf("%d answers were neither accepted nor 429 with Retry-After", other.Load())
	}
	if limited.Load() == 0 {
		t.Fatalf("nothing was limited: the flood (%d requests in %v) did not reach the limit %d", 3*perNode, elapsed, limit)
	}
	if got < limit*9/10 || got > limit*11/10 {
		t.Errorf("%d accepted, want the cluster-wide limit %d ±10%% (a per-node limit would pass up to %d)", got, limit, 3*limit)
	}
}

// TestThreeNodesRedisRestart: with Redis killed, webhooks keep being
// accepted on every node; a stream open through the outage gets a lag
// marker; once Redis is back, batches reach streams on other nodes again
// and every node answers the same recent records.
func TestThreeNodesRedisRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs server processes")
	}
	c := startCluster3(t, "TRIBUTARY_HOOK_RATE=0")
	id, hook := c.webhook(t, "outage")
	client := &http.Client{Timeout: 10 * time.Second}
	seq := 0
	send := func(node int) {
		t.Helper()
		code, err := post(client, c.nodes[node].base+hook, fmt.Sprintf(`{"seq":%d}`, seq))
		if err != nil || code != http.StatusAccepted {
			t.Fatalf("post seq %d to node %d: %d %v", seq, node, code, err)
		}
		seq++
	}
	for i := range 10 {
		send(i % 3)
	}

	// A stream open on node C through the outage.
	through := openSSE(t, c.nodes[2].base, c.token, id)
	if ev := nextEvent(t, through); ev.name != "recent" {
		t.Fatalf("first event %q", ev.name)
	}
	c.redis.Kill()
	for i := range 30 {
		send(i % 3) // ingest goes on without Redis
	}
	c.redis.Restart()

	// Recovered: a batch posted to node A reaches a stream on node C.
	events := openSSE(t, c.nodes[2].base, c.token, id)
	if ev := nextEvent(t, events); ev.name != "recent" {
		t.Fatalf("first event %q", ev.name)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		want := seq
		send(0)
		got := false
		timeout := time.After(time.Second)
	wait:
		for {
			select {
			case ev := <-events:
				if ev.name == "records" && slices.Contains(seqsOf(t, ev.data), want) {
					got = true
					break wait
				}
			case <-timeout:
				break wait
			}
		}
		if got {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node C's stream never got node A's batches after Redis came back")
		}
	}

	// The stream open through the outage was told that it lost batches
	// (a lag marker, then the recent records to reload from).
	lagged := false
	for !lagged {
		select {
		case ev, ok := <-through:
			if !ok {
				t.Fatal("the stream open through the outage ended")
			}
			lagged = ev.name == "lagged"
		case <-time.After(10 * time.Second):
			t.Fatal("the stream open through the Redis outage got no lag marker")
		}
	}
	if ev := nextEvent(t, through); ev.name != "recent" {
		t.Fatalf("after the lag marker: event %q, want recent", ev.name)
	}

	// Every node answers the same newest records, all of them there.
	var first []int
	for i, n := range c.nodes {
		var page struct {
			Records []struct {
				Data struct {
					Seq int `json:"seq"`
				} `json:"data"`
			} `json:"records"`
		}
		k9API(t, http.MethodGet, n.base+"/api/v1/pipelines/"+id.String()+"/records?limit=100", c.token, "", &page)
		var got []int
		for _, r := range page.Records {
			got = append(got, r.Data.Seq)
		}
		slices.Sort(got)
		if i == 0 {
			first = got
			if len(got) != seq {
				t.Errorf("node 0 lists %d records, want %d", len(got), seq)
			}
		} else if !slices.Equal(got, first) {
			t.Errorf("node %d lists %v, node 0 %v", i, got, first)
		}
	}
}

// TestThreeNodesPolling: 1,000 polling pipelines spread over three nodes
// are polled once per due time; kill -9 of one node while it has polls in
// flight leaves no pipeline without polls (its work is taken up) and polls
// none twice.
func TestThreeNodesPolling(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs server processes")
	}
	pipelines, interval := 1000, 10*time.Second
	if longTests() {
		interval = 2 * time.Second
	}
	var (
		mu       sync.Mutex
		hits     = map[int][]time.Time{}
		inFlight atomic.Int64
		cut      atomic.Int64 // polls whose node went away before the answer
		holding  atomic.Bool  // the API holds its answers until release
		release  = make(chan struct{})
		released sync.Once
	)
	unhold := func() { released.Do(func() { close(release) }) }
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/p/"))
		mu.Lock()
		hits[n] = append(hits[n], time.Now())
		mu.Unlock()
		inFlight.Add(1)
		defer inFlight.Add(-1)
		// A slow API; while held, it answers nothing, so that the node
		// killed below has polls in flight.
		select {
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
			cut.Add(1)
			return
		}
		if holding.Load() {
			select {
			case <-release:
			case <-r.Context().Done():
				cut.Add(1)
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `[{"p":%d}]`, n)
	}))
	t.Cleanup(upstream.Close)
	t.Cleanup(unhold) // before upstream.Close, which waits for the handlers
	const workers = 50
	c := startCluster3(t, "TRIBUTARY_JOB_RESCUE_AFTER=10s", fmt.Sprintf("TRIBUTARY_POLL_WORKERS=%d", workers))
	// Created over all three nodes, eight at a time.
	var created sync.WaitGroup
	errs := make(chan error, pipelines)
	next := make(chan int)
	for range 8 {
		created.Go(func() {
			for i := range next {
				body := fmt.Sprintf(`{"name": "poll-%d", "kind": "polling", "persist": true, "source": {"interval": "%s", "http": {"url": "%s/p/%d"}}}`,
					i, interval, upstream.URL, i)
				code, err := postAPI(c.nodes[i%3].base+"/api/v1/pipelines", c.token, body)
				if err != nil || code != http.StatusCreated {
					errs <- fmt.Errorf("create pipeline %d: %d %v", i, code, err)
				}
			}
		})
	}
	for i := range pipelines {
		next <- i
	}
	close(next)
	created.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Let every node poll for a while, kill one, let the rest go on.
	waitPolls := func(rounds int) time.Time {
		deadline := time.Now().Add(time.Duration(rounds+30) * interval)
		for {
			mu.Lock()
			done := true
			for i := range pipelines {
				if len(hits[i]) < rounds {
					done = false
					break
				}
			}
			mu.Unlock()
			if done {
				return time.Now()
			}
			if time.Now().After(deadline) {
				t.Fatalf("not every pipeline was polled %d times", rounds)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitPolls(2)
	// Hold the answers until more polls are in flight than two nodes'
	// workers can run: then every node, the one killed among them, has
	// some in flight.
	holding.Store(true)
	for deadline := time.Now().Add(time.Minute); inFlight.Load() < 2*workers+10; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never %d polls in flight at once (%d)", 2*workers+10, inFlight.Load())
		}
	}
	_ = c.nodes[1].cmd.Process.Kill()
	_ = c.nodes[1].cmd.Wait()
	killed := time.Now()
	holding.Store(false)
	unhold()
	mu.Lock()
	before := map[int]int{}
	for i := range pipelines {
		before[i] = len(hits[i])
	}
	mu.Unlock()
	// Every pipeline is polled at least twice more after the kill: no
	// gap is left by the dead node.
	// A poll the dead node was running is taken up by another node once
	// the dead node's heartbeat expires (30 s), before its lease (the
	// poll's run timeout, 2 minutes, plus 30 s) would end.
	deadline := time.Now().Add(4*time.Minute + time.Duration(pipelines/50)*interval)
	var resumed time.Time
	for {
		mu.Lock()
		missing := 0
		for i := range pipelines {
			if len(hits[i]) < before[i]+2 {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			resumed = time.Now()
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			for i := range pipelines {
				if len(hits[i]) < before[i]+2 {
					var at []string
					for _, h := range hits[i] {
						at = append(at, h.Sub(killed).Round(time.Millisecond).String())
					}
					t.Logf("pipeline %d: polls at %v from the kill", i, at)
				}
			}
			mu.Unlock()
			t.Fatalf("%d pipelines were not polled again after node 1 died", missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// No pipeline was polled twice for one due time, and none twice in a
	// row after a stall: two polls of a pipeline are never much closer
	// than its interval (a poll taken up late restarts the schedule from
	// itself instead of catching up at once).
	mu.Lock()
	defer mu.Unlock()
	dups, total := 0, 0
	for i := range pipelines {
		h := hits[i]
		total += len(h)
		for j := 1; j < len(h); j++ {
			if h[j].Sub(h[j-1]) < interval/2 {
				dups++
				var at []string
				for _, x := range h {
					at = append(at, x.Sub(killed).Round(time.Millisecond).String())
				}
				t.Errorf("pipeline %d polled at %v and %v; its polls from the kill: %v; its runs: %s", i,
					h[j-1].Format(time.StampMilli), h[j].Format(time.StampMilli), at, pollRuns(t, c.db, i, killed))
				break
			}
		}
	}
	t.Logf("%d pipelines due every %v, %d polls over 3 nodes (one killed with %d polls in flight, taken up after %v): duplicates %d, gaps 0",
		pipelines, interval, total, cut.Load(), resumed.Sub(killed).Round(time.Second), dups)
	if cut.Load() == 0 {
		t.Error("the killed node had no poll in flight: the kill did not land mid-poll")
	}
}

// pollRuns lists the runs of pipeline poll-n, for a failure message:
// start from the kill, duration, records fetched and error.
func pollRuns(t *testing.T, db string, n int, killed time.Time) string {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return err.Error()
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT r.started_at, r.duration_us, r.fetched, r.trigger, r.error
		FROM runs r JOIN pipelines p ON p.id = r.pipeline_id WHERE p.name = $1 ORDER BY r.started_at`, fmt.Sprintf("poll-%d", n))
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var (
			started        time.Time
			us             int64
			fetched        int
			trigger, cause string
		)
		if err := rows.Scan(&started, &us, &fetched, &trigger, &cause); err != nil {
			return err.Error()
		}
		out = append(out, fmt.Sprintf("%v+%v %s fetched %d %q", started.Sub(killed).Round(time.Millisecond),
			(time.Duration(us)*time.Microsecond).Round(time.Millisecond), trigger, fetched, cause))
	}
	return strings.Join(out, "; ")
}

// TestThreeNodesDeliveryKill9: webhook writers feed all three nodes of a
// pipeline with an HTTP sink; with deliveries held in flight at the
// receiver, one node is killed with SIGKILL. Its delivery jobs are taken
// up by the others: every acknowledged record reaches the sink (gaps 0),
// duplicates (at least once) are counted.
func TestThreeNodesDeliveryKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs server processes")
	}
	rc := newDKReceiver(t)
	c := startCluster3(t, "TRIBUTARY_HOOK_RATE=0", "TRIBUTARY_JOB_RESCUE_AFTER=5s", "TRIBUTARY_SINK_ATTEMPT_TIMEOUT=5s",
		"TRIBUTARY_SINK_RETRY_SCHEDULE=100ms,200ms,500ms,1s,1s,2s,2s,5s,5s,5s")
	var pipe struct {
		IngestURL string `json:"ingest_url"`
	}
	k9API(t, http.MethodPost, c.nodes[0].base+"/api/v1/pipelines", c.token,
		`{"name":"delivered","kind":"webhook","sinks":[{"name":"receiver","http":{"url":"`+rc.URL+`/in"}}]}`, &pipe)
	hook := pipe.IngestURL[strings.Index(pipe.IngestURL, "/hooks/"):]

	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		dead  atomic.Int32 // 1 + the index of the killed node, 0 before
		stop  atomic.Bool
		wg    sync.WaitGroup
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 6 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				node := (w + i) % 3
				if int(dead.Load()) == node+1 {
					continue
				}
				keys := make([]string, 1+i%5)
				recs := make([]string, len(keys))
				for j := range keys {
					keys[j] = fmt.Sprintf("%d-%d-%d", w, i, j)
					recs[j] = fmt.Sprintf(`{"key":%q}`, keys[j])
				}
				code, err := post(client, c.nodes[node].base+hook, "["+strings.Join(recs, ",")+"]")
				if err == nil && code == http.StatusAccepted {
					mu.Lock()
					for _, k := range keys {
						acked[k] = true
					}
					mu.Unlock()
				}
			}
		})
	}
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	for deadline := time.Now().Add(60 * time.Second); ackedCount() < 1500 || rc.distinct() < 200; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d records acknowledged and %d delivered in 60s", ackedCount(), rc.distinct())
		}
	}
	// Hold deliveries at the receiver, so that the nodes' sink jobs are
	// in flight, then kill node 1.
	hold := make(chan struct{})
	rc.mu.Lock()
	rc.hold, rc.held = hold, 0
	rc.mu.Unlock()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		rc.mu.Lock()
		h := rc.held
		rc.mu.Unlock()
		if h >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no deliveries reached the receiver to be held")
		}
	}
	dead.Store(2)
	_ = c.nodes[1].cmd.Process.Signal(syscall.SIGKILL)
	_ = c.nodes[1].cmd.Wait()
	rc.mu.Lock()
	held := rc.held
	rc.hold = nil
	rc.mu.Unlock()
	close(hold)
	time.Sleep(2 * time.Second) // the survivors go on taking writes
	stop.Store(true)
	wg.Wait()

	missing := func() int {
		mu.Lock()
		defer mu.Unlock()
		rc.mu.Lock()
		defer rc.mu.Unlock()
		n := 0
		for k := range acked {
			if rc.got[k] == 0 {
				n++
			}
		}
		return n
	}
	start := time.Now()
	for deadline := start.Add(2 * time.Minute); missing() > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged records never reached the sink after node 1 was killed", missing(), ackedCount())
		}
	}
	rc.mu.Lock()
	dups := 0
	for _, n := range rc.got {
		dups += n - 1
	}
	rc.mu.Unlock()
	t.Logf("3 nodes, node 1 killed with %d deliveries held in flight: %d acknowledged records all delivered (%v after the kill), gaps 0, %d duplicates (at least once)",
		held, ackedCount(), time.Since(start).Round(time.Second), dups)
}
