// Package graphql benchmarks the GraphQL API against the real server
// (internal/apptest, SQLite): a pipelines list with runs and sinks for
// 100 pipelines against the equivalent REST calls, and many concurrent
// subscriptions on one pipeline. It reports and asserts nothing on time:
//
//	go test ./bench/graphql -run XXX -bench . -benchtime 3s
//	GQL_SUBSCRIBERS=1000 GQL_RATE=100 go test ./bench/graphql -run TestSubscriptionFanout -v
package graphql
