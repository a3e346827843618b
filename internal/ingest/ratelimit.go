package ingest

import (
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"
)

// teamLimiter is a token bucket per team for webhook ingest, so one
// team's flood cannot take the node from the others. Buckets of teams
// that went quiet are dropped, which keeps the map bounded by the teams
// active within idleAfter.
type teamLimiter struct {
	perSecond rate.Limit
	burst     int

	mu      sync.Mutex
	buckets map[uuid.UUID]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	used time.Time
}

const idleAfter = 10 * time.Minute

// newTeamLimiter returns a limiter of perSecond requests per team with the
// given burst; perSecond <= 0 turns limiting off (nil).
func newTeamLimiter(perSecond float64, burst int) *teamLimiter {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = max(1, int(perSecond))
	}
	return &teamLimiter{perSecond: rate.Limit(perSecond), burst: burst, buckets: map[uuid.UUID]*bucket{}}
}

// allow takes one request of team and, when it must wait, says how long
// until the next one is allowed.
func (l *teamLimiter) allow(team uuid.UUID, now time.Time) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > idleAfter {
		for id, b := range l.buckets {
			if now.Sub(b.used) > idleAfter {
				delete(l.buckets, id)
			}
		}
		l.swept = now
	}
	b := l.buckets[team]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.perSecond, l.burst)}
		l.buckets[team] = b
	}
	b.used = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
