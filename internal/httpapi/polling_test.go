package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/httpapi"
	"github.com/tributary-dev/tributary/internal/ingest"
	"github.com/tributary-dev/tributary/internal/jobs"
	"github.com/tributary-dev/tributary/internal/netguard"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/poll"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/secrets"
	"github.com/tributary-dev/tributary/internal/store/postgres"
	"github.com/tributary-dev/tributary/internal/store/sqlite"
	"github.com/tributary-dev/tributary/internal/store/storetest"
	"github.com/tributary-dev/tributary/internal/vault"
)

// canary is a secret value that must never appear in a response, a log
// line, an error or a run row.
const canary = "canary-9d2e7b41c0a85f36"

// setupPolling is setup with the poll scheduler wired and started, and a
// River client working the other jobs.
func setupPolling(t *testing.T, backend string) *env {
	t.Helper()
	ctx := context.Background()
	st := storetest.Open(t, backend)
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	broker, err := pubsub.NewMemory(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Close() })
	eng, err := engine.New(engine.Config{Compiler: compiler}, st, c, broker, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(context.Background()) })
	key, err := secrets.ParseKey(strings.Repeat("ab", 32))
	if err != nil {
		t.Fatal(err)
	}
	v := vault.New(st, secrets.NewBox(key))
	guard := netguard.New(netguard.Config{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	polling, err := poll.New(poll.Config{FetchInterval: 20 * time.Millisecond, MaxJitter: -1, HostRate: -1, Logger: log}, st, eng, v, guard)
	if err != nil {
		t.Fatal(err)
	}
	rc := jobs.RiverConfig(jobs.Config{Workers: 2, Logger: log}, jobs.Deps{Store: st, Compiler: compiler, Engine: eng, Domains: []jobs.Domain{polling}})
	rc.TestOnly = true
	rc.PeriodicJobs = nil
	client, err := st.NewJobClient(rc)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.StopAndCancel(sctx)
	})
	if err := polling.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cancel() // stop at once: polls in flight are cancelled
		_ = polling.Stop(sctx)
	})
	accounts := account.New(st, time.Hour)
	api := httpapi.New(httpapi.Config{Version: "test", MaxBodyBytes: 1 << 20, SessionTTL: time.Hour},
		httpapi.Deps{Accounts: accounts, Ready: st, Logger: log, Registry: prometheus.NewRegistry(), Compiler: compiler})
	hooks := ingest.New(ingest.Config{}, ingest.Deps{Store: st, Engine: eng, Secrets: v, Logger: log})
	api.RegisterHooks(hooks)
	svc, err := orchestrator.New(orchestrator.Config{Logger: log}, orchestrator.Deps{
		Store: st, Compiler: compiler, Vault: v, Engine: eng, Broker: broker, Cache: c, Polls: polling, Hooks: hooks,
	})
	if err != nil {
		t.Fatal(err)
	}
	routes := api.RegisterPipelines(httpapi.PipelinesConfig{}, httpapi.PipelinesDeps{
		Store: st, Engine: eng, Vault: v, Cache: c, Broker: broker, Service: svc,
	})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(routes.CloseStreams)
	e := &env{t: t, backend: backend, store: st, accounts: accounts, engine: eng, cache: c, broker: broker, srv: srv, logs: logs}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs)
		}
	})
	return e
}

func eachPollingBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	t.Parallel()
	for _, b := range storetest.Backends {
		t.Run(b, func(t *testing.T) {
			t.Parallel()
			fn(t, setupPolling(t, b))
		})
	}
}

// weatherAPI is a fake API that wants the canary as a bearer token and
// echoes whatever credential it got when it refuses one.
type weatherAPI struct {
	*httptest.Server
	mu    sync.Mutex
	calls int
}

func newWeatherAPI(t *testing.T) *weatherAPI {
	a := &weatherAPI{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.calls++
		n := a.calls
		a.mu.Unlock()
		if got := r.Header.Get("Authorization"); got != "Bearer "+canary {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":"invalid token %q"}`, strings.TrimPrefix(got, "Bearer "))
			return
		}
		if r.URL.Path == "/echo" {
			// An API that reflects the request's headers, like httpbin.
			writeJSONResp(w, []any{map[string]any{"id": 1, "ts": "2024-01-01T00:00:00Z", "temp_k": 280, "headers": r.Header}})
			return
		}
		writeJSONResp(w, map[string]any{"data": []any{
			map[string]any{"id": n*10 + 1, "ts": "2024-01-01T00:00:00Z", "temp_k": 293.15},
			map[string]any{"id": n*10 + 2, "ts": "2024-01-01T00:01:00Z", "temp_k": "hot"},
		}})
	}))
	t.Cleanup(a.Close)
	return a
}

func writeJSONResp(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func pollingSpec(name, url, secret, interval string) string {
	return fmt.Sprintf(`{"name":%q,"kind":"polling","source":{"http":{"url":%q,"records":"data",
		"auth":{"type":"bearer","secret":%q}},"interval":%q},
		"mapping":{"timestamp":{"path":"ts"},"fields":{"id":{"type":"integer"},"temp_c":{"path":"temp_k","expr":"value - 273.15","type":"number"}}}}`,
		name, url, secret, interval)
}

type runsBody struct {
	Runs []struct {
		Trigger string `json:"trigger"`
		Stored  int    `json:"stored"`
		Error   string `json:"error"`
	} `json:"runs"`
}

func (e *env) runList(tm team, id uuid.UUID) runsBody {
	e.t.Helper()
	r := e.do("GET", fmt.Sprintf("/api/v1/pipelines/%s/runs", id), tm.viewer, nil)
	want(e.t, r, http.StatusOK)
	var rb runsBody
	r.json(e.t, &rb)
	return rb
}

func (e *env) eventually(within time.Duration, what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestPollingRoutes(t *testing.T) {
	eachPollingBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		a := newWeatherAPI(t)
		// A spec naming a secret the team does not have is refused at save.
		r := e.do("POST", "/api/v1/pipelines", tm.editor, pollingSpec("weather", a.URL+"/obs", "weather-token", "1h"))
		want(t, r, http.StatusUnprocessableEntity)
		if p := r.problem(t); len(p.Errors) != 1 || p.Errors[0].Location != "body.source.http.auth.secret" || !strings.Contains(p.Errors[0].Message, `"weather-token"`) {
			t.Fatalf("problem %s", r.body)
		}
		// Problems of the source come with their paths.
		r = e.do("POST", "/api/v1/pipelines", tm.editor, `{"name":"bad","kind":"polling","source":{"http":{"url":"ftp://x","pagination":{"type":"offset"},"retries":3},"interval":"0s"}}`)
		want(t, r, http.StatusUnprocessableEntity)
		locs := map[string]bool{}
		for _, p := range r.problem(t).Errors {
			locs[p.Location] = true
		}
		for _, l := range []string{"body.source.http.url", "body.source.http.pagination.limit", "body.source.http.retries", "body.source.interval"} {
			if !locs[l] {
				t.Errorf("no problem at %s: %s", l, r.body)
			}
		}

		want(t, e.do("POST", "/api/v1/secrets", tm.admin, map[string]string{"name": "weather-token", "value": canary}), http.StatusCreated)
		p := e.createPipeline(tm, pollingSpec("weather", a.URL+"/obs", "weather-token", "1h"))
		// Creating the pipeline scheduled its first poll.
		e.eventually(10*time.Second, "the first poll", func() bool { return len(e.runList(tm, p.ID).Runs) == 1 })
		runs := e.runList(tm, p.ID).Runs
		if runs[0].Trigger != "poll" || runs[0].Stored != 1 || runs[0].Error != "" {
			t.Fatalf("first run %+v", runs[0])
		}
		var sched struct {
			NextDue  *time.Time `json:"next_due"`
			Interval string     `json:"interval"`
			Status   string     `json:"status"`
		}
		e.eventually(5*time.Second, "the next poll in an hour", func() bool {
			r := e.do("GET", fmt.Sprintf("/api/v1/pipelines/%s/schedule", p.ID), tm.viewer, nil)
			want(t, r, http.StatusOK)
			r.json(t, &sched)
			return sched.NextDue != nil && time.Until(*sched.NextDue) > 55*time.Minute
		})
		if sched.Interval != "1h" || sched.Status != "active" {
			t.Fatalf("schedule %+v", sched)
		}

		// Run now.
		want(t, e.do("POST", fmt.Sprintf("/api/v1/pipelines/%s/run", p.ID), tm.viewer, nil), http.StatusForbidden)
		r = e.do("POST", fmt.Sprintf("/api/v1/pipelines/%s/run", p.ID), tm.editor, nil)
		want(t, r, http.StatusAccepted)
		e.eventually(10*time.Second, "the manual poll", func() bool { return len(e.runList(tm, p.ID).Runs) == 2 })
		if got := e.runList(tm, p.ID).Runs[0]; got.Trigger != "manual" {
			t.Fatalf("manual run %+v", got)
		}
		hook := e.createPipeline(tm, webhookSpec("hook"))
		want(t, e.do("POST", fmt.Sprintf("/api/v1/pipelines/%s/run", hook.ID), tm.editor, nil), http.StatusConflict)

		// Pause refuses run now and hides the next poll; resume polls again.
		want(t, e.do("POST", fmt.Sprintf("/api/v1/pipelines/%s/pause", p.ID), tm.editor, nil), http.StatusOK)
		want(t, e.do("POST", fmt.Sprintf("/api/v1/pipelines/%s/run", p.ID), tm.editor, nil), http.StatusConflict)
		r = e.do("GET", fmt.Sprintf("/api/v1/pipelines/%s/schedule", p.ID), tm.viewer, nil)
		sched.NextDue = nil
		if r.json(t, &sched); sched.NextDue != nil || sched.Status != "paused" {
			t.Fatalf("paused schedule %s", r.body)
		}
		want(t, e.do("POST", fmt.Sprintf("/api/v1/pipelines/%s/resume", p.ID), tm.editor, nil), http.StatusOK)
		e.eventually(10*time.Second, "a poll after resume", func() bool { return len(e.runList(tm, p.ID).Runs) == 3 })

		// The secret is in use: it cannot be deleted.
		r = e.do("DELETE", "/api/v1/secrets/weather-token", tm.admin, nil)
		want(t, r, http.StatusConflict)
		if !strings.Contains(string(r.body), `\"weather\"`) {
			t.Fatalf("delete secret in use: %s", r.body)
		}

		// Rotating the secret to a wrong value fails the next poll; the
		// run's error does not carry the value, although the API echoes it.
		wrong := "wrong-" + canary
		want(t, e.do("PUT", "/api/v1/secrets/weather-token", tm.admin, map[string]string{"value": wrong}), http.StatusOK)
		want(t, e.do("POST", fmt.Sprintf("/api/v1/pipelines/%s/run", p.ID), tm.editor, nil), http.StatusAccepted)
		e.eventually(10*time.Second, "a failed poll", func() bool {
			rs := e.runList(tm, p.ID).Runs
			return len(rs) == 4 && rs[0].Error != ""
		})
		msg := e.runList(tm, p.ID).Runs[0].Error
		if !strings.Contains(msg, "answered 401 Unauthorized") || strings.Contains(msg, wrong) || !strings.Contains(msg, "[redacted]") {
			t.Fatalf("run error %q", msg)
		}
		e.checkCanary(canary, wrong)
	})
}

// checkCanary fails when a secret value appears in any response body, log
// line or run row.
func (e *env) checkCanary(values ...string) {
	e.t.Helper()
	e.mu.Lock()
	bodies := append([][]byte(nil), e.bodies...)
	e.mu.Unlock()
	logs := e.logs.String()
	for _, v := range values {
		for _, b := range bodies {
			if strings.Contains(string(b), v) {
				e.t.Fatalf("a response carries the secret: %s", b)
			}
		}
		if strings.Contains(logs, v) {
			e.t.Fatalf("the log carries the secret:\n%s", logs)
		}
		var n int
		q := `SELECT count(*) FROM runs WHERE error LIKE '%` + v + `%'`
		var err error
		switch s := e.store.(type) {
		case *sqlite.Store:
			err = s.DB().QueryRowContext(e.ctx(), q).Scan(&n)
		case *postgres.Store:
			err = s.Pool().QueryRow(e.ctx(), q).Scan(&n)
		}
		if err != nil {
			e.t.Fatal(err)
		}
		if n > 0 {
			e.t.Fatalf("%d run rows carry the secret", n)
		}
	}
}

type previewBody struct {
	Error    string            `json:"error"`
	Fetched  int               `json:"fetched"`
	Accepted int               `json:"accepted"`
	Rejected int               `json:"rejected"`
	Raw      []json.RawMessage `json:"raw"`
	Records  []struct {
		Index int             `json:"index"`
		Data  json.RawMessage `json:"data"`
	} `json:"records"`
	Errors []struct {
		Index  int    `json:"index"`
		Reason string `json:"reason"`
	} `json:"errors"`
	State  json.RawMessage `json:"state"`
	Sample string          `json:"sample"`
}

func TestPreview(t *testing.T) {
	eachPollingBackend(t, func(t *testing.T, e *env) {
		tm := e.newTeam()
		a := newWeatherAPI(t)
		want(t, e.do("POST", "/api/v1/secrets", tm.admin, map[string]string{"name": "weather-token", "value": canary}), http.StatusCreated)
		preview := func(token string, body string) resp {
			return e.do("POST", "/api/v1/pipelines/preview", token, body)
		}
		spec := pollingSpec("weather", a.URL+"/obs", "weather-token", "1m")
		r := preview(tm.editor, `{"spec":`+spec+`}`)
		want(t, r, http.StatusOK)
		var pb previewBody
		r.json(t, &pb)
		if pb.Error != "" || pb.Fetched != 2 || pb.Accepted != 1 || pb.Rejected != 1 || len(pb.Raw) != 2 || len(pb.Records) != 1 || len(pb.Errors) != 1 {
			t.Fatalf("preview %s", r.body)
		}
		if pb.Records[0].Index != 0 || !strings.Contains(string(pb.Records[0].Data), `"temp_c":20`) {
			t.Fatalf("mapped record %s", pb.Records[0].Data)
		}
		if pb.Errors[0].Index != 1 || !strings.Contains(pb.Errors[0].Reason, "temp_c") || !strings.Contains(pb.Sample, `"data"`) {
			t.Fatalf("preview errors %s", r.body)
		}
		// Nothing was stored: the team has no pipeline and no run.
		list := e.do("GET", "/api/v1/pipelines", tm.viewer, nil)
		if !strings.Contains(string(list.body), `"pipelines":[]`) {
			t.Fatalf("pipelines after a preview: %s", list.body)
		}

		// An API that reflects the request: the credential is redacted.
		r = preview(tm.editor, `{"spec":`+strings.Replace(pollingSpec("echo", a.URL+"/echo", "weather-token", "1m"), `"records":"data",`, "", 1)+`}`)
		want(t, r, http.StatusOK)
		if strings.Contains(string(r.body), canary) || !strings.Contains(string(r.body), "[redacted]") {
			t.Fatalf("echo preview %s", r.body)
		}
		// A webhook spec maps the given input.
		r = preview(tm.editor, `{"spec":{"name":"h","kind":"webhook","source":{"webhook":{}},"mapping":{"fields":{"n":{"type":"integer"}}}},"input":[{"n":1},{"n":"x"},{"n":3}]}`)
		want(t, r, http.StatusOK)
		r.json(t, &pb)
		// Issue 12: fetched counts the 3 input records (it said 1), and the
		// failing record is at its own index (it said 0).
		if pb.Fetched != 3 || pb.Accepted != 2 || pb.Rejected != 1 || len(pb.Errors) != 1 || pb.Errors[0].Index != 1 ||
			len(pb.Records) != 2 || pb.Records[1].Index != 2 {
			t.Fatalf("webhook preview %s", r.body)
		}
		// Two inputs: fetched 2.
		r = preview(tm.editor, `{"spec":{"name":"h","kind":"webhook","mapping":{"fields":{"n":{"type":"integer"}}}},"input":[{"n":"x"},{"n":2}]}`)
		want(t, r, http.StatusOK)
		pb = previewBody{}
		r.json(t, &pb)
		if pb.Fetched != 2 || pb.Accepted != 1 || pb.Errors[0].Index != 0 || pb.Records[0].Index != 1 {
			t.Fatalf("webhook preview of 2 inputs %s", r.body)
		}
		want(t, preview(tm.editor, `{"spec":{"name":"h","kind":"webhook","source":{"webhook":{}}}}`), http.StatusUnprocessableEntity)
		// Spec problems come with their paths under spec.
		r = preview(tm.editor, `{"spec":{"name":"h","kind":"polling","source":{"http":{"url":"https://example.com","auth":{"type":"bearer"}}}}}`)
		want(t, r, http.StatusUnprocessableEntity)
		if p := r.problem(t); len(p.Errors) != 1 || p.Errors[0].Location != "body.spec.source.http.auth.secret" {
			t.Fatalf("spec problem %s", r.body)
		}
		// Fetch failures are the answer's error, as a run would record them.
		r = preview(tm.editor, `{"spec":`+pollingSpec("w", "http://169.254.169.254/latest/meta-data/", "weather-token", "1m")+`}`)
		want(t, r, http.StatusOK)
		if r.json(t, &pb); !strings.Contains(pb.Error, "refused by the SSRF guard") {
			t.Fatalf("SSRF preview %s", r.body)
		}
		r = preview(tm.editor, `{"spec":`+pollingSpec("w", "http://10.1.2.3/", "weather-token", "1m")+`}`)
		if r.json(t, &pb); !strings.Contains(pb.Error, "private (RFC 1918) address") {
			t.Fatalf("SSRF preview %s", r.body)
		}
		want(t, preview(tm.viewer, `{"spec":`+spec+`}`), http.StatusForbidden)
		e.checkCanary(canary)
	})
}
