// Package cluster benchmarks a cluster of `tributary serve` processes on
// one machine (one PostgreSQL from internal/pgtest, one redis-server):
// webhook ingest and polling throughput with 1, 2 and 3 nodes, and the
// latency of a batch from a webhook on one node to a live stream on
// another, over Redis and over LISTEN/NOTIFY. It reports and asserts
// nothing on time:
//
//	CLUSTER_BENCH=1 go test ./bench/cluster -run . -v -timeout 30m
//
// CLUSTER_BENCH_SECONDS sets the length of each throughput phase (default 8).
package cluster
