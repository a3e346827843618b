package engine_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/jobs"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// keepForever returns spec with a retention of "forever", for tests whose
// records have fixed event times in the past.
func keepForever(spec string) string {
	return strings.Replace(spec, `{"name":`, `{"retention":"forever","name":`, 1)
}

// recordAt is a weather input with event time ts.
func recordAt(ts time.Time, n int) string {
	return `{"at":"` + ts.UTC().Format(time.RFC3339Nano) + `","t":` + strconv.Itoa(n%60) + `,"s":"st-` + strconv.Itoa(n) + `"}`
}

// Defect 10: after retention deleted records, neither the records query
// nor a stream's "recent" event (both read the cache) may show them, on
// the node that ran retention or on any other.
func TestRecentCacheFollowsRetention(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		b := setup(t, st, options{spec: strings.Replace(weatherSpec, `{"name":`, `{"retention":"7d","name":`, 1)})
		now := time.Now()
		var docs []string
		for i := range 5 {
			docs = append(docs, recordAt(now.Add(-30*24*time.Hour-time.Duration(i)*time.Minute), i)) // expired
			docs = append(docs, recordAt(now.Add(-time.Hour-time.Duration(i)*time.Minute), 100+i))   // kept
		}
		if _, err := b.submit(ctx, t, docs...); err != nil {
			t.Fatal(err)
		}
		if b.cache.Len(b.p.ID) != 10 {
			t.Fatalf("%d cached before retention", b.cache.Len(b.p.ID))
		}
		// The retention job deletes the expired ones and tells the
		// engine, which trims its cache and tells the other nodes.
		others, err := b.broker.Subscribe(ctx, engine.CacheTopic, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer others.Close()
		w := &jobs.RetentionWorker{Store: st, Log: slog.New(slog.DiscardHandler), Compiler: compiler, Applied: b.eng.RetentionApplied}
		if err := w.Work(ctx, &river.Job[jobs.RetentionArgs]{}); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-others.C():
			if m.Kind != pubsub.KindControl {
				t.Errorf("message of kind %s on the cache topic", m.Kind)
			}
		default:
			t.Error("the other nodes were not told that retention deleted records")
		}
		stored := ids(b.records(t))
		if len(stored) != 5 {
			t.Fatalf("%d records stored after retention, want 5", len(stored))
		}
		if err := b.eng.Warm(ctx, b.p); err != nil {
			t.Fatal(err)
		}
		if got := cacheIDs(b.cache.Recent(b.p.ID, 0)); !slices.Equal(got, stored) {
			t.Errorf("recent after retention %v, stored %v", got, stored)
		}
		// A records query the cache claims to answer matches the store.
		if got, covered := b.cache.Range(b.p.ID, time.Time{}, time.Time{}, 3); covered && !slices.Equal(cacheIDs(got), stored[:3]) {
			t.Errorf("cache answered %v, store has %v", cacheIDs(got), stored[:3])
		}
		if got, covered := b.cache.Range(b.p.ID, time.Time{}, time.Time{}, 50); covered && !slices.Equal(cacheIDs(got), stored) {
			t.Errorf("cache answered %v, store has %v", cacheIDs(got), stored)
		}
		// Deleting the pipeline drops its cached records.
		b.eng.Forget(b.p.ID)
		if n := b.cache.Len(b.p.ID); n != 0 {
			t.Errorf("%d records cached after the pipeline was forgotten", n)
		}
	})
}

// Defect 10: a backfill of older records, committed after the live ones,
// leaves the newest records by event time in "recent", and a restarted
// node warmed from the store shows the same.
func TestRecentCacheHoldsNewestByEventTime(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		b := setup(t, st, options{spec: keepForever(weatherSpec)})
		now := time.Now().Truncate(time.Second)
		var live []string
		for i := range 10 {
			live = append(live, recordAt(now.Add(-time.Duration(i)*time.Second), 1000+i))
		}
		if _, err := b.submit(ctx, t, live...); err != nil {
			t.Fatal(err)
		}
		backfill := make([]string, 0, 3*cache.DefaultSize)
		for i := range 3 * cache.DefaultSize {
			backfill = append(backfill, recordAt(now.Add(-24*time.Hour-time.Duration(i)*time.Second), i))
		}
		if _, err := b.submit(ctx, t, backfill...); err != nil {
			t.Fatal(err)
		}
		want := ids(b.records(t))[:cache.DefaultSize] // the store's newest by event time
		if err := b.eng.Warm(ctx, b.p); err != nil {
			t.Fatal(err)
		}
		if got := cacheIDs(b.cache.Recent(b.p.ID, 0)); !slices.Equal(got, want) {
			t.Errorf("recent after a backfill\n got %v\nwant %v", got, want)
		}
		fresh, err := cache.New(cache.Config{})
		if err != nil {
			t.Fatal(err)
		}
		eng, err := engine.New(engine.Config{Compiler: compiler}, st, fresh, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close(ctx)
		if err := eng.Warm(ctx, b.p); err != nil {
			t.Fatal(err)
		}
		if got := cacheIDs(fresh.Recent(b.p.ID, 0)); !slices.Equal(got, want) {
			t.Errorf("recent of a restarted node\n got %v\nwant %v", got, want)
		}
	})
}

// A pipeline deleted on another node drops its records from this node's
// cache when the "deleted" control event arrives.
func TestCacheObserverForgetsDeletedPipelines(t *testing.T) {
	t.Parallel()
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	observe, _ := engine.CacheObserver(c)
	p, other := uuid.New(), uuid.New()
	c.Add(p, cache.Entry{ID: 1, TS: time.Now()})
	c.Add(other, cache.Entry{ID: 2, TS: time.Now()})
	updated, _ := json.Marshal(map[string]any{"event": "updated", "pipeline": p})
	observe(pubsub.Message{Topic: pubsub.PipelineTopic(p), Kind: pubsub.KindControl, Payload: updated})
	if c.Len(p) != 1 {
		t.Fatal("an update dropped the cached records")
	}
	deleted, _ := json.Marshal(map[string]any{"event": "deleted", "pipeline": p})
	observe(pubsub.Message{Topic: pubsub.PipelineTopic(p), Kind: pubsub.KindControl, Payload: deleted})
	if c.Len(p) != 0 || c.Len(other) != 1 {
		t.Fatalf("after a deletion: %d cached for the pipeline, %d for another", c.Len(p), c.Len(other))
	}
	// Retention deleted records on another node: everything refills.
	observe(pubsub.Message{Topic: engine.CacheTopic, Kind: pubsub.KindControl, Payload: []byte(`{"event":"retention"}`)})
	if c.Len(other) != 0 {
		t.Fatal("a retention run on another node left the cache as it was")
	}
}
