package cache

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
)

// DefaultSize is the number of entries kept per pipeline when Config.Size
// is zero.
const DefaultSize = 100

// shardCount spreads pipelines over this many maps; a power of two.
const shardCount = 64

// Entry is one cached record.
type Entry struct {
	// ID is the record's id in the store, or 0 when it was not persisted.
	ID int64
	// TS is the record's event time.
	TS time.Time
	// Data is the encoded record. It is kept as given, not copied: a
	// slice of a larger buffer keeps the whole buffer alive.
	Data json.RawMessage
}

// Config configures a Memory cache.
type Config struct {
	// Size is how many entries are kept per pipeline. Zero means
	// DefaultSize.
	Size int
}

// Memory is the in-process recent-records cache.
type Memory struct {
	size   int
	shards [shardCount]shard
}

type shard struct {
	mu    sync.RWMutex
	rings map[uuid.UUID]*ring
}

// ring holds a pipeline's newest entries in the order they were added.
type ring struct {
	mu    sync.RWMutex
	buf   []Entry // grows to size, then wraps
	start int     // index of the oldest entry once buf is full
	// warmed is set by Warm: the ring then knows what the store holds.
	warmed bool
	// floorSet says that records with TS <= floor may exist outside the
	// ring (evicted, or never loaded). Without it nothing is missing.
	floorSet bool
	floor    time.Time
}

// New returns an empty Memory cache for cfg.
func New(cfg Config) (*Memory, error) {
	if cfg.Size == 0 {
		cfg.Size = DefaultSize
	}
	if cfg.Size < 0 {
		return nil, fmt.Errorf("cache: size %d is negative", cfg.Size)
	}
	c := &Memory{size: cfg.Size}
	for i := range c.shards {
		c.shards[i].rings = make(map[uuid.UUID]*ring)
	}
	return c, nil
}

// Size returns how many entries are kept per pipeline: the number of
// records a loader should fetch for Warm.
func (c *Memory) Size() int { return c.size }

// Add appends the entries of one committed batch, in batch order, to the
// pipeline's ring, evicting the oldest beyond Size. It creates the ring if
// needed; a ring created by Add is not warmed.
func (c *Memory) Add(pipeline uuid.UUID, entries ...Entry) {
	if len(entries) == 0 {
		return
	}
	r := c.ring(pipeline, true)
	r.mu.Lock()
	for _, e := range entries {
		r.push(e, c.size)
	}
	r.mu.Unlock()
}

// Warm merges entries loaded from the store into the pipeline's ring and
// marks it warmed. entries are the pipeline's newest records as the store
// returns them (at most Size, any order); complete says the store holds no
// other record of the pipeline. Entries already in the ring — added while
// the store was being read — are kept once, matched by ID.
func (c *Memory) Warm(pipeline uuid.UUID, entries []Entry, complete bool) {
	loaded := slices.Clone(entries)
	// Stored records have no arrival order; time then id is the closest.
	slices.SortStableFunc(loaded, func(a, b Entry) int {
		return cmp.Or(a.TS.Compare(b.TS), cmp.Compare(a.ID, b.ID))
	})
	r := c.ring(pipeline, true)
	r.mu.Lock()
	defer r.mu.Unlock()
	present := make(map[int64]bool, len(r.buf))
	for _, e := range r.buf {
		if e.ID != 0 {
			present[e.ID] = true
		}
	}
	added := r.ordered()
	r.buf, r.start = make([]Entry, 0, min(c.size, len(loaded)+len(added))), 0
	if !complete && len(loaded) > 0 {
		r.raiseFloor(loaded[0].TS) // older records, and ties with the oldest, may be missing
	}
	for _, e := range loaded {
		if e.ID == 0 || !present[e.ID] {
			r.push(e, c.size)
		}
	}
	for _, e := range added {
		r.push(e, c.size)
	}
	r.warmed = true
}

// Has reports whether the pipeline's ring was warmed from the store since
// start (and not forgotten since). Without it, Recent and Range show only
// what was added since start.
func (c *Memory) Has(pipeline uuid.UUID) bool {
	r := c.ring(pipeline, false)
	if r == nil {
		return false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.warmed
}

// Recent returns up to limit entries of the pipeline, the most recently
// added first; limit <= 0 means all.
func (c *Memory) Recent(pipeline uuid.UUID, limit int) []Entry {
	r := c.ring(pipeline, false)
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := len(r.buf)
	if limit > 0 && limit < n {
		n = limit
	}
	// Copy the newest n in the order added (at most two runs of the
	// ring), then reverse: bulk copies beat n indexed reads.
	out := make([]Entry, n)
	newest := r.buf[:r.start] // the part after the wrap
	older := r.buf[r.start:]  // the part before it
	k := copy(out[max(n-len(newest), 0):], newest[max(len(newest)-n, 0):])
	copy(out[:n-k], older[len(older)-(n-k):])
	slices.Reverse(out)
	return out
}

// Range returns up to limit cached entries of the pipeline with from <= TS
// < to, newest event time first (ties: highest ID, then latest added); a
// zero from or to leaves that side open, limit <= 0 means all.
//
// covered reports that the result is exactly what the store would return
// for the same query, so the caller may skip the store. That holds when
// the ring was warmed and every record that may be missing from it is
// older than the range, or ranks below the limit.
func (c *Memory) Range(pipeline uuid.UUID, from, to time.Time, limit int) (entries []Entry, covered bool) {
	r := c.ring(pipeline, false)
	if r == nil {
		return nil, false
	}
	r.mu.RLock()
	for i := len(r.buf) - 1; i >= 0; i-- {
		e := r.at(i)
		if (from.IsZero() || !e.TS.Before(from)) && (to.IsZero() || e.TS.Before(to)) {
			entries = append(entries, e)
		}
	}
	warmed, floorSet, floor := r.warmed, r.floorSet, r.floor
	r.mu.RUnlock()

	slices.SortStableFunc(entries, func(a, b Entry) int {
		return cmp.Or(b.TS.Compare(a.TS), cmp.Compare(b.ID, a.ID))
	})
	full := limit > 0 && len(entries) >= limit
	if full {
		entries = entries[:limit:limit]
	}
	switch {
	case !warmed:
		covered = false
	case !floorSet:
		covered = true // nothing is missing
	case !from.IsZero() && from.After(floor):
		covered = true // whatever is missing is older than the range
	default:
		// Whatever is missing has TS <= floor, so it ranks below a full
		// page whose last entry is newer than the floor.
		covered = full && entries[len(entries)-1].TS.After(floor)
	}
	return entries, covered
}

// Len returns the number of entries cached for the pipeline.
func (c *Memory) Len(pipeline uuid.UUID) int {
	r := c.ring(pipeline, false)
	if r == nil {
		return 0
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.buf)
}

// Forget drops the pipeline's ring, when the pipeline is deleted or its
// records are purged. An Add racing with Forget may be lost.
func (c *Memory) Forget(pipeline uuid.UUID) {
	s := c.shard(pipeline)
	s.mu.Lock()
	delete(s.rings, pipeline)
	s.mu.Unlock()
}

// Reset drops every pipeline's ring, so each refills from the store on its
// next read: a cluster node calls it after its link to the other nodes was
// down, since batches committed elsewhere meanwhile never reached it.
func (c *Memory) Reset() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		clear(s.rings)
		s.mu.Unlock()
	}
}

// ring returns the pipeline's ring, creating it when create is set.
func (c *Memory) ring(pipeline uuid.UUID, create bool) *ring {
	s := c.shard(pipeline)
	s.mu.RLock()
	r := s.rings[pipeline]
	s.mu.RUnlock()
	if r != nil || !create {
		return r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r = s.rings[pipeline]; r == nil {
		r = &ring{}
		s.rings[pipeline] = r
	}
	return r
}

// shard picks a pipeline's shard by mixing all of its bytes, so both
// time-ordered (v7) and random (v4) ids spread evenly.
func (c *Memory) shard(pipeline uuid.UUID) *shard {
	x := binary.LittleEndian.Uint64(pipeline[:8]) ^ binary.LittleEndian.Uint64(pipeline[8:])
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return &c.shards[x&(shardCount-1)]
}

// push appends e, evicting the oldest entry when the ring holds size.
// Called with r.mu held.
func (r *ring) push(e Entry, size int) {
	if len(r.buf) < size {
		r.buf = append(r.buf, e)
		return
	}
	r.raiseFloor(r.buf[r.start].TS)
	r.buf[r.start] = e
	r.start = (r.start + 1) % size
}

// at returns the i-th entry in the order added, 0 being the oldest.
// Called with r.mu held.
func (r *ring) at(i int) Entry {
	return r.buf[(r.start+i)%len(r.buf)]
}

// ordered returns the entries oldest first. Called with r.mu held.
func (r *ring) ordered() []Entry {
	out := make([]Entry, len(r.buf))
	for i := range out {
		out[i] = r.at(i)
	}
	return out
}

// raiseFloor records that records with TS <= ts may be missing. Called
// with r.mu held.
func (r *ring) raiseFloor(ts time.Time) {
	if !r.floorSet || ts.After(r.floor) {
		r.floor, r.floorSet = ts, true
	}
}
