package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/rollup"
	"github.com/tributary-dev/tributary/internal/store"
)

func init() {
	extra["StorageStats"] = testStorageStats
	extra["RetentionInsideDays"] = testRetentionInsideDays
	extra["RetentionAtDayBoundaries"] = testRetentionAtDayBoundaries
	extra["RollupsEqualRaw"] = testRollupsEqualRaw
	extra["RollupsIncompleteReadRaw"] = testRollupsIncomplete
	extra["RollupRetention"] = testRollupRetention
	extra["SeriesQueries"] = testSeriesQueries
}

// genRecord is a synthetic record with its decoded fields, as the engine
// has them before encoding.
type genRecord struct {
	ts     time.Time
	fields map[string]any
}

// genRecords makes n records with distinct event times in [start,
// start+span), numeric fields that come and go, and non-numeric ones.
func genRecords(r *rand.Rand, n int, start time.Time, span time.Duration) []genRecord {
	seen := map[int64]bool{}
	out := make([]genRecord, 0, n)
	for len(out) < n {
		ts := start.Add(time.Duration(r.Int64N(int64(span)))).Truncate(time.Microsecond)
		if seen[ts.UnixMicro()] {
			continue
		}
		seen[ts.UnixMicro()] = true
		f := map[string]any{"station": "s" + strconv.Itoa(r.IntN(4)), "ok": r.IntN(2) == 0}
		if r.IntN(5) > 0 {
			f["temp"] = math.Round(r.NormFloat64()*1000) / 100
		}
		if r.IntN(3) > 0 {
			f["count"] = int64(r.IntN(100))
		}
		if r.IntN(7) == 0 {
			f["temp"] = "n/a" // a string now and then: not a number
		}
		out = append(out, genRecord{ts: ts, fields: f})
	}
	return out
}

// writeGen commits recs in batches of the given sizes (cycled), with their
// rollups when withRollups.
func writeGen(t *testing.T, s store.Store, teamID, pipelineID uuid.UUID, recs []genRecord, sizes []int, withRollups bool) {
	t.Helper()
	for i, k := 0, 0; i < len(recs); k++ {
		n := min(sizes[k%len(sizes)], len(recs)-i)
		b := &store.Batch{TeamID: teamID, PipelineID: pipelineID, Version: 1, Persist: true,
			Run: core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now(), Fetched: n, Stored: n}}
		for _, g := range recs[i : i+n] {
			data, err := json.Marshal(g.fields)
			if err != nil {
				t.Fatal(err)
			}
			b.Records = append(b.Records, core.Record{TS: g.ts, Data: data})
			if withRollups {
				b.Rollups.Add(g.ts, g.fields)
			}
		}
		if err := s.WriteBatch(ctx(t), b); err != nil {
			t.Fatal(err)
		}
		i += n
	}
}

// expectSeries aggregates recs the obvious way for a query.
func expectSeries(recs []genRecord, q store.SeriesQuery) []store.SeriesPoint {
	q = q.Aligned()
	m := map[int64]*store.SeriesPoint{}
	var raw []store.SeriesPoint
	for _, g := range recs {
		v, ok := rollup.Number(g.fields[q.Field])
		if !ok || g.ts.Before(q.From) || !g.ts.Before(q.To) {
			continue
		}
		if q.Bucket == 0 {
			p := store.SeriesPoint{Bucket: g.ts}
			p.Add(g.ts, v)
			raw = append(raw, p)
			continue
		}
		b := rollup.Bucket(g.ts, q.Bucket)
		p := m[b.Unix()]
		if p == nil {
			p = &store.SeriesPoint{Bucket: b}
			m[b.Unix()] = p
		}
		p.Add(g.ts, v)
	}
	out := raw
	for _, p := range m {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b store.SeriesPoint) int { return a.Bucket.Compare(b.Bucket) })
	return out
}

func sameSeries(t *testing.T, what string, got, want []store.SeriesPoint) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d points, want %d\n got %+v\nwant %+v", what, len(got), len(want), got, want)
	}
	for i := range got {
		g, w := got[i], want[i]
		near := math.Abs(g.Sum-w.Sum) <= 1e-9*math.Max(1, math.Abs(w.Sum))
		if !g.Bucket.Equal(w.Bucket) || g.Count != w.Count || !near || g.Min != w.Min || g.Max != w.Max ||
			!g.FirstTS.Equal(w.FirstTS) || g.First != w.First || !g.LastTS.Equal(w.LastTS) || g.Last != w.Last {
			t.Fatalf("%s: point %d = %+v, want %+v", what, i, g, w)
		}
	}
}

func series(t *testing.T, s store.Store, teamID, pipelineID uuid.UUID, q store.SeriesQuery) store.Series {
	t.Helper()
	out, err := s.Series(ctx(t), teamID, pipelineID, q)
	if err != nil {
		t.Fatalf("series %+v: %v", q, err)
	}
	return out
}

// compactAll folds every pending delta.
func compactAll(t *testing.T, s store.Store) {
	t.Helper()
	for {
		n, err := s.CompactRollups(ctx(t), 7) // small slices: several rounds, partial merges
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// testRollupsEqualRaw is the property test: for random data written in
// random batches, every rollup level answers exactly what the raw records
// answer, before and after compaction.
func testRollupsEqualRaw(t *testing.T, s store.Store) {
	team, _ := newTeam(t, s)
	for seed := range uint64(3) {
		r := rand.New(rand.NewPCG(seed, 99))
		p := newPipeline(t, s, team.ID, fmt.Sprintf("rollups-%d", seed))
		start := time.Date(2026, 4, 30, 21, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(120)) * time.Minute)
		recs := genRecords(r, 80+r.IntN(170), start, time.Duration(2+r.IntN(40))*time.Hour)
		// Out of time order, so that batches overlap in minutes and hours.
		r.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
		writeGen(t, s, team.ID, p.ID, recs, []int{1 + r.IntN(40), 1 + r.IntN(80), 3}, true)
		from, to := start.Add(-time.Hour), start.Add(48*time.Hour)
		check := func(stage string) {
			for _, field := range []string{"temp", "count"} {
				for _, c := range []struct {
					bucket time.Duration
					source string
				}{
					{time.Minute, "raw"}, {5 * time.Minute, "1m"}, {time.Hour, "1m"}, {3 * time.Hour, "1h"},
					{24 * time.Hour, "1h"}, {24 * time.Hour, "1d"}, {time.Hour, ""},
				} {
					q := store.SeriesQuery{Field: field, From: from, To: to, Bucket: c.bucket, Source: c.source}
					got := series(t, s, team.ID, p.ID, q)
					what := fmt.Sprintf("seed %d %s: %s by %s from %q", seed, stage, field, c.bucket, c.source)
					if c.source != "" && store.SourceName(got.Source) != c.source {
						t.Fatalf("%s: answered from %s", what, store.SourceName(got.Source))
					}
					sameSeries(t, what, got.Points, expectSeries(recs, q))
				}
			}
		}
		if seed == 0 {
			check("before compaction") // hour and day answers from pending deltas only
		}
		compactAll(t, s)
		check("after compaction")
		// Late records for minutes and hours already compacted merge in.
		late := genRecords(r, 30, start, 3*time.Hour)
		late = slices.DeleteFunc(late, func(g genRecord) bool {
			return slices.ContainsFunc(recs, func(o genRecord) bool { return o.ts.Equal(g.ts) })
		})
		writeGen(t, s, team.ID, p.ID, late, []int{7}, true)
		recs = append(recs, late...)
		check("with late records pending")
		compactAll(t, s)
		if seed == 0 {
			check("with late records compacted")
		}
	}
}

func testRollupsIncomplete(t *testing.T, s store.Store) {
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "no-rollups")
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 5, 2, 8, 0, 0, 0, time.UTC)
	withR := genRecords(r, 40, start, 2*time.Hour)
	writeGen(t, s, team.ID, p.ID, withR, []int{10}, true)
	// A batch without rollups at 09:30: rollups are no longer complete
	// for ranges before the end of its bucket.
	without := []genRecord{{ts: start.Add(90*time.Minute + 17*time.Microsecond), fields: map[string]any{"temp": 1000.0}}}
	writeGen(t, s, team.ID, p.ID, without, []int{1}, false)
	all := append(slices.Clone(withR), without...)
	compactAll(t, s)
	q := store.SeriesQuery{Field: "temp", From: start, To: start.Add(3 * time.Hour), Bucket: time.Hour}
	got := series(t, s, team.ID, p.ID, q)
	if got.Source != 0 {
		t.Fatalf("with incomplete rollups the series came from %s", store.SourceName(got.Source))
	}
	sameSeries(t, "incomplete rollups", got.Points, expectSeries(all, q))
	q.Source = "1h"
	if _, err := s.Series(ctx(t), team.ID, p.ID, q); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("forcing an incomplete level: err = %v", err)
	}
	// After the batch's minute, minute rollups are complete again.
	q = store.SeriesQuery{Field: "temp", From: start.Add(91 * time.Minute), To: start.Add(3 * time.Hour), Bucket: time.Minute, Source: "1m"}
	sameSeries(t, "after the gap", series(t, s, team.ID, p.ID, q).Points, expectSeries(all, q))
}

func testSeriesQueries(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	other, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "series")
	start := time.Date(2026, 5, 3, 0, 0, 0, 0, time.UTC)
	recs := genRecords(rand.New(rand.NewPCG(5, 5)), 60, start, time.Hour)
	writeGen(t, s, team.ID, p.ID, recs, []int{25}, true)

	// Raw points: one per record with a numeric value, in time order.
	q := store.SeriesQuery{Field: "count", From: start, To: start.Add(time.Hour)}
	got := series(t, s, team.ID, p.ID, q)
	if got.Source != 0 || got.Estimated != 60 {
		t.Fatalf("raw points: source %v, estimated %d", got.Source, got.Estimated)
	}
	sameSeries(t, "raw points", got.Points, expectSeries(recs, q))

	// Unaligned ranges widen to bucket boundaries.
	q = store.SeriesQuery{Field: "temp", From: start.Add(7 * time.Minute), To: start.Add(31*time.Minute + time.Second), Bucket: 15 * time.Minute}
	got = series(t, s, team.ID, p.ID, q)
	if !got.From.Equal(start) || !got.To.Equal(start.Add(45*time.Minute)) {
		t.Fatalf("aligned range = %v..%v", got.From, got.To)
	}
	sameSeries(t, "aligned", got.Points, expectSeries(recs, q))

	bad := []store.SeriesQuery{
		{From: start, To: start.Add(time.Hour), Bucket: time.Minute},
		{Field: "temp", From: start, To: start, Bucket: time.Minute},
		{Field: "temp", From: start, To: start.Add(time.Hour), Bucket: time.Millisecond},
		{Field: "temp", From: start, To: start.Add(365 * 24 * time.Hour), Bucket: time.Minute},
		{Field: "temp", From: start, To: start.Add(time.Hour), Bucket: 90 * time.Second, Source: "1m"},
		{Field: "temp", From: start, To: start.Add(time.Hour), Bucket: time.Minute, Source: "5m"},
	}
	for _, b := range bad {
		if _, err := s.Series(c, team.ID, p.ID, b); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("series %+v: err = %v, want ErrInvalid", b, err)
		}
	}
	if _, err := s.Series(c, other.ID, p.ID, store.SeriesQuery{Field: "temp", From: start, To: start.Add(time.Hour), Bucket: time.Minute}); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("another team's series: err = %v", err)
	}
	if _, err := s.StorageStats(c, other.ID, p.ID); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("another team's storage stats: err = %v", err)
	}
}

// dayRecords writes, for a pipeline, n records per day at evenly spread
// times on each of days, and returns them.
func dayRecords(t *testing.T, s store.Store, teamID, pipelineID uuid.UUID, days []time.Time, n int) []core.Record {
	t.Helper()
	var all []core.Record
	for _, d := range days {
		b := &store.Batch{TeamID: teamID, PipelineID: pipelineID, Version: 1, Persist: true,
			Run: core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now()}}
		for i := range n {
			ts := d.Add(time.Duration(i) * 24 * time.Hour / time.Duration(n))
			data := json.RawMessage(fmt.Sprintf(`{"v":%d,"pad":"%s"}`, i, "xxxxxxx"[:i%7]))
			b.Records = append(b.Records, core.Record{TS: ts, Data: data})
			b.Rollups.Add(ts, map[string]any{"v": int64(i)})
		}
		if err := s.WriteBatch(ctx(t), b); err != nil {
			t.Fatal(err)
		}
		all = append(all, b.Records...)
	}
	return all
}

// checkStored compares a pipeline's stats, storage stats and records with
// the records expected to remain.
func checkStored(t *testing.T, s store.Store, teamID, pipelineID uuid.UUID, want []core.Record) {
	t.Helper()
	c := ctx(t)
	var bytes int64
	var oldest, newest time.Time
	for i, r := range want {
		bytes += int64(len(r.Data))
		if i == 0 || r.TS.Before(oldest) {
			oldest = r.TS
		}
		if i == 0 || r.TS.After(newest) {
			newest = r.TS
		}
	}
	p := must[core.Pipeline](t)(s.Pipeline(c, teamID, pipelineID))
	if p.Stats.RecordCount != int64(len(want)) || p.Stats.StoredBytes != bytes {
		t.Fatalf("pipeline stats: %d records, %d bytes; want %d, %d", p.Stats.RecordCount, p.Stats.StoredBytes, len(want), bytes)
	}
	st := must[store.StorageStats](t)(s.StorageStats(c, teamID, pipelineID))
	if st.Records != int64(len(want)) || st.StoredBytes != bytes {
		t.Fatalf("storage stats: %+v; want %d records, %d bytes", st, len(want), bytes)
	}
	if len(want) == 0 {
		if st.Oldest != nil || st.Newest != nil || st.DiskBytes != 0 {
			t.Fatalf("storage stats of nothing: %+v", st)
		}
	} else if st.Oldest == nil || !st.Oldest.Equal(oldest) || !st.Newest.Equal(newest) || st.DiskBytes <= 0 {
		t.Fatalf("storage stats: %+v; want oldest %v newest %v", st, oldest, newest)
	}
	var got []core.Record
	q := store.RecordQuery{Limit: store.MaxLimit, From: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}
	for {
		page := must[[]core.Record](t)(s.Records(c, teamID, pipelineID, q))
		got = append(got, page...)
		if len(page) < q.Limit {
			break
		}
		q.BeforeTS, q.BeforeID = page[len(page)-1].TS, page[len(page)-1].ID
	}
	ids := func(rs []core.Record) []int64 {
		out := make([]int64, len(rs))
		for i, r := range rs {
			out[i] = r.ID
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("%d records remain, want %d", len(got), len(want))
	}
}

func testStorageStats(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "stats")
	checkStored(t, s, team.ID, p.ID, nil)
	d0 := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	recs := dayRecords(t, s, team.ID, p.ID, []time.Time{d0, d0.Add(48 * time.Hour)}, 30)
	checkStored(t, s, team.ID, p.ID, recs)
	all := must[[]store.StorageStats](t)(s.AllStorageStats(c))
	if !slices.ContainsFunc(all, func(st store.StorageStats) bool {
		return st.PipelineID == p.ID && st.Records == 60 && st.TeamID == team.ID
	}) {
		t.Fatalf("AllStorageStats misses the pipeline: %+v", all)
	}
	if err := s.DeletePipeline(c, team.ID, p.ID); err != nil {
		t.Fatal(err)
	}
	all = must[[]store.StorageStats](t)(s.AllStorageStats(c))
	if slices.ContainsFunc(all, func(st store.StorageStats) bool { return st.PipelineID == p.ID }) {
		t.Fatal("a deleted pipeline still has storage stats")
	}
}

// testRetentionInsideDays cuts pipelines' records at times inside days:
// what is older goes, the rest stays, stats follow, other pipelines keep
// everything, and running it again changes nothing.
func testRetentionInsideDays(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	a := newPipeline(t, s, team.ID, "short")
	b := newPipeline(t, s, team.ID, "keep")
	d0 := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	days := []time.Time{d0, d0.Add(24 * time.Hour), d0.Add(48 * time.Hour)}
	recA := dayRecords(t, s, team.ID, a.ID, days, 40)
	recB := dayRecords(t, s, team.ID, b.ID, days, 20)
	cutoff := d0.Add(24*time.Hour + 7*time.Hour + 30*time.Minute)
	policies := []store.RetentionPolicy{{PipelineID: a.ID, Records: cutoff}, {PipelineID: b.ID}}
	res := must[store.RetentionResult](t)(s.ApplyRetention(c, policies, store.RetentionOptions{BatchSize: 7}))
	keep := slices.DeleteFunc(slices.Clone(recA), func(r core.Record) bool { return r.TS.Before(cutoff) })
	if got := res.DeletedRecords + res.DroppedRecords; got != int64(len(recA)-len(keep)) {
		t.Fatalf("retention removed %d records, want %d (%+v)", got, len(recA)-len(keep), res)
	}
	checkStored(t, s, team.ID, a.ID, keep)
	checkStored(t, s, team.ID, b.ID, recB)
	res = must[store.RetentionResult](t)(s.ApplyRetention(c, policies, store.RetentionOptions{}))
	if res.DeletedRecords+res.DroppedRecords != 0 {
		t.Fatalf("second run removed more: %+v", res)
	}
	checkStored(t, s, team.ID, a.ID, keep)
	// A bounded run stops and says there is more.
	cutoff2 := d0.Add(60 * time.Hour)
	res = must[store.RetentionResult](t)(s.ApplyRetention(c, []store.RetentionPolicy{{PipelineID: a.ID, Records: cutoff2}}, store.RetentionOptions{BatchSize: 3, MaxRows: 5}))
	if !res.More || res.DeletedRecords != 5 {
		t.Fatalf("bounded run: %+v", res)
	}
	must[store.RetentionResult](t)(s.ApplyRetention(c, []store.RetentionPolicy{{PipelineID: a.ID, Records: cutoff2}}, store.RetentionOptions{}))
	keep = slices.DeleteFunc(keep, func(r core.Record) bool { return r.TS.Before(cutoff2) })
	checkStored(t, s, team.ID, a.ID, keep)
	// Series of the pipeline no longer see the removed records, and raw
	// data is not offered for the range it lost.
	q := store.SeriesQuery{Field: "v", From: d0, To: d0.Add(72 * time.Hour), Bucket: time.Hour, Source: "raw"}
	if _, err := s.Series(c, team.ID, a.ID, q); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("raw series over a range retention cut: err = %v", err)
	}
}

// testRetentionAtDayBoundaries cuts at midnights: records at exactly the
// cutoff stay, those a microsecond before go. On PostgreSQL whole day
// partitions go this way.
func testRetentionAtDayBoundaries(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "edges")
	d0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	var recs []core.Record
	for i, ts := range []time.Time{d0, d0.Add(24*time.Hour - time.Microsecond), d0.Add(24 * time.Hour), d0.Add(48*time.Hour - time.Microsecond), d0.Add(48 * time.Hour)} {
		b := &store.Batch{TeamID: team.ID, PipelineID: p.ID, Version: 1, Persist: true,
			Run:     core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: core.Now()},
			Records: []core.Record{{TS: ts, Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}}}
		if err := s.WriteBatch(c, b); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, b.Records...)
	}
	for _, cut := range []int{1, 2, 3} {
		cutoff := d0.Add(time.Duration(cut) * 24 * time.Hour)
		must[store.RetentionResult](t)(s.ApplyRetention(c, []store.RetentionPolicy{{PipelineID: p.ID, Records: cutoff}}, store.RetentionOptions{}))
		keep := slices.DeleteFunc(slices.Clone(recs), func(r core.Record) bool { return r.TS.Before(cutoff) })
		checkStored(t, s, team.ID, p.ID, keep)
	}
}

func testRollupRetention(t *testing.T, s store.Store) {
	c := ctx(t)
	team, _ := newTeam(t, s)
	p := newPipeline(t, s, team.ID, "rollup-retention")
	d0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	recs := dayRecords(t, s, team.ID, p.ID, []time.Time{d0, d0.Add(24 * time.Hour), d0.Add(48 * time.Hour)}, 48)
	compactAll(t, s)
	cutMinute := d0.Add(48 * time.Hour)
	res := must[store.RetentionResult](t)(s.ApplyRetention(c, []store.RetentionPolicy{{PipelineID: p.ID, Minute: cutMinute, Hour: d0.Add(24 * time.Hour)}}, store.RetentionOptions{BatchSize: 10}))
	if res.DeletedRollups != 48*2+24 || res.DeletedRecords != 0 {
		t.Fatalf("rollup retention: %+v", res)
	}
	checkStored(t, s, team.ID, p.ID, recs)
	// The day level still answers for everything; the minute level only
	// after its cutoff; the planner takes the level that is complete.
	gen := make([]genRecord, len(recs))
	for i, r := range recs {
		var f map[string]any
		_ = json.Unmarshal(r.Data, &f)
		gen[i] = genRecord{ts: r.TS, fields: f}
	}
	q := store.SeriesQuery{Field: "v", From: d0, To: d0.Add(72 * time.Hour), Bucket: 24 * time.Hour, Source: "1d"}
	sameSeries(t, "day level", series(t, s, team.ID, p.ID, q).Points, expectSeries(gen, q))
	q.Source = "1m"
	if _, err := s.Series(c, team.ID, p.ID, q); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("minute level over its retention: err = %v", err)
	}
	q = store.SeriesQuery{Field: "v", From: cutMinute, To: d0.Add(72 * time.Hour), Bucket: time.Hour, Source: "1m"}
	sameSeries(t, "minute level after its cutoff", series(t, s, team.ID, p.ID, q).Points, expectSeries(gen, q))
}
