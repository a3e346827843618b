package app

import (
	"math"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/store/postgres"
)

var (
	replicaLagDesc = prometheus.NewDesc("tributary_replica_lag_seconds",
		"Replication lag of a read replica at its last check (+Inf when unknown or down).", []string{"replica"}, nil)
	replicaServingDesc = prometheus.NewDesc("tributary_replica_serving",
		"1 when the read replica serves reads (it answers within the lag bound), else 0.", []string{"replica"}, nil)
	replicaReadsDesc = prometheus.NewDesc("tributary_replica_reads_total",
		"Reads routed to a read replica.", []string{"replica"}, nil)
	replicaFallbackDesc = prometheus.NewDesc("tributary_replica_fallback_reads_total",
		"Reads that could go to a replica but went to the primary: none served, or the replica failed.", nil, nil)
)

// replicaCollector publishes the routing of reads to read replicas.
type replicaCollector struct{ st *postgres.Store }

// Describe implements prometheus.Collector.
func (c replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- replicaLagDesc
	ch <- replicaServingDesc
	ch <- replicaReadsDesc
	ch <- replicaFallbackDesc
}

// Collect implements prometheus.Collector.
func (c replicaCollector) Collect(ch chan<- prometheus.Metric) {
	all := c.st.ReplicaStatuses()
	for _, r := range all {
		lag := r.Lag.Seconds()
		if !r.Healthy || r.Lag == math.MaxInt64 {
			lag = math.Inf(1)
		}
		serving := 0.0
		if r.Serving {
			serving = 1
		}
		ch <- prometheus.MustNewConstMetric(replicaLagDesc, prometheus.GaugeValue, lag, r.Name)
		ch <- prometheus.MustNewConstMetric(replicaServingDesc, prometheus.GaugeValue, serving, r.Name)
		ch <- prometheus.MustNewConstMetric(replicaReadsDesc, prometheus.CounterValue, float64(r.Reads), r.Name)
	}
	if len(all) > 0 {
		ch <- prometheus.MustNewConstMetric(replicaFallbackDesc, prometheus.CounterValue, float64(all[0].Fallback))
	}
}
