package cache_test

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/cache"
)

// The records query answers from the cache when it can and falls back to
// the store when the cache cannot vouch for the range.
func Example() {
	c, err := cache.New(cache.Config{}) // 100 records per pipeline
	if err != nil {
		panic(err)
	}
	pipeline := uuid.MustParse("0194f1d2-0000-7000-8000-000000000001")
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

	// On the first query since start, rebuild the ring from the store:
	// here the store returned 2 records, fewer than asked for, so it has
	// no others.
	if !c.Has(pipeline) {
		c.Warm(pipeline, []cache.Entry{
			{ID: 2, TS: t0.Add(time.Second), Data: []byte(`{"v":2}`)},
			{ID: 1, TS: t0, Data: []byte(`{"v":1}`)},
		}, true)
	}
	// The engine adds each committed batch.
	c.Add(pipeline, cache.Entry{ID: 3, TS: t0.Add(2 * time.Second), Data: []byte(`{"v":3}`)})

	recent, covered := c.Range(pipeline, t0, time.Time{}, 2)
	for _, e := range recent {
		fmt.Println(e.ID, string(e.Data))
	}
	fmt.Println("answered from the cache:", covered)
	// Output:
	// 3 {"v":3}
	// 2 {"v":2}
	// answered from the cache: true
}
