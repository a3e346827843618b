package engine

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus metrics. Only the per-pipeline
// record counter carries a pipeline label (its id, never a name); the
// scrape grows with the number of pipelines that received records since
// the process started.
type metrics struct {
	accepted      prometheus.Counter
	rejected      prometheus.Counter
	byPipeline    *prometheus.CounterVec
	batchRecords  prometheus.Histogram
	batchRequests prometheus.Histogram
	commitSeconds prometheus.Histogram
	commitErrors  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "tributary", Subsystem: "engine", Name: "records_total",
		Help: "Records committed, by outcome: accepted (stored, or passed on when persist is off) or rejected.",
	}, []string{"outcome"})
	m := &metrics{
		byPipeline: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "tributary", Subsystem: "engine", Name: "pipeline_records_total",
			Help: "Records committed per pipeline (by id), by outcome: accepted or rejected.",
		}, []string{"pipeline", "outcome"}),
		accepted: records.WithLabelValues("accepted"),
		rejected: records.WithLabelValues("rejected"),
		batchRecords: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "tributary", Subsystem: "engine", Name: "batch_records",
			Help:    "Records (accepted and rejected) per committed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8), // 1 .. 16384
		}),
		batchRequests: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "tributary", Subsystem: "engine", Name: "batch_submissions",
			Help:    "Submissions (webhook requests) grouped into one committed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11), // 1 .. 1024
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "tributary", Subsystem: "engine", Name: "commit_seconds",
			Help:    "Time to write and commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5ms .. 4s
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "tributary", Subsystem: "engine", Name: "commit_errors_total",
			Help: "Batches whose write failed; their submitters got an error and nothing was kept.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{records, m.byPipeline, m.batchRecords, m.batchRequests, m.commitSeconds, m.commitErrors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("engine: register metrics: %w", err)
		}
	}
	return m, nil
}
