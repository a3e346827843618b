package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/store"
)

func init() {
	extra["Nodes"] = testNodes
	extra["NodesLeader"] = testNodesLeader
}

func testNodes(t *testing.T, s store.Store) {
	c := ctx(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	lag := 0.25
	a := store.Node{ID: "node-a", Version: "v1", Address: "10.0.0.1:8080", StartedAt: now.Add(-time.Minute), HeartbeatAt: now,
		Load: store.NodeLoad{Requests: 3, Streams: 1, Goroutines: 40, HeapBytes: 1 << 20,
			Replicas: []store.NodeReplica{{Name: "10.0.0.9:5432", LagSeconds: &lag, Serving: true}, {Name: "10.0.0.10:5432"}}}}
	b := store.Node{ID: "node-b", Version: "v1", Address: "10.0.0.2:8080", StartedAt: now, HeartbeatAt: now}
	stale := store.Node{ID: "node-c", Version: "v0", Address: "10.0.0.3:8080", StartedAt: now.Add(-time.Hour), HeartbeatAt: now.Add(-10 * time.Minute)}
	for _, n := range []store.Node{a, b, stale} {
		if err := s.BeatNode(c, n); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ListNodes(c, now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "node-a" || got[1].ID != "node-b" {
		t.Fatalf("alive nodes = %+v, want a then b", got)
	}
	if g := got[0]; !reflect.DeepEqual(g.Load, a.Load) || !g.StartedAt.Equal(a.StartedAt) || !g.HeartbeatAt.Equal(now) || g.Address != a.Address || g.Leader || g.Draining {
		t.Fatalf("node a = %+v, want %+v", g, a)
	}

	// A heartbeat renews everything but the start time.
	a2 := a
	a2.StartedAt, a2.HeartbeatAt, a2.Draining, a2.Load = now.Add(time.Hour), now.Add(time.Second), true, store.NodeLoad{Requests: 1}
	if err := s.BeatNode(c, a2); err != nil {
		t.Fatal(err)
	}
	got, err = s.ListNodes(c, now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if g := got[0]; g.ID != "node-a" || !g.StartedAt.Equal(a.StartedAt) || !g.HeartbeatAt.Equal(a2.HeartbeatAt) || !g.Draining || g.Load.Requests != 1 {
		t.Fatalf("after heartbeat node a = %+v", g)
	}

	// Stale nodes expire; a stopped node leaves.
	if n, err := s.DeleteStaleNodes(c, now.Add(-time.Minute)); err != nil || n != 1 {
		t.Fatalf("DeleteStaleNodes = %d, %v; want 1", n, err)
	}
	if err := s.DeleteNode(c, "node-b"); err != nil {
		t.Fatal(err)
	}
	got, err = s.ListNodes(c, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "node-a" {
		t.Fatalf("nodes left = %+v, want only a", got)
	}
}

// testNodesLeader: the node whose id is the River client's id is marked
// leader once River elects it.
func testNodesLeader(t *testing.T, s store.Store) {
	c := ctx(t)
	now := time.Now().UTC()
	for _, id := range []string{"leader-node", "other-node"} {
		if err := s.BeatNode(c, store.Node{ID: id, Version: "v1", Address: "x", StartedAt: now, HeartbeatAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &pingWorker{done: make(chan int, 1)})
	client, err := s.NewJobClient(&river.Config{
		ID:      "leader-node",
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}},
		Workers: workers, TestOnly: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Stop(context.Background()) })
	for {
		got, err := s.ListNodes(c, now.Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 2 && got[0].Leader != got[1].Leader {
			for _, n := range got {
				if n.Leader != (n.ID == "leader-node") {
					t.Fatalf("leader marked on %+v", got)
				}
			}
			return
		}
		select {
		case <-c.Done():
			t.Fatalf("River's leader never shown: %+v", got)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
