// Command delivery is Tributary's sink delivery benchmark. On one store
// (PostgreSQL with -database-url, else a SQLite file) it measures, in
// process, with the real engine, delivery service and River client:
//
//  1. River's own throughput on this database: -jobs no-op jobs inserted
//     in bulk on a queue of the same width, then worked (jobs/s);
//
//  2. delivery throughput to an HTTP receiver on loopback (204 at once):
//     batches committed with the River client stopped, so that their
//     deliveries queue up, then worked until the receiver has every
//     record (records/s, deliveries/s = River jobs/s of the delivery
//     queue), for several batch sizes;
//
//     With -sinks N the pipeline has N sinks to the same receiver and the
//     figures are per sink. "carried" counts deliveries that another
//     delivery's job took on (coalesced) rather than a job of their own;
//
//  3. the ingest cost of sinks: the same batches committed through the
//     engine with 0, 1, 2 and 4 enabled sinks (deliveries enqueued, not
//     worked), batches/s and the added time per batch and sink.
//
//     go run ./bench/delivery                                  # SQLite
//     go run ./bench/delivery -database-url postgres://…/bench  # an empty database
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/delivery"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/netguard"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/source"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/postgres"
	"github.com/tributary-dev/tributary/internal/store/sqlite"
)

type options struct {
	dbURL       string
	workers     int
	jobs        int
	records     int
	batchSizes  string
	ingestBatch int
	ingestN     int
	cpuProfile  string
	only        string
	sinks       int
	summary     string
}

func main() {
	var o options
	flag.StringVar(&o.dbURL, "database-url", "", "PostgreSQL URL of an empty, dedicated database; empty benchmarks SQLite")
	flag.IntVar(&o.workers, "workers", delivery.DefaultWorkers, "workers of the deliveries queue (and of the baseline's)")
	flag.IntVar(&o.jobs, "jobs", 5000, "no-op jobs of the River baseline")
	flag.IntVar(&o.records, "records", 50000, "records delivered per batch size")
	flag.StringVar(&o.batchSizes, "batch", "1,10,100,1000", "records per committed batch (one delivery each), comma-separated")
	flag.IntVar(&o.ingestBatch, "ingest-batch", 10, "records per batch in the ingest-cost phase")
	flag.IntVar(&o.ingestN, "ingest-batches", 2000, "batches per sink count in the ingest-cost phase")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	flag.StringVar(&o.only, "only", "", "run only this phase: river, deliver or ingest")
	flag.IntVar(&o.sinks, "sinks", 1, "sinks of the pipeline in the delivery phase (figures per sink)")
	flag.StringVar(&o.summary, "summary", "", "file to write the figures to, as Markdown tables")
	flag.Parse()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "delivery bench:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "delivery bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func openStore(ctx context.Context, o options) (store.Store, func(), error) {
	if o.dbURL != "" {
		st, err := postgres.Open(ctx, o.dbURL)
		if err != nil {
			return nil, nil, err
		}
		return st, func() { st.Close() }, st.Migrate(ctx)
	}
	dir, err := os.MkdirTemp("", "bench-delivery-")
	if err != nil {
		return nil, nil, err
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "bench.db"))
	if err != nil {
		return nil, nil, err
	}
	return st, func() { st.Close(); os.RemoveAll(dir) }, st.Migrate(ctx)
}

// noopArgs is the baseline job.
type noopArgs struct {
	N int `json:"n"`
}

func (noopArgs) Kind() string { return "bench_noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	done *atomic.Int64
}

func (w *noopWorker) Work(context.Context, *river.Job[noopArgs]) error {
	w.done.Add(1)
	return nil
}

func run(ctx context.Context, o options) error {
	st, closeStore, err := openStore(ctx, o)
	if err != nil {
		return err
	}
	defer closeStore()
	fmt.Printf("backend %s, %d workers on the deliveries queue\n\n", st.Backend(), o.workers)

	var sum summary
	sum.backend = st.Backend()
	if o.summary != "" {
		defer func() {
			if err := os.WriteFile(o.summary, sum.markdown(o), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "delivery bench: summary:", err)
			}
		}()
	}
	if o.only == "" || o.only == "river" {
		if sum.riverJobsPerSec, err = riverBaseline(ctx, st, o); err != nil {
			return err
		}
	}

	var received atomic.Int64
	var requests atomic.Int64
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		received.Add(int64(strings.Count(string(b), `"ts":`)))
		requests.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()

	owner, err := st.CreateUser(ctx, store.NewUser{Email: uuid.NewString() + "@bench.example", PasswordHash: "x"})
	if err != nil {
		return err
	}
	team, err := st.CreateTeam(ctx, store.NewTeam{Name: "bench", Slug: "bench-" + uuid.NewString()[:8]}, owner.ID)
	if err != nil {
		return err
	}
	guard := netguard.New(netguard.Config{AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, MaxRedirects: -1})
	defer guard.CloseIdleConnections()
	sinks := sink.NewRegistry(sink.HTTPKind)
	compiler := pipeline.NewCompiler(source.Builtin(), sinks)
	reg := prometheus.NewRegistry()
	svc, err := delivery.New(delivery.Config{Workers: o.workers, Compiler: compiler, Registerer: reg}, sinks,
		sink.Deps{HTTPClient: guard.Client(), Dial: guard.DialContext, CheckURL: guard.CheckURL,
			Secret: func(context.Context, uuid.UUID, string) ([]byte, error) { return nil, core.ErrNotFound }}, st)
	if err != nil {
		return err
	}
	defer svc.Close(context.Background())
	eng, err := engine.New(engine.Config{Compiler: compiler}, st, nil, nil, nil)
	if err != nil {
		return err
	}
	defer eng.Close(context.Background())
	eng.AddFanout(svc)

	newPipeline := func(name string, sinks int) (core.Pipeline, *pipeline.Compiled, error) {
		var ss []string
		for i := range sinks {
			ss = append(ss, fmt.Sprintf(`{"name":"s%d","http":{"url":%q}}`, i, rc.URL+"/in"))
		}
		c, err := compiler.Parse([]byte(`{"name":"` + name + `","kind":"webhook","sinks":[` + strings.Join(ss, ",") + `]}`))
		if err != nil {
			return core.Pipeline{}, nil, err
		}
		canonical, _ := c.Spec.Canonical()
		p, err := st.CreatePipeline(ctx, team.ID, store.NewPipeline{Name: name, Kind: core.KindWebhook, Spec: canonical, HookToken: uuid.NewString()})
		return p, c, err
	}
	inputs := func(n, first int) []any {
		out := make([]any, n)
		for i := range out {
			out[i] = map[string]any{"n": json.Number(strconv.Itoa(first + i)), "temp": json.Number("21.5"), "station": "berlin-10384",
				"ok": true, "tags": []any{"a", "b"}}
		}
		return out
	}

	// 2. Delivery throughput.
	sizes := strings.Split(o.batchSizes, ",")
	if o.only != "" && o.only != "deliver" {
		sizes = nil
	} else {
		fmt.Printf("delivery to an HTTP receiver on loopback, %d sink(s) (deliveries queued first, then worked; per sink):\n", o.sinks)
		fmt.Printf("  %-8s %10s %12s %14s %12s %10s %10s\n", "batch", "records", "seconds", "records/s", "deliveries/s", "carried", "snoozed")
	}
	for _, f := range sizes {
		size, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || size < 1 {
			return fmt.Errorf("batch size %q", f)
		}
		p, c, err := newPipeline("deliver-"+strconv.Itoa(size), o.sinks)
		if err != nil {
			return err
		}
		batches := max(o.records/size, 1)
		for i := range batches {
			if _, err := eng.RunBatch(ctx, p, c, inputs(size, i*size), core.TriggerManual, nil); err != nil {
				return err
			}
		}
		total := int64(batches * size * o.sinks)
		received.Store(0)
		carriedBefore := counter(reg, "tributary_sink_deliveries_carried_total")
		snoozedBefore := counter(reg, "tributary_sink_busy_snoozes_total")
		rcfg := &river.Config{FetchCooldown: 10 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond}
		svc.Register(rcfg)
		client, err := st.NewJobClient(rcfg)
		if err != nil {
			return err
		}
		start := time.Now()
		if err := client.Start(ctx); err != nil {
			return err
		}
		for received.Load() < total {
			time.Sleep(5 * time.Millisecond)
			if time.Since(start) > 10*time.Minute {
				return fmt.Errorf("deliveries of batch size %d: %d of %d records after 10 minutes", size, received.Load(), total)
			}
		}
		// The last deliveries are acknowledged; wait until their rows say so.
		for {
			ds, err := st.Deliveries(ctx, team.ID, p.ID, store.DeliveryQuery{Status: core.DeliveryPending, Limit: 1})
			if err != nil {
				return err
			}
			rs, err := st.Deliveries(ctx, team.ID, p.ID, store.DeliveryQuery{Status: core.DeliveryRetrying, Limit: 1})
			if err != nil {
				return err
			}
			if len(ds)+len(rs) == 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		d := time.Since(start)
		stop, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = client.Stop(stop)
		cancel()
		if err != nil {
			return err
		}
		perSink := float64(total) / float64(o.sinks)
		r := deliveryResult{size: size, recordsPerSec: perSink / d.Seconds(), deliveriesPerSec: float64(batches) / d.Seconds(),
			carried: (counter(reg, "tributary_sink_deliveries_carried_total") - carriedBefore) / float64(o.sinks), batches: batches,
			snoozed: (counter(reg, "tributary_sink_busy_snoozes_total") - snoozedBefore) / float64(o.sinks)}
		sum.deliveries = append(sum.deliveries, r)
		fmt.Printf("  %-8d %10.0f %12.2f %14.0f %12.0f %10.0f %10.0f\n", size, perSink, d.Seconds(), r.recordsPerSec, r.deliveriesPerSec, r.carried, r.snoozed)
	}

	// 3. Ingest cost per sink.
	if o.only != "" && o.only != "ingest" {
		return nil
	}
	fmt.Printf("\ningest through the engine, %d batches of %d records, deliveries enqueued in the batch transaction:\n", o.ingestN, o.ingestBatch)
	fmt.Printf("  %-6s %12s %12s %16s\n", "sinks", "batches/s", "records/s", "µs/batch")
	var base float64
	for _, sinks := range []int{0, 1, 2, 4} {
		p, c, err := newPipeline("ingest-"+strconv.Itoa(sinks), sinks)
		if err != nil {
			return err
		}
		for i := range 50 { // warm up
			if _, err := eng.RunBatch(ctx, p, c, inputs(o.ingestBatch, i), core.TriggerManual, nil); err != nil {
				return err
			}
		}
		start := time.Now()
		for i := range o.ingestN {
			if _, err := eng.RunBatch(ctx, p, c, inputs(o.ingestBatch, i*o.ingestBatch), core.TriggerManual, nil); err != nil {
				return err
			}
		}
		d := time.Since(start)
		per := float64(d.Microseconds()) / float64(o.ingestN)
		extra := ""
		if sinks == 0 {
			base = per
		} else {
			extra = fmt.Sprintf("  (+%.0f µs per sink)", (per-base)/float64(sinks))
		}
		sum.ingest = append(sum.ingest, ingestResult{sinks: sinks, batchesPerSec: float64(o.ingestN) / d.Seconds(), usPerBatch: per, base: base})
		fmt.Printf("  %-6d %12.0f %12.0f %16.0f%s\n", sinks, float64(o.ingestN)/d.Seconds(), float64(o.ingestN*o.ingestBatch)/d.Seconds(), per, extra)
	}
	return nil
}

// counter sums a counter's series in reg.
func counter(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// riverBaseline measures River alone: no-op jobs inserted in bulk, then
// worked by a queue as wide as the deliveries queue. It returns the rate
// at which they were worked.
func riverBaseline(ctx context.Context, st store.Store, o options) (float64, error) {
	var done atomic.Int64
	workers := river.NewWorkers()
	river.AddWorker(workers, &noopWorker{done: &done})
	rcfg := &river.Config{Workers: workers, Queues: map[string]river.QueueConfig{"bench": {MaxWorkers: o.workers}},
		FetchCooldown: 10 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond}
	client, err := st.NewJobClient(rcfg)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for i := 0; i < o.jobs; i++ {
		if _, err := client.Insert(ctx, noopArgs{N: i}, &river.InsertOpts{Queue: "bench"}); err != nil {
			return 0, err
		}
	}
	insert := time.Since(start)
	start = time.Now()
	if err := client.Start(ctx); err != nil {
		return 0, err
	}
	for done.Load() < int64(o.jobs) {
		time.Sleep(5 * time.Millisecond)
	}
	work := time.Since(start)
	stop, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := client.Stop(stop); err != nil {
		return 0, err
	}
	fmt.Printf("River baseline, %d no-op jobs: inserted one by one at %.0f jobs/s, worked at %.0f jobs/s\n\n",
		o.jobs, float64(o.jobs)/insert.Seconds(), float64(o.jobs)/work.Seconds())
	return float64(o.jobs) / work.Seconds(), nil
}
