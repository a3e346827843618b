package pubsub

import (
	"context"

	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Channel is the Redis channel and the PostgreSQL NOTIFY channel a Cluster
// broker sends on.
const Channel = "tributary_bus"

// RedisTransport carries envelopes over Redis pub/sub. Redis delivers a
// channel's messages to each subscriber in the order they were published
// and keeps nothing for a subscriber that is disconnected, which the
// Cluster broker detects and reports as lag.
type RedisTransport struct {
	rdb     redis.UniversalClient
	channel string
}

var _ Transport = (*RedisTransport)(nil)

// NewRedisTransport returns a transport over rdb, which the caller keeps
// and closes. channel empty means Channel.
func NewRedisTransport(rdb redis.UniversalClient, channel string) *RedisTransport {
	if channel == "" {
		channel = Channel
	}
	return &RedisTransport{rdb: rdb, channel: channel}
}

// Send implements Transport with one pipelined round trip.
func (t *RedisTransport) Send(ctx context.Context, envs [][]byte) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	pipe := t.rdb.Pipeline()
	for _, b := range envs {
		pipe.Publish(ctx, t.channel, b)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis publish: %w", err)
	}
	return nil
}

// Listen implements Transport. go-redis reconnects a subscription by
// itself; every subscription confirmation after the first marks a
// reconnect.
func (t *RedisTransport) Listen(ctx context.Context, deliver func([]byte), connected func(first bool)) {
	ps := t.rdb.Subscribe(ctx, t.channel)
	defer ps.Close()
	// Receive blocks on the socket; closing the subscription ends it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	confirmed := false
	backoff := 50 * time.Millisecond
	for {
		m, err := ps.Receive(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			// Receive reconnects and subscribes again on its next call.
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				connected(!confirmed)
				confirmed = true
			}
		case *redis.Message:
			deliver([]byte(m.Payload))
		}
	}
}

// MaxEnvelope implements Transport: Redis has no practical limit.
func (t *RedisTransport) MaxEnvelope() int { return 0 }

// Close implements Transport; the Redis client stays open.
func (t *RedisTransport) Close() error { return nil }
