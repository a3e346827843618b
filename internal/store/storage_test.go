package store_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

var t0 = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

func TestPlanSeries(t *testing.T) {
	t.Parallel()
	day, hour := 24*time.Hour, time.Hour
	cases := []struct {
		name     string
		q        store.SeriesQuery
		records  float64
		horizons map[time.Duration]time.Time
		want     time.Duration
	}{
		// A rollup level never has more rows than there are records, and
		// its rows are cheaper: with rollups complete, they answer.
		{"few records by hour: still hour rollups", store.SeriesQuery{From: t0, To: t0.Add(30 * day), Bucket: hour}, 200, nil, time.Hour},
		{"30s buckets: raw", store.SeriesQuery{From: t0, To: t0.Add(hour), Bucket: 30 * time.Second}, 200, nil, 0},
		{"30 days of many records by hour: hour rollups", store.SeriesQuery{From: t0, To: t0.Add(30 * day), Bucket: hour}, 1e6, nil, time.Hour},
		{"30 days by day: day rollups", store.SeriesQuery{From: t0, To: t0.Add(30 * day), Bucket: day}, 1e6, nil, day},
		{"1 hour of a busy pipeline by minute: minute rollups", store.SeriesQuery{From: t0, To: t0.Add(hour), Bucket: time.Minute}, 3600, nil, time.Minute},
		{"90s buckets: no rollup divides them", store.SeriesQuery{From: t0, To: t0.Add(day), Bucket: 90 * time.Second}, 1e5, nil, 0},
		{"raw points: raw", store.SeriesQuery{From: t0, To: t0.Add(hour)}, 1e5, nil, 0},
		{"hour rollups incomplete: minute", store.SeriesQuery{From: t0, To: t0.Add(3 * day), Bucket: hour}, 1e6,
			map[time.Duration]time.Time{time.Hour: t0.Add(day)}, time.Minute},
		{"only raw complete", store.SeriesQuery{From: t0, To: t0.Add(3 * day), Bucket: hour}, 1e6,
			map[time.Duration]time.Time{time.Minute: t0.Add(day), time.Hour: t0.Add(day), day: t0.Add(day)}, 0},
		{"nothing complete: the level reaching furthest back", store.SeriesQuery{From: t0, To: t0.Add(90 * day), Bucket: day}, 1e6,
			map[time.Duration]time.Time{0: t0.Add(60 * day), time.Minute: t0.Add(80 * day), time.Hour: t0.Add(10 * day), day: t0.Add(20 * day)}, time.Hour},
	}
	for _, c := range cases {
		w, err := store.PlanSeries(c.q, store.SeriesEstimate{Records: c.records, Horizons: c.horizons})
		if err != nil || w != c.want {
			t.Errorf("%s: planned %v (%v), want %v", c.name, w, err, c.want)
		}
	}
	// A forced source is taken as it is, unless incomplete.
	q := store.SeriesQuery{From: t0, To: t0.Add(day), Bucket: hour, Source: "1m"}
	if w, err := store.PlanSeries(q, store.SeriesEstimate{Records: 5}); err != nil || w != time.Minute {
		t.Errorf("forced 1m: %v, %v", w, err)
	}
	if _, err := store.PlanSeries(q, store.SeriesEstimate{Horizons: map[time.Duration]time.Time{time.Minute: t0.Add(hour)}}); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("forced incomplete level: err = %v", err)
	}
}

func TestEstimateRecords(t *testing.T) {
	t.Parallel()
	days := []store.DayCount{
		{Day: t0, Records: 240, Oldest: t0, Newest: t0.Add(24*time.Hour - time.Microsecond)}, // all day
		{Day: t0.Add(24 * time.Hour), Records: 60, Oldest: t0.Add(30 * time.Hour), Newest: t0.Add(31 * time.Hour)},
		{Day: t0.Add(48 * time.Hour), Records: 10}, // oldest and newest unknown
	}
	cases := []struct {
		from, to time.Time
		want     float64
	}{
		{t0, t0.Add(72 * time.Hour), 310},
		{t0.Add(6 * time.Hour), t0.Add(12 * time.Hour), 60},
		{t0.Add(30 * time.Hour), t0.Add(30*time.Hour + 30*time.Minute), 30},
		{t0.Add(25 * time.Hour), t0.Add(29 * time.Hour), 0},
		{t0.Add(60 * time.Hour), t0.Add(66 * time.Hour), 2.5},
	}
	for _, c := range cases {
		if got := store.EstimateRecords(days, c.from, c.to); math.Abs(got-c.want) > 0.01 {
			t.Errorf("EstimateRecords(%v, %v) = %v, want %v", c.from, c.to, got, c.want)
		}
	}
}

func TestSeriesQueryAligned(t *testing.T) {
	t.Parallel()
	q := store.SeriesQuery{Field: "x", From: t0.Add(7 * time.Minute), To: t0.Add(61 * time.Minute), Bucket: 15 * time.Minute}
	a := q.Aligned()
	if !a.From.Equal(t0) || !a.To.Equal(t0.Add(75*time.Minute)) {
		t.Fatalf("aligned = %v..%v", a.From, a.To)
	}
	q = store.SeriesQuery{Field: "x", From: t0.Add(7 * time.Minute), To: t0.Add(time.Hour)}
	if a := q.Aligned(); !a.From.Equal(q.From) || !a.To.Equal(q.To) {
		t.Fatalf("raw points were aligned: %v..%v", a.From, a.To)
	}
	if err := (store.SeriesQuery{Field: "x", From: t0, To: t0.Add(time.Hour), Bucket: time.Hour, Source: "1d"}).Validate(); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("day source for hour buckets: err = %v", err)
	}
}

func TestSummarizeDays(t *testing.T) {
	t.Parallel()
	b := &store.Batch{Persist: true, Records: []core.Record{
		{TS: t0.Add(25 * time.Hour), Data: []byte(`{"a":1}`)},
		{TS: t0.Add(time.Hour), Data: []byte(`{}`)},
		{TS: t0.Add(24*time.Hour - time.Nanosecond), Data: []byte(`{"b":22}`)},
		{TS: t0.Add(24 * time.Hour), Data: []byte(`1`)},
	}}
	days := store.SummarizeDays(b)
	if len(days) != 2 || !days[0].Day.Equal(t0) || days[0].Records != 2 || days[0].Bytes != 10 ||
		!days[0].Oldest.Equal(t0.Add(time.Hour)) || !days[0].Newest.Equal(t0.Add(24*time.Hour-time.Microsecond)) ||
		days[1].Records != 2 || days[1].Bytes != 8 || !days[1].Oldest.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("days = %+v", days)
	}
	b.Persist = false
	if days := store.SummarizeDays(b); days != nil {
		t.Fatalf("not persisted: %+v", days)
	}
}
