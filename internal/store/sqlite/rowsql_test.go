package sqlite

import (
	"fmt"
	"sync"
	"testing"
)

// A statement's text is built once per number of rows, also when many
// batches ask at once.
func TestRowsSQLBuildsOnce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	built := map[int]int{}
	r := rowsSQL{build: func(n int) string {
		mu.Lock()
		built[n]++
		mu.Unlock()
		return fmt.Sprint("rows ", n)
	}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for n := 1; n <= 50; n++ {
				if got := r.of(n); got != fmt.Sprint("rows ", n) {
					t.Errorf("of(%d) = %q", n, got)
				}
			}
		})
	}
	wg.Wait()
	for n := 1; n <= 50; n++ {
		if got := r.of(n); got != fmt.Sprint("rows ", n) {
			t.Errorf("of(%d) = %q", n, got)
		}
	}
	// LoadOrStore may build a text twice when two callers race for it,
	// but never again once it is stored.
	before := fmt.Sprint(built)
	for n := 1; n <= 50; n++ {
		r.of(n)
	}
	if after := fmt.Sprint(built); after != before {
		t.Errorf("texts built again: %s, then %s", before, after)
	}
}
