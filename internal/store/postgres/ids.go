package postgres

import (
	"context"
	"fmt"
	"sync"

	"github.com/tributary-dev/tributary/internal/store"
)

// idBlock is records_id_seq's increment (migration 0007): each nextval
// reserves this many record ids.
const idBlock = 1024

// recordIDs hands out record ids from blocks reserved with one nextval
// each, so that a batch takes its ids without a statement of its own.
// Ids are unique across processes (each block belongs to one process)
// and increase within one; a process that stops leaves the rest of its
// block unused, as a rolled-back nextval always did.
type recordIDs struct {
	mu        sync.Mutex
	next, end int64 // [next, end) is free
}

// assign sets the ids of b's records, reserving blocks as needed.
func (s *Store) assignIDs(ctx context.Context, b *store.Batch) error {
	a := &s.ids
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range b.Records {
		if a.next == a.end {
			var start int64
			if err := s.pool.QueryRow(ctx, `SELECT nextval('records_id_seq')`).Scan(&start); err != nil {
				return fmt.Errorf("allocate record ids: %w", err)
			}
			a.next, a.end = start, start+idBlock
		}
		b.Records[i].ID = a.next
		a.next++
	}
	return nil
}
