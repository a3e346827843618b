package rollup_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/rollup"
)

// point is one numeric value of a record, for the brute-force reference.
type point struct {
	field string
	ts    time.Time
	v     float64
	seq   int // order of addition
}

// reference aggregates points the slow, obvious way.
func reference(ps []point, w time.Duration) map[string]rollup.Agg {
	out := map[string]rollup.Agg{}
	for _, p := range ps {
		k := p.field + "@" + rollup.Bucket(p.ts, w).Format(time.RFC3339)
		a, ok := out[k]
		if !ok {
			a = rollup.Agg{Min: math.Inf(1), Max: math.Inf(-1)}
		}
		a.Count++
		a.Sum += p.v
		a.Min = math.Min(a.Min, p.v)
		a.Max = math.Max(a.Max, p.v)
		if a.Count == 1 || p.ts.Before(a.FirstTS) {
			a.FirstTS, a.First = p.ts, p.v
		}
		if a.Count == 1 || !p.ts.Before(a.LastTS) {
			a.LastTS, a.Last = p.ts, p.v
		}
		out[k] = a
	}
	return out
}

func randomRecords(r *rand.Rand, n int, start time.Time, span time.Duration) ([]map[string]any, []time.Time) {
	fields := []string{"temp", "hum", "count", "big", "neg"}
	recs := make([]map[string]any, n)
	tss := make([]time.Time, n)
	for i := range recs {
		m := map[string]any{"station": "s" + strconv.Itoa(r.IntN(3)), "ok": r.IntN(2) == 0, "nested": map[string]any{"x": 1.0}}
		for _, f := range fields {
			switch r.IntN(5) {
			case 0: // missing
			case 1:
				m[f] = int64(r.IntN(2000) - 1000)
			case 2:
				m[f] = json.Number(strconv.FormatFloat(r.NormFloat64()*100, 'g', -1, 64))
			default:
				m[f] = r.NormFloat64() * 1e3
			}
		}
		recs[i] = m
		tss[i] = start.Add(time.Duration(r.Int64N(int64(span)))).Truncate(time.Microsecond)
	}
	return recs, tss
}

func pointsOf(recs []map[string]any, tss []time.Time) []point {
	var ps []point
	for i, m := range recs {
		for f, v := range m {
			if x, ok := rollup.Number(v); ok {
				ps = append(ps, point{f, tss[i], x, i})
			}
		}
	}
	return ps
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func checkAgg(t *testing.T, what string, got, want rollup.Agg) {
	t.Helper()
	if got.Count != want.Count || !near(got.Sum, want.Sum) || got.Min != want.Min || got.Max != want.Max ||
		!got.FirstTS.Equal(want.FirstTS) || got.First != want.First || !got.LastTS.Equal(want.LastTS) || got.Last != want.Last {
		t.Fatalf("%s: got %+v, want %+v", what, got, want)
	}
}

func checkDeltas(t *testing.T, ds []rollup.Delta, want map[string]rollup.Agg) {
	t.Helper()
	if len(ds) != len(want) {
		t.Fatalf("%d deltas, want %d", len(ds), len(want))
	}
	for i, d := range ds {
		if i > 0 {
			p := ds[i-1]
			if p.Field > d.Field || p.Field == d.Field && !p.Bucket.Before(d.Bucket) {
				t.Fatalf("deltas not sorted at %d: %s %v after %s %v", i, d.Field, d.Bucket, p.Field, p.Bucket)
			}
		}
		k := d.Field + "@" + d.Bucket.Format(time.RFC3339)
		w, ok := want[k]
		if !ok {
			t.Fatalf("unexpected delta %s", k)
		}
		checkAgg(t, k, d.Agg, w)
	}
}

// TestSetMatchesReference is the property test: for random batches, the
// Set's per-minute deltas, their merge across batches, and their
// coarsening to hours and days equal a brute-force aggregation.
func TestSetMatchesReference(t *testing.T) {
	t.Parallel()
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 7))
		start := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC).Add(-time.Duration(r.IntN(1000)) * time.Hour)
		recs, tss := randomRecords(r, 1+r.IntN(400), start, time.Duration(1+r.IntN(72))*time.Hour)

		// One Set for everything, and the same records split in batches
		// that are merged.
		var whole, merged rollup.Set
		for i := range recs {
			whole.Add(tss[i], recs[i])
		}
		for lo := 0; lo < len(recs); {
			hi := min(len(recs), lo+1+r.IntN(50))
			var part rollup.Set
			for i := lo; i < hi; i++ {
				part.AddNumbers(tss[i], rollup.AppendNumbers(nil, maps.All(recs[i])))
			}
			merged.Merge(&part)
			lo = hi
		}
		ps := pointsOf(recs, tss)
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			checkDeltas(t, whole.Deltas(), reference(ps, rollup.Minute))
			checkDeltas(t, merged.Deltas(), reference(ps, rollup.Minute))
			checkDeltas(t, rollup.Coarsen(whole.Deltas(), rollup.Hour), reference(ps, rollup.Hour))
			checkDeltas(t, rollup.Coarsen(rollup.Coarsen(whole.Deltas(), rollup.Hour), rollup.Day), reference(ps, rollup.Day))
		})
	}
}

func TestFirstLastTies(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC)
	var a rollup.Agg
	a.Add(ts, 1)
	a.Add(ts, 2)
	a.Add(ts, 3)
	if a.First != 1 || a.Last != 3 {
		t.Fatalf("ties: first %v last %v, want 1 and 3", a.First, a.Last)
	}
	var b rollup.Agg
	b.Add(ts, 4)
	a.Merge(b)
	if a.First != 1 || a.Last != 4 || a.Count != 4 || a.Sum != 10 || a.Mean() != 2.5 {
		t.Fatalf("merged ties: %+v", a)
	}
	var empty rollup.Agg
	a.Merge(empty)
	if a.Count != 4 {
		t.Fatalf("merging an empty aggregate changed it: %+v", a)
	}
	empty.Merge(a)
	if empty != a {
		t.Fatalf("merging into an empty aggregate: %+v", empty)
	}
}

func TestBucket(t *testing.T) {
	t.Parallel()
	cases := []struct {
		ts   time.Time
		w    time.Duration
		want time.Time
	}{
		{time.Date(2026, 5, 1, 23, 59, 59, 999999000, time.UTC), rollup.Minute, time.Date(2026, 5, 1, 23, 59, 0, 0, time.UTC)},
		{time.Date(2026, 5, 1, 23, 59, 59, 0, time.UTC), rollup.Day, time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC), rollup.Day, time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC)},
		{time.Date(1969, 12, 31, 23, 30, 0, 0, time.UTC), rollup.Hour, time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)},
		{time.Date(1969, 12, 31, 23, 30, 0, 0, time.UTC), rollup.Day, time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 5, 1, 12, 7, 0, 0, time.FixedZone("x", 3600)), 15 * time.Minute, time.Date(2026, 5, 1, 11, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		if got := rollup.Bucket(c.ts, c.w); !got.Equal(c.want) || got.Location() != time.UTC {
			t.Errorf("Bucket(%v, %v) = %v, want %v", c.ts, c.w, got, c.want)
		}
	}
}

func TestNumber(t *testing.T) {
	t.Parallel()
	yes := map[any]float64{
		1.5: 1.5, int64(-3): -3, 7: 7, json.Number("12"): 12, json.Number("-0.5e2"): -50, json.Number("1e-400"): 0,
	}
	for v, want := range yes {
		if got, ok := rollup.Number(v); !ok || got != want {
			t.Errorf("Number(%#v) = %v, %v; want %v", v, got, ok, want)
		}
	}
	no := []any{"12", true, nil, json.Number("1e400"), math.NaN(), math.Inf(1), []any{1.0}, map[string]any{"a": 1.0}}
	for _, v := range no {
		if _, ok := rollup.Number(v); ok {
			t.Errorf("Number(%#v) reported a number", v)
		}
	}
	for s, ok := range map[string]bool{"1": true, "-2.5": true, `"1"`: false, "true": false, "null": false, "": false, "{}": false, "1e999": false} {
		if _, got := rollup.ParseNumber(s); got != ok {
			t.Errorf("ParseNumber(%q) ok = %v, want %v", s, got, ok)
		}
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fields := map[string]any{}
	for i := range rollup.MaxFields + 20 {
		fields[fmt.Sprintf("f%03d", i)] = float64(i)
	}
	long := string(make([]byte, rollup.MaxFieldName+1))
	fields[long] = 1.0
	var s rollup.Set
	s.Add(ts, fields)
	ds := s.Deltas()
	if len(ds) != rollup.MaxFields || ds[0].Field != "f000" || ds[len(ds)-1].Field != fmt.Sprintf("f%03d", rollup.MaxFields-1) {
		t.Fatalf("kept %d fields, %s..%s", len(ds), ds[0].Field, ds[len(ds)-1].Field)
	}
	var j rollup.Set
	if err := j.AddJSON(ts, []byte(`{"a":1,"b":"2","c":[3],"d":2.5e0}`)); err != nil {
		t.Fatal(err)
	}
	if ds := j.Deltas(); len(ds) != 2 || ds[0].Field != "a" || ds[1].Field != "d" || ds[1].Sum != 2.5 {
		t.Fatalf("AddJSON deltas = %+v", ds)
	}
	if err := j.AddJSON(ts, []byte(`[1]`)); err == nil {
		t.Fatal("AddJSON of an array did not fail")
	}
}

func TestBucketFarTimes(t *testing.T) {
	t.Parallel()
	for _, ts := range []time.Time{
		time.Date(9999, 12, 31, 23, 59, 59, 999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC),
		time.Date(1500, 6, 1, 12, 0, 0, 0, time.UTC),
	} {
		want := time.Date(ts.Year(), ts.Month(), ts.Day(), 0, 0, 0, 0, time.UTC)
		if got := rollup.Bucket(ts, rollup.Day); !got.Equal(want) {
			t.Errorf("Bucket(%v, day) = %v, want %v", ts, got, want)
		}
	}
}
