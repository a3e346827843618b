package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/rollup"
	"github.com/tributary-dev/tributary/internal/store"
)

// Charts and storage: a pipeline's numeric fields over time, answered from
// the raw records for short ranges and from rollups for long ones
// (store.PlanSeries chooses by cost), and what the pipeline stores.

// SeriesPointBody is one point of a series.
type SeriesPointBody struct {
	T time.Time `json:"t" doc:"Start of the bucket; the record's event time for raw points."`
	V float64   `json:"v" doc:"The aggregate asked for."`
	N int64     `json:"n" doc:"How many values the bucket holds."`
}

// SeriesBody is a pipeline field's series.
type SeriesBody struct {
	Field  string    `json:"field"`
	Agg    string    `json:"agg"`
	Bucket string    `json:"bucket" doc:"The bucket width, or raw."`
	From   time.Time `json:"from" doc:"Start of the range, widened to a bucket boundary."`
	To     time.Time `json:"to" doc:"End of the range (exclusive), widened to a bucket boundary."`
	Source string    `json:"source" enum:"raw,1m,1h,1d" doc:"What answered: the raw records, or rollups of that width."`
	// EstimatedRecords is what planning estimated the range to hold.
	EstimatedRecords int64             `json:"estimated_records"`
	Points           []SeriesPointBody `json:"points"`
}

// StorageBody is what a pipeline stores.
type StorageBody struct {
	Records        int64      `json:"records"`
	StoredBytes    int64      `json:"stored_bytes" doc:"Encoded size of the stored records."`
	DiskBytes      int64      `json:"disk_bytes" doc:"Estimated disk space of the records, indexes included."`
	OldestRecordAt *time.Time `json:"oldest_record_at,omitempty"`
	NewestRecordAt *time.Time `json:"newest_record_at,omitempty"`
}

type seriesOutput struct{ Body SeriesBody }

type storageOutput struct{ Body StorageBody }

// registerSeriesRoutes adds the series and storage routes when the store
// offers time-series storage.
func (r *pipelineRoutes) registerSeriesRoutes() {
	if _, ok := r.store.(store.Storage); !ok {
		return
	}
	api := r.s.api
	tags := []string{"Records"}

	huma.Register(api, huma.Operation{
		OperationID: "pipeline-series", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}/series", Tags: tags,
		Summary: "Chart a numeric field of a pipeline",
		Description: "Aggregates one numeric top-level field of the pipeline's records per bucket over `[from, to)`. " +
			"Short ranges are answered from the raw records, long ones from per-minute, hourly or daily rollups, whichever costs less " +
			"and holds the whole range; `source` in the answer says which. Buckets align to multiples of their width since the Unix epoch (UTC).",
	}, func(ctx context.Context, in *struct {
		PipelineScope
		Field  string    `query:"field" required:"true" minLength:"1" maxLength:"200" doc:"A top-level field of the records; only numeric values count."`
		From   time.Time `query:"from" doc:"Start (RFC 3339); default 24 hours before to."`
		To     time.Time `query:"to" doc:"End, exclusive (RFC 3339); default now."`
		Bucket string    `query:"bucket" maxLength:"20" doc:"Bucket width: 30s, 1m, 15m, 1h, 1d, 7d…; raw for one point per record; omitted: the smallest of 1m, 5m, 15m, 1h, 6h, 1d, 7d giving at most 1000 buckets."`
		Agg    string    `query:"agg" enum:"avg,min,max,sum,count,first,last" default:"avg" doc:"The aggregate of each bucket."`
		Source string    `query:"source" enum:"auto,raw,1m,1h,1d" default:"auto" doc:"Force a source instead of letting the cheaper complete one answer."`
	}) (*seriesOutput, error) {
		if _, err := r.pipeline(ctx, in.PipelineScope); err != nil {
			return nil, err
		}
		to := in.To
		if to.IsZero() {
			to = core.Now()
		}
		from := in.From
		if from.IsZero() {
			from = to.Add(-24 * time.Hour)
		}
		if !from.Before(to) {
			return nil, huma.Error422UnprocessableEntity("from must be before to.",
				&huma.ErrorDetail{Location: "query.from", Message: "must be before to"})
		}
		bucket, err := parseBucket(in.Bucket, to.Sub(from))
		if err != nil {
			return nil, err
		}
		q := store.SeriesQuery{Field: in.Field, From: from, To: to, Bucket: bucket}
		if in.Source != "auto" && in.Source != "" {
			q.Source = in.Source
		}
		s, err := r.svc.Series(ctx, caller(ctx, in.TeamScope), in.ID, q)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		out := &seriesOutput{Body: SeriesBody{
			Field: in.Field, Agg: in.Agg, Bucket: rollup.FormatWidth(s.Bucket), From: s.From, To: s.To,
			Source: store.SourceName(s.Source), EstimatedRecords: s.Estimated, Points: make([]SeriesPointBody, len(s.Points)),
		}}
		for i, pt := range s.Points {
			out.Body.Points[i] = SeriesPointBody{T: pt.Bucket, V: aggValue(pt, in.Agg), N: pt.Count}
		}
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "pipeline-storage", Method: http.MethodGet, Path: "/api/v1/pipelines/{id}/storage", Tags: tags,
		Summary:     "Show what a pipeline stores",
		Description: "Record count, their encoded size, an estimate of their disk space, and the oldest and newest event time.",
	}, func(ctx context.Context, in *struct {
		PipelineScope
	}) (*storageOutput, error) {
		ss, err := r.svc.StorageStats(ctx, caller(ctx, in.TeamScope), in.ID)
		if err != nil {
			return nil, r.s.problem(ctx, err)
		}
		return &storageOutput{Body: StorageBody{Records: ss.Records, StoredBytes: ss.StoredBytes, DiskBytes: ss.DiskBytes,
			OldestRecordAt: ss.Oldest, NewestRecordAt: ss.Newest}}, nil
	})
}

// parseBucket reads the bucket parameter by the one rule of
// rollup.ParseSeriesWidth; a bad one is a 422 naming it.
func parseBucket(s string, span time.Duration) (time.Duration, error) {
	d, err := rollup.ParseSeriesWidth(s, span)
	var we *rollup.WidthError
	if errors.As(err, &we) {
		return 0, huma.Error422UnprocessableEntity(we.Error()+", or raw.",
			&huma.ErrorDetail{Location: "query.bucket", Message: we.Reason, Value: s})
	}
	return d, err
}

func aggValue(p store.SeriesPoint, agg string) float64 {
	switch agg {
	case "min":
		return p.Min
	case "max":
		return p.Max
	case "sum":
		return p.Sum
	case "count":
		return float64(p.Count)
	case "first":
		return p.First
	case "last":
		return p.Last
	}
	return p.Mean()
}

// StorageCollector exports what every pipeline stores to Prometheus. A
// scrape reads the store at most once per refresh interval (the query
// visits every pipeline-day) and otherwise serves the last reading.
type StorageCollector struct {
	st      store.Storage
	log     *slog.Logger
	refresh time.Duration

	mu    sync.Mutex
	at    time.Time
	stats []store.StorageStats
	parts []store.Partition

	records, stored, disk, oldest, newest *prometheus.Desc
	partitions, partitionBytes            *prometheus.Desc
}

var _ prometheus.Collector = (*StorageCollector)(nil)

// DefaultStorageRefresh is how often StorageCollector reads the store.
const DefaultStorageRefresh = 30 * time.Second

// NewStorageCollector returns a collector over st; refresh 0 means
// DefaultStorageRefresh.
func NewStorageCollector(st store.Storage, log *slog.Logger, refresh time.Duration) *StorageCollector {
	if refresh <= 0 {
		refresh = DefaultStorageRefresh
	}
	labels := []string{"team", "pipeline"}
	return &StorageCollector{
		st: st, log: log, refresh: refresh,
		records:        prometheus.NewDesc("tributary_pipeline_stored_records", "Records a pipeline stores.", labels, nil),
		stored:         prometheus.NewDesc("tributary_pipeline_stored_bytes", "Encoded size of the records a pipeline stores.", labels, nil),
		disk:           prometheus.NewDesc("tributary_pipeline_disk_bytes", "Estimated disk space of a pipeline's records, indexes included.", labels, nil),
		oldest:         prometheus.NewDesc("tributary_pipeline_oldest_record_timestamp_seconds", "Event time of a pipeline's oldest stored record.", labels, nil),
		newest:         prometheus.NewDesc("tributary_pipeline_newest_record_timestamp_seconds", "Event time of a pipeline's newest stored record.", labels, nil),
		partitions:     prometheus.NewDesc("tributary_record_partitions", "Partitions (or chunks) of the records table.", nil, nil),
		partitionBytes: prometheus.NewDesc("tributary_record_partitions_bytes", "Disk space of the records table's partitions, indexes included.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *StorageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.records, c.stored, c.disk, c.oldest, c.newest, c.partitions, c.partitionBytes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *StorageCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) >= c.refresh {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		stats, err := c.st.AllStorageStats(ctx)
		var parts []store.Partition
		if err == nil {
			parts, err = c.st.RecordPartitions(ctx)
		}
		cancel()
		if err != nil {
			c.log.Warn("storage metrics: read the store", "err", err)
		} else {
			c.stats, c.parts = stats, parts
		}
		c.at = time.Now() // also after an error: do not hammer a failing database
	}
	for _, s := range c.stats {
		l := []string{s.TeamID.String(), s.PipelineID.String()}
		ch <- prometheus.MustNewConstMetric(c.records, prometheus.GaugeValue, float64(s.Records), l...)
		ch <- prometheus.MustNewConstMetric(c.stored, prometheus.GaugeValue, float64(s.StoredBytes), l...)
		ch <- prometheus.MustNewConstMetric(c.disk, prometheus.GaugeValue, float64(s.DiskBytes), l...)
		if s.Oldest != nil {
			ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, float64(s.Oldest.UnixMicro())/1e6, l...)
			ch <- prometheus.MustNewConstMetric(c.newest, prometheus.GaugeValue, float64(s.Newest.UnixMicro())/1e6, l...)
		}
	}
	var bytes int64
	for _, p := range c.parts {
		bytes += p.DiskBytes
	}
	ch <- prometheus.MustNewConstMetric(c.partitions, prometheus.GaugeValue, float64(len(c.parts)))
	ch <- prometheus.MustNewConstMetric(c.partitionBytes, prometheus.GaugeValue, float64(bytes))
}
