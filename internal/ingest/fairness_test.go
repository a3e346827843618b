package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/ingest"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/secrets"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
	"github.com/tributary-dev/tributary/internal/vault"
)

// TestFairShareLatency measures (and reports, without asserting) the p99
// latency of one team's small webhook requests while another team floods
// its own pipeline with costly mappings, with the engine's per-team CPU
// share off and on (issue 11, defect 2). It runs with
// TRIBUTARY_MEASURE_FAIRNESS=1:
//
//	TRIBUTARY_MEASURE_FAIRNESS=1 go test -run TestFairShareLatency -v ./internal/ingest/
func TestFairShareLatency(t *testing.T) {
	if os.Getenv("TRIBUTARY_MEASURE_FAIRNESS") == "" {
		t.Skip("a measurement: set TRIBUTARY_MEASURE_FAIRNESS=1")
	}
	for _, backend := range storetest.Backends {
		quiet := measureFairness(t, backend, 0, false)
		off := measureFairness(t, backend, -1, true)
		on := measureFairness(t, backend, 0, true)
		t.Logf("%s: team B p99: quiet %s, flood with the CPU share off %s, on %s", backend, quiet, off, on)
		// The row of make proof (bench/proof reads "PROOF {json}"): issue
		// 11 promises team B's p99 within 2× of quiet under the flood. A
		// measurement, reported, never a failure of this test.
		ratio := float64(on) / float64(max(quiet, time.Microsecond))
		row, _ := json.Marshal(map[string]any{
			"promise": "abuse: another team's p99 under a mapping-CPU flood", "backend": backend, "runs": 1, "failed": ratio > 2,
			"figures": map[string]any{"p99 quiet ms": ms(quiet), "p99 flood, CPU share off ms": ms(off), "p99 flood, CPU share on ms": ms(on),
				"flood/quiet (promise: 2 at most)": math.Round(ratio*10) / 10},
		})
		t.Logf("PROOF %s", row)
	}
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/100) / 10 }

func measureFairness(t *testing.T, backend string, slots int, flood bool) time.Duration {
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
	defer broker.Close()
	eng, err := engine.New(engine.Config{Compiler: compiler, CPUSlots: slots}, st, c, broker, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	svc := ingest.New(ingest.Config{}, ingest.Deps{Store: st, Engine: eng, Secrets: vault.New(st, secrets.NewBox(secrets.GenerateKey()))})
	owner, err := st.CreateUser(ctx, store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	pipe := func(name, fields string) core.Pipeline {
		team, err := st.CreateTeam(ctx, store.NewTeam{Name: name, Slug: name + "-" + uuid.NewString()[:8]}, owner.ID)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := compiler.Parse(fmt.Appendf(nil, `{"name": %q, "kind": "webhook", "mapping": {"fields": {%s}}}`, name, fields))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := cs.Spec.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		p, err := st.CreatePipeline(ctx, team.ID, store.NewPipeline{Name: name, Kind: core.KindWebhook, Spec: doc, HookToken: uuid.NewString()})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	var heavy []string
	for i := range 10 {
		heavy = append(heavy, fmt.Sprintf(`"f%d": {"expr": "len(filter(1..9000, # %% 7 == 0))", "type": "number"}`, i))
	}
	a := pipe("flood", strings.Join(heavy, ","))
	b := pipe("quiet", `"n": {"path": "n", "type": "number"}`)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	if flood {
		body := "[" + strings.Repeat(`{"n": 1},`, 19) + `{"n": 1}]`
		for range 8 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := svc.Accept(ctx, a.HookToken, nil, strings.NewReader(body)); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	var lat []time.Duration
	for i := range 200 {
		start := time.Now()
		if _, err := svc.Accept(ctx, b.HookToken, nil, strings.NewReader(fmt.Sprintf(`{"n": %d}`, i))); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	return lat[len(lat)*99/100]
}
