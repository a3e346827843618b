package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/cluster"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

func TestConfigErrors(t *testing.T) {
	if _, err := cluster.New(cluster.Config{Heartbeat: time.Minute, ExpireAfter: time.Minute}, nil); err == nil {
		t.Fatal("an expiry shorter than two heartbeats was accepted")
	}
	if id := cluster.NewID(); len(id) < 10 || len(id) > 128 {
		t.Fatalf("node id %q", id)
	}
}

// TestMembership: two nodes see each other, only instance admins list
// them, a draining node is not ready and says so, and a stopped node
// leaves.
func TestMembership(t *testing.T) {
	ctx := context.Background()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		load := func() store.NodeLoad { return store.NodeLoad{Requests: 7, Streams: 2} }
		a, err := cluster.New(cluster.Config{ID: "node-a", Version: "v1", Address: "a:8080", Load: load,
			Heartbeat: 20 * time.Millisecond, ExpireAfter: time.Minute}, st)
		if err != nil {
			t.Fatal(err)
		}
		b, err := cluster.New(cluster.Config{ID: "node-b", Version: "v1", Address: "b:8080", Heartbeat: 20 * time.Millisecond, ExpireAfter: time.Minute}, st)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []*cluster.Membership{a, b} {
			if err := m.Start(ctx); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() { _ = a.Stop(ctx) })
		deadline := time.Now().Add(10 * time.Second)
		for a.Live() != 2 {
			if time.Now().After(deadline) {
				t.Fatalf("node a sees %d live nodes, want 2", a.Live())
			}
			time.Sleep(10 * time.Millisecond)
		}

		admin := &account.Principal{User: &core.User{IsAdmin: true}}
		if _, err := a.Nodes(ctx, nil); !errors.Is(err, account.ErrUnauthenticated) {
			t.Errorf("no principal: %v", err)
		}
		if _, err := a.Nodes(ctx, &account.Principal{User: &core.User{}}); !errors.Is(err, account.ErrForbidden) {
			t.Errorf("a user who is not an instance admin: %v", err)
		}
		s, err := a.Nodes(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		if s.Self != "node-a" || len(s.Nodes) != 2 || !s.Nodes[0].Self || s.Nodes[0].Load.Requests != 7 || s.Nodes[0].Load.Goroutines == 0 {
			t.Fatalf("status = %+v", s)
		}

		if err := b.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.Ready(ctx); !errors.Is(err, cluster.ErrDraining) {
			t.Fatalf("a draining node is ready: %v", err)
		}
		s, _ = a.Nodes(ctx, admin)
		if !s.Nodes[1].Draining {
			t.Errorf("node b not shown draining: %+v", s.Nodes[1])
		}
		if err := b.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		s, _ = a.Nodes(ctx, admin)
		if len(s.Nodes) != 1 {
			t.Fatalf("after b stopped: %+v", s.Nodes)
		}
	})
}
