package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tributary-dev/tributary/internal/ratelimit"
	"github.com/tributary-dev/tributary/internal/redistest"
)

// flood sends n requests of one key round-robin over the nodes and counts
// those allowed.
func flood(nodes []*ratelimit.Limiter, key string, n int) int {
	allowed := 0
	for i := range n {
		if ok, wait := nodes[i%len(nodes)].Allow(context.Background(), key, time.Now()); ok {
			allowed++
		} else if wait <= 0 {
			panic("refused without a wait")
		}
	}
	return allowed
}

func within(t *testing.T, what string, got, want int) {
	t.Helper()
	if lo, hi := want*9/10, want*11/10; got < lo || got > hi {
		t.Errorf("%s: %d allowed, want %d ±10%%", what, got, want)
	} else {
		t.Logf("%s: %d allowed (limit %d)", what, got, want)
	}
}

// TestClusterWide: three nodes on one Redis hold one team to the
// cluster-wide limit; with Redis down each holds its share, so the
// cluster still holds about the limit; Redis back, the shared bucket
// rules again.
func TestClusterWide(t *testing.T) {
	srv := redistest.Start(t)
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	// A burst of 300 and a trickle of 1/s: over a test of a few seconds
	// the limit is the burst.
	const burst = 300
	nodes := make([]*ratelimit.Limiter, 3)
	for i := range nodes {
		rdb := redis.NewClient(opts)
		t.Cleanup(func() { rdb.Close() })
		nodes[i] = ratelimit.New(ratelimit.Config{Rate: 1, Burst: burst, Name: "hooks", Nodes: func() int { return 3 },
			RetryRedis: 50 * time.Millisecond}, rdb)
	}
	within(t, "through Redis", flood(nodes, "team-a", 3*burst), burst)
	// Another team has its own bucket.
	within(t, "another team", flood(nodes, "team-b", 3*burst), burst)

	srv.Kill()
	within(t, "Redis down, shares", flood(nodes, "team-c", 3*burst), burst)
	for _, n := range nodes {
		if !n.Degraded() {
			t.Error("a node does not know Redis failed")
		}
	}

	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for nodes[0].Degraded() || nodes[1].Degraded() || nodes[2].Degraded() {
		if time.Now().After(deadline) {
			t.Fatal("still degraded after Redis came back")
		}
		flood(nodes, "probe", 3)
		time.Sleep(20 * time.Millisecond)
	}
	within(t, "Redis back", flood(nodes, "team-d", 3*burst), burst)
}

// TestLocalShare: without Redis a node enforces its share of the limit.
func TestLocalShare(t *testing.T) {
	nodes := 1
	l := ratelimit.New(ratelimit.Config{Rate: 1, Burst: 100, Name: "hooks", Nodes: func() int { return nodes }}, nil)
	within(t, "one node", flood([]*ratelimit.Limiter{l}, "t", 300), 100)
	nodes = 4
	within(t, "one node of four", flood([]*ratelimit.Limiter{l}, "u", 300), 25)

	var off *ratelimit.Limiter = ratelimit.New(ratelimit.Config{Rate: 0}, nil)
	if ok, _ := off.Allow(context.Background(), "t", time.Now()); !ok {
		t.Error("no limit refused a request")
	}
}
