package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/config"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/store"
)

// clusterConnectWait bounds how long a start waits for Redis or the
// PostgreSQL listener; past it the node serves with local delivery only
// and keeps connecting.
const clusterConnectWait = 5 * time.Second

// openRedis returns the client of TRIBUTARY_REDIS_URL, or nil when it is
// not set. The broker, the shared recent-records cache and the cluster-wide
// rate limits share it.
func openRedis(cfg config.Config) (*redis.Client, error) {
	if cfg.RedisURL == "" {
		return nil, nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		// Validate checked it; never print the URL, it may hold a password.
		return nil, fmt.Errorf("redis URL: must look like redis://:password@host:6379/0")
	}
	return redis.NewClient(opts), nil
}

// openBroker returns the broker of live streams and the function that
// closes it: a Cluster over Redis when a Redis URL is set, else a Cluster
// over LISTEN/NOTIFY on PostgreSQL, else (SQLite, one node) the in-process
// Memory broker. Batches from other nodes fill recent; a reconnect empties
// it so it refills from the store.
func openBroker(ctx context.Context, cfg config.Config, st store.Store, rdb *redis.Client, recent *cache.Memory, log *slog.Logger) (pubsub.Broker, func(), error) {
	var (
		tr      pubsub.Transport
		closeTr = func() {}
		via     string
	)
	switch {
	case rdb != nil:
		tr, via = pubsub.NewRedisTransport(rdb, ""), "redis"
	case cfg.DatabaseURL != "":
		pg, err := pubsub.NewPostgresTransport(ctx, cfg.DatabaseURL, "")
		if err != nil {
			return nil, nil, err
		}
		tr, via = pg, "postgres"
	default:
		m, err := pubsub.NewMemory(pubsub.Config{})
		if err != nil {
			return nil, nil, err
		}
		return m, func() { _ = m.Close() }, nil
	}
	observe, reset := engine.CacheObserver(recent)
	blog := log.With("component", "broker", "transport", via)
	c, err := pubsub.NewCluster(ctx, pubsub.ClusterConfig{
		Load:        engine.LoadPointer(st),
		Observe:     observe,
		Reset:       reset,
		Logger:      blog,
		ConnectWait: clusterConnectWait,
	}, tr)
	if err != nil {
		_ = tr.Close()
		closeTr()
		return nil, nil, err
	}
	blog.Info("live streams span the cluster", "node", c.Node())
	return c, func() { _ = c.Close(); closeTr() }, nil
}
