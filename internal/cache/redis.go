package cache

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Redis is the recent-records cache of a cluster: each pipeline's newest
// entries live in a Redis list that every node reads and appends to, so
// every node answers the same. The append and the trim to Size are one
// script, one round trip and atomic; entries evicted by the trim raise the
// pipeline's floor as in Memory, and whether the list was warmed from the
// store is kept beside it, so Range's coverage means the same as
// Memory's.
//
// Redis keeps a node-local Memory beside the shared lists: every Add goes
// to both, and the broker's observer fills the local one with the other
// nodes' batches (engine.CacheObserver on Local). When Redis fails, the
// node answers from the local cache (the broker's lag markers tell its
// streams to reload) and probes Redis every ProbeInterval; once it
// answers again, the pipelines this node appended to while Redis was away
// are marked cold in Redis, so they refill from the store, and the node
// reads Redis again.
type Redis struct {
	rdb    redis.UniversalClient
	local  *Memory
	prefix string
	ttl    time.Duration
	op     time.Duration
	log    *slog.Logger

	down  atomic.Bool
	mu    sync.Mutex
	dirty map[uuid.UUID]bool // appended locally while Redis was down
	stop  chan struct{}
	once  sync.Once
}

// RedisConfig tunes a Redis cache.
type RedisConfig struct {
	// Prefix starts every key; default "tributary:".
	Prefix string
	// TTL is how long a pipeline's list lives after its last append or
	// warm; default a week.
	TTL time.Duration
	// OpTimeout bounds each Redis call; default 2 s.
	OpTimeout time.Duration
	// ProbeInterval is how often a node that lost Redis tries it again;
	// default 1 s.
	ProbeInterval time.Duration
	// Logger receives the changes of Redis's state; nil discards them.
	Logger *slog.Logger
}

// addScript appends ARGV[3..] to the list KEYS[1], trims it to ARGV[1]
// entries and raises the floor in the hash KEYS[2] to the newest event
// time evicted (entries start with their 20-digit sortable time), then
// renews both keys' lifetime (ARGV[2] ms).
var addScript = redis.NewScript(`
local size = tonumber(ARGV[1])
for i = 3, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
local n = redis.call('LLEN', KEYS[1])
if n > size then
  local evicted = redis.call('LRANGE', KEYS[1], 0, n - size - 1)
  redis.call('LTRIM', KEYS[1], n - size, -1)
  local floor = redis.call('HGET', KEYS[2], 'floor')
  for _, e in ipairs(evicted) do
    local ts = string.sub(e, 1, 20)
    if not floor or ts > floor then floor = ts end
  end
  redis.call('HSET', KEYS[2], 'floor', floor)
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return n
`)

// NewRedis returns a cache over rdb, keeping local as the node's own copy
// (and fallback). local's Size is the size of the shared lists.
func NewRedis(cfg RedisConfig, rdb redis.UniversalClient, local *Memory) *Redis {
	if cfg.Prefix == "" {
		cfg.Prefix = "tributary:"
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 7 * 24 * time.Hour
	}
	if cfg.OpTimeout <= 0 {
		cfg.OpTimeout = 2 * time.Second
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Redis{rdb: rdb, local: local, prefix: cfg.Prefix, ttl: cfg.TTL, op: cfg.OpTimeout, log: cfg.Logger,
		dirty: map[uuid.UUID]bool{}, stop: make(chan struct{})}
	go r.probe(cfg.ProbeInterval)
	return r
}

// Close stops probing Redis; it does not close rdb.
func (r *Redis) Close() { r.once.Do(func() { close(r.stop) }) }

// Local is the node-local cache: the broker's observer fills it with
// other nodes' batches.
func (r *Redis) Local() *Memory { return r.local }

// Degraded reports whether the node answers from its local cache because
// Redis failed.
func (r *Redis) Degraded() bool { return r.down.Load() }

func (r *Redis) listKey(p uuid.UUID) string { return r.prefix + "recent:" + p.String() }
func (r *Redis) metaKey(p uuid.UUID) string { return r.prefix + "recent:" + p.String() + ":meta" }

func (r *Redis) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), r.op)
}

// failed switches to the local cache after a Redis error.
func (r *Redis) failed(what string, p uuid.UUID, err error) {
	r.mu.Lock()
	if p != uuid.Nil {
		r.dirty[p] = true
	}
	r.mu.Unlock()
	if !r.down.Swap(true) {
		r.log.Warn("recent-records cache: Redis failed; answering from this node's cache until it is back", "op", what, "err", err)
	}
}

// probe tries Redis every interval while it is down; once it answers, the
// pipelines appended to meanwhile are marked cold there, then reads go to
// Redis again.
func (r *Redis) probe(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		if !r.down.Load() {
			continue
		}
		if err := r.recover(); err != nil {
			continue
		}
		r.down.Store(false)
		r.log.Info("recent-records cache: Redis is back")
	}
}

// recover pings Redis and forgets there the pipelines this node appended
// to while it was down.
func (r *Redis) recover() error {
	ctx, cancel := r.ctx()
	defer cancel()
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		return err
	}
	r.mu.Lock()
	dirty := r.dirty
	r.dirty = map[uuid.UUID]bool{}
	r.mu.Unlock()
	keys := make([]string, 0, 2*len(dirty))
	for p := range dirty {
		keys = append(keys, r.listKey(p), r.metaKey(p))
	}
	if len(keys) > 0 {
		if err := r.rdb.Del(ctx, keys...).Err(); err != nil {
			r.mu.Lock()
			for p := range dirty {
				r.dirty[p] = true
			}
			r.mu.Unlock()
			return err
		}
	}
	return nil
}

// Size returns how many entries are kept per pipeline.
func (r *Redis) Size() int { return r.local.Size() }

// Add appends the entries of one committed batch to the pipeline's shared
// list (trimmed to Size in the same round trip) and to the local cache.
func (r *Redis) Add(pipeline uuid.UUID, entries ...Entry) {
	if len(entries) == 0 {
		return
	}
	r.local.Add(pipeline, entries...)
	if r.down.Load() {
		r.mu.Lock()
		r.dirty[pipeline] = true
		r.mu.Unlock()
		return
	}
	args := make([]any, 0, 2+len(entries))
	args = append(args, r.local.Size(), r.ttl.Milliseconds())
	for _, e := range entries {
		args = append(args, encodeEntry(e))
	}
	ctx, cancel := r.ctx()
	defer cancel()
	if err := addScript.Run(ctx, r.rdb, []string{r.listKey(pipeline), r.metaKey(pipeline)}, args...).Err(); err != nil {
		r.failed("add", pipeline, err)
	}
}

// Warm merges entries loaded from the store into the pipeline's shared
// list, as Memory.Warm does, and marks it warmed; entries appended by
// other nodes meanwhile are kept (the merge retries when the list changed
// under it).
func (r *Redis) Warm(pipeline uuid.UUID, entries []Entry, complete bool) {
	r.local.Warm(pipeline, entries, complete)
	if r.down.Load() {
		return
	}
	ctx, cancel := r.ctx()
	defer cancel()
	lk, mk := r.listKey(pipeline), r.metaKey(pipeline)
	var err error
	for range 5 {
		err = r.rdb.Watch(ctx, func(tx *redis.Tx) error {
			cur, meta, err := r.read(ctx, tx, pipeline)
			if err != nil {
				return err
			}
			// Merge as Memory does: the stored records, then what was
			// appended, evicting the oldest beyond Size.
			m, err := New(Config{Size: r.local.Size()})
			if err != nil {
				return err
			}
			rg := &ring{floorSet: meta.floorSet, floor: meta.floor}
			for _, e := range cur {
				rg.push(e, m.size)
			}
			m.shard(pipeline).rings[pipeline] = rg
			m.Warm(pipeline, entries, complete)
			merged := rg.ordered()
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Del(ctx, lk)
				if len(merged) > 0 {
					vals := make([]any, len(merged))
					for i, e := range merged {
						vals[i] = encodeEntry(e)
					}
					p.RPush(ctx, lk, vals...)
					p.PExpire(ctx, lk, r.ttl)
				}
				fields := []any{"warmed", "1"}
				if rg.floorSet {
					fields = append(fields, "floor", sortableTime(rg.floor))
				}
				p.HSet(ctx, mk, fields...)
				p.PExpire(ctx, mk, r.ttl)
				return nil
			})
			return err
		}, lk, mk)
		if !errors.Is(err, redis.TxFailedErr) {
			break
		}
	}
	if err != nil {
		r.failed("warm", pipeline, err)
	}
}

// meta is what the hash beside a list holds.
type meta struct {
	warmed, floorSet bool
	floor            time.Time
}

// read returns a pipeline's list, oldest first, and its meta.
func (r *Redis) read(ctx context.Context, c redis.Cmdable, pipeline uuid.UUID) ([]Entry, meta, error) {
	var (
		list *redis.StringSliceCmd
		hash *redis.MapStringStringCmd
	)
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		list = p.LRange(ctx, r.listKey(pipeline), 0, -1)
		hash = p.HGetAll(ctx, r.metaKey(pipeline))
		return nil
	})
	if err != nil {
		return nil, meta{}, err
	}
	var m meta
	h := hash.Val()
	m.warmed = h["warmed"] == "1"
	if f, ok := h["floor"]; ok {
		ts, err := parseSortableTime(f)
		if err != nil {
			return nil, meta{}, fmt.Errorf("recent-records floor of %s: %w", pipeline, err)
		}
		m.floor, m.floorSet = ts, true
	}
	vals := list.Val()
	out := make([]Entry, 0, len(vals))
	for _, v := range vals {
		e, err := decodeEntry(v)
		if err != nil {
			return nil, meta{}, fmt.Errorf("recent record of %s: %w", pipeline, err)
		}
		out = append(out, e)
	}
	return out, m, nil
}

// Has reports whether the pipeline's shared list was warmed from the
// store (by any node).
func (r *Redis) Has(pipeline uuid.UUID) bool {
	if r.down.Load() {
		return r.local.Has(pipeline)
	}
	ctx, cancel := r.ctx()
	defer cancel()
	v, err := r.rdb.HGet(ctx, r.metaKey(pipeline), "warmed").Result()
	switch {
	case errors.Is(err, redis.Nil):
		return false
	case err != nil:
		r.failed("has", uuid.Nil, err)
		return r.local.Has(pipeline)
	}
	return v == "1"
}

// Recent returns up to limit entries of the pipeline, the most recently
// added first; limit <= 0 means all.
func (r *Redis) Recent(pipeline uuid.UUID, limit int) []Entry {
	if r.down.Load() {
		return r.local.Recent(pipeline, limit)
	}
	ctx, cancel := r.ctx()
	defer cancel()
	start := int64(0)
	if limit > 0 {
		start = int64(-limit)
	}
	vals, err := r.rdb.LRange(ctx, r.listKey(pipeline), start, -1).Result()
	if err != nil {
		r.failed("recent", uuid.Nil, err)
		return r.local.Recent(pipeline, limit)
	}
	out := make([]Entry, 0, len(vals))
	for i := len(vals) - 1; i >= 0; i-- {
		e, err := decodeEntry(vals[i])
		if err != nil {
			r.log.Error("recent-records cache: undecodable entry; answering from this node's cache", "pipeline", pipeline, "err", err)
			return r.local.Recent(pipeline, limit)
		}
		out = append(out, e)
	}
	return out
}

// Range is Memory.Range over the shared list.
func (r *Redis) Range(pipeline uuid.UUID, from, to time.Time, limit int) ([]Entry, bool) {
	if r.down.Load() {
		return r.local.Range(pipeline, from, to, limit)
	}
	ctx, cancel := r.ctx()
	defer cancel()
	all, m, err := r.read(ctx, r.rdb, pipeline)
	if err != nil {
		r.failed("range", uuid.Nil, err)
		return r.local.Range(pipeline, from, to, limit)
	}
	var entries []Entry
	for _, e := range slices.Backward(all) {
		if (from.IsZero() || !e.TS.Before(from)) && (to.IsZero() || e.TS.Before(to)) {
			entries = append(entries, e)
		}
	}
	slices.SortStableFunc(entries, func(a, b Entry) int {
		return cmp.Or(b.TS.Compare(a.TS), cmp.Compare(b.ID, a.ID))
	})
	full := limit > 0 && len(entries) >= limit
	if full {
		entries = entries[:limit:limit]
	}
	var covered bool
	switch {
	case !m.warmed:
	case !m.floorSet:
		covered = true
	case !from.IsZero() && from.After(m.floor):
		covered = true
	default:
		covered = full && entries[len(entries)-1].TS.After(m.floor)
	}
	return entries, covered
}

// Len returns the number of entries cached for the pipeline.
func (r *Redis) Len(pipeline uuid.UUID) int {
	if r.down.Load() {
		return r.local.Len(pipeline)
	}
	ctx, cancel := r.ctx()
	defer cancel()
	n, err := r.rdb.LLen(ctx, r.listKey(pipeline)).Result()
	if err != nil {
		r.failed("len", uuid.Nil, err)
		return r.local.Len(pipeline)
	}
	return int(n)
}

// Forget drops the pipeline's list everywhere.
func (r *Redis) Forget(pipeline uuid.UUID) {
	r.local.Forget(pipeline)
	if r.down.Load() {
		r.mu.Lock()
		r.dirty[pipeline] = true // dropped in Redis once it is back
		r.mu.Unlock()
		return
	}
	ctx, cancel := r.ctx()
	defer cancel()
	if err := r.rdb.Del(ctx, r.listKey(pipeline), r.metaKey(pipeline)).Err(); err != nil {
		r.failed("forget", pipeline, err)
	}
}

// Reset drops the local cache only: the shared lists are every node's.
func (r *Redis) Reset() { r.local.Reset() }

// Entries are stored as a 20-digit sortable event time, a space, the id,
// a space and the data.

// sortableTime encodes t as 20 decimal digits that sort as t does (the
// sign bit of its nanoseconds flipped).
func sortableTime(t time.Time) string {
	return fmt.Sprintf("%020d", uint64(t.UnixNano())^(1<<63))
}

func parseSortableTime(s string) (time.Time, error) {
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q", s)
	}
	return time.Unix(0, int64(u^(1<<63))).UTC(), nil
}

func encodeEntry(e Entry) string {
	b := make([]byte, 0, 42+len(e.Data))
	b = append(b, sortableTime(e.TS)...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, e.ID, 10)
	b = append(b, ' ')
	b = append(b, e.Data...)
	return string(b)
}

func decodeEntry(s string) (Entry, error) {
	if len(s) < 22 || s[20] != ' ' {
		return Entry{}, errors.New("malformed entry")
	}
	ts, err := parseSortableTime(s[:20])
	if err != nil {
		return Entry{}, err
	}
	rest := s[21:]
	i := 0
	for i < len(rest) && rest[i] != ' ' {
		i++
	}
	if i == len(rest) {
		return Entry{}, errors.New("malformed entry")
	}
	id, err := strconv.ParseInt(rest[:i], 10, 64)
	if err != nil {
		return Entry{}, fmt.Errorf("bad id %q", rest[:i])
	}
	return Entry{ID: id, TS: ts, Data: []byte(rest[i+1:])}, nil
}
