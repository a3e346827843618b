package ingest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
)

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_700_000_000, 0)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// loader resolves tokens to hooks of fixed pipelines, counting its loads;
// every load's pipeline carries the load's number as its version.
type loader struct {
	loads atomic.Int32
	mu    sync.Mutex
	pipes map[string]core.Pipeline
	// block, when set, is called at the start of every load.
	block func(ctx context.Context, n int32)
}

func (l *loader) add(token string, team uuid.UUID) core.Pipeline {
	p := core.Pipeline{ID: uuid.New(), TeamID: team, Kind: core.KindWebhook}
	l.mu.Lock()
	if l.pipes == nil {
		l.pipes = map[string]core.Pipeline{}
	}
	l.pipes[token] = p
	l.mu.Unlock()
	return p
}

func (l *loader) load(ctx context.Context, token string) (*hook, error) {
	n := l.loads.Add(1)
	if l.block != nil {
		l.block(ctx, n)
	}
	l.mu.Lock()
	p, ok := l.pipes[token]
	l.mu.Unlock()
	if !ok {
		return nil, ErrUnknownToken
	}
	p.Version = int(n)
	return &hook{p: p}, nil
}

func TestHookCacheReusesWithinTTL(t *testing.T) {
	t.Parallel()
	clk, l := newClock(), &loader{}
	c := newHookCache(time.Second, clk.now, l.load)
	p := l.add("token-a", uuid.New())
	for range 3 {
		h, err := c.get(t.Context(), "token-a")
		if err != nil {
			t.Fatal(err)
		}
		if h.p.ID != p.ID {
			t.Fatalf("got pipeline %s, want %s", h.p.ID, p.ID)
		}
	}
	if n := l.loads.Load(); n != 1 {
		t.Fatalf("%d loads within the TTL, want 1", n)
	}
	clk.advance(time.Second)
	if h, err := c.get(t.Context(), "token-a"); err != nil || h.p.Version != 2 {
		t.Fatalf("after the TTL: hook %+v, err %v; want a new load", h, err)
	}
}

func TestHookCacheDoesNotKeepUnknownTokens(t *testing.T) {
	t.Parallel()
	l := &loader{}
	c := newHookCache(time.Minute, newClock().now, l.load)
	for range 2 {
		if _, err := c.get(t.Context(), "nobody"); !errors.Is(err, ErrUnknownToken) {
			t.Fatalf("err = %v, want ErrUnknownToken", err)
		}
	}
	if n := l.loads.Load(); n != 2 {
		t.Fatalf("%d loads of an unknown token, want 2: it is not cached", n)
	}
}

func TestHookCacheForgets(t *testing.T) {
	t.Parallel()
	l := &loader{}
	c := newHookCache(time.Minute, newClock().now, l.load)
	teamA, teamB := uuid.New(), uuid.New()
	a1 := l.add("a1", teamA)
	l.add("a2", teamA)
	l.add("b1", teamB)
	get := func(token string) int {
		t.Helper()
		h, err := c.get(t.Context(), token)
		if err != nil {
			t.Fatal(err)
		}
		return h.p.Version
	}
	for _, tok := range []string{"a1", "a2", "b1"} {
		get(tok)
	}
	c.forgetPipeline(a1.ID)
	if v := get("a1"); v != 4 {
		t.Fatalf("a forgotten pipeline came from load %d, want a new load (4)", v)
	}
	if v := get("a2"); v != 2 {
		t.Fatalf("another pipeline of the team was reloaded (load %d)", v)
	}
	c.forgetTeam(teamA)
	if v1, v2 := get("a1"), get("a2"); v1 != 5 || v2 != 6 {
		t.Fatalf("after forgetting the team: loads %d and %d, want 5 and 6", v1, v2)
	}
	if v := get("b1"); v != 3 {
		t.Fatalf("another team's pipeline was reloaded (load %d)", v)
	}
}

// TestHookCacheForgetDuringLoad: a load that began before a forget is not
// kept, and a request that came after the forget does not take its result.
func TestHookCacheForgetDuringLoad(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	l := &loader{block: func(_ context.Context, n int32) {
		if n == 1 {
			close(started)
			<-release
		}
	}}
	c := newHookCache(time.Minute, newClock().now, l.load)
	p := l.add("token", uuid.New())

	first := make(chan *hook)
	go func() {
		h, err := c.get(context.Background(), "token")
		if err != nil {
			t.Error(err)
		}
		first <- h
	}()
	<-started
	c.forgetPipeline(p.ID) // say, the pipeline was paused meanwhile
	second := make(chan *hook)
	go func() {
		h, err := c.get(context.Background(), "token")
		if err != nil {
			t.Error(err)
		}
		second <- h
	}()
	close(release)
	if h := <-first; h == nil || h.p.Version != 1 {
		t.Fatalf("the first request got %+v, want the load it started", h)
	}
	if h := <-second; h == nil || h.p.Version != 2 {
		t.Fatalf("the request after the forget got %+v, want a load that began after it", h)
	}
	// The stale load was not kept; the second one was.
	if h, err := c.get(t.Context(), "token"); err != nil || h.p.Version != 2 {
		t.Fatalf("cached hook %+v, err %v; want the second load", h, err)
	}
}

// TestHookCacheLoadOutlivesCaller: a shared load runs on its own
// deadline, not the context of the request that started it.
func TestHookCacheLoadOutlivesCaller(t *testing.T) {
	t.Parallel()
	l := &loader{block: func(ctx context.Context, _ int32) {
		if ctx.Err() != nil {
			t.Error("the load runs on a cancelled context")
		}
		if _, ok := ctx.Deadline(); !ok {
			t.Error("the load has no deadline")
		}
	}}
	c := newHookCache(time.Minute, newClock().now, l.load)
	l.add("token", uuid.New())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.get(ctx, "token"); err != nil {
		t.Fatal(err)
	}
}

func TestHookCacheEvicts(t *testing.T) {
	t.Parallel()
	clk, l := newClock(), &loader{}
	c := newHookCache(time.Second, clk.now, l.load)
	team := uuid.New()
	fill := func(prefix string, n int) {
		for i := range n {
			tok := prefix + strconv.Itoa(i)
			l.add(tok, team)
			if _, err := c.get(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
		}
	}
	fill("old-", maxHookEntries)
	clk.advance(time.Second)
	fill("new-", 1)
	if n := len(c.byToken); n != 1 {
		t.Fatalf("%d entries once the cache was full of expired ones, want 1", n)
	}
	fill("more-", maxHookEntries)
	if n := len(c.byToken); n > maxHookEntries/2+1 {
		t.Fatalf("%d entries after the cache filled with live ones, want at most half", n)
	}
}
