package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/delivery"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/netguard"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/secrets"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/source"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/vault"
)

// options tune a bundle.
type options struct {
	cfg delivery.Config
	// resolver answers DNS for the guard (rebinding tests); loopback is
	// then not allowed.
	resolver netguard.Resolver
	// registry holds the sink kinds; default: http only.
	registry *sink.Registry
}

// setupWith is setup with the sink kinds of reg.
func setupWith(t *testing.T, st store.Store, reg *sink.Registry) *bundle {
	t.Helper()
	return setup(t, st, func(o *options) { o.registry = reg })
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

// bundle is a whole delivery path on real parts: a store, the engine with
// the delivery fanout, a River client working the deliveries queue, team
// secrets in a vault, and the SSRF guard with loopback opened.
type bundle struct {
	st    store.Store
	eng   *engine.Engine
	svc   *delivery.Service
	vault *vault.Vault
	team  core.Team
	reg   *prometheus.Registry
}

func setup(t *testing.T, st store.Store, opts ...func(*options)) *bundle {
	t.Helper()
	o := options{cfg: delivery.Config{
		Schedule:     []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond},
		FailingAfter: 3, Workers: 8, BusySnooze: 50 * time.Millisecond, AttemptTimeout: 20 * time.Second,
	}}
	for _, fn := range opts {
		fn(&o)
	}
	ctx := context.Background()
	owner, err := st.CreateUser(ctx, store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := st.CreateTeam(ctx, store.NewTeam{Name: "T", Slug: "t-" + uuid.NewString()[:8]}, owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	gcfg := netguard.Config{MaxRedirects: -1, DialTimeout: 2 * time.Second, Timeout: time.Minute, Resolver: o.resolver}
	if o.resolver == nil {
		gcfg.AllowNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	guard := netguard.New(gcfg)
	t.Cleanup(guard.CloseIdleConnections)
	v := vault.New(st, secrets.NewBox(secrets.GenerateKey()))
	deps := sink.Deps{HTTPClient: guard.Client(), Dial: guard.DialContext, Secret: v.Open, CheckURL: guard.CheckURL}
	reg := prometheus.NewRegistry()
	o.cfg.Registerer = reg
	if o.registry == nil {
		o.registry = sink.NewRegistry(sink.HTTPKind)
	}
	if o.cfg.Compiler == nil {
		o.cfg.Compiler = pipeline.NewCompiler(source.Builtin(), o.registry)
	}
	svc, err := delivery.New(o.cfg, o.registry, deps, st)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Compiler: compiler}, st, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	eng.AddFanout(svc)
	// A sink whose destination is gone is disabled through the pipeline
	// service, as in the server.
	broker, err := pubsub.NewMemory(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Close() })
	orch, err := orchestrator.New(orchestrator.Config{}, orchestrator.Deps{Store: st, Compiler: compiler, Vault: v, Engine: eng, Broker: broker, Sinks: svc})
	if err != nil {
		t.Fatal(err)
	}
	svc.UseSinkEditor(orch)
	rc := &river.Config{FetchCooldown: 10 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond, TestOnly: true,
		RescueStuckJobsAfter: time.Minute}
	svc.Register(rc)
	client, err := st.NewJobClient(rc)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = eng.Close(stop)
		_ = client.StopAndCancel(stop)
		_ = svc.Close(stop)
	})
	return &bundle{st: st, eng: eng, svc: svc, vault: v, team: team, reg: reg}
}

// pipeline creates a webhook pipeline from a spec document.
func (b *bundle) pipeline(t *testing.T, doc string) core.Pipeline {
	t.Helper()
	c, err := compiler.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("spec: %v", err)
	}
	if ps, _ := b.svc.Check(c.Spec.Sinks); len(ps) > 0 {
		t.Fatalf("sinks: %v", ps)
	}
	canonical, err := c.Spec.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	p, err := b.st.CreatePipeline(context.Background(), b.team.ID, store.NewPipeline{Name: c.Spec.Name, Kind: c.Spec.Kind, Spec: canonical, HookToken: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ingest commits one batch of records {"n": first..first+n-1} and returns
// the stored records.
func (b *bundle) ingest(t *testing.T, p core.Pipeline, first, n int) engine.Result {
	t.Helper()
	p, err := b.st.Pipeline(context.Background(), p.TeamID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.eng.Compiled(p)
	if err != nil {
		t.Fatal(err)
	}
	inputs := make([]any, n)
	for i := range inputs {
		inputs[i] = map[string]any{"n": json.Number(fmt.Sprint(first + i))}
	}
	res, err := b.eng.RunBatch(context.Background(), p, c, inputs, core.TriggerManual, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// deliveries lists a sink's deliveries.
func (b *bundle) deliveries(t *testing.T, p core.Pipeline, sinkName string) []core.Delivery {
	t.Helper()
	ds, err := b.st.Deliveries(context.Background(), p.TeamID, p.ID, store.DeliveryQuery{Sink: sinkName, Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// waitFor polls cond until it holds or two minutes pass (generous: the machine may be loaded).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitStatus waits until every delivery of the sink has one of the
// statuses, and there are n of them.
func (b *bundle) waitStatus(t *testing.T, p core.Pipeline, sinkName string, n int, statuses ...core.DeliveryStatus) []core.Delivery {
	t.Helper()
	var ds []core.Delivery
	waitFor(t, fmt.Sprintf("%d deliveries of %s to be %v", n, sinkName, statuses), func() bool {
		ds = b.deliveries(t, p, sinkName)
		if len(ds) != n {
			return false
		}
		for _, d := range ds {
			ok := false
			for _, s := range statuses {
				ok = ok || d.Status == s
			}
			if !ok {
				return false
			}
		}
		return true
	})
	return ds
}

// receiver is an HTTP endpoint on loopback that records each request and
// answers as answer says (204 when nil).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []received
	answer func(n int, w http.ResponseWriter, r *http.Request)
}

type received struct {
	at     time.Time
	header http.Header
	body   []byte
}

// body is the JSON body the http sink sends.
type body struct {
	Type       string `json:"type"`
	DeliveryID string `json:"delivery_id"`
	Records    []struct {
		ID   int64           `json:"id"`
		TS   time.Time       `json:"ts"`
		Data json.RawMessage `json:"data"`
	} `json:"records"`
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{at: time.Now(), header: r.Header.Clone(), body: b})
		n := len(rc.reqs)
		rc.mu.Unlock()
		if rc.answer != nil {
			rc.answer(n, w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// numbers decodes the bodies of the requests and counts each record's "n".
func (rc *receiver) numbers(t *testing.T) map[int]int {
	t.Helper()
	out := map[int]int{}
	for _, r := range rc.got() {
		var b body
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatalf("body %s: %v", r.body, err)
		}
		for _, rec := range b.Records {
			var d struct {
				N int `json:"n"`
			}
			if err := json.Unmarshal(rec.Data, &d); err != nil {
				t.Fatal(err)
			}
			out[d.N]++
		}
	}
	return out
}
