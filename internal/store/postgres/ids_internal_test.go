package postgres

import (
	"context"
	"sync"
	"testing"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pgtest"
	"github.com/tributary-dev/tributary/internal/store"
)

// Batches of every size, concurrently, get distinct ids; a batch larger
// than the block in hand reserves its blocks in one round trip and leaves
// the rest of its last block to the next batch.
func TestAssignIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, pgtest.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	batch := func(n int) *store.Batch { return &store.Batch{Records: make([]core.Record, n)} }

	first := batch(3)
	if err := s.assignIDs(ctx, first); err != nil {
		t.Fatal(err)
	}
	big := batch(3*idBlock + 5) // the rest of the block in hand, then blocks
	if err := s.assignIDs(ctx, big); err != nil {
		t.Fatal(err)
	}
	next := batch(1)
	if err := s.assignIDs(ctx, next); err != nil {
		t.Fatal(err)
	}
	last := big.Records[len(big.Records)-1].ID
	if got := next.Records[0].ID; got != last+1 {
		t.Fatalf("the batch after a big one got id %d, want %d (the rest of the big one's last block)", got, last+1)
	}

	seen := map[int64]bool{}
	var mu sync.Mutex
	check := func(b *store.Batch) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range b.Records {
			if r.ID == 0 || seen[r.ID] {
				t.Errorf("id %d given twice (or not at all)", r.ID)
			}
			seen[r.ID] = true
		}
	}
	check(first)
	check(big)
	check(next)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			b := batch([]int{1, 7, idBlock, 2*idBlock + 1}[i%4])
			if err := s.assignIDs(ctx, b); err != nil {
				t.Error(err)
				return
			}
			check(b)
		})
	}
	wg.Wait()
}
