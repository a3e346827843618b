package postgres

import (
	"errors"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/core"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestPlanPartitions(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 28, 23, 59, 0, 0, time.UTC)
	existing := []span{
		{day(2026, 11, 28), day(2026, 11, 29)},
		{day(2019, 1, 1), day(2019, 6, 1)}, // a clipped year
		{day(2019, 9, 10), day(2019, 9, 11)},
	}
	cases := []struct {
		name string
		days []time.Time
		want []span
	}{
		{"covered", []time.Time{day(2026, 11, 28), now, day(2019, 3, 3)}, nil},
		{"across midnight", []time.Time{now.Add(2 * time.Minute), now.Add(-time.Hour)},
			[]span{{day(2026, 11, 29), day(2026, 11, 30)}}},
		{"days within the window", []time.Time{day(2026, 1, 1), day(2027, 11, 1), day(2026, 1, 1)},
			[]span{{day(2026, 1, 1), day(2026, 1, 2)}, {day(2027, 11, 1), day(2027, 11, 2)}}},
		{"a far year, clipped around existing partitions", []time.Time{day(2019, 7, 4)},
			[]span{{day(2019, 6, 1), day(2019, 9, 10)}}},
		{"after the clipped gap", []time.Time{day(2019, 12, 30)},
			[]span{{day(2019, 9, 11), day(2020, 1, 1)}}},
		{"two days of one far year share one partition", []time.Time{day(2031, 2, 3), day(2031, 8, 1)},
			[]span{{day(2031, 1, 1), day(2032, 1, 1)}}},
		{"far past before the first partition", []time.Time{day(1970, 1, 1)},
			[]span{{day(1970, 1, 1), day(1971, 1, 1)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := planPartitions(existing, c.days, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("plan = %v, want %v", got, c.want)
			}
			for i := range got {
				if !got[i].from.Equal(c.want[i].from) || !got[i].to.Equal(c.want[i].to) {
					t.Fatalf("plan = %v, want %v", got, c.want)
				}
			}
		})
	}
	if _, err := planPartitions(nil, []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, now); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("year 10000: err = %v", err)
	}
}

func TestSpanNames(t *testing.T) {
	t.Parallel()
	sp := span{day(2026, 5, 1), day(2026, 5, 2)}
	if n := spanName(sp); n != "records_20260501_20260502" {
		t.Fatalf("name = %s", n)
	}
	got, ok := parseSpanName(spanName(sp))
	if !ok || got != sp {
		t.Fatalf("parse = %v, %v", got, ok)
	}
	for _, bad := range []string{"records_default", "records_20260502_20260501", "x_20260501_20260502"} {
		if _, ok := parseSpanName(bad); ok {
			t.Errorf("parsed %q", bad)
		}
	}
	if s, tb, ok := splitQualified(`_timescaledb_internal."_hyper_1_2_chunk"`); !ok || s != "_timescaledb_internal" || tb != "_hyper_1_2_chunk" {
		t.Fatalf("split = %q %q %v", s, tb, ok)
	}
	if _, _, ok := splitQualified("records_20260501_20260502"); ok {
		t.Fatal("split an unqualified name")
	}
}
