package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/httpapi"
	"github.com/tributary-dev/tributary/internal/ingest"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/ratelimit"
	"github.com/tributary-dev/tributary/internal/secrets"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
	"github.com/tributary-dev/tributary/internal/vault"
)

// TestFairShareLatency measures (and reports, without asserting) the p99
// latency of one team's small webhook requests, sent one after another
// through the real HTTP server, while another team floods the same node
// (issue 11: another team's p99 within 2× of quiet under every flood):
//
//   - a mapping-CPU flood: 8 senders of 20 records whose 10 fields each
//     loop 9,000 times (about 30 ms of CPU per record);
//   - 10× its rate limit: 4 senders trying 1,000 requests a second against
//     the team's limit of 100 (the rest get 429);
//   - huge batches: 2 senders of 10,000 cheap records per request (the
//     default max_records), which the group-commit writer shares with the
//     quiet team's batches.
//
// Each run measures team B's p99 alone and then under the flood, in the
// same process one after the other, so the ratio compares like with like
// on a shared machine; the row reports the median ratio of the runs
// (TRIBUTARY_FAIRNESS_RUNS, default 5). It runs with
// TRIBUTARY_MEASURE_FAIRNESS=1:
//
//	TRIBUTARY_MEASURE_FAIRNESS=1 go test -run TestFairShareLatency -v ./internal/ingest/
//
// `make proof` (bench/proof) turns each "PROOF" line into a row, failed
// when the median ratio is over 2.
func TestFairShareLatency(t *testing.T) {
	if os.Getenv("TRIBUTARY_MEASURE_FAIRNESS") == "" {
		t.Skip("a measurement: set TRIBUTARY_MEASURE_FAIRNESS=1")
	}
	runs := 5
	if v, err := strconv.Atoi(os.Getenv("TRIBUTARY_FAIRNESS_RUNS")); err == nil && v > 0 {
		runs = v
	}
	backends := storetest.Backends
	if b := os.Getenv("TRIBUTARY_FAIRNESS_BACKEND"); b != "" {
		backends = []string{b}
	}
	only := os.Getenv("TRIBUTARY_FAIRNESS_FLOOD")
	for _, backend := range backends {
		on := newFairEnv(t, backend, 0)
		var off *fairEnv
		for _, f := range floods {
			if only != "" && !strings.Contains(f.name, only) {
				continue
			}
			var quiet, flood, ratios []float64
			var sent, refused int64
			for run := range runs {
				r := on.run(t, f)
				quiet, flood = append(quiet, ms(r.quiet)), append(flood, ms(r.flood))
				ratios = append(ratios, math.Round(float64(r.flood)/float64(max(r.quiet, time.Microsecond))*10)/10)
				sent, refused = sent+r.sent, refused+r.refused
				t.Logf("%s, %s, run %d: team B p99 quiet %s, under the flood %s; the flood sent %d requests, %d refused with 429; goroutines waited to run %s",
					backend, f.name, run+1, r.quiet, r.flood, r.sent, r.refused, r.sched)
			}
			ratio := median(ratios)
			figures := map[string]any{
				"p99 quiet ms (median)": median(quiet), "p99 flood ms (median)": median(flood),
				"flood/quiet median (promise: 2 at most)": ratio, "flood/quiet per run": fmt.Sprint(ratios),
				"flooding team's requests": sent, "refused with 429": refused,
			}
			if f.name == floods[0].name {
				// The same flood without the CPU share, once: what the share
				// is for.
				if off == nil {
					off = newFairEnv(t, backend, -1)
				}
				r := off.run(t, f)
				figures["flood/quiet with the CPU share off (1 run)"] = math.Round(float64(r.flood)/float64(max(r.quiet, time.Microsecond))*10) / 10
			}
			t.Logf("%s, %s: team B p99 flood/quiet, median of %d runs: %.1f (runs %v)", backend, f.name, runs, ratio, ratios)
			row, _ := json.Marshal(map[string]any{
				"promise": "abuse: another team's p99 under " + f.name, "backend": backend,
				"runs": runs, "failed": ratio > 2, "figures": figures,
			})
			t.Logf("PROOF %s", row)
		}
	}
}

// flood is one way team A loads the node.
type flood struct {
	name    string
	senders int
	// costly: the pipeline with costly mappings, else the cheap one.
	costly  bool
	records int
	// every is each sender's pace; 0 sends back to back.
	every time.Duration
}

// The flooding team's webhook limit (10× of it is the second flood).
const floodTeamRate = 100

var floods = []flood{
	{name: "a mapping-CPU flood", senders: 8, costly: true, records: 20},
	{name: "a flood at 10x its team's rate limit", senders: 4, records: 10, every: 4 * time.Millisecond},
	{name: "a flood of huge batches", senders: 2, records: 10000},
}

// fairEnv is a node: store, engine, ingest and the HTTP server of the
// webhook route, with team A's two pipelines and team B's.
type fairEnv struct {
	srv                  *httptest.Server
	client               *http.Client
	costly, cheap, quiet core.Pipeline
}

// fairActive counts the requests the test's servers are handling, so
// that a run measures quiet only once the floods' requests are done, on
// every server of the test (a canceled request's mapping may go on for a
// while, without the CPU share for all of it).
var fairActive atomic.Int64

// onlyTeam limits one team's webhooks with the production limiter (a
// node's share without Redis) and lets the other teams through, so that
// the quiet team is never limited.
type onlyTeam struct {
	team string
	lim  *ratelimit.Limiter
}

func (o onlyTeam) Allow(ctx context.Context, key string, now time.Time) (bool, time.Duration) {
	if key != o.team {
		return true, 0
	}
	return o.lim.Allow(ctx, key, now)
}

func newFairEnv(t *testing.T, backend string, slots int) *fairEnv {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, backend)
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	broker, err := pubsub.NewMemory(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Close() })
	eng, err := engine.New(engine.Config{Compiler: compiler, CPUSlots: slots}, st, c, broker, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	owner, err := st.CreateUser(ctx, store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team := func(name string) uuid.UUID {
		tm, err := st.CreateTeam(ctx, store.NewTeam{Name: name, Slug: name + "-" + uuid.NewString()[:8]}, owner.ID)
		if err != nil {
			t.Fatal(err)
		}
		return tm.ID
	}
	pipe := func(team uuid.UUID, name, fields string) core.Pipeline {
		cs, err := compiler.Parse(fmt.Appendf(nil, `{"name": %q, "kind": "webhook", "mapping": {"fields": {%s}}}`, name, fields))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := cs.Spec.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		p, err := st.CreatePipeline(ctx, team, store.NewPipeline{Name: name, Kind: core.KindWebhook, Spec: doc, HookToken: uuid.NewString()})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	var heavy []string
	for i := range 10 {
		heavy = append(heavy, fmt.Sprintf(`"f%d": {"expr": "len(filter(1..9000, # %% 7 == 0))", "type": "number"}`, i))
	}
	a, b := team("flood"), team("quiet")
	e := &fairEnv{
		costly: pipe(a, "costly", strings.Join(heavy, ",")),
		cheap:  pipe(a, "cheap", `"n": {"path": "n", "type": "number"}`),
		quiet:  pipe(b, "quiet", `"n": {"path": "n", "type": "number"}`),
	}
	lim := onlyTeam{team: a.String(), lim: ratelimit.New(ratelimit.Config{Rate: floodTeamRate, Burst: floodTeamRate, Name: "hooks"}, nil)}
	svc := ingest.New(ingest.Config{}, ingest.Deps{Store: st, Engine: eng, Limiter: lim,
		Secrets: vault.New(st, secrets.NewBox(secrets.GenerateKey()))})
	api := httpapi.New(httpapi.Config{MaxBodyBytes: 1 << 20}, httpapi.Deps{
		Compiler: compiler, Registry: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler),
	})
	api.RegisterHooks(svc)
	h := api.Handler()
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fairActive.Add(1)
		defer fairActive.Add(-1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(e.srv.Close)
	e.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(e.client.CloseIdleConnections)
	return e
}

// post sends body to p's webhook and returns the status.
func (e *fairEnv) post(ctx context.Context, p core.Pipeline, body string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/hooks/"+p.HookToken, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// fairRun is what one run measured.
type fairRun struct {
	quiet, flood  time.Duration
	sent, refused int64
	// sched is how long the process's goroutines waited to run while team
	// B measured under the flood (a shared machine's load shows there).
	sched string
}

// run measures team B's p99 alone, then under f.
func (e *fairEnv) run(t *testing.T, f flood) fairRun {
	t.Helper()
	var r fairRun
	// Quiet means quiet: whatever an earlier flood left running ends
	// first.
	e.settle(t)
	r.quiet = e.quietP99(t)

	target := e.cheap
	if f.costly {
		target = e.costly
	}
	body := "[" + strings.TrimSuffix(strings.Repeat(`{"n": 1},`, f.records), ",") + "]"
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var sent, refused atomic.Int64
	for i := range f.senders {
		wg.Go(func() {
			next := time.Now().Add(time.Duration(i) * f.every / time.Duration(f.senders))
			for ctx.Err() == nil {
				if f.every > 0 {
					time.Sleep(time.Until(next))
					next = next.Add(f.every)
				}
				status, err := e.post(ctx, target, body)
				switch {
				case ctx.Err() != nil:
					return
				case err != nil:
					t.Errorf("flood: %v", err)
					return
				case status == http.StatusTooManyRequests:
					refused.Add(1)
				case status != http.StatusAccepted:
					t.Errorf("flood: status %d", status)
					return
				}
				sent.Add(1)
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // the flood under way
	before := schedLatencies()
	r.flood = e.quietP99(t)
	r.sched = schedQuantiles(before, schedLatencies())
	cancel()
	wg.Wait()
	r.sent, r.refused = sent.Load(), refused.Load()
	return r
}

// settle waits until the server handles no request, and then a little,
// for what those requests left to the garbage collector.
func (e *fairEnv) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for fairActive.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still in progress a minute after the flood", fairActive.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	runtime.GC()
	time.Sleep(100 * time.Millisecond)
}

// quietP99 sends team B's 1,000 small requests one after another (fewer
// when they take more than 20 s, at least 200) and returns the 99th
// percentile of their latencies. The p99 of 200 was the third worst
// request, and the ratios of runs ranged over 0.4–4 on this machine.
func (e *fairEnv) quietP99(t *testing.T) time.Duration {
	t.Helper()
	lat := make([]time.Duration, 0, 1000)
	deadline := time.Now().Add(20 * time.Second)
	for i := range cap(lat) {
		if i >= 200 && time.Now().After(deadline) {
			break
		}
		start := time.Now()
		status, err := e.post(context.Background(), e.quiet, fmt.Sprintf(`{"n": %d}`, i))
		if err != nil || status != http.StatusAccepted {
			t.Fatalf("team B: status %d, err %v", status, err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return lat[len(lat)*99/100]
}

// schedLatencies reads the runtime's histogram of the time goroutines
// waited to run.
func schedLatencies() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	return s[0].Value.Float64Histogram()
}

// schedQuantiles describes the waits between two readings: their p99 and
// p99.9 (upper bounds of the histogram's buckets).
func schedQuantiles(a, b *metrics.Float64Histogram) string {
	var total uint64
	counts := make([]uint64, len(b.Counts))
	for i := range b.Counts {
		counts[i] = b.Counts[i] - a.Counts[i]
		total += counts[i]
	}
	out := ""
	for _, q := range []float64{0.99, 0.999} {
		var c uint64
		for i := range counts {
			if c += counts[i]; float64(c) >= q*float64(total) {
				out += fmt.Sprintf(" p%g %.2f ms", q*100, b.Buckets[i+1]*1000)
				break
			}
		}
	}
	return strings.TrimSpace(out)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return math.Round((s[len(s)/2-1]+s[len(s)/2])/2*10) / 10
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/100) / 10 }
