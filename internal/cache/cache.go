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
	// Data is the encoded record. Memory.Add copies the data it keeps
	// (the records of a batch share their buffers, which one cached
	// record would keep alive); Warm keeps it as given.
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

// ring holds a pipeline's newest entries by event time: buf is sorted
// oldest first by (TS, ID, order added), so the newest are at its end and
// a backfill of older records cannot displace them.
type ring struct {
	mu  sync.RWMutex
	buf []slot
	// next numbers the entries in the order added, to break ties.
	next uint64
	// warmed is set by Warm: the ring then knows what the store holds.
	warmed bool
	// floorSet says that records with TS <= floor may exist outside the
	// ring (evicted, trimmed, or never loaded). Without it nothing is
	// missing.
	floorSet bool
	floor    time.Time
}

// slot is an entry and its place in the order added.
type slot struct {
	Entry
	seq uint64
}

// compareSlots orders slots oldest first: event time, then id, then the
// order added.
func compareSlots(a, b slot) int {
	return cmp.Or(a.TS.Compare(b.TS), cmp.Compare(a.ID, b.ID), cmp.Compare(a.seq, b.seq))
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

// Add puts the entries of one committed batch into the pipeline's ring,
// which keeps the Size newest by event time: entries older than all of
// those are not kept (a backfill does not displace newer records). It
// creates the ring if needed; a ring created by Add is not warmed.
func (c *Memory) Add(pipeline uuid.UUID, entries ...Entry) {
	if len(entries) == 0 {
		return
	}
	r := c.ring(pipeline, true)
	r.mu.Lock()
	first := r.next
	for _, e := range entries {
		r.insert(e, c.size)
	}
	r.trim(c.size)
	r.own(first)
	r.mu.Unlock()
}

// Warm merges entries loaded from the store into the pipeline's ring and
// marks it warmed. entries are the pipeline's newest records as the store
// returns them (at most Size, any order); complete says the store holds no
// other record of the pipeline. Entries already in the ring — added while
// the store was being read — are kept once, matched by ID.
func (c *Memory) Warm(pipeline uuid.UUID, entries []Entry, complete bool) {
	r := c.ring(pipeline, true)
	r.mu.Lock()
	defer r.mu.Unlock()
	present := make(map[int64]bool, len(r.buf))
	for _, s := range r.buf {
		if s.ID != 0 {
			present[s.ID] = true
		}
	}
	if !complete && len(entries) > 0 {
		oldest := entries[0].TS
		for _, e := range entries[1:] {
			if e.TS.Before(oldest) {
				oldest = e.TS
			}
		}
		r.raiseFloor(oldest) // older records, and ties with the oldest, may be missing
	}
	for _, e := range entries {
		if e.ID == 0 || !present[e.ID] {
			r.insert(e, c.size)
		}
	}
	r.trim(c.size)
	r.warmed = true
}

// Trim drops the pipeline's entries with an event time before before:
// what the pipeline's retention removes from the store. Records older
// than before then count as missing, so Range sends queries reaching
// before them to the store, which may still hold them until its
// retention job runs.
func (c *Memory) Trim(pipeline uuid.UUID, before time.Time) {
	r := c.ring(pipeline, false)
	if r == nil {
		return
	}
	r.mu.RLock()
	stale := len(r.buf) > 0 && r.buf[0].TS.Before(before)
	r.mu.RUnlock()
	if !stale {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n, _ := slices.BinarySearchFunc(r.buf, before, func(s slot, t time.Time) int { return s.TS.Compare(t) })
	if n == 0 {
		return
	}
	r.raiseFloor(r.buf[n-1].TS)
	r.buf = slices.Delete(r.buf, 0, n)
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

// Recent returns up to limit entries of the pipeline, newest event time
// first (ties: highest ID, then latest added); limit <= 0 means all.
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
	out := make([]Entry, n)
	for i := range out {
		out[i] = r.buf[len(r.buf)-1-i].Entry
	}
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
		e := r.buf[i].Entry
		if !from.IsZero() && e.TS.Before(from) {
			break // the rest is older still
		}
		if to.IsZero() || e.TS.Before(to) {
			entries = append(entries, e)
			if limit > 0 && len(entries) == limit {
				break
			}
		}
	}
	warmed, floorSet, floor := r.warmed, r.floorSet, r.floor
	r.mu.RUnlock()
	return coverage(entries, from, limit, warmed, floorSet, floor)
}

// coverage cuts entries (the cached answer to a Range from from, newest
// first, at least limit long when there are that many) to limit and says
// whether they are the store's answer, given what the ring knows: whether
// it was warmed, and the floor at or below which records may be missing.
// Memory and Redis share it so that coverage means the same in both.
func coverage(entries []Entry, from time.Time, limit int, warmed, floorSet bool, floor time.Time) ([]Entry, bool) {
	full := limit > 0 && len(entries) >= limit
	if full {
		entries = entries[:limit:limit]
	}
	switch {
	case !warmed:
		return entries, false
	case !floorSet:
		return entries, true // nothing is missing
	case !from.IsZero() && from.After(floor):
		return entries, true // whatever is missing is older than the range
	default:
		// Whatever is missing has TS <= floor, so it ranks below a full
		// page whose last entry is newer than the floor.
		return entries, full && entries[len(entries)-1].TS.After(floor)
	}
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

// insert puts e in its place by event time, unless the ring already
// holds size newer entries: then e only raises the floor. Called with r.mu
// held; trim afterwards.
func (r *ring) insert(e Entry, size int) {
	s := slot{Entry: e, seq: r.next}
	r.next++
	n := len(r.buf)
	if n >= size && compareSlots(s, r.buf[n-size]) < 0 {
		r.raiseFloor(e.TS) // older than every entry kept
		return
	}
	if n == 0 || compareSlots(s, r.buf[n-1]) >= 0 {
		r.buf = append(r.buf, s) // the usual case: newer than all
	} else {
		i, _ := slices.BinarySearchFunc(r.buf, s, compareSlots)
		r.buf = slices.Insert(r.buf, i, s)
	}
	if len(r.buf) >= 2*size {
		r.trim(size) // bound the memory of a large batch
	}
}

// own copies the data of the entries added since the one numbered first
// into one buffer of their size, so that the ring keeps none of the
// memory they came in: the records of a batch share buffers (the engine
// cuts a request's records from shared chunks; a batch from another node
// is one message), which one kept record would keep alive. Called with
// r.mu held.
func (r *ring) own(first uint64) {
	n := 0
	for i := range r.buf {
		if r.buf[i].seq >= first {
			n += len(r.buf[i].Data)
		}
	}
	if n == 0 {
		return
	}
	buf := make([]byte, 0, n)
	for i := range r.buf {
		if s := &r.buf[i]; s.seq >= first {
			start := len(buf)
			buf = append(buf, s.Data...)
			s.Data = buf[start:len(buf):len(buf)]
		}
	}
}

// trim evicts the oldest entries beyond size. Called with r.mu held.
func (r *ring) trim(size int) {
	drop := len(r.buf) - size
	if drop <= 0 {
		return
	}
	r.raiseFloor(r.buf[drop-1].TS)
	r.buf = r.buf[:copy(r.buf, r.buf[drop:])]
}

// raiseFloor records that records with TS <= ts may be missing. Called
// with r.mu held.
func (r *ring) raiseFloor(ts time.Time) {
	if !r.floorSet || ts.After(r.floor) {
		r.floor, r.floorSet = ts, true
	}
}
