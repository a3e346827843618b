package engine_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/store"
)

// weatherSpec maps {"at","t","s"} to {temp, station}, requires temp and
// validates temp <= 60.
const weatherSpec = `{"name":"weather","kind":"webhook","source":{},
	"mapping":{"timestamp":{"path":"at"},"fields":{
		"temp":{"path":"t","type":"number","required":true},
		"station":{"path":"s","type":"string"}}},
	"validation":{"schema":{"type":"object","properties":{"temp":{"type":"number","maximum":60}}}}}`

// bundle is what an engine test needs.
type bundle struct {
	st     store.Store
	eng    *engine.Engine
	cache  *cache.Memory
	broker *pubsub.Memory
	sub    *pubsub.Subscription
	reg    *prometheus.Registry
	team   uuid.UUID
	p      core.Pipeline
	c      *pipeline.Compiled
}

// perBatchRuns as Config.PushRunInterval gives every group-committed batch
// a run of its own, so that tests can tell batches apart by their runs.
const perBatchRuns = time.Nanosecond

type options struct {
	spec string
	cfg  engine.Config
	// wrap, when set, puts a layer between the engine and the store.
	wrap func(engine.Store) engine.Store
}

func setup(t testing.TB, st store.Store, o options) *bundle {
	t.Helper()
	ctx := context.Background()
	if o.spec == "" {
		o.spec = weatherSpec
	}
	b := &bundle{st: st, reg: prometheus.NewRegistry()}
	owner, err := st.CreateUser(ctx, store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := st.CreateTeam(ctx, store.NewTeam{Name: "Team", Slug: "team-" + uuid.NewString()[:8]}, owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	b.team = team.ID
	c, err := compiler.Parse([]byte(o.spec))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := c.Spec.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	b.p, err = st.CreatePipeline(ctx, team.ID, store.NewPipeline{Name: c.Spec.Name, Kind: c.Spec.Kind, Spec: doc, HookToken: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	if b.cache, err = cache.New(cache.Config{}); err != nil {
		t.Fatal(err)
	}
	if b.broker, err = pubsub.NewMemory(pubsub.Config{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.broker.Close() })
	if b.sub, err = b.broker.Subscribe(ctx, pubsub.PipelineTopic(b.p.ID), pubsub.MaxBuffer); err != nil {
		t.Fatal(err)
	}
	var es engine.Store = st
	if o.wrap != nil {
		es = o.wrap(st)
	}
	o.cfg.Registerer = b.reg
	if o.cfg.Compiler == nil {
		o.cfg.Compiler = compiler
	}
	if b.eng, err = engine.New(o.cfg, es, b.cache, b.broker, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.eng.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if b.c, err = b.eng.Compiled(b.p); err != nil {
		t.Fatal(err)
	}
	return b
}

// decode decodes JSON inputs as a webhook handler does.
func decode(t testing.TB, docs ...string) []any {
	t.Helper()
	out := make([]any, len(docs))
	for i, d := range docs {
		dec := json.NewDecoder(strings.NewReader(d))
		dec.UseNumber()
		if err := dec.Decode(&out[i]); err != nil {
			t.Fatalf("decode %s: %v", d, err)
		}
	}
	return out
}

// submit processes and submits inputs.
func (b *bundle) submit(ctx context.Context, t testing.TB, docs ...string) (engine.Result, error) {
	accepted, rejected := b.eng.Process(b.c, decode(t, docs...), time.Now())
	return b.eng.Submit(ctx, b.p, b.c, accepted, rejected, core.TriggerWebhook)
}

// record is a weather input with temperature n at second n.
func record(n int) string {
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second)
	return `{"at":"` + ts.Format(time.RFC3339) + `","t":` + strconv.Itoa(n%60) + `,"s":"st-` + strconv.Itoa(n) + `"}`
}

func (b *bundle) records(t testing.TB) []core.Record {
	t.Helper()
	rs, err := b.st.Records(context.Background(), b.team, b.p.ID, store.RecordQuery{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func (b *bundle) rejected(t testing.TB) []core.Rejected {
	t.Helper()
	rs, err := b.st.RejectedRecords(context.Background(), b.team, b.p.ID, store.RejectedQuery{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func (b *bundle) runs(t testing.TB) []core.Run {
	t.Helper()
	rs, err := b.st.Runs(context.Background(), b.team, b.p.ID, store.RunQuery{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// published drains the batches published so far. Publishing happens
// before Submit returns, so nothing is in flight once the submitters are
// done.
func (b *bundle) published(t testing.TB) []pubsub.Batch {
	t.Helper()
	var out []pubsub.Batch
	for {
		select {
		case m := <-b.sub.C():
			if m.Kind != pubsub.KindRecords {
				t.Fatalf("message of kind %s", m.Kind)
			}
			var pb pubsub.Batch
			if err := json.Unmarshal(m.Payload, &pb); err != nil {
				t.Fatalf("payload %s: %v", m.Payload, err)
			}
			out = append(out, pb)
		default:
			return out
		}
	}
}

// streamed is one element of pubsub.Batch.Records.
type streamed struct {
	ID   int64           `json:"id"`
	TS   time.Time       `json:"ts"`
	Data json.RawMessage `json:"data"`
}

func elements(t testing.TB, pb pubsub.Batch) []streamed {
	t.Helper()
	var out []streamed
	if err := json.Unmarshal(pb.Records, &out); err != nil {
		t.Fatalf("records %s: %v", pb.Records, err)
	}
	return out
}

// sameJSON compares documents by meaning: jsonb keeps neither key order
// nor spacing.
func sameJSON(t testing.TB, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("JSON %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON = %s, want %s", got, want)
	}
}

// parallel runs fn(i) for i in [0, n) concurrently and waits.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fn(i) })
	}
	wg.Wait()
}

func ids(rs []core.Record) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	slices.Sort(out)
	return out
}

// commits returns how many batches the engine committed, from its
// metrics.
func (b *bundle) commits(t testing.TB) float64 {
	t.Helper()
	mfs, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "tributary_engine_batch_records" {
			return float64(mf.GetMetric()[0].GetHistogram().GetSampleCount())
		}
	}
	return 0
}
