package orchestrator_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/delivery"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/netguard"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/secrets"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
	"github.com/tributary-dev/tributary/internal/vault"
)

// eachBackend runs fn on a fresh bundle per backend, as parallel subtests.
func eachBackend(t *testing.T, fn func(t *testing.T, b *bundle)) {
	t.Parallel()
	for _, backend := range storetest.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			fn(t, setup(t, storetest.Open(t, backend)))
		})
	}
}

// hookCounter counts the webhook cache forgets per pipeline.
type hookCounter struct {
	mu sync.Mutex
	n  map[uuid.UUID]int
}

func (h *hookCounter) ForgetPipeline(id uuid.UUID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.n[id]++
}

func (h *hookCounter) count(id uuid.UUID) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[id]
}

// linkCounter counts the link index's reloads.
type linkCounter struct {
	mu sync.Mutex
	n  int
}

func (l *linkCounter) Changed(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	return nil
}

func (l *linkCounter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// bundle is the service on real parts: a store, a vault, the engine with
// the recent-records cache and an in-memory broker, and the delivery
// service with http sinks (loopback allowed) and a River client working
// its queue.
type bundle struct {
	st     store.Store
	vault  *vault.Vault
	eng    *engine.Engine
	broker *pubsub.Memory
	sinks  *delivery.Service
	svc    *orchestrator.Service
	hooks  *hookCounter
	links  *linkCounter
	team   uuid.UUID
	// Callers of the team by role, and an owner of another team.
	owner, admin, editor, viewer, stranger orchestrator.Caller
}

func setup(t *testing.T, st store.Store) *bundle {
	t.Helper()
	ctx := context.Background()
	rc, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	broker, err := pubsub.NewMemory(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Close() })
	eng, err := engine.New(engine.Config{Compiler: compiler}, st, rc, broker, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := vault.New(st, secrets.NewBox(secrets.GenerateKey()))
	guard := netguard.New(netguard.Config{MaxRedirects: -1, Timeout: time.Minute,
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	t.Cleanup(guard.CloseIdleConnections)
	sinks, err := delivery.New(delivery.Config{Schedule: []time.Duration{50 * time.Millisecond}, Workers: 2, Registerer: prometheus.NewRegistry(), Compiler: compiler},
		sink.NewRegistry(sink.HTTPKind), sink.Deps{HTTPClient: guard.Client(), Dial: guard.DialContext, Secret: v.Open, CheckURL: guard.CheckURL}, st)
	if err != nil {
		t.Fatal(err)
	}
	eng.AddFanout(sinks)
	b := &bundle{st: st, vault: v, eng: eng, broker: broker, sinks: sinks, hooks: &hookCounter{n: map[uuid.UUID]int{}}, links: &linkCounter{}}
	b.svc, err = orchestrator.New(orchestrator.Config{}, orchestrator.Deps{
		Store: st, Compiler: compiler, Vault: v, Engine: eng, Broker: broker, Cache: rc, Hooks: b.hooks, Links: b.links, Sinks: sinks,
	})
	if err != nil {
		t.Fatal(err)
	}
	sinks.UseSinkEditor(b.svc)
	rcfg := &river.Config{FetchCooldown: 10 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond, TestOnly: true}
	sinks.Register(rcfg)
	client, err := st.NewJobClient(rcfg)
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
		_ = sinks.Close(stop)
	})

	owner, err := st.CreateUser(ctx, store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := st.CreateTeam(ctx, store.NewTeam{Name: "T", Slug: "t-" + uuid.NewString()[:8]}, owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	other, err := st.CreateTeam(ctx, store.NewTeam{Name: "O", Slug: "o-" + uuid.NewString()[:8]}, owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	b.team = team.ID
	as := func(team uuid.UUID, role auth.Role) orchestrator.Caller {
		return orchestrator.Caller{Principal: &account.Principal{Token: &core.Token{ID: core.NewID(), TeamID: team, Role: role}}}
	}
	b.owner, b.admin, b.editor, b.viewer = as(team.ID, auth.Owner), as(team.ID, auth.Admin), as(team.ID, auth.Editor), as(team.ID, auth.Viewer)
	b.stranger = as(other.ID, auth.Owner)
	return b
}

func (b *bundle) ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// subscribe listens to a pipeline's topic.
func (b *bundle) subscribe(t *testing.T, id uuid.UUID) *pubsub.Subscription {
	t.Helper()
	sub, err := b.broker.Subscribe(b.ctx(t), pubsub.PipelineTopic(id), 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Close)
	return sub
}

// nextControl waits for the next control event of a subscription.
func nextControl(t *testing.T, sub *pubsub.Subscription) orchestrator.Control {
	t.Helper()
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case msg := <-sub.C():
			if msg.Kind != pubsub.KindControl {
				continue // batches
			}
			var c orchestrator.Control
			if err := json.Unmarshal(msg.Payload, &c); err != nil {
				t.Fatal(err)
			}
			return c
		case <-timeout.C:
			t.Fatal("no control event")
		}
	}
}

// noControl checks that no control event is queued: the service publishes
// before it returns, so one would be there already.
func noControl(t *testing.T, sub *pubsub.Subscription) {
	t.Helper()
	for {
		select {
		case msg := <-sub.C():
			if msg.Kind == pubsub.KindControl {
				t.Fatalf("unexpected control event %s", msg.Payload)
			}
		default:
			return
		}
	}
}

func mustPipeline(t *testing.T) func(core.Pipeline, error) core.Pipeline {
	return func(p core.Pipeline, err error) core.Pipeline {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
}
