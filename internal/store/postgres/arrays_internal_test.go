package postgres

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/internal/pgtest"
)

// TestArrays sends each array kind to PostgreSQL and reads it back as
// pgx reads plain slices: the values, an empty array, and nil as NULL.
func TestArrays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	at := time.Date(2026, 12, 7, 13, 14, 15, 123456000, time.UTC)
	ints := []int64{math.MinInt64, -1, 0, 1 << 40, math.MaxInt64}
	small := []int32{math.MinInt32, 0, 300, math.MaxInt32}
	floats := []float64{-1.5, 0, math.SmallestNonzeroFloat64, math.MaxFloat64, math.Inf(1)}
	times := []time.Time{at, at.Add(-time.Microsecond), time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)}
	strs := []string{"", "a", "ünïcode", `quote " and \ back`}

	var gotInts []int64
	var gotSmall []int32
	var gotFloats []float64
	var gotTimes []time.Time
	var gotStrs []string
	err = conn.QueryRow(ctx, `SELECT $1::bigint[], $2::int[], $3::float8[], $4::timestamptz[], $5::text[]`,
		int8s(ints), int4s(small), float8s(floats), timestamptzs(times), texts(strs)).
		Scan(&gotInts, &gotSmall, &gotFloats, &gotTimes, &gotStrs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotInts, ints) || !slices.Equal(gotSmall, small) || !slices.Equal(gotFloats, floats) || !slices.Equal(gotStrs, strs) {
		t.Errorf("round trip: %v %v %v %q", gotInts, gotSmall, gotFloats, gotStrs)
	}
	if !slices.EqualFunc(gotTimes, times, time.Time.Equal) {
		t.Errorf("timestamps: %v, want %v", gotTimes, times)
	}

	var empty, null *int
	err = conn.QueryRow(ctx, `SELECT cardinality($1::bigint[]), cardinality($2::timestamptz[])`,
		int8s([]int64{}), timestamptzs(nil)).Scan(&empty, &null)
	if err != nil {
		t.Fatal(err)
	}
	if empty == nil || *empty != 0 || null != nil {
		t.Errorf("an empty array has cardinality %v and nil %v; want 0 and NULL", empty, null)
	}

	// An int[] refuses a number it cannot hold, as pgx does for []int32's
	// neighbours: the int4 codec checks the range of the int64 it is given.
	if _, err := conn.Exec(ctx, `SELECT $1::int[]`, int8s([]int64{1 << 40})); err == nil {
		t.Error("2^40 went into an int[]")
	}
}
