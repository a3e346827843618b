package signature

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// ReplayGuard remembers the ids of accepted messages for as long as a
// replay of them could still pass the timestamp check. The in-memory
// MemoryGuard serves one node; a store-backed guard shares the ids across
// a cluster.
type ReplayGuard interface {
	// Seen reports whether key was recorded before and has not expired. If
	// it was not, Seen records it until expires. Of concurrent calls with
	// one key, exactly one may report false. now is the caller's clock, so
	// that expiry is decided on the same time as the timestamp check.
	Seen(ctx context.Context, key string, now, expires time.Time) (bool, error)
	// Forget removes key, so that a message whose processing failed can be
	// retried with the same id.
	Forget(ctx context.Context, key string) error
}

// DefaultMemoryGuardSize is the capacity of a MemoryGuard created with a
// size of zero or less.
const DefaultMemoryGuardSize = 100_000

// MemoryGuard is an in-memory ReplayGuard bounded in two ways: entries
// expire when the message they stand for would fail the timestamp check,
// and at most size entries are kept — when full, the entry closest to
// expiring is evicted first, so under a flood of distinct valid messages
// the oldest ids lose their protection before the newest. It is safe for
// concurrent use.
type MemoryGuard struct {
	mu      sync.Mutex
	size    int
	gen     uint64 // numbers recordings, so a stale queue item never removes a newer one
	entries map[string]guardEntry
	queue   expiryHeap // may hold stale items for re-recorded or forgotten keys
}

type guardEntry struct {
	expires time.Time
	gen     uint64
}

var _ ReplayGuard = (*MemoryGuard)(nil)

// NewMemoryGuard returns a MemoryGuard holding at most size ids.
func NewMemoryGuard(size int) *MemoryGuard {
	if size <= 0 {
		size = DefaultMemoryGuardSize
	}
	return &MemoryGuard{size: size, entries: make(map[string]guardEntry)}
}

// Seen implements ReplayGuard. It never returns an error.
func (g *MemoryGuard) Seen(_ context.Context, key string, now, expires time.Time) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.expire(now)
	if e, ok := g.entries[key]; ok && !now.After(e.expires) {
		return true, nil
	}
	for len(g.queue) >= g.size {
		g.pop()
	}
	g.gen++
	g.entries[key] = guardEntry{expires: expires, gen: g.gen}
	heap.Push(&g.queue, expiryItem{key: key, expires: expires, gen: g.gen})
	return false, nil
}

// Forget implements ReplayGuard. It never returns an error.
func (g *MemoryGuard) Forget(_ context.Context, key string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.entries, key) // its queue item goes stale and is dropped when popped
	return nil
}

// Len returns the number of ids held, including expired ones not yet
// dropped.
func (g *MemoryGuard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.entries)
}

// expire drops every entry that expired before now.
func (g *MemoryGuard) expire(now time.Time) {
	for len(g.queue) > 0 && now.After(g.queue[0].expires) {
		g.pop()
	}
}

// pop removes the queue item closest to expiry, and its map entry unless
// the key was recorded again since.
func (g *MemoryGuard) pop() {
	it := heap.Pop(&g.queue).(expiryItem)
	if e, ok := g.entries[it.key]; ok && e.gen == it.gen {
		delete(g.entries, it.key)
	}
}

type expiryItem struct {
	key     string
	expires time.Time
	gen     uint64
}

// expiryHeap is a min-heap of items by expiry time.
type expiryHeap []expiryItem

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiryItem)) }
func (h *expiryHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = expiryItem{}
	*h = old[:len(old)-1]
	return it
}
