package cache_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/redistest"
)

// node is one process's view of a shared cache.
func redisNode(t *testing.T, url string, size int) *cache.Redis {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { rdb.Close() })
	local, err := cache.New(cache.Config{Size: size})
	if err != nil {
		t.Fatal(err)
	}
	c := cache.NewRedis(cache.RedisConfig{Prefix: "t:", OpTimeout: time.Second, ProbeInterval: 20 * time.Millisecond}, rdb, local)
	t.Cleanup(c.Close)
	return c
}

func entry(id int64, ts time.Time) cache.Entry {
	return cache.Entry{ID: id, TS: ts, Data: json.RawMessage(fmt.Sprintf(`{"id":%d}`, id))}
}

func ids(es []cache.Entry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

// TestRedisShared: what one node adds, trims or forgets, every node
// answers, with Memory's meaning of Range's coverage (the tests in
// cache_test.go check that meaning on Memory and Redis alike).
func TestRedisShared(t *testing.T) {
	srv := redistest.Start(t)
	a, b := redisNode(t, srv.URL(), 10), redisNode(t, srv.URL(), 10)
	p := uuid.New()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	if a.Has(p) || len(b.Recent(p, 0)) != 0 {
		t.Fatal("a new pipeline is cached")
	}
	// Node A adds 15 records in 5 batches; B sees the newest 10.
	for i := range 5 {
		var batch []cache.Entry
		for j := range 3 {
			id := int64(i*3 + j + 1)
			batch = append(batch, entry(id, base.Add(time.Duration(id)*time.Second)))
		}
		a.Add(p, batch...)
	}
	if got := ids(b.Recent(p, 0)); !slices.Equal(got, []int64{15, 14, 13, 12, 11, 10, 9, 8, 7, 6}) {
		t.Fatalf("B's recent = %v", got)
	}
	if got := ids(b.Recent(p, 3)); !slices.Equal(got, []int64{15, 14, 13}) {
		t.Fatalf("B's recent 3 = %v", got)
	}
	if n := b.Len(p); n != 10 {
		t.Fatalf("B's len = %d", n)
	}
	e := b.Recent(p, 1)[0]
	if !e.TS.Equal(base.Add(15*time.Second)) || string(e.Data) != `{"id":15}` {
		t.Fatalf("entry = %+v", e)
	}
	// Not warmed: Range never claims coverage.
	if _, covered := b.Range(p, time.Time{}, time.Time{}, 5); covered {
		t.Fatal("covered before warm")
	}

	// B warms from "the store" (the newest 10, complete=false): now every
	// node may answer a page of the newest 5 from the cache, but not one
	// reaching below what was evicted.
	var stored []cache.Entry
	for id := int64(6); id <= 15; id++ {
		stored = append(stored, entry(id, base.Add(time.Duration(id)*time.Second)))
	}
	b.Warm(p, stored, false)
	if !a.Has(p) {
		t.Fatal("A does not see B's warm")
	}
	got, covered := a.Range(p, time.Time{}, time.Time{}, 5)
	if !covered || !slices.Equal(ids(got), []int64{15, 14, 13, 12, 11}) {
		t.Fatalf("A's range = %v covered %v", ids(got), covered)
	}
	if _, covered := a.Range(p, time.Time{}, time.Time{}, 50); covered {
		t.Fatal("a page reaching below the evicted records is covered")
	}
	got, covered = a.Range(p, base.Add(12*time.Second), base.Add(14*time.Second), 0)
	if !covered || !slices.Equal(ids(got), []int64{13, 12}) {
		t.Fatalf("A's range [12s,14s) = %v covered %v", ids(got), covered)
	}

	// A backfill of older records on B does not displace the newest on A,
	// and a retention trim on A holds for B.
	b.Add(p, entry(100, base.Add(-time.Hour)), entry(101, base.Add(-time.Minute)))
	if got := ids(a.Recent(p, 0)); !slices.Equal(got, []int64{15, 14, 13, 12, 11, 10, 9, 8, 7, 6}) {
		t.Fatalf("A's recent after B's backfill = %v", got)
	}
	a.Trim(p, base.Add(13*time.Second))
	if got := ids(b.Recent(p, 0)); !slices.Equal(got, []int64{15, 14, 13}) {
		t.Fatalf("B's recent after A's trim = %v", got)
	}
	if _, covered := b.Range(p, base.Add(12*time.Second), time.Time{}, 0); covered {
		t.Fatal("a range reaching below the trim is covered")
	}
	if got, covered := b.Range(p, base.Add(14*time.Second), time.Time{}, 0); !covered || !slices.Equal(ids(got), []int64{15, 14}) {
		t.Fatalf("B's range from 14s = %v covered %v", ids(got), covered)
	}

	// Forget drops it for everyone.
	a.Forget(p)
	if b.Has(p) || b.Len(p) != 0 {
		t.Fatal("B still has a forgotten pipeline")
	}
}

// TestRedisDown: without Redis a node answers from its own cache, and
// once Redis is back it reads Redis again, with the pipelines it appended
// to meanwhile cold so they refill from the store.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	a := redisNode(t, srv.URL(), 10)
	p := uuid.New()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.Warm(p, []cache.Entry{entry(1, base)}, true)
	a.Add(p, entry(2, base.Add(time.Second)))

	srv.Kill()
	a.Add(p, entry(3, base.Add(2*time.Second)))
	if !a.Degraded() {
		t.Fatal("not degraded after a failed add")
	}
	if got := ids(a.Recent(p, 0)); !slices.Equal(got, []int64{3, 2, 1}) {
		t.Fatalf("local recent = %v", got)
	}
	if got, covered := a.Range(p, time.Time{}, time.Time{}, 0); !covered || len(got) != 3 {
		t.Fatalf("local range = %v covered %v", ids(got), covered)
	}

	srv.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for a.Degraded() {
		if time.Now().After(deadline) {
			t.Fatal("still degraded after Redis came back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The pipeline appended to while Redis was away is cold: the engine
	// warms it from the store again.
	if a.Has(p) {
		t.Fatal("a pipeline appended to during the outage is still warm")
	}
	a.Warm(p, []cache.Entry{entry(1, base), entry(2, base.Add(time.Second)), entry(3, base.Add(2*time.Second))}, true)
	a.Add(p, entry(4, base.Add(3*time.Second)))
	if got := ids(a.Recent(p, 0)); !slices.Equal(got, []int64{4, 3, 2, 1}) {
		t.Fatalf("recent after recovery = %v", got)
	}
}
