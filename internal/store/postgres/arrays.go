package postgres

import (
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// array is a slice that pgx sends as a PostgreSQL array without putting
// each element in an interface of its own: pgx encodes a plain []T
// through FlatArray, whose Index boxes every element (an allocation for
// each number, two for each time.Time), which made up a tenth of a
// single-record request's allocations. ref wraps a pointer to an
// element in a one-pointer struct that implements pgx's valuer of the
// element type; such a struct fits an interface without an allocation.
type array[T any] struct {
	vals []T
	ref  func(*T) any
}

var _ pgtype.ArrayGetter = array[int64]{}

func (a array[T]) Dimensions() []pgtype.ArrayDimension {
	if a.vals == nil {
		return nil // NULL
	}
	return []pgtype.ArrayDimension{{Length: int32(len(a.vals)), LowerBound: 1}}
}

func (a array[T]) Index(i int) any { return a.ref(&a.vals[i]) }

func (a array[T]) IndexType() any {
	var zero T
	return a.ref(&zero)
}

// int8s, int4s, float8s, timestamptzs and texts send bigint[], int[],
// float8[], timestamptz[] and text[].
func int8s(v []int64) array[int64] { return array[int64]{v, func(p *int64) any { return int64Ref{p} }} }
func int4s(v []int32) array[int32] { return array[int32]{v, func(p *int32) any { return int32Ref{p} }} }
func float8s(v []float64) array[float64] {
	return array[float64]{v, func(p *float64) any { return float64Ref{p} }}
}
func timestamptzs(v []time.Time) array[time.Time] {
	return array[time.Time]{v, func(p *time.Time) any { return timeRef{p} }}
}
func texts(v []string) array[string] {
	return array[string]{v, func(p *string) any { return stringRef{p} }}
}

type int64Ref struct{ p *int64 }

func (r int64Ref) Int64Value() (pgtype.Int8, error) {
	return pgtype.Int8{Int64: *r.p, Valid: true}, nil
}

type int32Ref struct{ p *int32 }

func (r int32Ref) Int64Value() (pgtype.Int8, error) {
	return pgtype.Int8{Int64: int64(*r.p), Valid: true}, nil
}

type float64Ref struct{ p *float64 }

func (r float64Ref) Float64Value() (pgtype.Float8, error) {
	return pgtype.Float8{Float64: *r.p, Valid: true}, nil
}

type timeRef struct{ p *time.Time }

func (r timeRef) TimestamptzValue() (pgtype.Timestamptz, error) {
	return pgtype.Timestamptz{Time: *r.p, Valid: true}, nil
}

type stringRef struct{ p *string }

func (r stringRef) TextValue() (pgtype.Text, error) {
	return pgtype.Text{String: *r.p, Valid: true}, nil
}
