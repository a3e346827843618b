package poll

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the poll metrics.
type metrics struct {
	lag      prometheus.Histogram
	duration prometheus.Histogram
	polls    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tributary_poll_lag_seconds",
			Help:    "How late polls start: start time minus due time.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tributary_poll_duration_seconds",
			Help:    "Duration of successful polls, fetch and commit.",
			Buckets: prometheus.DefBuckets,
		}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_polls_total",
			Help: "Polls by outcome: ok, empty (nothing new, nothing changed: no run written), failed, stale (pipeline deleted), paused, retry (not committed, claimed again later).",
		}, []string{"outcome"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.lag, m.duration, m.polls} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("polling metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *metrics) outcome(o string) { m.polls.WithLabelValues(o).Inc() }
