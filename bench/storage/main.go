// Command storage is Tributary's time-series storage benchmark on
// PostgreSQL. Against an empty, dedicated database it:
//
//  1. creates 1,000 pipelines (-pipelines) and migrates the schema;
//  2. measures ingest in the same run, interleaved in slices so that both
//     sides see the same machine: the same 1000-row COPY batches (ids from
//     records_id_seq, one transaction each, two connections) into an
//     unpartitioned, unindexed copy of the records table, and into the
//     partitioned, indexed records table; then the store's WriteBatch
//     (records, run row, stats, per-day rows) against the same baseline;
//  3. loads the rest up to -records (default 20 million) synthetic records
//     of 10 numeric fields through WriteBatch, spread over -days (30)
//     ending now, in time order;
//  4. adds a dense pipeline (one record per second for the last two days)
//     written with per-minute rollups, as the engine writes them;
//  5. folds the hourly rollup deltas into 1h and 1d rollups (the
//     compaction job's CompactRollups) and times it;
//  6. times the reads: a 30-day chart of one field in hourly buckets, a
//     1-hour chart of raw points (on the sparse pipelines and on the dense
//     one), the newest 100 records, a 1-day chart by minute on the dense
//     pipeline; p50/p95/p99 over -queries runs each;
//  7. times retention dropping the oldest day partition;
//  8. reports table and database sizes.
//
// The sparse pipelines hold one record about every two minutes each, so
// their per-minute rollups would be ten rows per record, as large as the
// records themselves: the load writes their hourly deltas (what the engine's
// minute rollups coarsen into) to rollup_pending directly, and the minute
// level is measured on the dense pipeline, where it pays.
//
//	go run ./bench/storage -database-url postgres://…/bench_storage
//	go run ./bench/storage -database-url … -records 2000000   # a quick run
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/rollup"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/postgres"
)

type options struct {
	dbURL     string
	records   int
	pipelines int
	days      int
	compare   int
	batch     int
	conns     int
	queries   int
	dense     time.Duration

	queriesOnly bool
}

func main() {
	var o options
	flag.StringVar(&o.dbURL, "database-url", "", "PostgreSQL URL of an empty, dedicated database (required)")
	flag.IntVar(&o.records, "records", 20_000_000, "synthetic records to load, the comparison's partitioned rows included")
	flag.IntVar(&o.pipelines, "pipelines", 1000, "pipelines the records spread over")
	flag.IntVar(&o.days, "days", 30, "days the records span, ending now")
	flag.IntVar(&o.compare, "compare", 1_000_000, "rows per side of each same-run ingest comparison")
	flag.IntVar(&o.batch, "batch", 1000, "records per batch (one pipeline, one transaction)")
	flag.IntVar(&o.conns, "conns", 2, "concurrent writers")
	flag.IntVar(&o.queries, "queries", 300, "runs of each timed query")
	flag.DurationVar(&o.dense, "dense", 48*time.Hour, "span of the dense pipeline (one record per second)")
	flag.BoolVar(&o.queriesOnly, "queries-only", false, "only time the reads, on the data set an earlier run loaded")
	flag.Parse()
	if o.dbURL == "" {
		fmt.Fprintln(os.Stderr, "storage bench: -database-url is required")
		os.Exit(2)
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "storage bench:", err)
		os.Exit(1)
	}
}

// bench holds the run's state.
type bench struct {
	o     options
	st    *postgres.Store
	pool  *pgxpool.Pool
	team  uuid.UUID
	pipes []uuid.UUID
	start time.Time // oldest event time
	end   time.Time // now
	// pending buffers hourly rollup deltas for rollup_pending.
	pendMu  sync.Mutex
	pending [][]any
	// holdPending keeps pending deltas in memory while ingest is timed.
	holdPending bool
}

func run(ctx context.Context, o options) error {
	st, err := postgres.Open(ctx, o.dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	if o.queriesOnly {
		return rerunQueries(ctx, st, o)
	}
	var n int64
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM pipelines`).Scan(&n); err != nil || n > 0 {
		return fmt.Errorf("the database must be empty (pipelines: %d, err %v)", n, err)
	}
	b := &bench{o: o, st: st, pool: st.Pool(), end: core.Now().Truncate(time.Second)}
	b.start = b.end.Add(-time.Duration(o.days) * 24 * time.Hour)
	if err := b.setup(ctx); err != nil {
		return err
	}
	fmt.Printf("PostgreSQL storage benchmark: %d records, %d pipelines, 10 numeric fields, %d days, batches of %d, %d writers\n",
		o.records, o.pipelines, o.days, o.batch, o.conns)
	var version string
	_ = b.pool.QueryRow(ctx, `SHOW server_version`).Scan(&version)
	fmt.Printf("server %s\n\n", version)

	rounds := o.records / (o.pipelines * o.batch)
	if rounds < 3 {
		return fmt.Errorf("-records must be at least 3 × pipelines × batch = %d", 3*o.pipelines*o.batch)
	}
	if err := b.compareIngest(ctx, rounds); err != nil {
		return err
	}
	loadStart := time.Now()
	loaded := 0
	for r := 2; r < rounds; r++ {
		rate, err := b.writeRound(ctx, r, rounds, b.storeBatch)
		if err != nil {
			return err
		}
		loaded += o.pipelines * o.batch
		fmt.Printf("\rload: round %d/%d, %.0f rows/s        ", r+1, rounds, rate)
	}
	if err := b.flushPending(ctx); err != nil {
		return err
	}
	el := time.Since(loadStart)
	fmt.Printf("\rload via WriteBatch: %d records in %s, %.0f rows/s\n", loaded, el.Round(time.Second), float64(loaded)/el.Seconds())
	if err := b.densePipeline(ctx); err != nil {
		return err
	}
	if err := b.compact(ctx); err != nil {
		return err
	}
	if _, err := b.pool.Exec(ctx, `ANALYZE`); err != nil {
		return err
	}
	if err := b.queries(ctx); err != nil {
		return err
	}
	if err := b.sizes(ctx, "data set"); err != nil {
		return err
	}
	if err := b.retention(ctx); err != nil {
		return err
	}
	return nil
}

func (b *bench) setup(ctx context.Context) error {
	u, err := b.st.CreateUser(ctx, store.NewUser{Email: "bench@example.com", PasswordHash: "x"})
	if err != nil {
		return err
	}
	t, err := b.st.CreateTeam(ctx, store.NewTeam{Name: "bench", Slug: "bench"}, u.ID)
	if err != nil {
		return err
	}
	b.team = t.ID
	// The raw COPY of the comparison does not create partitions as
	// WriteBatch does; the periodic job would have made them.
	if err := b.st.EnsurePartitions(ctx, b.start.Add(-24*time.Hour), b.end.Add(24*time.Hour)); err != nil {
		return err
	}
	for i := range b.o.pipelines + 1 { // the last one is the dense pipeline
		name := fmt.Sprintf("p%04d", i)
		p, err := b.st.CreatePipeline(ctx, t.ID, store.NewPipeline{Name: name, Kind: core.KindWebhook,
			Spec: []byte(`{"name":"` + name + `","kind":"webhook","retention":"forever"}`), HookToken: uuid.NewString()})
		if err != nil {
			return err
		}
		b.pipes = append(b.pipes, p.ID)
	}
	return nil
}

// fields are the record's numeric fields.
var fields = []string{"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9"}

// hourKey is a field (by index) and an hour (Unix hours).
type hourKey struct {
	field int
	hour  int64
}

// makeBatch builds pipeline p's records of round r: o.batch records spread
// evenly over the round's window, values random around 10 × the field's
// index; and aggregates them per field and hour into hours when it is not
// nil (what the engine's per-minute rollups coarsen into, computed
// directly: the minute Set of sparse data costs far more).
func (b *bench) makeBatch(p, r, rounds int, hours map[hourKey]*rollup.Agg) []core.Record {
	span := b.end.Sub(b.start)
	lo := b.start.Add(span * time.Duration(r) / time.Duration(rounds))
	step := span / time.Duration(rounds) / time.Duration(b.o.batch)
	rng := rand.New(rand.NewPCG(uint64(p), uint64(r)))
	off := time.Duration(rng.Int64N(int64(step)))
	recs := make([]core.Record, b.o.batch)
	for i := range recs {
		ts := lo.Add(time.Duration(i)*step + off).Truncate(time.Microsecond)
		buf := make([]byte, 0, 200)
		buf = append(buf, '{')
		for j, f := range fields {
			v := math.Round((float64(j*10)+rng.NormFloat64()*5)*100) / 100
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, '"')
			buf = append(buf, f...)
			buf = append(buf, `":`...)
			buf = strconv.AppendFloat(buf, v, 'f', -1, 64)
			if hours != nil {
				k := hourKey{j, ts.Unix() / 3600}
				a := hours[k]
				if a == nil {
					a = &rollup.Agg{}
					hours[k] = a
				}
				a.Add(ts, v)
			}
		}
		buf = append(buf, '}')
		recs[i] = core.Record{TS: ts, Data: buf}
	}
	return recs
}

// writer writes one pipeline's batch of one round.
type writer func(ctx context.Context, p, r, rounds int) error

// writeRound writes round r of every pipeline with o.conns goroutines and
// returns the rows/s.
func (b *bench) writeRound(ctx context.Context, r, rounds int, w writer) (float64, error) {
	return b.writePipelines(ctx, r, rounds, 0, b.o.pipelines, w)
}

func (b *bench) writePipelines(ctx context.Context, r, rounds, from, to int, w writer) (float64, error) {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	errs := make(chan error, b.o.conns)
	start := time.Now()
	for range b.o.conns {
		wg.Go(func() {
			for {
				p := int(next.Add(1) - 1)
				if p >= to {
					return
				}
				if err := w(ctx, p, r, rounds); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	return float64((to-from)*b.o.batch) / time.Since(start).Seconds(), nil
}

// copyBatch is the raw path: ids from the sequence and one COPY, in a
// transaction, into table.
func (b *bench) copyBatch(table string) writer {
	return func(ctx context.Context, p, r, rounds int) error {
		recs := b.makeBatch(p, r, rounds, nil)
		team, pipe := [16]byte(b.team), [16]byte(b.pipes[p])
		return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT nextval('records_id_seq') FROM generate_series(1, $1)`, len(recs))
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			_, err = tx.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "team_id", "pipeline_id", "ts", "version", "size", "data"},
				pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
					return []any{ids[i], team, pipe, recs[i].TS, int32(1), int32(len(recs[i].Data)), []byte(recs[i].Data)}, nil
				}))
			return err
		})
	}
}

// storeBatch is the production path: WriteBatch, with the batch's hourly
// rollup deltas queued for rollup_pending (see the package comment).
func (b *bench) storeBatch(ctx context.Context, p, r, rounds int) error {
	hours := map[hourKey]*rollup.Agg{}
	recs := b.makeBatch(p, r, rounds, hours)
	bt := &store.Batch{TeamID: b.team, PipelineID: b.pipes[p], Version: 1, Persist: true, Records: recs,
		Run: core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now(), Fetched: len(recs), Stored: len(recs)}}
	if err := b.st.WriteBatch(ctx, bt); err != nil {
		return err
	}
	return b.queuePending(ctx, p, hours)
}

func (b *bench) queuePending(ctx context.Context, p int, hours map[hourKey]*rollup.Agg) error {
	b.pendMu.Lock()
	for k, a := range hours {
		b.pending = append(b.pending, []any{[16]byte(b.pipes[p]), fields[k.field], time.Unix(k.hour*3600, 0).UTC(), [16]byte(b.team),
			a.Count, a.Sum, a.Min, a.Max, a.FirstTS, a.First, a.LastTS, a.Last})
	}
	full := len(b.pending) >= 200_000 && !b.holdPending
	b.pendMu.Unlock()
	if full {
		return b.flushPending(ctx)
	}
	return nil
}

func (b *bench) flushPending(ctx context.Context) error {
	b.pendMu.Lock()
	rows := b.pending
	b.pending = nil
	b.pendMu.Unlock()
	if len(rows) == 0 {
		return nil
	}
	_, err := b.pool.CopyFrom(ctx, pgx.Identifier{"rollup_pending"},
		[]string{"pipeline_id", "field", "bucket", "team_id", "count", "sum", "min", "max", "first_ts", "first_val", "last_ts", "last_val"},
		pgx.CopyFromRows(rows))
	return err
}

// compareIngest runs rounds 0 and 1 interleaved with the plain table:
// round 0 by raw COPY into records (partitioned, indexed) against the same
// COPY into bench_plain; round 1 by WriteBatch against bench_plain again.
func (b *bench) compareIngest(ctx context.Context, rounds int) error {
	if _, err := b.pool.Exec(ctx, `DROP TABLE IF EXISTS bench_plain;
		CREATE UNLOGGED TABLE bench_plain (LIKE records INCLUDING DEFAULTS)`); err != nil {
		return err
	}
	// Same persistence as records: a logged table.
	if _, err := b.pool.Exec(ctx, `ALTER TABLE bench_plain SET LOGGED`); err != nil {
		return err
	}
	// Pipelines per slice: small slices alternate often, so that both sides
	// see the same background load.
	slice := max(1, min(10, b.o.compare/b.o.batch/10))
	type side struct {
		name    string
		w       writer
		rows    int
		elapsed time.Duration
	}
	measure := func(r int, a, c *side) error {
		for lo := 0; lo < b.o.pipelines && a.rows < b.o.compare; lo += slice {
			hi := min(b.o.pipelines, lo+slice)
			order := []*side{a, c}
			if (lo/slice)%2 == 1 {
				order = []*side{c, a}
			}
			for _, s := range order {
				start := time.Now()
				if _, err := b.writePipelines(ctx, r, rounds, lo, hi, s.w); err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				s.elapsed += time.Since(start)
				s.rows += (hi - lo) * b.o.batch
			}
		}
		return nil
	}
	rate := func(s *side) float64 { return float64(s.rows) / s.elapsed.Seconds() }

	plain := &side{name: "unpartitioned, unindexed", w: b.copyBatch("bench_plain")}
	parted := &side{name: "partitioned + indexed", w: b.copyBatch("records")}
	if err := measure(0, plain, parted); err != nil {
		return err
	}
	// The raw COPY skipped the store's bookkeeping; write it for the rows.
	if err := b.backfillBookkeeping(ctx); err != nil {
		return err
	}
	fmt.Printf("ingest, same run, interleaved, %d writers, COPY of %d-row batches:\n", b.o.conns, b.o.batch)
	fmt.Printf("  %-42s %9.0f rows/s  (%d rows)\n", plain.name, rate(plain), plain.rows)
	fmt.Printf("  %-42s %9.0f rows/s  (%d rows)  ratio %.2f (issue asks >= 0.70)\n", parted.name, rate(parted), parted.rows, rate(parted)/rate(plain))

	plain2 := &side{name: "unpartitioned, unindexed", w: b.copyBatch("bench_plain")}
	wb := &side{name: "WriteBatch (+ run, stats, per-day rows)", w: b.storeBatch}
	b.holdPending = true
	if err := measure(1, plain2, wb); err != nil {
		return err
	}
	b.holdPending = false
	if err := b.flushPending(ctx); err != nil {
		return err
	}
	fmt.Printf("  %-42s %9.0f rows/s\n", plain2.name, rate(plain2))
	fmt.Printf("  %-42s %9.0f rows/s  ratio %.2f\n", wb.name, rate(wb), rate(wb)/rate(plain2))
	// Round 1's pipelines not measured (the slices stop at -compare rows).
	if _, err := b.writePipelines(ctx, 1, rounds, wb.rows/b.o.batch, b.o.pipelines, b.storeBatch); err != nil {
		return err
	}
	if _, err := b.writePipelines(ctx, 0, rounds, parted.rows/b.o.batch, b.o.pipelines, b.storeBatch); err != nil {
		return err
	}
	_, err := b.pool.Exec(ctx, `DROP TABLE bench_plain`)
	return err
}

// backfillBookkeeping writes record_days and stats for the rows the raw
// COPY wrote (all of records at that point), and their hourly deltas.
func (b *bench) backfillBookkeeping(ctx context.Context) error {
	if _, err := b.pool.Exec(ctx, `INSERT INTO record_days (pipeline_id, day, team_id, records, bytes, oldest, newest)
		SELECT pipeline_id, date_bin('1 day', ts, 'epoch'::timestamptz), team_id, count(*), sum(size), min(ts), max(ts)
		FROM records GROUP BY 1, 2, 3`); err != nil {
		return err
	}
	if _, err := b.pool.Exec(ctx, `UPDATE pipelines p SET record_count = t.n, stored_bytes = t.b, last_record_at = t.newest
		FROM (SELECT pipeline_id, count(*) n, sum(size) b, max(ts) newest FROM records GROUP BY 1) t WHERE p.id = t.pipeline_id`); err != nil {
		return err
	}
	_, err := b.pool.Exec(ctx, `INSERT INTO rollup_pending (pipeline_id, field, bucket, team_id, count, sum, min, max, first_ts, first_val, last_ts, last_val)
		SELECT pipeline_id, key, date_bin('1 hour', ts, 'epoch'::timestamptz), team_id, count(*), sum(v), min(v), max(v),
			min(ts), (array_agg(v ORDER BY ts))[1], max(ts), (array_agg(v ORDER BY ts DESC))[1]
		FROM (SELECT pipeline_id, team_id, ts, key, value::float8 AS v FROM records, jsonb_each_text(data::jsonb)) x
		GROUP BY 1, 2, 3, 4`)
	return err
}

// densePipeline writes one record per second for o.dense ending now, with
// per-minute rollups, through WriteBatch.
func (b *bench) densePipeline(ctx context.Context) error {
	p := len(b.pipes) - 1
	start := b.end.Add(-b.o.dense)
	n := int(b.o.dense / time.Second)
	var written atomic.Int64
	began := time.Now()
	var wg sync.WaitGroup
	var next atomic.Int64
	errs := make(chan error, b.o.conns)
	for range b.o.conns {
		wg.Go(func() {
			for {
				lo := int(next.Add(int64(b.o.batch)) - int64(b.o.batch))
				if lo >= n {
					return
				}
				hi := min(n, lo+b.o.batch)
				bt := &store.Batch{TeamID: b.team, PipelineID: b.pipes[p], Version: 1, Persist: true,
					Run: core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now()}}
				vals := map[string]any{}
				for i := lo; i < hi; i++ {
					ts := start.Add(time.Duration(i) * time.Second)
					buf := []byte{'{'}
					for j, f := range fields {
						v := math.Round((float64(j*10)+math.Sin(float64(i)/600)*5)*100) / 100
						if j > 0 {
							buf = append(buf, ',')
						}
						buf = append(buf, '"')
						buf = append(buf, f...)
						buf = append(buf, `":`...)
						buf = strconv.AppendFloat(buf, v, 'f', -1, 64)
						vals[f] = v
					}
					buf = append(buf, '}')
					bt.Records = append(bt.Records, core.Record{TS: ts, Data: buf})
					bt.Rollups.Add(ts, vals)
				}
				if err := b.st.WriteBatch(ctx, bt); err != nil {
					errs <- err
					return
				}
				written.Add(int64(hi - lo))
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	el := time.Since(began)
	fmt.Printf("dense pipeline (1 record/s over %s) via WriteBatch with per-minute rollups: %d records, %.0f rows/s\n",
		b.o.dense, written.Load(), float64(written.Load())/el.Seconds())
	return nil
}

// compact folds every pending delta, then marks the sparse pipelines'
// hour and day levels complete (the load wrote them without minute rows).
func (b *bench) compact(ctx context.Context) error {
	var pending int64
	_ = b.pool.QueryRow(ctx, `SELECT count(*) FROM rollup_pending`).Scan(&pending)
	start := time.Now()
	total := 0
	for {
		n, err := b.st.CompactRollups(ctx, 50_000)
		if err != nil {
			return err
		}
		total += n
		if n == 0 {
			break
		}
	}
	el := time.Since(start)
	fmt.Printf("rollup compaction: %d pending hourly deltas folded into 1h and 1d rollups in %s (%.0f deltas/s)\n",
		total, el.Round(time.Millisecond), float64(total)/el.Seconds())
	_, err := b.pool.Exec(ctx, `DELETE FROM series_horizons WHERE width IN (3600, 86400) AND pipeline_id <> $1`, b.pipes[len(b.pipes)-1])
	return err
}

type timings []time.Duration

func (t timings) pct(p float64) time.Duration {
	s := slices.Clone(t)
	slices.Sort(s)
	return s[min(len(s)-1, int(math.Ceil(p/100*float64(len(s))))-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func (b *bench) timeQuery(ctx context.Context, name, target string, fn func(i int) (string, error)) error {
	var ts timings
	var info string
	for i := range b.o.queries + 10 {
		start := time.Now()
		s, err := fn(i)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if i >= 10 { // the first ones warm caches and prepared statements
			ts = append(ts, time.Since(start))
		}
		info = s
	}
	fmt.Printf("  %-44s p50 %9s  p95 %9s  p99 %9s  %s  [%s]\n", name, ms(ts.pct(50)), ms(ts.pct(95)), ms(ts.pct(99)), target, info)
	return nil
}

func (b *bench) queries(ctx context.Context) error {
	rng := rand.New(rand.NewPCG(1, 1))
	sparse := func() uuid.UUID { return b.pipes[rng.IntN(b.o.pipelines)] }
	dense := b.pipes[len(b.pipes)-1]
	fmt.Printf("\nreads through the store (%d runs each, random pipelines):\n", b.o.queries)
	series := func(p uuid.UUID, q store.SeriesQuery) (string, error) {
		s, err := b.st.Series(ctx, b.team, p, q)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("source %s, %d points, ~%d records", store.SourceName(s.Source), len(s.Points), s.Estimated), nil
	}
	if err := b.timeQuery(ctx, "30-day chart, 1 field, hourly buckets", "(issue: <= 50 ms)", func(int) (string, error) {
		return series(sparse(), store.SeriesQuery{Field: "f3", From: b.end.Add(-30 * 24 * time.Hour), To: b.end, Bucket: time.Hour})
	}); err != nil {
		return err
	}
	if err := b.timeQuery(ctx, "30-day chart, dense pipeline, hourly", "", func(int) (string, error) {
		return series(dense, store.SeriesQuery{Field: "f3", From: b.end.Add(-30 * 24 * time.Hour), To: b.end, Bucket: time.Hour})
	}); err != nil {
		return err
	}
	hour := func() time.Time { return b.end.Add(-time.Duration(1+rng.IntN(24*(b.o.days-2))) * time.Hour) }
	if err := b.timeQuery(ctx, "1-hour chart of raw points, sparse pipeline", "(issue: <= 30 ms)", func(int) (string, error) {
		from := hour()
		return series(sparse(), store.SeriesQuery{Field: "f3", From: from, To: from.Add(time.Hour)})
	}); err != nil {
		return err
	}
	if err := b.timeQuery(ctx, "1-hour chart of raw points, dense pipeline", "(issue: <= 30 ms)", func(int) (string, error) {
		from := b.end.Add(-time.Duration(1+rng.IntN(40)) * time.Hour)
		return series(dense, store.SeriesQuery{Field: "f3", From: from, To: from.Add(time.Hour)})
	}); err != nil {
		return err
	}
	if err := b.timeQuery(ctx, "1-day chart by minute, dense pipeline", "", func(int) (string, error) {
		from := b.end.Add(-time.Duration(24+rng.IntN(20)) * time.Hour)
		return series(dense, store.SeriesQuery{Field: "f3", From: from, To: from.Add(24 * time.Hour), Bucket: time.Minute})
	}); err != nil {
		return err
	}
	if err := b.timeQuery(ctx, "newest 100 records", "(issue: <= 5 ms)", func(int) (string, error) {
		rs, err := b.st.Records(ctx, b.team, sparse(), store.RecordQuery{Limit: 100})
		return fmt.Sprintf("%d records", len(rs)), err
	}); err != nil {
		return err
	}
	if err := b.timeQuery(ctx, "history page (100 older than a cursor)", "", func(int) (string, error) {
		before := hour()
		rs, err := b.st.Records(ctx, b.team, sparse(), store.RecordQuery{Limit: 100, BeforeTS: before, BeforeID: math.MaxInt64})
		return fmt.Sprintf("%d records", len(rs)), err
	}); err != nil {
		return err
	}
	var plan string
	rows, err := b.pool.Query(ctx, `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT id, ts, version, data FROM records
		WHERE team_id = $1 AND pipeline_id = $2 ORDER BY ts DESC, id DESC LIMIT 100`, b.team, b.pipes[7])
	if err == nil {
		lines, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		for i, l := range lines {
			if i < 6 || i >= len(lines)-2 {
				plan += "    " + l + "\n"
			}
		}
	}
	fmt.Printf("  plan of newest 100 (first lines):\n%s", plan)
	return nil
}

func (b *bench) sizes(ctx context.Context, what string) error {
	var db, records, rollups, days, recordsN, rollupsN int64
	var parts int
	err := b.pool.QueryRow(ctx, `SELECT pg_database_size(current_database()),
			(SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits WHERE inhparent = 'records'::regclass)::bigint,
			(SELECT count(*) FROM pg_inherits WHERE inhparent = 'records'::regclass),
			pg_total_relation_size('rollups'), pg_total_relation_size('record_days'),
			(SELECT sum(record_count) FROM pipelines)::bigint, (SELECT count(*) FROM rollups)`).Scan(&db, &records, &parts, &rollups, &days, &recordsN, &rollupsN)
	if err != nil {
		return err
	}
	gb := func(n int64) string { return fmt.Sprintf("%.2f GB", float64(n)/(1<<30)) }
	fmt.Printf("\n%s: %d records in %d partitions, %s with indexes (%.0f bytes/record); %d rollup rows, %s; record_days %s; database %s\n",
		what, recordsN, parts, gb(records), float64(records)/float64(max(recordsN, 1)), rollupsN, gb(rollups), gb(days), gb(db))
	return nil
}

// retention drops the oldest day partition: every pipeline's cutoff is
// the end of the oldest day.
func (b *bench) retention(ctx context.Context) error {
	parts, err := b.st.RecordPartitions(ctx)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return errors.New("no partitions")
	}
	var first time.Time
	if err := b.pool.QueryRow(ctx, `SELECT min(day) FROM record_days`).Scan(&first); err != nil {
		return err
	}
	i := slices.IndexFunc(parts, func(p store.Partition) bool { return p.To.After(first) })
	oldest := parts[i]
	var policies []store.RetentionPolicy
	for _, p := range b.pipes {
		policies = append(policies, store.RetentionPolicy{PipelineID: p, Records: oldest.To})
	}
	var before int64
	_ = b.pool.QueryRow(ctx, `SELECT sum(record_count) FROM pipelines`).Scan(&before)
	start := time.Now()
	res, err := b.st.ApplyRetention(ctx, policies, store.RetentionOptions{})
	if err != nil {
		return err
	}
	el := time.Since(start)
	var after int64
	_ = b.pool.QueryRow(ctx, `SELECT sum(record_count) FROM pipelines`).Scan(&after)
	fmt.Printf("\nretention of the oldest day (%s, %s on disk, %d pipelines with data): dropped %v (%d records), deleted %d row by row, in %s (issue: <= 1 s); stats went from %d to %d records\n",
		oldest.Name, fmt.Sprintf("%.0f MB", float64(oldest.DiskBytes)/(1<<20)), len(b.pipes)-1, res.DroppedPartitions, res.DroppedRecords, res.DeletedRecords,
		el.Round(time.Millisecond), before, after)
	return nil
}

// rerunQueries times the reads on a data set loaded before: the pipelines
// by name (the dense one last), the time range from the dense pipeline.
func rerunQueries(ctx context.Context, st *postgres.Store, o options) error {
	b := &bench{o: o, st: st, pool: st.Pool()}
	rows, err := b.pool.Query(ctx, `SELECT team_id, id FROM pipelines ORDER BY name`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&b.team, &id); err != nil {
			return err
		}
		b.pipes = append(b.pipes, id)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(b.pipes) < 2 {
		return errors.New("no data set: run without -queries-only first")
	}
	b.o.pipelines = len(b.pipes) - 1
	var end time.Time
	if err := b.pool.QueryRow(ctx, `SELECT max(ts) FROM records WHERE pipeline_id = $1`, b.pipes[len(b.pipes)-1]).Scan(&end); err != nil {
		return err
	}
	b.end = end.Add(time.Second).Truncate(time.Second)
	b.start = b.end.Add(-time.Duration(o.days) * 24 * time.Hour)
	if err := b.queries(ctx); err != nil {
		return err
	}
	return b.sizes(ctx, "data set")
}
