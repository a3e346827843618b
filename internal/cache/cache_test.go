package cache

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tributary-dev/tributary/internal/redistest"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// entry returns a persisted entry with id n at t0+n seconds.
func entry(n int) Entry {
	return Entry{ID: int64(n), TS: t0.Add(time.Duration(n) * time.Second), Data: []byte(strconv.Itoa(n))}
}

func entries(from, to int) []Entry {
	var out []Entry
	for n := from; n <= to; n++ {
		out = append(out, entry(n))
	}
	return out
}

func ids(es []Entry) []int64 {
	out := make([]int64, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func newMemory(t testing.TB, size int) *Memory {
	t.Helper()
	c, err := New(Config{Size: size})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// conformer is what Memory and Redis both offer: the tests of the
// cache's semantics run on both (forEachCache).
type conformer interface {
	Size() int
	Add(pipeline uuid.UUID, entries ...Entry)
	Warm(pipeline uuid.UUID, entries []Entry, complete bool)
	Trim(pipeline uuid.UUID, before time.Time)
	Forget(pipeline uuid.UUID)
	Has(pipeline uuid.UUID) bool
	Recent(pipeline uuid.UUID, limit int) []Entry
	Range(pipeline uuid.UUID, from, to time.Time, limit int) ([]Entry, bool)
	Len(pipeline uuid.UUID) int
}

var (
	_ conformer = (*Memory)(nil)
	_ conformer = (*Redis)(nil)
)

// forEachCache runs test on Memory and on Redis (over a redis-server of
// its own; skipped when none is installed, failed under CI), each given
// the constructor of a cache of a size.
func forEachCache(t *testing.T, test func(t *testing.T, newCache func(testing.TB, int) conformer)) {
	t.Parallel()
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		test(t, func(t testing.TB, size int) conformer { return newMemory(t, size) })
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		srv := redistest.Start(t)
		test(t, func(t testing.TB, size int) conformer { return newRedis(t, srv.URL(), size) })
	})
}

// newRedis returns a Redis cache of size over the server at url; the test
// fails if the cache fell back to its local copy, which would hide what
// Redis answers.
func newRedis(t testing.TB, url string, size int) *Redis {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	c := NewRedis(RedisConfig{OpTimeout: 5 * time.Second}, rdb, newMemory(t, size))
	t.Cleanup(func() {
		if c.Degraded() {
			t.Error("the Redis cache fell back to its local copy")
		}
		c.Close()
		rdb.Close()
	})
	return c
}

func TestAddRecent(t *testing.T) {
	forEachCache(t, func(t *testing.T, newCache func(testing.TB, int) conformer) {
		c := newCache(t, 5)
		p := uuid.New()
		if got := c.Recent(p, 10); got != nil || c.Len(p) != 0 {
			t.Fatalf("unknown pipeline: %v, Len %d", got, c.Len(p))
		}
		c.Add(p, entries(1, 3)...)
		if got := ids(c.Recent(p, 0)); !slices.Equal(got, []int64{3, 2, 1}) {
			t.Fatalf("Recent = %v", got)
		}
		before := c.Recent(p, 2)
		c.Add(p, entries(4, 8)...) // wraps: keeps 4..8
		if got := ids(before); !slices.Equal(got, []int64{3, 2}) {
			t.Fatalf("an earlier result changed after Add: %v", got)
		}
		if got := ids(c.Recent(p, 0)); !slices.Equal(got, []int64{8, 7, 6, 5, 4}) {
			t.Fatalf("Recent after wrap = %v", got)
		}
		if got := ids(c.Recent(p, 3)); !slices.Equal(got, []int64{8, 7, 6}) {
			t.Fatalf("Recent(3) = %v", got)
		}
		c.Add(p, entries(9, 30)...) // a batch larger than the ring
		if got := ids(c.Recent(p, 0)); !slices.Equal(got, []int64{30, 29, 28, 27, 26}) || c.Len(p) != 5 {
			t.Fatalf("after a large batch: %v (Len %d)", got, c.Len(p))
		}
		c.Add(p) // nothing
		got := c.Recent(p, 1)
		got[0].ID = 999
		if c.Recent(p, 1)[0].ID != 30 {
			t.Fatal("modifying a result changed the cache")
		}
		other := uuid.New()
		c.Add(other, entry(100))
		c.Forget(p)
		if c.Len(p) != 0 || c.Recent(p, 0) != nil || c.Len(other) != 1 {
			t.Fatal("Forget dropped the wrong ring")
		}
	})
}

// TestBackfillKeepsNewest: a backfill of older records, added after the
// live ones, neither displaces them from Recent nor shows among them.
func TestBackfillKeepsNewest(t *testing.T) {
	forEachCache(t, func(t *testing.T, newCache func(testing.TB, int) conformer) {
		c := newCache(t, 5)
		p := uuid.New()
		c.Add(p, entries(100, 104)...)
		c.Add(p, entries(1, 50)...) // a historic upload
		if got := ids(c.Recent(p, 0)); !slices.Equal(got, []int64{104, 103, 102, 101, 100}) {
			t.Fatalf("Recent after a backfill = %v", got)
		}
		// Out-of-order arrivals within the kept range take their place.
		c.Add(p, entry(102), Entry{ID: 200, TS: entry(101).TS.Add(time.Millisecond)})
		if got := ids(c.Recent(p, 0)); !slices.Equal(got, []int64{104, 103, 102, 102, 200}) {
			t.Fatalf("Recent after out-of-order arrivals = %v", got)
		}
		if got := ids(c.Recent(p, 2)); !slices.Equal(got, []int64{104, 103}) {
			t.Fatalf("Recent(2) = %v", got)
		}
	})
}

// TestTrim: entries older than a retention cutoff go, newer ones stay.
func TestTrim(t *testing.T) {
	forEachCache(t, func(t *testing.T, newCache func(testing.TB, int) conformer) {
		c := newCache(t, 10)
		p := uuid.New()
		c.Trim(p, t0) // an unknown pipeline: nothing happens
		c.Add(p, entries(1, 10)...)
		c.Trim(p, entry(1).TS) // nothing older
		if c.Len(p) != 10 {
			t.Fatalf("Len = %d after a trim with nothing to drop", c.Len(p))
		}
		c.Trim(p, entry(7).TS)
		if got := ids(c.Recent(p, 0)); !slices.Equal(got, []int64{10, 9, 8, 7}) {
			t.Fatalf("Recent after Trim = %v", got)
		}
		c.Trim(p, entry(100).TS)
		if c.Len(p) != 0 {
			t.Fatalf("Len = %d after trimming everything", c.Len(p))
		}
	})
}

func TestDefaultsAndValidation(t *testing.T) {
	t.Parallel()
	if c := newMemory(t, 0); c.Size() != DefaultSize {
		t.Fatalf("Size = %d, want %d", c.Size(), DefaultSize)
	}
	if _, err := New(Config{Size: -1}); err == nil {
		t.Fatal("negative size accepted")
	}
}

func TestWarm(t *testing.T) {
	forEachCache(t, func(t *testing.T, newCache func(testing.TB, int) conformer) {
		c := newCache(t, 10)
		p := uuid.New()
		// Batches committed while the loader was reading the store.
		c.Add(p, entries(101, 103)...)
		if c.Has(p) {
			t.Fatal("Has before Warm")
		}
		// The store's newest records, newest first as a query returns them;
		// 101 and 102 were committed before the read, so they are in both.
		loaded := entries(93, 102)
		slices.Reverse(loaded)
		c.Warm(p, loaded, false)
		if !c.Has(p) {
			t.Fatal("not warmed")
		}
		want := []int64{103, 102, 101, 100, 99, 98, 97, 96, 95, 94}
		if got := ids(c.Recent(p, 0)); !slices.Equal(got, want) {
			t.Fatalf("Recent after Warm = %v, want %v", got, want)
		}
		c.Forget(p)
		if c.Has(p) {
			t.Fatal("Has after Forget")
		}
		// Non-persisted entries (id 0) are never merged away.
		c.Add(p, Entry{TS: t0, Data: []byte(`"a"`)})
		c.Warm(p, []Entry{{TS: t0, Data: []byte(`"b"`)}}, true)
		if c.Len(p) != 2 {
			t.Fatalf("Len = %d, want 2", c.Len(p))
		}
	})
}

func TestRange(t *testing.T) {
	forEachCache(t, func(t *testing.T, newCache func(testing.TB, int) conformer) {
		at := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
		type query struct {
			from, to   time.Time
			limit      int
			want       []int64
			wantCovers bool
		}
		for _, tc := range []struct {
			name    string
			prepare func(c conformer, p uuid.UUID)
			queries []query
		}{
			{
				name:    "not warmed: never covers",
				prepare: func(c conformer, p uuid.UUID) { c.Add(p, entries(1, 5)...) },
				queries: []query{
					{limit: 3, want: []int64{5, 4, 3}},
					{from: at(2), to: at(4), want: []int64{3, 2}}, // from inclusive, to exclusive
				},
			},
			{
				name: "complete store: always covers",
				prepare: func(c conformer, p uuid.UUID) {
					c.Warm(p, entries(1, 4), true)
					c.Add(p, entry(5))
				},
				queries: []query{
					{want: []int64{5, 4, 3, 2, 1}, wantCovers: true},
					{from: at(0), to: at(3), want: []int64{2, 1}, wantCovers: true},
					{from: at(50), wantCovers: true},
				},
			},
			{
				name: "partial load: covers above the oldest loaded",
				prepare: func(c conformer, p uuid.UUID) {
					c.Warm(p, entries(11, 20), false) // records 1..10 exist only in the store
				},
				queries: []query{
					{from: at(12), want: ids(reversed(entries(12, 20))), wantCovers: true},
					{from: at(11), want: ids(reversed(entries(11, 20)))}, // ties with 11 may be missing
					{from: at(5), want: ids(reversed(entries(11, 20)))},
					{limit: 5, want: []int64{20, 19, 18, 17, 16}, wantCovers: true},
					{limit: 10, want: ids(reversed(entries(11, 20)))}, // the 10th is at the floor
					{to: at(13), limit: 2, want: []int64{12, 11}},
					{to: at(14), limit: 2, want: []int64{13, 12}, wantCovers: true},
					{limit: 50, want: ids(reversed(entries(11, 20)))},
				},
			},
			{
				name: "eviction raises the floor",
				prepare: func(c conformer, p uuid.UUID) {
					c.Warm(p, nil, true)
					c.Add(p, entries(1, 15)...) // size 10: 1..5 evicted
				},
				queries: []query{
					{from: at(6), want: ids(reversed(entries(6, 15))), wantCovers: true},
					{from: at(5), want: ids(reversed(entries(6, 15)))},
					{limit: 3, want: []int64{15, 14, 13}, wantCovers: true},
				},
			},
			{
				name: "out-of-order event times: the newest by event time stay",
				prepare: func(c conformer, p uuid.UUID) {
					c.Warm(p, nil, true)
					// A historic upload after live records: newest added is oldest in time.
					c.Add(p, entries(50, 55)...)
					c.Add(p, entries(1, 6)...) // size 10: 1 and 2 are not kept, floor at 2
				},
				queries: []query{
					{limit: 4, want: []int64{55, 54, 53, 52}, wantCovers: true},
					{limit: 10, want: []int64{55, 54, 53, 52, 51, 50, 6, 5, 4, 3}, wantCovers: true},
					{limit: 11, want: []int64{55, 54, 53, 52, 51, 50, 6, 5, 4, 3}},
					{from: at(3), want: []int64{55, 54, 53, 52, 51, 50, 6, 5, 4, 3}, wantCovers: true},
					{to: at(10), want: []int64{6, 5, 4, 3}},
				},
			},
			{
				name: "trim follows retention",
				prepare: func(c conformer, p uuid.UUID) {
					c.Warm(p, entries(1, 8), true)
					c.Trim(p, at(4)) // retention: records before 4 go
				},
				queries: []query{
					{want: []int64{8, 7, 6, 5, 4}}, // the store may still hold 1..3
					{from: at(4), want: []int64{8, 7, 6, 5, 4}, wantCovers: true},
					{limit: 3, want: []int64{8, 7, 6}, wantCovers: true},
				},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				c := newCache(t, 10)
				p := uuid.New()
				tc.prepare(c, p)
				for _, q := range tc.queries {
					got, covers := c.Range(p, q.from, q.to, q.limit)
					if !slices.Equal(ids(got), q.want) || covers != q.wantCovers {
						t.Errorf("Range(from %v, to %v, limit %d) = %v, %v; want %v, %v",
							q.from.Sub(t0), q.to.Sub(t0), q.limit, ids(got), covers, q.want, q.wantCovers)
					}
				}
			})
		}
		c := newCache(t, 10)
		if got, covers := c.Range(uuid.New(), time.Time{}, time.Time{}, 0); got != nil || covers {
			t.Fatal("unknown pipeline covered")
		}
	})
}

func reversed(es []Entry) []Entry {
	es = slices.Clone(es)
	slices.Reverse(es)
	return es
}

// TestRangeAgreesWithStore checks the coverage claim against a model of
// the store: whenever Range says it covers a query, its answer must be
// exactly the store's. Batches arrive with event times out of order, the
// ring is rebuilt from the store now and then, and queries are random.
func TestRangeAgreesWithStore(t *testing.T) {
	forEachCache(t, func(t *testing.T, newCache func(testing.TB, int) conformer) {
		rng := rand.New(rand.NewPCG(1, 2))
		var covered, asked int
		for round := range 50 {
			c := newCache(t, 1+rng.IntN(20))
			p := uuid.New()
			var store []Entry
			nextID := int64(1)
			storeQuery := func(from, to time.Time, limit int) []Entry {
				var out []Entry
				for _, e := range store {
					if (from.IsZero() || !e.TS.Before(from)) && (to.IsZero() || e.TS.Before(to)) {
						out = append(out, e)
					}
				}
				slices.SortFunc(out, func(a, b Entry) int { return cmp.Or(b.TS.Compare(a.TS), cmp.Compare(b.ID, a.ID)) })
				if limit > 0 && len(out) > limit {
					out = out[:limit]
				}
				return out
			}
			// Half the rounds look like live data: event times close to the
			// arrival order, and queries about the recent end.
			live := round%2 == 0
			randTime := func() time.Time {
				if live {
					return t0.Add(time.Duration(int(nextID)+rng.IntN(6)-3) * time.Second)
				}
				return t0.Add(time.Duration(rng.IntN(200)) * time.Second)
			}
			if rng.IntN(3) > 0 { // a restart: some history in the store before the process began
				for range rng.IntN(40) {
					store = append(store, Entry{ID: nextID, TS: randTime()})
					nextID++
				}
			}
			for step := range 200 {
				switch op := rng.IntN(10); {
				case op < 5: // a committed batch
					batch := make([]Entry, 1+rng.IntN(8))
					for i := range batch {
						batch[i] = Entry{ID: nextID, TS: randTime()}
						nextID++
					}
					store = append(store, batch...)
					c.Add(p, batch...)
				case op < 6 || !c.Has(p): // the loader rebuilds the ring
					loaded := storeQuery(time.Time{}, time.Time{}, c.Size())
					c.Warm(p, loaded, len(loaded) < c.Size())
				default:
					from, to := randTime(), randTime()
					if rng.IntN(3) == 0 {
						from = time.Time{}
					}
					if rng.IntN(3) == 0 {
						to = time.Time{}
					}
					limit := rng.IntN(25)
					got, covers := c.Range(p, from, to, limit)
					asked++
					if !covers {
						continue
					}
					covered++
					want := storeQuery(from, to, limit)
					if !slices.Equal(ids(got), ids(want)) {
						t.Fatalf("round %d step %d: Range(%v, %v, %d) claims coverage with %v; the store has %v",
							round, step, from.Sub(t0), to.Sub(t0), limit, ids(got), ids(want))
					}
				}
			}
		}
		t.Logf("%d of %d queries answered from the cache", covered, asked)
		if covered == 0 || covered == asked {
			t.Fatalf("%d of %d covered: the test exercises only one branch", covered, asked)
		}
	})
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	c := newMemory(t, 50)
	pipelines := make([]uuid.UUID, 8)
	for i := range pipelines {
		pipelines[i] = uuid.Must(uuid.NewV7())
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				p := pipelines[(w+i)%len(pipelines)]
				switch i % 10 {
				case 0:
					c.Warm(p, entries(i, i+20), false)
				case 1:
					if w == 0 {
						c.Forget(p)
					}
				case 2, 3:
					got := c.Recent(p, 30)
					for j := 1; j < len(got); j++ {
						_ = got[j].Data
					}
				case 4:
					c.Range(p, t0.Add(time.Duration(i)*time.Second), time.Time{}, 10)
				case 5:
					c.Has(p)
					c.Len(p)
				default:
					c.Add(p, entries(i, i+9)...)
				}
			}
		})
	}
	wg.Wait()
	for _, p := range pipelines {
		if n := c.Len(p); n > 50 {
			t.Fatalf("ring holds %d entries, over its size", n)
		}
	}
}

func TestShardsSpread(t *testing.T) {
	t.Parallel()
	c := newMemory(t, 1)
	used := map[*shard]int{}
	for range 1024 {
		used[c.shard(uuid.Must(uuid.NewV7()))]++
	}
	if len(used) != shardCount {
		t.Fatalf("1024 v7 ids used %d of %d shards", len(used), shardCount)
	}
}

func benchBatch(n int) []Entry {
	batch := make([]Entry, n)
	for i := range batch {
		batch[i] = Entry{ID: int64(i), TS: t0.Add(time.Duration(i) * time.Millisecond),
			Data: fmt.Appendf(nil, `{"ts":"2026-01-01T00:00:00Z","temperature_c":%d.5,"station":"10384"}`, i)}
	}
	return batch
}

// BenchmarkAdd measures adding one 100-record batch (per op).
func BenchmarkAdd(b *testing.B) {
	batch := benchBatch(100)
	b.Run("one pipeline", func(b *testing.B) {
		c := newMemory(b, 0)
		p := uuid.New()
		b.ReportAllocs()
		for b.Loop() {
			c.Add(p, batch...)
		}
		b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("1000 pipelines parallel", func(b *testing.B) {
		c := newMemory(b, 0)
		ps := make([]uuid.UUID, 1000)
		for i := range ps {
			ps[i] = uuid.Must(uuid.NewV7())
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(len(ps))
			for pb.Next() {
				c.Add(ps[i%len(ps)], batch...)
				i++
			}
		})
		b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkRecent measures reading a full ring of 100.
func BenchmarkRecent(b *testing.B) {
	c := newMemory(b, 0)
	p := uuid.New()
	c.Add(p, benchBatch(100)...)
	b.ReportAllocs()
	for b.Loop() {
		c.Recent(p, 100)
	}
}

func TestReset(t *testing.T) {
	t.Parallel()
	c := newMemory(t, 5)
	p, q := uuid.New(), uuid.New()
	c.Warm(p, entries(1, 3), true)
	c.Add(q, entries(1, 2)...)
	c.Reset()
	if c.Has(p) || c.Len(p) != 0 || c.Len(q) != 0 {
		t.Fatalf("after Reset: Has %v, Len %d and %d", c.Has(p), c.Len(p), c.Len(q))
	}
	c.Add(p, entry(4))
	if got := ids(c.Recent(p, 0)); !slices.Equal(got, []int64{4}) {
		t.Fatalf("Recent after Reset and Add = %v", got)
	}
}

// TestRedisAnswersAsMemory applies the same random operations — batches
// with event times out of order and repeated ids, warms, retention trims,
// deletions — to a Memory and a Redis cache and requires the same answer
// from both to every read, coverage included.
func TestRedisAnswersAsMemory(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rng := rand.New(rand.NewPCG(3, 4))
	var reads, nonEmpty, covered int
	for round := range 10 {
		size := 1 + rng.IntN(12)
		m, r := newMemory(t, size), newRedis(t, srv.URL(), size)
		p := uuid.New()
		at := func() time.Time { return t0.Add(time.Duration(rng.IntN(100)) * time.Second) }
		randEntries := func() []Entry {
			es := make([]Entry, rng.IntN(2*size+2))
			for i := range es {
				es[i] = Entry{ID: int64(rng.IntN(60)), TS: at(), Data: []byte(strconv.Itoa(rng.IntN(3)))}
			}
			return es
		}
		for step := range 150 {
			switch op := rng.IntN(12); {
			case op < 5:
				es := randEntries()
				m.Add(p, es...)
				r.Add(p, es...)
			case op < 6:
				es, complete := randEntries(), rng.IntN(2) == 0
				m.Warm(p, es, complete)
				r.Warm(p, es, complete)
			case op < 7:
				before := at()
				m.Trim(p, before)
				r.Trim(p, before)
			case op < 8 && rng.IntN(4) == 0:
				m.Forget(p)
				r.Forget(p)
			default:
				from, to, limit := at(), at(), rng.IntN(2*size)
				if rng.IntN(3) == 0 {
					from = time.Time{}
				}
				if rng.IntN(3) == 0 {
					to = time.Time{}
				}
				want, wantCovers := m.Range(p, from, to, limit)
				got, covers := r.Range(p, from, to, limit)
				reads++
				if len(want) > 0 {
					nonEmpty++
				}
				if wantCovers {
					covered++
				}
				if !equalEntries(got, want) || covers != wantCovers {
					t.Fatalf("round %d step %d: Range(%v, %v, %d): Redis %v %v, Memory %v %v",
						round, step, from.Sub(t0), to.Sub(t0), limit, got, covers, want, wantCovers)
				}
				if got, want := r.Recent(p, limit), m.Recent(p, limit); !equalEntries(got, want) {
					t.Fatalf("round %d step %d: Recent(%d): Redis %v, Memory %v", round, step, limit, got, want)
				}
				if r.Has(p) != m.Has(p) || r.Len(p) != m.Len(p) {
					t.Fatalf("round %d step %d: Has %v/%v, Len %d/%d", round, step, r.Has(p), m.Has(p), r.Len(p), m.Len(p))
				}
			}
		}
	}
	t.Logf("%d reads: %d with entries, %d covered", reads, nonEmpty, covered)
	if nonEmpty == 0 || nonEmpty == reads || covered == 0 || covered == reads {
		t.Fatalf("%d reads, %d with entries, %d covered: the test exercises only one branch", reads, nonEmpty, covered)
	}
}

func equalEntries(a, b []Entry) bool {
	return slices.EqualFunc(a, b, func(x, y Entry) bool {
		return x.ID == y.ID && x.TS.Equal(y.TS) && string(x.Data) == string(y.Data)
	})
}

// TestAddOwnsData checks that Add copies the data it keeps out of the
// batch's buffer: a kept record does not keep the whole buffer alive,
// and the buffer's later use does not change the cache.
func TestAddOwnsData(t *testing.T) {
	c, err := New(Config{Size: 2})
	if err != nil {
		t.Fatal(err)
	}
	p := uuid.New()
	batch := []byte("aaaabbbbccccdddd") // four records sharing one buffer
	var es []Entry
	for i := range 4 {
		e := entry(i + 1)
		e.Data = batch[4*i : 4*i+4]
		es = append(es, e)
	}
	c.Add(p, es...)
	for i := range batch {
		batch[i] = 'x'
	}
	got := c.Recent(p, 10)
	if len(got) != 2 || string(got[0].Data) != "dddd" || string(got[1].Data) != "cccc" {
		t.Fatalf("Recent = %+v, want the two newest with their data as added", got)
	}
	for _, e := range got {
		if cap(e.Data) > 8 {
			t.Errorf("entry %d keeps a buffer of %d bytes, want at most the 8 bytes kept", e.ID, cap(e.Data))
		}
	}
}
