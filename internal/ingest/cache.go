package ingest

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/signature"
)

// maxHookEntries bounds the token cache; past it, expired entries go, and
// if that is not enough, arbitrary ones.
const maxHookEntries = 10_000

// hookLoadTimeout bounds a token lookup shared by concurrent requests.
const hookLoadTimeout = 10 * time.Second

// hook is what ingest needs of a webhook pipeline, resolved from its token.
type hook struct {
	gen      uint64 // the cache's generation when the load began
	p        core.Pipeline
	compiled *pipeline.Compiled
	// verifier checks signatures; nil when the pipeline is not signed.
	verifier *signature.Verifier
	expires  time.Time
}

// hookCache keeps resolved tokens for a short TTL, so that a burst of
// webhook requests costs one lookup, one compile and one secret opening.
// Changes made through this process forget the entries they affect at
// once; concurrent misses of one token share one load.
type hookCache struct {
	ttl    time.Duration
	now    func() time.Time
	load   func(ctx context.Context, token string) (*hook, error)
	flight singleflight.Group

	mu      sync.Mutex
	byToken map[string]*hook // by token hash
	gen     uint64           // grows on every forget, so a load racing one is not kept
}

func newHookCache(ttl time.Duration, now func() time.Time, load func(context.Context, string) (*hook, error)) *hookCache {
	return &hookCache{ttl: ttl, now: now, load: load, byToken: make(map[string]*hook)}
}

// get returns the hook of a token's hash (string(core.HookTokenHash)), loading it
// when it is not cached or expired. Unknown tokens are not cached. The
// cache holds hashes, never tokens.
func (c *hookCache) get(ctx context.Context, token string) (*hook, error) {
	now := c.now()
	c.mu.Lock()
	h, ok := c.byToken[token]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Before(h.expires) {
		return h, nil
	}
	v, err, _ := c.flight.Do(token, func() (any, error) {
		// The load runs for every waiter: it must not end with the
		// request that happened to start it, only with its own timeout.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hookLoadTimeout)
		defer cancel()
		return c.loadAndKeep(ctx, token)
	})
	if err != nil {
		return nil, err
	}
	if h := v.(*hook); h.gen >= gen {
		return h, nil
	}
	// The shared load began before a change this request came after (a
	// rotated token, a pause): load again on its own.
	return c.loadAndKeep(ctx, token)
}

// loadAndKeep loads a token and caches the result, unless something was
// forgotten while it loaded.
func (c *hookCache) loadAndKeep(ctx context.Context, token string) (*hook, error) {
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	h, err := c.load(ctx, token)
	if err != nil {
		return nil, err
	}
	h.gen = gen
	now := c.now()
	h.expires = now.Add(c.ttl)
	c.mu.Lock()
	if c.gen == gen {
		if len(c.byToken) >= maxHookEntries {
			c.evict(now)
		}
		c.byToken[token] = h
	}
	c.mu.Unlock()
	return h, nil
}

// evict drops expired entries and, if the cache is still full, half of
// the rest. Called with c.mu held.
func (c *hookCache) evict(now time.Time) {
	for k, h := range c.byToken {
		if !now.Before(h.expires) {
			delete(c.byToken, k)
		}
	}
	for k := range c.byToken {
		if len(c.byToken) < maxHookEntries/2 {
			break
		}
		delete(c.byToken, k)
	}
}

// forgetPipeline drops the pipeline's entries.
func (c *hookCache) forgetPipeline(id uuid.UUID) {
	c.forget(func(h *hook) bool { return h.p.ID == id })
}

// forgetTeam drops the team's entries.
func (c *hookCache) forgetTeam(id uuid.UUID) {
	c.forget(func(h *hook) bool { return h.p.TeamID == id })
}

func (c *hookCache) forget(match func(*hook) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, h := range c.byToken {
		if match(h) {
			delete(c.byToken, k)
		}
	}
}
