// Package ratelimit limits requests per key (a team) across the nodes of
// a cluster. With Redis, every node takes from one GCRA bucket per key
// (github.com/go-redis/redis_rate), so the limit holds for the cluster as
// a whole whichever node a request reaches. Without Redis, or while Redis
// fails, each node enforces its share of the limit — the rate and burst
// divided by the number of live nodes — in a local token bucket, which
// holds the cluster to about the same limit when the load is spread
// evenly over the nodes (and to less when it is not).
package ratelimit
