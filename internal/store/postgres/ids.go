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
// Ids are unique across processes (each block belongs to one process); a
// process that stops leaves the rest of its block unused, as a
// rolled-back nextval always did.
type recordIDs struct {
	mu        sync.Mutex
	next, end int64 // [next, end) is free
}

// assignIDs sets the ids of b's records: from the block in hand, and for
// the rest from blocks reserved in one round trip made outside the lock,
// so that a huge batch reserving many blocks does not hold up the small
// batches of other pipelines (it once made them wait for ten nextval
// round trips in a row).
func (s *Store) assignIDs(ctx context.Context, b *store.Batch) error {
	a := &s.ids
	a.mu.Lock()
	n := int(min(int64(len(b.Records)), a.end-a.next))
	for i := range n {
		b.Records[i].ID = a.next + int64(i)
	}
	a.next += int64(n)
	a.mu.Unlock()

	rest := b.Records[n:]
	if len(rest) == 0 {
		return nil
	}
	blocks := (len(rest) + idBlock - 1) / idBlock
	rows, err := s.pool.Query(ctx, `SELECT nextval('records_id_seq') FROM generate_series(1, $1)`, blocks)
	if err != nil {
		return fmt.Errorf("allocate record ids: %w", err)
	}
	var start, used int64
	i := 0
	for rows.Next() {
		if err := rows.Scan(&start); err != nil {
			rows.Close()
			return fmt.Errorf("allocate record ids: %w", err)
		}
		for used = 0; used < idBlock && i < len(rest); used++ {
			rest[i].ID = start + used
			i++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("allocate record ids: %w", err)
	}
	if i < len(rest) {
		return fmt.Errorf("allocate record ids: %d blocks asked for, fewer returned", blocks)
	}
	// What is left of the last block becomes the block in hand, unless
	// another batch reserved one meanwhile (then it is left unused).
	a.mu.Lock()
	if a.next == a.end {
		a.next, a.end = start+used, start+idBlock
	}
	a.mu.Unlock()
	return nil
}
