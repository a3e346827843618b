// Package alerts benchmarks alert evaluation: 10,000 rules on 1,000
// pipelines evaluated per tick, on SQLite and PostgreSQL (started by
// internal/pgtest). Run it with
//
//	go test -run '^$' -bench . -benchtime 5x ./bench/alerts
//
// and compare ns/tick with the 30 s tick: the evaluation should take at
// most 10% of one core, that is 3 s per tick.
package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/alert"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/source"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

const (
	teams            = 10
	pipelinesPerTeam = 100
	rulesPerPipeline = 10
)

func BenchmarkEvaluate(b *testing.B) {
	for _, backend := range storetest.Backends {
		b.Run(backend, func(b *testing.B) { benchEvaluate(b, storetest.Open(b, backend)) })
	}
}

func benchEvaluate(b *testing.B, st store.Store) {
	ctx := context.Background()
	compiler := pipeline.NewCompiler(source.Builtin(), sink.NewRegistry(sink.HTTPKind))
	eng, err := engine.New(engine.Config{Compiler: compiler}, st, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close(ctx)
	owner, err := st.CreateUser(ctx, store.NewUser{Email: "bench@example.com", PasswordHash: "x"})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	rules := []string{
		`{"name": "failing %d", "pipeline": "%s", "failing": {}, "for": "1m"}`,
		`{"name": "quiet %d", "pipeline": "%s", "no_data": {"window": "15m"}, "for": "1m"}`,
		`{"name": "rejects %d", "pipeline": "%s", "rejected_ratio": {"window": "10m", "above": 0.2}}`,
		`{"name": "hot %d", "pipeline": "%s", "threshold": {"field": "temp", "aggregate": "avg", "op": ">", "value": 30, "window": "5m"}, "for": "2m"}`,
		`{"name": "peak %d", "pipeline": "%s", "threshold": {"field": "temp", "aggregate": "max", "op": ">", "value": 45, "window": "15m"}}`,
	}
	for t := range teams {
		team, err := st.CreateTeam(ctx, store.NewTeam{Name: fmt.Sprint("T", t), Slug: fmt.Sprint("t", t)}, owner.ID)
		if err != nil {
			b.Fatal(err)
		}
		for p := range pipelinesPerTeam {
			name := fmt.Sprint("p", p)
			spec := fmt.Sprintf(`{"name": %q, "kind": "webhook", "mapping": {"fields": {"temp": {"type": "number"}}}}`, name)
			c, err := compiler.Parse([]byte(spec))
			if err != nil {
				b.Fatal(err)
			}
			pl, err := st.CreatePipeline(ctx, team.ID, store.NewPipeline{Name: name, Kind: core.KindWebhook, Spec: mustJSON(c.Spec), HookToken: uuid.NewString()})
			if err != nil {
				b.Fatal(err)
			}
			cc, err := eng.Compiled(pl)
			if err != nil {
				b.Fatal(err)
			}
			recs := []any{}
			for i := range 10 {
				recs = append(recs, map[string]any{"temp": float64(20 + p%30 + i), "ts": now.Add(-time.Duration(i) * time.Minute).Format(time.RFC3339)})
			}
			if _, err := eng.RunBatch(ctx, pl, cc, recs, core.TriggerWebhook, nil); err != nil {
				b.Fatal(err)
			}
			for r := range rulesPerPipeline {
				doc := fmt.Sprintf(rules[r%len(rules)], r, name)
				if _, err := st.CreateAlertRule(ctx, store.AlertRule{ID: uuid.Must(uuid.NewV7()), TeamID: team.ID, Name: fmt.Sprint(name, "-", r),
					PipelineID: pl.ID, Enabled: true, Spec: []byte(doc), CreatedAt: now}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	svc, err := alert.New(alert.Config{}, alert.Deps{Store: st, Secrets: func(context.Context, uuid.UUID, string) ([]byte, error) { return nil, nil },
		HTTP: http.DefaultClient, Dial: (&net.Dialer{}).DialContext, CheckURL: func(string) error { return nil }})
	if err != nil {
		b.Fatal(err)
	}
	tick := now.Truncate(30 * time.Second)
	// The first tick writes the states of the rules that fire; later ticks
	// are the steady state measured.
	if _, err := svc.Evaluate(ctx, tick); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var queries, rules2, transitions int
	for b.Loop() {
		tick = tick.Add(30 * time.Second)
		res, err := svc.Evaluate(ctx, tick)
		if err != nil {
			b.Fatal(err)
		}
		queries, rules2, transitions = queries+res.Queries, rules2+res.Rules, transitions+res.Transitions
	}
	b.ReportMetric(float64(queries)/float64(b.N), "queries/tick")
	b.ReportMetric(float64(rules2)/float64(b.N), "rules/tick")
	b.ReportMetric(float64(transitions)/float64(b.N), "transitions/tick")
	b.ReportMetric(100*b.Elapsed().Seconds()/float64(b.N)/30, "%of30s")
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
