package delivery

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the per-sink counters and histograms in /metrics. Sinks are
// labelled by pipeline id and sink name.
type metrics struct {
	enqueued  *prometheus.CounterVec   // deliveries enqueued with batches
	attempts  *prometheus.CounterVec   // attempts by outcome: delivered, failed, dead
	records   *prometheus.CounterVec   // records acknowledged
	latency   *prometheus.HistogramVec // commit to acknowledgement
	duration  *prometheus.HistogramVec // one attempt
	carried   *prometheus.CounterVec   // deliveries carried by another delivery's job, per run
	snoozed   prometheus.Counter       // deliveries put back because their sink was busy
	disabled  prometheus.Counter       // sinks disabled by a 410
	fanoutErr prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	labels := []string{"pipeline", "sink"}
	m := &metrics{
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_sink_deliveries_enqueued_total", Help: "Deliveries enqueued in batch transactions, replays and retries by hand.",
		}, labels),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_sink_delivery_attempts_total", Help: "Delivery attempts by outcome: delivered, failed (to be retried) or dead.",
		}, append(labels, "outcome")),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_sink_records_delivered_total", Help: "Records acknowledged by sinks.",
		}, labels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tributary_sink_delivery_latency_seconds", Help: "From a batch's commit to the sink's acknowledgement, retries included.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36000},
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tributary_sink_attempt_seconds", Help: "How long one delivery attempt took.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, labels),
		carried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_sink_deliveries_carried_total",
			Help: "Deliveries carried by another delivery's job of the same sink (coalesced), counted at each run of the carrying job.",
		}, labels),
		snoozed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tributary_sink_busy_snoozes_total", Help: "Deliveries put back for a moment because their sink carried as many as it may.",
		}),
		disabled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tributary_sink_disabled_total", Help: "Sinks disabled because the destination answered that it is gone (HTTP 410).",
		}),
		fanoutErr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tributary_sink_fanout_errors_total", Help: "Batches whose sink specs could not be read; their sinks got nothing.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.enqueued, m.attempts, m.records, m.latency, m.duration, m.carried, m.snoozed, m.disabled, m.fanoutErr} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("delivery: register metrics: %w", err)
		}
	}
	return m, nil
}
