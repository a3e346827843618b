package engine_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// TestClusterHooks checks what a cluster node needs from the engine: the
// published message names the team, LoadPointer rebuilds the batch a
// pointer stands for from the store (and only for the right team), and
// CacheObserver fills and drops the recent-records cache.
func TestClusterHooks(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, options{})
		ctx := context.Background()
		if _, err := b.submit(ctx, t, record(1), record(2), record(3)); err != nil {
			t.Fatal(err)
		}
		var msg pubsub.Message
		select {
		case msg = <-b.sub.C():
		default:
			t.Fatal("nothing published")
		}
		if msg.Team != b.team {
			t.Fatalf("published Team = %v, want %v", msg.Team, b.team)
		}
		var pb pubsub.Batch
		if err := json.Unmarshal(msg.Payload, &pb); err != nil {
			t.Fatal(err)
		}
		els := elements(t, pb)
		p := pubsub.Pointer{Team: b.team, Pipeline: b.p.ID, Version: pb.Version, Count: len(els), Rejected: pb.Rejected,
			From: els[0].TS, To: els[0].TS}
		for _, e := range els {
			if e.TS.Before(p.From) {
				p.From = e.TS
			}
			if e.TS.After(p.To) {
				p.To = e.TS
			}
			if n := len(p.IDs); n > 0 && p.IDs[n-1][1]+1 == e.ID {
				p.IDs[n-1][1] = e.ID
			} else {
				p.IDs = append(p.IDs, [2]int64{e.ID, e.ID})
			}
		}
		load := engine.LoadPointer(st)
		got, err := load(ctx, p)
		if err != nil {
			t.Fatalf("LoadPointer: %v", err)
		}
		var lb pubsub.Batch
		if err := json.Unmarshal(got, &lb); err != nil {
			t.Fatalf("loaded batch %s: %v", got, err)
		}
		lels := elements(t, lb)
		if lb.Pipeline != pb.Pipeline || lb.Version != pb.Version || lb.Count != pb.Count || len(lels) != len(els) {
			t.Fatalf("loaded %s\npublished %s", got, msg.Payload)
		}
		for i := range els {
			if lels[i].ID != els[i].ID || !lels[i].TS.Equal(els[i].TS) {
				t.Fatalf("record %d: loaded %+v, published %+v", i, lels[i], els[i])
			}
			sameJSON(t, lels[i].Data, els[i].Data)
		}
		other := p
		other.Team = uuid.New()
		if _, err := load(ctx, other); err == nil {
			t.Fatal("LoadPointer read another team's records")
		}
		if _, err := load(ctx, pubsub.Pointer{Pipeline: b.p.ID, Count: 1, IDs: p.IDs}); err == nil {
			t.Fatal("LoadPointer without a team did not fail")
		}

		c, err := cache.New(cache.Config{})
		if err != nil {
			t.Fatal(err)
		}
		observe, reset := engine.CacheObserver(c)
		observe(msg)
		// The other node's cache holds what the publishing node's holds.
		want := cacheIDs(b.cache.Recent(b.p.ID, 0))
		if got := cacheIDs(c.Recent(b.p.ID, 0)); len(want) != 3 || !slices.Equal(got, want) {
			t.Fatalf("cache after Observe = %v, publisher's cache %v", got, want)
		}
		observe(pubsub.Message{Topic: pubsub.PipelineTopic(b.p.ID), Kind: pubsub.KindLagged, Dropped: 1})
		if c.Len(b.p.ID) != 0 {
			t.Fatal("a lag marker did not drop the pipeline's cache")
		}
		observe(msg)
		reset()
		if c.Len(b.p.ID) != 0 {
			t.Fatal("reset did not drop the cache")
		}
	})
}
