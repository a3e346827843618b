package poll_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/netguard"
	"github.com/tributary-dev/tributary/internal/poll"
	"github.com/tributary-dev/tributary/internal/secrets"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
	"github.com/tributary-dev/tributary/internal/vault"
)

// pollEnv is a store, an engine and a poll service on one backend (not
// started: it arms schedules and runs the check), with schedulers started
// on demand (several, to play several nodes or a restarted one).
type pollEnv struct {
	t       *testing.T
	backend string
	store   store.Store
	engine  *engine.Engine
	vault   *vault.Vault
	guard   *netguard.Guard
	cfg     poll.Config
	polling *poll.Service
	team    core.Team
	logs    *lockedBuffer
	// metrics is the engine's registry.
	metrics *prometheus.Registry
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func eachPollBackend(t *testing.T, fn func(t *testing.T, e *pollEnv)) {
	t.Helper()
	t.Parallel()
	for _, b := range storetest.Backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, newPollEnv(t, b, poll.Config{}))
		})
	}
}

func newPollEnv(t *testing.T, backend string, cfg poll.Config) *pollEnv {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, backend)
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	eng, err := engine.New(engine.Config{Registerer: reg, Compiler: compiler}, st, nil, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	key, err := secrets.ParseKey(strings.Repeat("cd", 32))
	if err != nil {
		t.Fatal(err)
	}
	v := vault.New(st, secrets.NewBox(key))
	guard := netguard.New(netguard.Config{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if cfg.FetchInterval == 0 {
		cfg.FetchInterval = 20 * time.Millisecond
	}
	if cfg.MaxJitter == 0 {
		cfg.MaxJitter = -1
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = time.Second
	}
	if cfg.HostRate == 0 {
		cfg.HostRate = -1 // no per-host limit unless the test sets one
	}
	cfg.Logger = log
	polling, err := poll.New(cfg, st, eng, v, guard)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := st.CreateTeam(ctx, store.NewTeam{Name: "t", Slug: "t-" + uuid.NewString()[:8]}, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return &pollEnv{t: t, backend: backend, store: st, engine: eng, vault: v, guard: guard, cfg: cfg, polling: polling, team: team, logs: logs, metrics: reg}
}

// start starts a scheduler of polls with 4 workers, as one node; stop it
// with the returned function (graceful unless cancel).
func (e *pollEnv) start() (stop func(cancel bool)) {
	e.t.Helper()
	return e.startNode(poll.Config{})
}

// startNode starts a scheduler with the environment's settings and the
// owner and node of cfg.
func (e *pollEnv) startNode(cfg poll.Config) (stop func(cancel bool)) {
	e.t.Helper()
	node := e.cfg
	node.Workers, node.Owner, node.Node = 4, cfg.Owner, cfg.Node
	s, err := poll.New(node, e.store, e.engine, e.vault, e.guard)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	var once sync.Once
	stop = func(cancel bool) {
		once.Do(func() {
			ctx, c := context.WithTimeout(context.Background(), 10*time.Second)
			if cancel {
				c()
			}
			defer c()
			_ = s.Stop(ctx)
		})
	}
	e.t.Cleanup(func() { stop(true) })
	return stop
}

// commits is how many batches the engine committed, from its metrics.
func (e *pollEnv) commits() uint64 {
	e.t.Helper()
	mfs, err := e.metrics.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "tributary_engine_batch_records" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// create saves a polling pipeline with spec (a JSON template with %s for
// the API's URL) and arms its first poll.
func (e *pollEnv) create(name, spec string) core.Pipeline {
	e.t.Helper()
	c, err := compiler.Parse([]byte(spec))
	if err != nil {
		e.t.Fatal(err)
	}
	canonical, err := c.Spec.Canonical()
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := e.store.CreatePipeline(context.Background(), e.team.ID, store.NewPipeline{Name: name, Kind: core.KindPolling, Spec: canonical})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.polling.Schedule(context.Background(), p, time.Now(), false); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *pollEnv) runs(p core.Pipeline) []core.Run {
	e.t.Helper()
	rs, err := e.store.Runs(context.Background(), e.team.ID, p.ID, store.RunQuery{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

func (e *pollEnv) records(p core.Pipeline) []core.Record {
	e.t.Helper()
	rs, err := e.store.Records(context.Background(), e.team.ID, p.ID, store.RecordQuery{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

func (e *pollEnv) pipeline(p core.Pipeline) core.Pipeline {
	e.t.Helper()
	got, err := e.store.Pipeline(context.Background(), e.team.ID, p.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

func (e *pollEnv) waitFor(within time.Duration, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settledRuns returns p's runs once there is one for each request a
// answered (and, with everyRequest, a answered every request it got):
// compared between polls, since a request answered a moment ago may not
// have committed its run yet. A count that never settles (a period polled
// twice, a run lost) fails the test.
func (e *pollEnv) settledRuns(p core.Pipeline, a *growingAPI, everyRequest bool) []core.Run {
	e.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		runs := e.runs(p)
		requests, answered := a.counts()
		if len(runs) == answered && (!everyRequest || requests == answered) {
			return runs
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d runs, %d requests, %d answered: a period was polled twice or a run lost", len(runs), requests, answered)
		}
	}
}

// growingAPI is an API whose data grows by three items with every
// request; it answers the items at or after ?since= (inclusive, so
// consecutive polls overlap by one item, which dedup removes).
type growingAPI struct {
	*httptest.Server
	mu        sync.Mutex
	requests  int
	answered  int          // requests answered with data
	sinces    []string     // the since of every request
	garbled   []bool       // whether each request was answered malformed JSON
	fail      atomic.Int32 // >0: answer 500 "backend down"
	garbage   atomic.Bool  // answer malformed JSON
	block     chan struct{}
	blocked   chan struct{}
	abandoned chan struct{} // a blocked request whose client went away
}

var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func newGrowingAPI(t *testing.T) *growingAPI {
	a := &growingAPI{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.requests++
		n := a.requests
		since := r.URL.Query().Get("since")
		a.sinces = append(a.sinces, since)
		garbage := a.garbage.Load()
		a.garbled = append(a.garbled, garbage && a.fail.Load() == 0)
		block, abandoned := a.block, a.abandoned
		a.mu.Unlock()
		if block != nil {
			a.blocked <- struct{}{}
			select {
			case <-block:
			case <-r.Context().Done():
				if abandoned != nil {
					abandoned <- struct{}{}
				}
				return
			}
		}
		if a.fail.Load() > 0 {
			http.Error(w, "backend down", http.StatusInternalServerError)
			return
		}
		if garbage {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"items": [{"id": 1}`))
			return
		}
		var out []map[string]any
		for i := 0; i < 3*n; i++ {
			ts := base.Add(time.Duration(i) * time.Second).Format(time.RFC3339)
			if ts >= since {
				out = append(out, map[string]any{"id": i, "ts": ts, "temp": 20 + i})
			}
		}
		a.mu.Lock()
		a.answered++
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"items": out})
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *growingAPI) counts() (requests, answered int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.requests, a.answered
}

func (a *growingAPI) spec(name, interval string) string {
	return fmt.Sprintf(`{"name":%q,"kind":"polling","source":{
		"http":{"url":"%s/items","query":{"since":"{{ state.since }}"},"records":"items","dedup":{"key":"id"}},
		"interval":%q,
		"state":{"since":{"from":"ts","initial":"2000-01-01T00:00:00Z"}}},
		"mapping":{"timestamp":{"path":"ts"},"fields":{"id":{"type":"integer"},"temp":{"type":"number"}}}}`, name, a.URL, interval)
}

// checkUnique fails when a record id is stored twice, and returns the
// count.
func checkUnique(t *testing.T, recs []core.Record) int {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range recs {
		var v struct {
			ID json.Number `json:"id"`
		}
		if err := json.Unmarshal(r.Data, &v); err != nil {
			t.Fatal(err)
		}
		if seen[v.ID.String()] {
			t.Fatalf("record id %s stored twice", v.ID)
		}
		seen[v.ID.String()] = true
	}
	return len(seen)
}

func TestPollingEndToEnd(t *testing.T) {
	eachPollBackend(t, func(t *testing.T, e *pollEnv) {
		a := newGrowingAPI(t)
		e.start()
		created := time.Now()
		p := e.create("growing", a.spec("growing", "1s"))
		e.waitFor(20*time.Second, "four polls", func() bool { return len(e.runs(p)) >= 4 })
		runs := e.runs(p)
		for _, r := range runs {
			if r.Error != "" || r.Trigger != core.TriggerPoll {
				t.Fatalf("run %+v", r)
			}
		}
		// Each poll asked from the newest ts stored so far: the state moved
		// with each batch.
		a.mu.Lock()
		sinces := append([]string(nil), a.sinces...)
		a.mu.Unlock()
		if sinces[0] != "2000-01-01T00:00:00Z" || sinces[1] != base.Add(2*time.Second).Format(time.RFC3339) || sinces[2] != base.Add(5*time.Second).Format(time.RFC3339) {
			t.Fatalf("sinces %v", sinces)
		}
		// The second poll fetched 4 items, one of which the first stored
		// already: dedup dropped it, and it counts in fetched (issue 12).
		if second := runs[len(runs)-2]; second.Fetched != second.Stored+second.Rejected+1 || second.Stored != 3 {
			t.Fatalf("second run: fetched %d, stored %d, rejected %d; want 4 fetched, 3 stored", second.Fetched, second.Stored, second.Rejected)
		}
		// Overlapping polls stored each record once.
		n := len(e.runs(p))
		_, answered := a.counts()
		if got := checkUnique(t, e.records(p)); got < 3*n || got > 3*answered {
			t.Fatalf("%d records after %d runs (%d answered)", got, n, answered)
		}
		// Runs follow the interval: never more polls than due times since
		// the pipeline was created (a late poll may start close to the
		// next one, so the gap between two says nothing under load).
		runs = e.runs(p)
		if due := int(time.Since(created)/time.Second) + 1; len(runs) > due {
			t.Errorf("%d runs in %s at an interval of 1s: at most %d due times", len(runs), time.Since(created), due)
		}
	})
}

func TestPollingFailuresAndRecovery(t *testing.T) {
	eachPollBackend(t, func(t *testing.T, e *pollEnv) {
		a := newGrowingAPI(t)
		stop := e.start()
		p := e.create("flaky", a.spec("flaky", "1s"))
		e.waitFor(10*time.Second, "a first good poll", func() bool { return len(e.runs(p)) >= 1 })
		a.fail.Store(1)
		e.waitFor(20*time.Second, "the pipeline to be failing", func() bool { return e.pipeline(p).Status == core.StatusFailing })
		runs := e.runs(p)
		failed := 0
		for _, r := range runs {
			if r.Error != "" {
				failed++
				if !strings.Contains(r.Error, "answered 500 Internal Server Error: backend down") || !strings.Contains(r.Error, "since=REDACTED") {
					t.Fatalf("run error %q", r.Error)
				}
			}
		}
		if failed < poll.DefaultFailingAfter {
			t.Fatalf("failing after %d failed runs", failed)
		}
		// The failed polls kept the state: every one asked for the same range.
		a.mu.Lock()
		sinces := append([]string(nil), a.sinces[1:]...)
		a.mu.Unlock()
		for _, s := range sinces {
			if s != sinces[0] {
				t.Fatalf("the failed polls asked for different ranges: %v", sinces)
			}
		}
		before := len(e.records(p))
		a.fail.Store(0)
		e.waitFor(20*time.Second, "the pipeline to recover", func() bool { return e.pipeline(p).Status == core.StatusActive })
		e.waitFor(10*time.Second, "records of the good poll", func() bool { return len(e.records(p)) > before })
		checkUnique(t, e.records(p))
		// Failed polls are runs of the engine like the others: once the
		// node stopped, its metrics counted every run, failed ones too.
		stop(false)
		if runs, commits := len(e.runs(p)), e.commits(); uint64(runs) != commits {
			t.Fatalf("%d runs, %d of them committed through the engine", runs, commits)
		}
	})
}

func TestPollingMalformedResponseKeepsState(t *testing.T) {
	eachPollBackend(t, func(t *testing.T, e *pollEnv) {
		a := newGrowingAPI(t)
		e.start()
		p := e.create("garbled", a.spec("garbled", "1s"))
		e.waitFor(10*time.Second, "a first good poll", func() bool { return len(e.runs(p)) >= 1 })
		a.garbage.Store(true)
		e.waitFor(10*time.Second, "a failed poll", func() bool {
			for _, r := range e.runs(p) {
				if r.Error != "" {
					return true
				}
			}
			return false
		})
		var msg string
		for _, r := range e.runs(p) {
			if r.Error != "" {
				msg = r.Error
			}
		}
		if !strings.Contains(msg, "the response is not valid JSON") || !strings.Contains(msg, "GET http://127.0.0.1") {
			t.Fatalf("run error %q", msg)
		}
		a.garbage.Store(false)
		want := base.Add(2 * time.Second).Format(time.RFC3339)
		e.waitFor(10*time.Second, "a good poll again", func() bool { return e.runs(p)[0].Error == "" })
		a.mu.Lock()
		defer a.mu.Unlock()
		// Every poll after the first good one, up to and including the
		// first good one after the malformed responses, asked from the
		// state of the first: the failures kept it.
		garbled, recovered := 0, false
		for i := 1; i < len(a.sinces) && !recovered; i++ {
			if a.sinces[i] != want {
				t.Fatalf("request %d asked since %s, want %s (all: %v)", i, a.sinces[i], want, a.sinces)
			}
			if a.garbled[i] {
				garbled++
			} else if garbled > 0 {
				recovered = true
			}
		}
		if garbled == 0 || !recovered {
			t.Fatalf("%d malformed responses, recovered %v: requests %v, malformed %v", garbled, recovered, a.sinces, a.garbled)
		}
	})
}

func TestPollingPauseResumeRunNow(t *testing.T) {
	eachPollBackend(t, func(t *testing.T, e *pollEnv) {
		ctx := context.Background()
		a := newGrowingAPI(t)
		e.start()
		// A long interval: after the first poll, only "run now" polls.
		p := e.create("hourly", a.spec("hourly", "1h"))
		e.waitFor(10*time.Second, "the first poll and the next in an hour", func() bool {
			sched, err := e.polling.NextPoll(ctx, p.TeamID, p.ID)
			return err == nil && time.Until(sched.NextDue) > 55*time.Minute && sched.LeaseDue == nil
		})
		if n := len(e.runs(p)); n != 1 {
			t.Fatalf("%d runs after the first poll", n)
		}
		if _, err := e.polling.Schedule(ctx, e.pipeline(p), time.Now(), true); err != nil {
			t.Fatal(err)
		}
		// The schedule goes on an interval after the manual poll.
		e.waitFor(10*time.Second, "the manual poll and the next in an hour", func() bool {
			sched, err := e.polling.NextPoll(ctx, p.TeamID, p.ID)
			return len(e.runs(p)) == 2 && err == nil && time.Until(sched.NextDue) > 55*time.Minute && sched.LeaseDue == nil
		})
		if r := e.runs(p)[0]; r.Trigger != core.TriggerManual || r.Error != "" {
			t.Fatalf("manual run %+v", r)
		}

		// Pause: the pending poll finds the pipeline paused and stops.
		q := e.create("secondly", a.spec("secondly", "1s"))
		e.waitFor(10*time.Second, "polls", func() bool { return len(e.runs(q)) >= 2 })
		if _, err := e.store.SetPipelineStatus(ctx, e.team.ID, q.ID, core.StatusPaused); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond) // a poll running when it was paused finishes
		paused := len(e.runs(q))
		time.Sleep(2500 * time.Millisecond)
		if n := len(e.runs(q)); n != paused {
			t.Fatalf("%d runs while paused", n-paused)
		}
		// Resume arms the schedule again.
		resumed, err := e.store.SetPipelineStatus(ctx, e.team.ID, q.ID, core.StatusActive)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.polling.Schedule(ctx, resumed, time.Now(), false); err != nil {
			t.Fatal(err)
		}
		e.waitFor(10*time.Second, "polls after resume", func() bool { return len(e.runs(q)) >= paused+2 })
		checkUnique(t, e.records(q))
	})
}

// TestPollingRestart stops a node and starts another on the same database:
// the schedule goes on, and no period is polled twice.
func TestPollingRestart(t *testing.T) {
	eachPollBackend(t, func(t *testing.T, e *pollEnv) {
		a := newGrowingAPI(t)
		stop := e.start()
		p := e.create("restart", a.spec("restart", "1s"))
		e.waitFor(10*time.Second, "polls on the first node", func() bool { return len(e.runs(p)) >= 2 })
		stop(false)
		first := len(e.runs(p))
		time.Sleep(1500 * time.Millisecond)
		e.start()
		e.waitFor(15*time.Second, "polls on the second node", func() bool { return len(e.runs(p)) >= first+3 })
		e.settledRuns(p, a, true)
		checkUnique(t, e.records(p))
	})
}

// TestPollingKilledMidPoll cancels a node while its poll waits for the
// API: the poll is retried on the next node and commits once.
func TestPollingKilledMidPoll(t *testing.T) {
	eachPollBackend(t, func(t *testing.T, e *pollEnv) {
		a := newGrowingAPI(t)
		stop := e.start()
		p := e.create("killed", a.spec("killed", "1s"))
		e.waitFor(10*time.Second, "a first poll", func() bool { return len(e.runs(p)) >= 1 })
		a.mu.Lock()
		a.block, a.blocked, a.abandoned = make(chan struct{}), make(chan struct{}, 10), make(chan struct{}, 10)
		a.mu.Unlock()
		<-a.blocked
		stop(true) // the node dies with the poll in flight
		// The API must see the dead node's request go away before it is
		// unblocked: released first, it would answer a request nobody
		// reads any more and count it as answered.
		select {
		case <-a.abandoned:
		case <-time.After(10 * time.Second):
			t.Fatal("the dead node's request was not abandoned")
		}
		before := len(e.runs(p))
		a.mu.Lock()
		close(a.block)
		a.block = nil
		a.mu.Unlock()
		e.start()
		e.waitFor(30*time.Second, "polls on the next node", func() bool { return len(e.runs(p)) >= before+2 })
		runs := e.settledRuns(p, a, false)
		for _, r := range runs {
			if r.Error != "" {
				t.Fatalf("run %+v", r)
			}
		}
		checkUnique(t, e.records(p))
	})
}

// TestPollingCheckArmsUnscheduled: a polling pipeline created without a
// schedule (another path than the pipeline service) is armed by the
// periodic check.
func TestPollingCheckArmsUnscheduled(t *testing.T) {
	t.Parallel()
	e := newPollEnv(t, storetest.SQLite, poll.Config{})
	a := newGrowingAPI(t)
	ctx := context.Background()
	c, _ := compiler.Parse([]byte(a.spec("unarmed", "1s")))
	canonical, _ := c.Spec.Canonical()
	q, err := e.store.CreatePipeline(ctx, e.team.ID, store.NewPipeline{Name: "unarmed", Kind: core.KindPolling, Spec: canonical})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.polling.Check(ctx); err != nil {
		t.Fatal(err)
	}
	e.start()
	e.waitFor(15*time.Second, "polls of the unarmed pipeline", func() bool { return len(e.runs(q)) >= 2 })
}

// TestPollingRestartedNodeFreesItsLeases: a poll claimed by a process
// that died (its lease holds for minutes) is polled at once by the next
// process of the same node, which frees its dead processes' leases.
func TestPollingRestartedNodeFreesItsLeases(t *testing.T) {
	eachPollBackend(t, func(t *testing.T, e *pollEnv) {
		ctx := context.Background()
		a := newGrowingAPI(t)
		p := e.create("orphan", a.spec("orphan", "1s"))
		now := time.Now().Add(time.Second)
		got, err := e.store.ClaimDuePolls(ctx, store.PollBatchClaim{Owner: "slot-1@dead", Now: now, LeaseUntil: now.Add(time.Hour), Limit: 10})
		if err != nil || len(got) != 1 {
			t.Fatalf("claim by the dead process: %+v, %v", got, err)
		}
		// Another node leaves the lease alone.
		e.startNode(poll.Config{Owner: "slot-2@alive", Node: "slot-2"})
		time.Sleep(300 * time.Millisecond)
		if n := len(e.runs(p)); n != 0 {
			t.Fatalf("%d runs while the lease holds", n)
		}
		e.startNode(poll.Config{Owner: "slot-1@restarted", Node: "slot-1"})
		e.waitFor(15*time.Second, "polls after the restart", func() bool { return len(e.runs(p)) >= 2 })
		e.settledRuns(p, a, false)
		checkUnique(t, e.records(p))
	})
}

// TestPollOncePerDueAcrossNodes runs pipelines on two nodes at once: each
// due time is polled by one of them, once.
func TestPollOncePerDueAcrossNodes(t *testing.T) {
	eachPollBackend(t, func(t *testing.T, e *pollEnv) {
		apis := make([]*growingAPI, 6)
		pipes := make([]core.Pipeline, len(apis))
		e.startNode(poll.Config{Owner: "node-a"})
		e.startNode(poll.Config{Owner: "node-b"})
		for i := range apis {
			apis[i] = newGrowingAPI(t)
			name := fmt.Sprintf("p%d", i)
			pipes[i] = e.create(name, apis[i].spec(name, "1s"))
		}
		for i, p := range pipes {
			e.waitFor(30*time.Second, "polls", func() bool { return len(e.runs(p)) >= 3 })
			runs := e.runs(p)
			requests, answered := apis[i].counts()
			if len(runs) > answered || requests > answered+1 {
				t.Fatalf("pipeline %d: %d runs, %d requests, %d answered: a due time was polled twice", i, len(runs), requests, answered)
			}
			checkUnique(t, e.records(p))
		}
	})
}

// TestPollingLateRestartsSchedule: a poll taken up late (its lease was
// held by a process that died) is the catch-up itself: the next poll is
// one interval after it, not at once, so a stall does not make two polls
// of the API in a row.
func TestPollingLateRestartsSchedule(t *testing.T) {
	eachPollBackend(t, func(t *testing.T, e *pollEnv) {
		ctx := context.Background()
		a := newGrowingAPI(t)
		p := e.create("late", a.spec("late", "4s"))
		now := time.Now().Add(time.Second)
		if got, err := e.store.ClaimDuePolls(ctx, store.PollBatchClaim{Owner: "slot-1@dead", Now: now, LeaseUntil: now.Add(time.Hour), Limit: 10}); err != nil || len(got) != 1 {
			t.Fatalf("claim by the dead process: %+v, %v", got, err)
		}
		sched, err := e.store.PollSchedule(ctx, e.team.ID, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		due := sched.NextDue
		time.Sleep(time.Until(due.Add(2 * time.Second))) // half an interval late
		e.startNode(poll.Config{Owner: "slot-1@restarted", Node: "slot-1"})
		e.waitFor(15*time.Second, "the late poll", func() bool { return len(e.runs(p)) >= 1 })
		started := e.runs(p)[0].StartedAt
		if late := started.Sub(due); late < 2*time.Second {
			t.Fatalf("the first poll started %v after its due time; the test needs it late", late)
		}
		var next time.Time
		e.waitFor(5*time.Second, "the next due time", func() bool {
			s, err := e.store.PollSchedule(ctx, e.team.ID, p.ID)
			next = s.NextDue
			return err == nil && next.After(due)
		})
		// One interval after the late poll, less the jitter (interval/20).
		if earliest := started.Add(4*time.Second - 200*time.Millisecond); next.Before(earliest) {
			t.Fatalf("after a poll %v late the next is due %v after it, want about one interval (4s)", started.Sub(due), next.Sub(started))
		}
	})
}

// TestPollingEmptyPollsWriteNoRun: a poll that finds nothing new and
// changes no state moves the schedule and the pipeline's last run, and
// writes no run; the first poll (its state is new), a poll that brings a
// record and a "run now" each write one.
func TestPollingEmptyPollsWriteNoRun(t *testing.T) {
	eachPollBackend(t, func(t *testing.T, e *pollEnv) {
		var requests, items atomic.Int64
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			w.Header().Set("Content-Type", "application/json")
			if n := items.Load(); n > 0 {
				fmt.Fprintf(w, `{"items":[{"id":%d,"ts":"2030-01-01T00:00:0%dZ","temp":1.5}]}`, n, n)
				return
			}
			fmt.Fprint(w, `{"items":[]}`)
		}))
		t.Cleanup(api.Close)
		p := e.create("empty", (&growingAPI{Server: api}).spec("empty", "1s"))
		e.start()
		e.waitFor(20*time.Second, "five empty polls", func() bool { return requests.Load() >= 5 })
		polled := time.Now()
		e.waitFor(10*time.Second, "a poll after that", func() bool { return requests.Load() >= 6 })
		if runs := e.runs(p); len(runs) != 1 || runs[0].Fetched != 0 {
			t.Fatalf("after %d empty polls: runs %+v, want only the first poll's", requests.Load(), runs)
		}
		if last := e.pipeline(p).Stats.LastRunAt; last == nil || last.Before(polled.Add(-2*time.Second)) {
			t.Fatalf("last run %v, want an empty poll's time (about %v)", last, polled)
		}
		items.Store(1)
		e.waitFor(15*time.Second, "the poll that brings a record", func() bool { return len(e.runs(p)) == 2 })
		if r := e.runs(p)[0]; r.Stored != 1 {
			t.Fatalf("the poll with a record: %+v", r)
		}
		// The record is seen: later polls are empty again (dedup) and
		// write nothing; "run now" writes its run even so.
		before := requests.Load()
		e.waitFor(15*time.Second, "more polls", func() bool { return requests.Load() >= before+2 })
		if n := len(e.runs(p)); n != 2 {
			t.Fatalf("%d runs after polls that found only a seen record, want 2", n)
		}
		if _, err := e.polling.Schedule(context.Background(), p, time.Now(), true); err != nil {
			t.Fatal(err)
		}
		e.waitFor(15*time.Second, "the run of run now", func() bool { return len(e.runs(p)) == 3 })
		if r := e.runs(p)[0]; r.Trigger != core.TriggerManual {
			t.Fatalf("run now wrote %+v", r)
		}
	})
}

// TestPollingScheduleFollowsRateLimitedRequests: polls of pipelines that
// share an API host wait for the per-host rate limit; one whose request
// went out late sets its next poll from when it went out, so the API
// never sees a pipeline polled twice within an interval.
func TestPollingScheduleFollowsRateLimitedRequests(t *testing.T) {
	t.Parallel()
	for _, b := range storetest.Backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			// One request every 1.5 s to the host, no burst: the third
			// pipeline's first poll goes out 3 s after it was due.
			e := newPollEnv(t, b, poll.Config{HostRate: 1 / 1.5, HostBurst: 1})
			var mu sync.Mutex
			hits := map[string][]time.Time{}
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				hits[r.URL.Path] = append(hits[r.URL.Path], time.Now())
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"items":[]}`)
			}))
			t.Cleanup(api.Close)
			const interval = 4 * time.Second
			var pipes []core.Pipeline
			for i := range 3 {
				name := fmt.Sprintf("shared-%d", i)
				spec := fmt.Sprintf(`{"name":%q,"kind":"polling","source":{"http":{"url":"%s/%s","records":"items"},"interval":"4s"}}`, name, api.URL, name)
				pipes = append(pipes, e.create(name, spec))
			}
			e.start()
			e.waitFor(20*time.Second, "every pipeline's first poll", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(hits) == 3
			})
			time.Sleep(500 * time.Millisecond) // the last poll commits
			for _, p := range pipes {
				mu.Lock()
				first := hits["/"+p.Name][0]
				mu.Unlock()
				var next time.Time
				e.waitFor(5*time.Second, "the next due time of "+p.Name, func() bool {
					s, err := e.store.PollSchedule(context.Background(), e.team.ID, p.ID)
					next = s.NextDue
					return err == nil && next.After(first.Add(-interval))
				})
				// One interval after the request, less the jitter and
				// the clock's rounding.
				if gap := next.Sub(first); gap < interval-300*time.Millisecond {
					t.Errorf("%s: request sent at %v, next poll due %v after it; want about %v", p.Name,
						first.Format(time.StampMilli), gap.Round(time.Millisecond), interval)
				}
			}
		})
	}
}
