package source

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// HostLimiter limits the request rate to each host, across every poll of
// the process, so that many pipelines polling one API do not flood it. It
// is safe for concurrent use.
type HostLimiter struct {
	rate  rate.Limit
	burst int

	mu    sync.Mutex
	hosts map[string]*hostLimit
}

type hostLimit struct {
	lim  *rate.Limiter
	used time.Time
}

// maxHosts bounds the limiters kept; past it, idle ones are dropped.
const maxHosts = 10_000

// NewHostLimiter allows perSecond requests per second to each host, with
// bursts of burst (at least 1). perSecond <= 0 means no limit: a nil
// *HostLimiter.
func NewHostLimiter(perSecond float64, burst int) *HostLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &HostLimiter{rate: rate.Limit(perSecond), burst: max(burst, 1), hosts: make(map[string]*hostLimit)}
}

// Wait blocks until a request to host may be sent, or ctx ends.
func (h *HostLimiter) Wait(ctx context.Context, host string) error {
	if h == nil {
		return nil
	}
	now := time.Now()
	h.mu.Lock()
	l := h.hosts[host]
	if l == nil {
		if len(h.hosts) >= maxHosts {
			for k, v := range h.hosts {
				if now.Sub(v.used) > time.Minute {
					delete(h.hosts, k)
				}
			}
		}
		l = &hostLimit{lim: rate.NewLimiter(h.rate, h.burst)}
		h.hosts[host] = l
	}
	l.used = now
	h.mu.Unlock()
	return l.lim.Wait(ctx)
}
