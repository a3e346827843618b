package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/rollup"
)

// Time-series storage: how records are laid out over time (partitions on
// PostgreSQL), how old data goes (retention), the rollups that charts read,
// and what storage each pipeline uses.
//
// Besides the records, both backends keep, in the batch transaction:
//   - record_days: per pipeline and UTC day, the count and bytes of the
//     stored records and their oldest and newest event time. Retention
//     reads it to know which pipelines have data in a day partition, keeps
//     the pipeline's stats right with it, and series planning estimates
//     costs from it.
//   - rollups: per pipeline, numeric field and bucket of a minute, an
//     hour and a day, count, sum, min, max, first and last. SQLite, with
//     one writer, merges a batch's aggregates into the rows of all three
//     widths (Batch.Rollups, one statement for up to 500 rows). PostgreSQL,
//     whose batches of a pipeline commit concurrently, inserts them as
//     deltas (rollup_pending) that CompactRollups folds into the rows, and
//     Series reads the deltas too, so answers never lag.
//   - series_horizons: per pipeline and level, the time before which the
//     level may be incomplete (retention deleted data there, or a batch
//     came without rollups). Series only answers from a level that is
//     complete for the range, so it never silently shows a partial chart.

// Storage is the time-series part of the store.
type Storage interface {
	// EnsurePartitions makes sure records with event times in [from, to)
	// can be stored: on PostgreSQL with native partitioning it creates the
	// missing day partitions; elsewhere it does nothing. WriteBatch also
	// creates the partitions a batch needs, so this only keeps that off
	// the ingest path.
	EnsurePartitions(ctx context.Context, from, to time.Time) error
	// RecordPartitions lists the partitions (or TimescaleDB chunks) of the
	// records table, oldest first; nil on a backend without partitions.
	RecordPartitions(ctx context.Context) ([]Partition, error)
	// StoredPipelines lists every pipeline of every team with its spec,
	// for the retention job.
	StoredPipelines(ctx context.Context) ([]StoredPipeline, error)
	// ApplyRetention removes the records and rollups that the policies
	// let go: whole partitions where every pipeline with data in them
	// allows it, bounded batched deletes otherwise. Pipelines without a
	// policy keep everything. The pipelines' stats are updated in the same
	// transactions.
	ApplyRetention(ctx context.Context, policies []RetentionPolicy, opts RetentionOptions) (RetentionResult, error)
	// CompactRollups folds up to limit pending hourly deltas into the 1h
	// and 1d rollups and returns how many it folded; 0 means none were
	// pending.
	CompactRollups(ctx context.Context, limit int) (int, error)
	// Series aggregates one numeric field of a pipeline's records over
	// time, from the raw records or from the rollups, whichever is
	// cheaper and complete for the range (see PlanSeries).
	Series(ctx context.Context, teamID, pipelineID uuid.UUID, q SeriesQuery) (Series, error)
	// StorageStats returns what a pipeline stores; core.ErrNotFound when
	// the team has no such pipeline.
	StorageStats(ctx context.Context, teamID, pipelineID uuid.UUID) (StorageStats, error)
	// AllStorageStats returns the stats of every pipeline that stores
	// records, for metrics.
	AllStorageStats(ctx context.Context) ([]StorageStats, error)
}

// Partition is one time range of the records table.
type Partition struct {
	Name     string
	From, To time.Time // [From, To)
	// DiskBytes is its size on disk, indexes included.
	DiskBytes int64
}

// StoredPipeline is a pipeline as the retention job needs it.
type StoredPipeline struct {
	TeamID uuid.UUID
	ID     uuid.UUID
	Spec   json.RawMessage
}

// RetentionPolicy says what of one pipeline may go: the records with an
// event time before Records, and the rollups of each width with a bucket
// starting before Minute, Hour and Day. A zero time keeps everything of
// that kind.
type RetentionPolicy struct {
	PipelineID uuid.UUID
	Records    time.Time
	Minute     time.Time
	Hour       time.Time
	Day        time.Time
}

// rollupCutoff returns the policy's cutoff for rollups of width w.
func (p RetentionPolicy) rollupCutoff(w time.Duration) time.Time {
	switch w {
	case rollup.Minute:
		return p.Minute
	case rollup.Hour:
		return p.Hour
	case rollup.Day:
		return p.Day
	}
	return time.Time{}
}

// RollupCutoff returns the policy's cutoff for rollups of width w (one of
// RollupWidths).
func (p RetentionPolicy) RollupCutoff(w time.Duration) time.Time { return p.rollupCutoff(w) }

// Defaults of RetentionOptions.
const (
	DefaultRetentionBatch   = 5000
	DefaultRetentionMaxRows = 2_000_000
)

// RetentionOptions bound the work of one ApplyRetention.
type RetentionOptions struct {
	// BatchSize is how many rows one delete transaction removes at most.
	// Default DefaultRetentionBatch.
	BatchSize int
	// MaxRows bounds the rows deleted row by row in one run, so that a
	// backlog is worked off over several runs. Dropped partitions do not
	// count. Default DefaultRetentionMaxRows.
	MaxRows int64
}

// WithDefaults fills the zero fields.
func (o RetentionOptions) WithDefaults() RetentionOptions {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultRetentionBatch
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultRetentionMaxRows
	}
	return o
}

// RetentionResult is what one ApplyRetention removed.
type RetentionResult struct {
	DroppedPartitions []string
	// DroppedRecords counts the records in the dropped partitions.
	DroppedRecords int64
	// DeletedRecords counts the records deleted row by row.
	DeletedRecords int64
	DeletedRollups int64
	// More is true when MaxRows stopped the run before it was done.
	More bool
}

// StorageStats is what one pipeline stores.
type StorageStats struct {
	TeamID     uuid.UUID
	PipelineID uuid.UUID
	Records    int64
	// StoredBytes is the encoded size of the stored records.
	StoredBytes int64
	// DiskBytes estimates the disk space of the records, indexes
	// included: on PostgreSQL each partition's size shared among its
	// pipelines by their bytes in it; on SQLite the stored bytes plus a
	// per-record overhead.
	DiskBytes int64
	// Oldest and Newest are the event times of the oldest and newest
	// stored record; nil without records.
	Oldest, Newest *time.Time
}

// SQLiteRecordOverhead is the per-record disk estimate of SQLite beyond
// the JSON: the row header and columns, and the index entry.
const SQLiteRecordOverhead = 96

// primaryKey marks a context whose reads must see the latest writes.
type primaryKey struct{}

// WithPrimary returns a context whose reads go to the primary database
// even where the store would send them to a read replica: for a read that
// must see a write just made.
func WithPrimary(ctx context.Context) context.Context {
	return context.WithValue(ctx, primaryKey{}, true)
}

// PrimaryOnly reports whether ctx came from WithPrimary.
func PrimaryOnly(ctx context.Context) bool {
	v, _ := ctx.Value(primaryKey{}).(bool)
	return v
}

// Series querying.

// RollupWidths are the stored rollup levels, finest first.
var RollupWidths = []time.Duration{rollup.Minute, rollup.Hour, rollup.Day}

// Series limits.
const (
	// MaxSeriesPoints bounds the points of one answer: raw points, or
	// buckets.
	MaxSeriesPoints = 10_000
)

// SeriesQuery selects one field of one pipeline over [From, To).
type SeriesQuery struct {
	// Field is a top-level field of the records; only its numeric values
	// count.
	Field    string
	From, To time.Time
	// Bucket is the width of the buckets, aligned to multiples of it since
	// the Unix epoch; From and To are widened to bucket boundaries. Zero
	// asks for the raw points, one per record.
	Bucket time.Duration
	// Source, when not "", forces the source instead of planning: "raw",
	// "1m", "1h" or "1d" (see SourceName). A rollup level must divide the
	// bucket and be complete for the range.
	Source string
}

// Validate checks q; errors wrap core.ErrInvalid.
func (q SeriesQuery) Validate() error {
	switch {
	case q.Field == "":
		return fmt.Errorf("%w: the field is required", core.ErrInvalid)
	case len(q.Field) > rollup.MaxFieldName:
		return fmt.Errorf("%w: the field name is longer than %d bytes", core.ErrInvalid, rollup.MaxFieldName)
	case q.From.IsZero() || q.To.IsZero() || !q.From.Before(q.To):
		return fmt.Errorf("%w: from must be before to", core.ErrInvalid)
	case q.Bucket < 0 || q.Bucket > 0 && q.Bucket < time.Second:
		return fmt.Errorf("%w: the bucket must be at least 1s", core.ErrInvalid)
	case q.Bucket > 0 && q.Bucket%time.Second != 0:
		return fmt.Errorf("%w: the bucket must be a whole number of seconds", core.ErrInvalid)
	}
	if q.Source != "" {
		w, ok := sourceWidth(q.Source)
		switch {
		case !ok:
			return fmt.Errorf("%w: source %q is not raw, 1m, 1h or 1d", core.ErrInvalid, q.Source)
		case w > 0 && (q.Bucket == 0 || q.Bucket%w != 0):
			return fmt.Errorf("%w: source %s can only answer buckets that are whole multiples of %s", core.ErrInvalid, q.Source, q.Source)
		}
	}
	if q.Bucket > 0 {
		a := q.Aligned()
		if n := a.To.Sub(a.From) / q.Bucket; n > MaxSeriesPoints {
			return fmt.Errorf("%w: the range holds %d buckets of %s, more than %d; choose a larger bucket", core.ErrInvalid, n, q.Bucket, MaxSeriesPoints)
		}
	}
	return nil
}

// Aligned returns q with From rounded down and To rounded up to bucket
// boundaries, in UTC.
func (q SeriesQuery) Aligned() SeriesQuery {
	q.From, q.To = q.From.UTC(), q.To.UTC()
	if q.Bucket > 0 {
		q.From = rollup.Bucket(q.From, q.Bucket)
		if to := rollup.Bucket(q.To, q.Bucket); to.Before(q.To) {
			q.To = to.Add(q.Bucket)
		}
	}
	return q
}

// Series is the answer to a SeriesQuery.
type Series struct {
	// From and To are the aligned range.
	From, To time.Time
	Bucket   time.Duration
	// Source is what answered: 0 for the raw records, else the rollup
	// width.
	Source time.Duration
	// Points are in time order: one per non-empty bucket, or one per
	// record with a numeric value (Bucket being its event time).
	Points []SeriesPoint
	// Estimated is the number of records in the range as planning
	// estimated it.
	Estimated int64
}

// SourceName names a series source: "raw", "1m", "1h" or "1d".
func SourceName(width time.Duration) string {
	switch width {
	case 0:
		return "raw"
	case rollup.Minute:
		return "1m"
	case rollup.Hour:
		return "1h"
	case rollup.Day:
		return "1d"
	}
	return width.String()
}

func sourceWidth(name string) (time.Duration, bool) {
	for _, w := range append([]time.Duration{0}, RollupWidths...) {
		if SourceName(w) == name {
			return w, true
		}
	}
	return 0, false
}

// SeriesPoint is the aggregate of one bucket.
type SeriesPoint struct {
	Bucket time.Time
	rollup.Agg
}

// SeriesEstimate is what planning knows of the data in a range.
type SeriesEstimate struct {
	// Records estimates the pipeline's records in the range.
	Records float64
	// Horizons holds, per level (0 for raw records, else the rollup
	// width), the time before which that level may be incomplete.
	Horizons map[time.Duration]time.Time
}

// Relative costs of reading one raw record (index entry, heap tuple, JSON
// field extraction) and one rollup row (index entry, narrow tuple).
const (
	rawRowCost    = 1.0
	rollupRowCost = 0.4
)

// PlanSeries chooses the source of an aligned, valid query (unless the
// query forces one) by cost: the
// raw records cost what the range holds; a rollup level of width w can
// answer when w divides the bucket, and costs at most one row per w in
// the range (and never more rows than records). Only levels complete for
// the range are candidates; when none is, the one complete for the
// longest part of it answers. Ties go to the coarser level.
func PlanSeries(q SeriesQuery, est SeriesEstimate) (width time.Duration, err error) {
	if q.Source != "" {
		w, _ := sourceWidth(q.Source)
		if h, ok := est.Horizons[w]; ok && q.From.Before(h) {
			return 0, fmt.Errorf("%w: source %s is incomplete before %s; choose a later from, or let the source be chosen", core.ErrInvalid, q.Source, h.Format(time.RFC3339))
		}
		return w, nil
	}
	type cand struct {
		w    time.Duration
		cost float64
	}
	cands := []cand{{0, est.Records * rawRowCost}}
	if q.Bucket > 0 {
		for _, w := range RollupWidths {
			if q.Bucket%w != 0 {
				continue
			}
			rows := math.Min(est.Records, math.Ceil(float64(q.To.Sub(q.From))/float64(w)))
			cands = append(cands, cand{w, rows * rollupRowCost})
		}
	}
	complete := func(w time.Duration) bool {
		h, ok := est.Horizons[w]
		return !ok || !q.From.Before(h)
	}
	best := -1
	for i, c := range cands {
		if !complete(c.w) {
			continue
		}
		if best < 0 || c.cost <= cands[best].cost {
			best = i
		}
	}
	if best < 0 {
		// Nothing is complete: the level that reaches furthest back.
		for i, c := range cands {
			if best < 0 || !est.Horizons[c.w].After(est.Horizons[cands[best].w]) {
				best = i
			}
		}
	}
	return cands[best].w, nil
}

// EstimateRecords estimates the records in [from, to) from per-day
// counts: a day's records count as spread evenly between its oldest and
// newest record, in proportion to that span's overlap with the range.
func EstimateRecords(days []DayCount, from, to time.Time) float64 {
	var n float64
	for _, d := range days {
		lo, hi := d.Day, d.Day.Add(rollup.Day)
		if !d.Oldest.IsZero() && d.Oldest.After(lo) {
			lo = d.Oldest
		}
		if !d.Newest.IsZero() && d.Newest.Add(time.Microsecond).Before(hi) {
			hi = d.Newest.Add(time.Microsecond)
		}
		span := hi.Sub(lo)
		if lo.Before(from) {
			lo = from
		}
		if hi.After(to) {
			hi = to
		}
		if hi.After(lo) && span > 0 {
			n += float64(d.Records) * float64(hi.Sub(lo)) / float64(span)
		}
	}
	return n
}

// DayCount is what one pipeline stores on one UTC day: the record count
// and the event times of the oldest and newest (zero when unknown).
type DayCount struct {
	Day            time.Time
	Records        int64
	Oldest, Newest time.Time
}

// SeriesBuilder assembles a series from raw values or rollup rows in any
// order, merging them into the query's buckets.
type SeriesBuilder struct {
	q      SeriesQuery
	points map[int64]*SeriesPoint
	raw    []SeriesPoint
}

// NewSeriesBuilder starts a series for an aligned query.
func NewSeriesBuilder(q SeriesQuery) *SeriesBuilder {
	return &SeriesBuilder{q: q, points: map[int64]*SeriesPoint{}}
}

// AddValue adds the value of one record observed at ts.
func (b *SeriesBuilder) AddValue(ts time.Time, v float64) {
	if b.q.Bucket == 0 {
		p := SeriesPoint{Bucket: ts.UTC()}
		p.Add(ts.UTC(), v)
		b.raw = append(b.raw, p)
		return
	}
	var a rollup.Agg
	a.Add(ts.UTC(), v)
	b.AddAgg(ts, a)
}

// AddAgg adds the aggregate of a rollup row whose bucket starts at bucket.
func (b *SeriesBuilder) AddAgg(bucket time.Time, a rollup.Agg) {
	start := rollup.Bucket(bucket, b.q.Bucket)
	k := start.Unix()
	p := b.points[k]
	if p == nil {
		p = &SeriesPoint{Bucket: start}
		b.points[k] = p
	}
	p.Merge(a)
}

// Len is the number of points so far.
func (b *SeriesBuilder) Len() int { return len(b.raw) + len(b.points) }

// Points returns the points in time order.
func (b *SeriesBuilder) Points() []SeriesPoint {
	if b.q.Bucket == 0 {
		slices.SortStableFunc(b.raw, func(x, y SeriesPoint) int { return x.Bucket.Compare(y.Bucket) })
		return b.raw
	}
	out := make([]SeriesPoint, 0, len(b.points))
	for _, p := range b.points {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(x, y SeriesPoint) int { return x.Bucket.Compare(y.Bucket) })
	return out
}

// Per-batch summaries the backends write next to the records.

// DaySummary is what a batch adds to one pipeline's UTC day.
type DaySummary struct {
	Day            time.Time
	Records        int64
	Bytes          int64
	Oldest, Newest time.Time
}

// SummarizeDays groups a persisted batch's records by UTC day, in day
// order; nil when nothing is persisted.
func SummarizeDays(b *Batch) []DaySummary {
	if !b.Persist || len(b.Records) == 0 {
		return nil
	}
	var out []DaySummary
	for i := range b.Records {
		r := &b.Records[i]
		ts := r.TS.UTC().Truncate(time.Microsecond)
		day := rollup.Bucket(ts, rollup.Day)
		j := len(out) - 1
		if j < 0 || !out[j].Day.Equal(day) {
			j = slices.IndexFunc(out, func(d DaySummary) bool { return d.Day.Equal(day) })
			if j < 0 {
				out = append(out, DaySummary{Day: day, Oldest: ts, Newest: ts})
				j = len(out) - 1
			}
		}
		d := &out[j]
		d.Records++
		d.Bytes += int64(len(r.Data))
		if ts.Before(d.Oldest) {
			d.Oldest = ts
		}
		if ts.After(d.Newest) {
			d.Newest = ts
		}
	}
	slices.SortFunc(out, func(x, y DaySummary) int { return x.Day.Compare(y.Day) })
	return out
}

// BatchRollups returns the rollups a persisted batch writes: its per-minute
// deltas and the same per hour (SQLite merges them, and the day's, into
// the rollups; PostgreSQL inserts them into rollup_pending). When the batch's
// Rollups do not cover all of its records, missing is the newest event
// time of the batch (zero otherwise): the rollups of every width are then
// incomplete up to the end of the bucket holding it (see HorizonAfter).
func BatchRollups(b *Batch) (minute, hour []rollup.Delta, missing time.Time) {
	if !b.Persist || len(b.Records) == 0 {
		return nil, nil, time.Time{}
	}
	minute = b.Rollups.Deltas()
	hour = rollup.Coarsen(minute, rollup.Hour)
	if b.Rollups.Records() < len(b.Records) {
		for i := range b.Records {
			if ts := b.Records[i].TS.UTC(); ts.After(missing) {
				missing = ts
			}
		}
	}
	return minute, hour, missing
}

// HorizonAfter is the horizon of a level of width w (0 for the raw
// records) once data up to and including ts may be missing from it: the
// end of the bucket holding ts.
func HorizonAfter(ts time.Time, w time.Duration) time.Time {
	if w == 0 {
		return ts.UTC()
	}
	return rollup.Bucket(ts, w).Add(w)
}
