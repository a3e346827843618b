package ratelimit

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Config sets a limit.
type Config struct {
	// Rate is the number of requests per second per key, cluster-wide;
	// <= 0 turns limiting off.
	Rate int
	// Burst is how many requests a key may send at once; 0 means one
	// second's worth of Rate.
	Burst int
	// Name tells this limit's keys from other limits' in Redis
	// ("hooks", "api").
	Name string
	// Nodes returns the number of live nodes, whose share of the limit a
	// node enforces without Redis; nil means 1.
	Nodes func() int
	// RetryRedis is how long a node that found Redis failing uses its
	// share before trying Redis again; default 1 s.
	RetryRedis time.Duration
	// OpTimeout bounds a Redis call; default 500 ms.
	OpTimeout time.Duration
	// Logger receives changes of Redis's state; nil discards them.
	Logger *slog.Logger
}

// Limiter limits requests per key. Build it with New; a nil *Limiter
// allows everything.
type Limiter struct {
	cfg     Config
	rdb     redis.UniversalClient
	redis   *redis_rate.Limiter
	limit   redis_rate.Limit
	failed  atomic.Bool // Redis failed: use the local share until a probe finds it back
	probing atomic.Bool

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim   *rate.Limiter
	share int
	used  time.Time
}

const idleAfter = 10 * time.Minute

// New returns the limiter of cfg over rdb (nil: node-local shares only),
// or nil when cfg.Rate <= 0.
func New(cfg Config, rdb redis.UniversalClient) *Limiter {
	if cfg.Rate <= 0 {
		return nil
	}
	if cfg.Burst < 1 {
		cfg.Burst = cfg.Rate
	}
	if cfg.Nodes == nil {
		cfg.Nodes = func() int { return 1 }
	}
	if cfg.RetryRedis <= 0 {
		cfg.RetryRedis = time.Second
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Limiter{cfg: cfg, rdb: rdb, buckets: map[string]*bucket{},
		limit: redis_rate.Limit{Rate: cfg.Rate, Burst: cfg.Burst, Period: time.Second}}
	if rdb != nil {
		l.redis = redis_rate.NewLimiter(rdb)
	}
	return l
}

// Allow takes one request of key and, when it is refused, says how long
// until the next one may pass. It never waits for a Redis that failed:
// while one is down, a probe in the background finds it back.
func (l *Limiter) Allow(ctx context.Context, key string, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	if l.redis != nil && !l.failed.Load() {
		rctx, cancel := context.WithTimeout(ctx, l.cfg.OpTimeout)
		res, err := l.redis.Allow(rctx, "tributary:rate:"+l.cfg.Name+":"+key, l.limit)
		cancel()
		if err == nil {
			if res.Allowed > 0 {
				return true, 0
			}
			return false, max(res.RetryAfter, time.Millisecond)
		}
		if ctx.Err() != nil {
			return true, 0 // the request is gone anyway
		}
		l.fail(err)
	}
	return l.allowLocal(key, now)
}

// fail switches to the local share and probes Redis every RetryRedis
// until it answers.
func (l *Limiter) fail(err error) {
	if !l.failed.Swap(true) {
		l.cfg.Logger.Warn("rate limits: Redis failed; each node enforces its share until it is back", "limit", l.cfg.Name, "err", err)
	}
	if l.probing.Swap(true) {
		return
	}
	go func() {
		defer l.probing.Store(false)
		t := time.NewTicker(l.cfg.RetryRedis)
		defer t.Stop()
		for range t.C {
			ctx, cancel := context.WithTimeout(context.Background(), l.cfg.OpTimeout)
			err := l.rdb.Ping(ctx).Err()
			cancel()
			if err == nil {
				l.failed.Store(false)
				l.cfg.Logger.Info("rate limits: Redis is back; limits hold cluster-wide again", "limit", l.cfg.Name)
				return
			}
		}
	}()
}

// Degraded reports whether the limiter uses the local share because
// Redis failed.
func (l *Limiter) Degraded() bool { return l != nil && l.failed.Load() }

// allowLocal takes from the key's local bucket, sized to this node's
// share of the limit.
func (l *Limiter) allowLocal(key string, now time.Time) (bool, time.Duration) {
	share := max(l.cfg.Nodes(), 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > idleAfter {
		for k, b := range l.buckets {
			if now.Sub(b.used) > idleAfter {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil || b.share != share {
		perSecond := rate.Limit(float64(l.cfg.Rate) / float64(share))
		burst := max(int(math.Ceil(float64(l.cfg.Burst)/float64(share))), 1)
		if b == nil {
			b = &bucket{lim: rate.NewLimiter(perSecond, burst)}
			l.buckets[key] = b
		} else {
			b.lim.SetLimitAt(now, perSecond)
			b.lim.SetBurstAt(now, burst)
		}
		b.share = share
	}
	b.used = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
