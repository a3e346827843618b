// Package rollup aggregates the numeric fields of records into time
// buckets: per field and bucket, the count, sum, minimum, maximum, and the
// first and last value with their event times.
//
// The engine adds every accepted record of a batch to a Set (from the
// record's fields, before they are encoded, so nothing is decoded twice);
// the store writes the Set's per-minute Deltas in the batch's transaction,
// one upsert per field and minute, and merges them into what is stored
// with Agg.Merge semantics. Coarser levels (hour, day) are the same Deltas
// re-bucketed by Coarsen. Charts over long ranges read those aggregates
// instead of the raw records.
//
// Aggregates merge associatively and commutatively, except for the value
// of first and last among values with the very same event time: there
// the one added or merged earlier stays first, and the one added or
// merged later becomes last.
package rollup

import (
	"encoding/json"
	"iter"
	"math"
	"sort"
	"strconv"
	"time"
)

// Widths of the stored levels.
const (
	Minute = time.Minute
	Hour   = time.Hour
	Day    = 24 * time.Hour
)

// Limits on what a Set keeps. A record with more numeric top-level fields
// than MaxFields, across a batch, has only the MaxFields names that sort
// first rolled up, so that one odd batch cannot write thousands of rows.
const (
	MaxFields    = 100
	MaxFieldName = 200 // bytes; longer names are not rolled up
)

// Agg is the aggregate of the values of one field in one bucket. The zero
// value is an empty aggregate.
type Agg struct {
	Count   int64
	Sum     float64
	Min     float64
	Max     float64
	FirstTS time.Time
	First   float64
	LastTS  time.Time
	Last    float64
}

// Add adds one value observed at ts.
func (a *Agg) Add(ts time.Time, v float64) {
	if a.Count == 0 {
		*a = Agg{Count: 1, Sum: v, Min: v, Max: v, FirstTS: ts, First: v, LastTS: ts, Last: v}
		return
	}
	a.Count++
	a.Sum += v
	a.Min = min(a.Min, v)
	a.Max = max(a.Max, v)
	if ts.Before(a.FirstTS) {
		a.FirstTS, a.First = ts, v
	}
	if !ts.Before(a.LastTS) {
		a.LastTS, a.Last = ts, v
	}
}

// Merge adds the values aggregated in b.
func (a *Agg) Merge(b Agg) {
	switch {
	case b.Count == 0:
		return
	case a.Count == 0:
		*a = b
		return
	}
	a.Count += b.Count
	a.Sum += b.Sum
	a.Min = min(a.Min, b.Min)
	a.Max = max(a.Max, b.Max)
	if b.FirstTS.Before(a.FirstTS) {
		a.FirstTS, a.First = b.FirstTS, b.First
	}
	if !b.LastTS.Before(a.LastTS) {
		a.LastTS, a.Last = b.LastTS, b.Last
	}
}

// Mean is Sum / Count, or 0 for an empty aggregate.
func (a Agg) Mean() float64 {
	if a.Count == 0 {
		return 0
	}
	return a.Sum / float64(a.Count)
}

// Delta is the aggregate of one field in one bucket, as a batch adds it to
// the stored rollups.
type Delta struct {
	Field string
	// Bucket is the start of the bucket, in UTC, a multiple of its width
	// since the Unix epoch.
	Bucket time.Time
	Agg
}

// Bucket returns the start of the bucket of width w that holds ts: ts
// rounded down to a multiple of w since the Unix epoch, in UTC. Widths of
// whole seconds work for any time; others only within 292 years of 1970.
func Bucket(ts time.Time, w time.Duration) time.Time {
	if w%time.Second == 0 {
		ws := int64(w / time.Second)
		return time.Unix(floorDiv(ts.Unix(), ws)*ws, 0).UTC()
	}
	epoch := time.Unix(0, 0)
	return epoch.Add(time.Duration(floorDiv(int64(ts.Sub(epoch)), int64(w))) * w).UTC()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

type key struct {
	field  string
	bucket int64 // Unix seconds of the bucket start
}

// Set gathers the per-minute aggregates of a batch. The zero value is an
// empty Set, ready to use. A Set is not safe for concurrent use.
type Set struct {
	index   map[key]int
	deltas  []Delta
	records int
}

// Len is the number of (field, minute) aggregates in s.
func (s *Set) Len() int { return len(s.deltas) }

// Records is the number of records added with Add, AddNumbers or AddJSON,
// numeric fields or not (merged Sets included). The store compares it with
// a batch's records to tell whether the batch's rollups are complete.
func (s *Set) Records() int { return s.records }

// Add adds the numeric top-level fields of one record observed at ts.
// fields holds what mapping and JSON decoding produce; int64, int, float64
// and json.Number values count as numbers, anything else (strings, bools,
// nested objects and arrays) is skipped.
func (s *Set) Add(ts time.Time, fields map[string]any) {
	s.records++
	for name, v := range fields {
		if f, ok := Number(v); ok {
			s.AddValue(name, ts, f)
		}
	}
}

// AddNumbers adds the numbers of one record observed at ts, as
// AppendNumbers extracted them.
func (s *Set) AddNumbers(ts time.Time, nums []Value) {
	s.records++
	for _, n := range nums {
		s.AddValue(n.Field, ts, n.Value)
	}
}

// AddValue adds one value of one field, observed at ts. Values that are
// not finite and fields with names longer than MaxFieldName are skipped.
func (s *Set) AddValue(field string, ts time.Time, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) || len(field) > MaxFieldName {
		return
	}
	b := Bucket(ts, Minute)
	k := key{field, b.Unix()}
	if s.index == nil {
		s.index = make(map[key]int)
	}
	i, ok := s.index[k]
	if !ok {
		i = len(s.deltas)
		s.index[k] = i
		s.deltas = append(s.deltas, Delta{Field: field, Bucket: b})
	}
	s.deltas[i].Add(ts.UTC(), v)
}

// Merge adds every aggregate of o to s.
func (s *Set) Merge(o *Set) {
	s.records += o.records
	for _, d := range o.deltas {
		s.mergeDelta(d)
	}
}

func (s *Set) mergeDelta(d Delta) {
	k := key{d.Field, d.Bucket.Unix()}
	if s.index == nil {
		s.index = make(map[key]int)
	}
	i, ok := s.index[k]
	if !ok {
		s.index[k] = len(s.deltas)
		s.deltas = append(s.deltas, d)
		return
	}
	s.deltas[i].Merge(d.Agg)
}

// Deltas returns the per-minute aggregates sorted by field, then bucket,
// keeping only the MaxFields field names that sort first. The slice is
// the caller's.
func (s *Set) Deltas() []Delta {
	out := make([]Delta, len(s.deltas))
	copy(out, s.deltas)
	sortDeltas(out)
	return limitFields(out)
}

func sortDeltas(ds []Delta) {
	sort.Slice(ds, func(i, j int) bool {
		if ds[i].Field != ds[j].Field {
			return ds[i].Field < ds[j].Field
		}
		return ds[i].Bucket.Before(ds[j].Bucket)
	})
}

// limitFields keeps the deltas of the first MaxFields field names of
// sorted ds.
func limitFields(ds []Delta) []Delta {
	fields := 0
	for i := range ds {
		if i == 0 || ds[i].Field != ds[i-1].Field {
			if fields++; fields > MaxFields {
				return ds[:i]
			}
		}
	}
	return ds
}

// Coarsen re-buckets deltas into buckets of width w (a multiple of their
// own width), merging those that fall together. The result is sorted by
// field, then bucket.
func Coarsen(ds []Delta, w time.Duration) []Delta {
	var s Set
	for _, d := range ds {
		d.Bucket = Bucket(d.Bucket, w)
		s.mergeDelta(d)
	}
	out := s.deltas
	sortDeltas(out)
	return out
}

// Value is one numeric field of a record.
type Value struct {
	Field string
	Value float64
}

// AppendNumbers appends the numeric top-level fields of a record to dst,
// for Set.AddNumbers. It lets a caller keep a record's numbers, and drop
// its other fields, until its batch is put together.
func AppendNumbers(dst []Value, fields iter.Seq2[string, any]) []Value {
	for name, v := range fields {
		if f, ok := Number(v); ok && len(name) <= MaxFieldName {
			dst = append(dst, Value{name, f})
		}
	}
	return dst
}

// Number reports whether v is a JSON number as decoding and mapping
// produce them, and its finite value.
func Number(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int64:
		f = float64(x)
	case int:
		f = float64(x)
	case json.Number:
		return ParseNumber(string(x))
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

// ParseNumber parses the text of a JSON number. It reports false for
// anything else (strings, true, null, objects) and for numbers beyond the
// range of float64; numbers too small for it are 0.
func ParseNumber(s string) (float64, bool) {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !(isRange(err) && !math.IsInf(f, 0)) {
		return 0, false
	}
	return f, !math.IsInf(f, 0)
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// AddJSON adds the numeric top-level fields of a record given as a JSON
// object. It is for tools and tests that only have encoded records; the
// engine adds the fields it already has decoded.
func (s *Set) AddJSON(ts time.Time, data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	s.records++
	for name, raw := range m {
		if f, ok := ParseNumber(string(raw)); ok {
			s.AddValue(name, ts, f)
		}
	}
	return nil
}
