package cache

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Redis is the recent-records cache of a cluster: each pipeline's newest
// entries by event time live in a Redis sorted set that every node reads
// and writes, so every node answers the same. It keeps Memory's
// semantics: the Size newest entries by event time (a backfill of older
// records does not displace newer ones), a floor raised by what is
// evicted or never kept, Trim for retention and Forget for deletion, and
// Range's coverage means the same as Memory's.
//
// Every entry of the set has score 0 and is ordered by its member, which
// starts with the 20-digit sortable event time, then the id and the order
// added (a counter in the pipeline's hash), so ZREMRANGEBYRANK evicts the
// oldest and ZREVRANGEBYLEX answers a time range. Add, Warm and Trim are
// each one Lua script: one round trip, atomic. Beside the set, a hash
// holds whether the set was warmed from the store, the floor and the
// counter.
//
// Redis keeps a node-local Memory beside the shared sets: every Add goes
// to both, and the broker's observer fills the local one with the other
// nodes' batches (engine.CacheObserver on Local). When Redis fails, the
// node answers from the local cache (the broker's lag markers tell its
// streams to reload) and probes Redis every ProbeInterval; once it
// answers again, the pipelines this node changed while Redis was away
// are dropped there, so they refill from the store, and the node reads
// Redis again.
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

// Members of a pipeline's sorted set are laid out as
//
//	<event time> <id> <order added> <data>
//
// with the first three as 20 decimal digits that sort as the values do,
// each followed by a space. Add and Warm send the first two with the data
// (memberKeyLen bytes before it); the script inserts the order added.
const (
	memberTimeLen = 20
	memberKeyLen  = 42
	memberHeadLen = 63
)

// zeroID is the sortable form of id 0, the id of a record that was not
// persisted.
var zeroID = sortableInt(0)

// luaCommon defines what the scripts share over KEYS[1] (the set) and
// KEYS[2] (the hash): the floor, raised by raise and saved by save, and
// insert and trim as Memory's ring does them.
const luaCommon = `
local floor = redis.call('HGET', KEYS[2], 'floor')
local function raise(ts)
  if ts ~= '' and (not floor or ts > floor) then floor = ts end
end
local function save()
  if floor then redis.call('HSET', KEYS[2], 'floor', floor) end
end
local function insert(list, from)
  local n = #list - from + 1
  if n <= 0 then return end
  local seq = redis.call('HINCRBY', KEYS[2], 'seq', n) - n
  for i = from, #list do
    local e = list[i]
    redis.call('ZADD', KEYS[1], 0, string.sub(e, 1, 42) .. string.format('%020d', seq) .. ' ' .. string.sub(e, 43))
    seq = seq + 1
  end
end
local function trim(size)
  local n = redis.call('ZCARD', KEYS[1])
  if n <= size then return end
  local newest = redis.call('ZRANGE', KEYS[1], n - size - 1, n - size - 1)[1]
  raise(string.sub(newest, 1, 20))
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - size - 1)
end
local function renew(ttl)
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
`

// addScript inserts ARGV[4..] into the set and keeps its ARGV[1] newest,
// raising the floor to ARGV[3] (the newest event time of the batch's
// entries the caller did not send, or "") and to what is evicted; then it
// renews both keys' lifetime (ARGV[2] ms).
var addScript = redis.NewScript(luaCommon + `
raise(ARGV[3])
insert(ARGV, 4)
trim(tonumber(ARGV[1]))
save()
renew(ARGV[2])
return 0
`)

// warmScript merges ARGV[5..], records loaded from the store, into the
// set as Memory.Warm does: entries whose id is already there are not
// added again; the floor is raised to ARGV[4] (the oldest loaded when the
// load was not complete, or ""), the set is trimmed to ARGV[1] and marked
// warmed; ARGV[2] as in addScript, ARGV[3] is the sortable id 0, which
// every entry not persisted has and which is never merged away.
var warmScript = redis.NewScript(luaCommon + `
local present = {}
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  present[string.sub(m, 22, 41)] = true
end
raise(ARGV[4])
local fresh = {}
for i = 5, #ARGV do
  local id = string.sub(ARGV[i], 22, 41)
  if id == ARGV[3] or not present[id] then fresh[#fresh + 1] = ARGV[i] end
end
insert(fresh, 1)
trim(tonumber(ARGV[1]))
save()
redis.call('HSET', KEYS[2], 'warmed', '1')
renew(ARGV[2])
return 0
`)

// trimScript drops the entries with an event time before ARGV[1] (its
// sortable form) and raises the floor to the newest of them.
var trimScript = redis.NewScript(luaCommon + `
local newest = redis.call('ZREVRANGEBYLEX', KEYS[1], '(' .. ARGV[1], '-', 'LIMIT', 0, 1)[1]
if not newest then return 0 end
raise(string.sub(newest, 1, 20))
save()
return redis.call('ZREMRANGEBYLEX', KEYS[1], '-', '(' .. ARGV[1])
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

// setKey names a pipeline's sorted set of entries, metaKey the hash
// beside it. Both share a hash tag, so the scripts work on Redis Cluster.
func (r *Redis) setKey(p uuid.UUID) string  { return r.prefix + "recent:{" + p.String() + "}" }
func (r *Redis) metaKey(p uuid.UUID) string { return r.prefix + "recent:{" + p.String() + "}:meta" }
func (r *Redis) keys(p uuid.UUID) []string  { return []string{r.setKey(p), r.metaKey(p)} }

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
// pipelines changed meanwhile are dropped there (so they refill from the
// store), then reads go to Redis again. A change that raced with the
// recovery is dropped on the next tick.
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
			if err := r.dropDirty(); err != nil {
				r.failed("drop", uuid.Nil, err)
			}
			continue
		}
		if err := r.recover(); err != nil {
			continue
		}
		r.down.Store(false)
		r.log.Info("recent-records cache: Redis is back")
	}
}

// recover pings Redis and drops there the pipelines this node changed
// while it was down.
func (r *Redis) recover() error {
	ctx, cancel := r.ctx()
	defer cancel()
	if err := r.rdb.Ping(ctx).Err(); err != nil {
		return err
	}
	return r.dropDirty()
}

// dropDirty deletes in Redis the pipelines changed on this node only.
func (r *Redis) dropDirty() error {
	r.mu.Lock()
	dirty := r.dirty
	if len(dirty) == 0 {
		r.mu.Unlock()
		return nil
	}
	r.dirty = map[uuid.UUID]bool{}
	r.mu.Unlock()
	ctx, cancel := r.ctx()
	defer cancel()
	// One DEL per pipeline: on Redis Cluster each has its own slot.
	_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for id := range dirty {
			p.Del(ctx, r.keys(id)...)
		}
		return nil
	})
	if err != nil {
		r.mu.Lock()
		for id := range dirty {
			r.dirty[id] = true
		}
		r.mu.Unlock()
	}
	return err
}

// Size returns how many entries are kept per pipeline.
func (r *Redis) Size() int { return r.local.Size() }

// Add puts the entries of one committed batch into the pipeline's shared
// set, which keeps the Size newest by event time (evicting in the same
// round trip), and into the local cache.
func (r *Redis) Add(pipeline uuid.UUID, entries ...Entry) {
	if len(entries) == 0 {
		return
	}
	r.local.Add(pipeline, entries...)
	if r.skip(pipeline) {
		return
	}
	// Only the batch's Size newest can stay: send those, and the newest
	// event time of the others to raise the floor.
	size := r.local.Size()
	floor := ""
	if len(entries) > size {
		idx := make([]int, len(entries))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int {
			return cmp.Or(entries[a].TS.Compare(entries[b].TS), cmp.Compare(entries[a].ID, entries[b].ID))
		})
		floor = sortableTime(entries[idx[len(idx)-size-1]].TS)
		kept := make([]Entry, size)
		for i, j := range idx[len(idx)-size:] {
			kept[i] = entries[j]
		}
		entries = kept
	}
	args := make([]any, 0, 3+len(entries))
	args = append(args, size, r.ttl.Milliseconds(), floor)
	for _, e := range entries {
		args = append(args, encodeEntry(e))
	}
	ctx, cancel := r.ctx()
	defer cancel()
	if err := addScript.Run(ctx, r.rdb, r.keys(pipeline), args...).Err(); err != nil {
		r.failed("add", pipeline, err)
	}
}

// Warm merges entries loaded from the store into the pipeline's shared
// set, as Memory.Warm does, and marks it warmed: entries added by any node
// while the store was being read are kept once, matched by ID.
func (r *Redis) Warm(pipeline uuid.UUID, entries []Entry, complete bool) {
	r.local.Warm(pipeline, entries, complete)
	if r.down.Load() {
		return
	}
	floor := ""
	if !complete && len(entries) > 0 {
		oldest := entries[0].TS
		for _, e := range entries[1:] {
			if e.TS.Before(oldest) {
				oldest = e.TS
			}
		}
		floor = sortableTime(oldest) // older records, and ties with the oldest, may be missing
	}
	args := make([]any, 0, 4+len(entries))
	args = append(args, r.local.Size(), r.ttl.Milliseconds(), zeroID, floor)
	for _, e := range entries {
		args = append(args, encodeEntry(e))
	}
	ctx, cancel := r.ctx()
	defer cancel()
	if err := warmScript.Run(ctx, r.rdb, r.keys(pipeline), args...).Err(); err != nil {
		r.failed("warm", pipeline, err)
	}
}

// Trim drops the pipeline's entries with an event time before before, in
// the shared set and the local cache: what the pipeline's retention
// removes from the store (see Memory.Trim).
func (r *Redis) Trim(pipeline uuid.UUID, before time.Time) {
	r.local.Trim(pipeline, before)
	if r.skip(pipeline) {
		return
	}
	ctx, cancel := r.ctx()
	defer cancel()
	if err := trimScript.Run(ctx, r.rdb, r.keys(pipeline), sortableTime(before)).Err(); err != nil {
		r.failed("trim", pipeline, err)
	}
}

// Forget drops the pipeline's shared set and local ring, when the
// pipeline is deleted or its records are purged.
func (r *Redis) Forget(pipeline uuid.UUID) {
	r.local.Forget(pipeline)
	if r.skip(pipeline) {
		return // dropped in Redis once it is back
	}
	ctx, cancel := r.ctx()
	defer cancel()
	if err := r.rdb.Del(ctx, r.keys(pipeline)...).Err(); err != nil {
		r.failed("forget", pipeline, err)
	}
}

// skip reports whether Redis is down, marking the pipeline to be dropped
// there once it is back, since this change does not reach it.
func (r *Redis) skip(pipeline uuid.UUID) bool {
	if !r.down.Load() {
		return false
	}
	r.mu.Lock()
	r.dirty[pipeline] = true
	r.mu.Unlock()
	return true
}

// Has reports whether the pipeline's shared set was warmed from the
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

// Recent returns up to limit entries of the pipeline, newest event time
// first (ties: highest ID, then latest added); limit <= 0 means all.
func (r *Redis) Recent(pipeline uuid.UUID, limit int) []Entry {
	if r.down.Load() {
		return r.local.Recent(pipeline, limit)
	}
	ctx, cancel := r.ctx()
	defer cancel()
	vals, err := r.rdb.ZRevRange(ctx, r.setKey(pipeline), 0, int64(max(limit, 0))-1).Result()
	if err != nil {
		r.failed("recent", uuid.Nil, err)
		return r.local.Recent(pipeline, limit)
	}
	out, err := decodeEntries(vals)
	if err != nil {
		r.log.Error("recent-records cache: undecodable entry; answering from this node's cache", "pipeline", pipeline, "err", err)
		return r.local.Recent(pipeline, limit)
	}
	return out
}

// Range is Memory.Range over the shared set: up to limit entries with
// from <= TS < to, newest first, and whether they are the store's answer.
func (r *Redis) Range(pipeline uuid.UUID, from, to time.Time, limit int) ([]Entry, bool) {
	if r.down.Load() {
		return r.local.Range(pipeline, from, to, limit)
	}
	by := &redis.ZRangeBy{Min: "-", Max: "+"}
	if !from.IsZero() {
		by.Min = "[" + sortableTime(from) // a member at from sorts after its time alone
	}
	if !to.IsZero() {
		by.Max = "(" + sortableTime(to)
	}
	if limit > 0 {
		by.Count = int64(limit)
	}
	ctx, cancel := r.ctx()
	defer cancel()
	var (
		vals *redis.StringSliceCmd
		meta *redis.SliceCmd
	)
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		vals = p.ZRevRangeByLex(ctx, r.setKey(pipeline), by)
		meta = p.HMGet(ctx, r.metaKey(pipeline), "warmed", "floor")
		return nil
	})
	if err != nil {
		r.failed("range", uuid.Nil, err)
		return r.local.Range(pipeline, from, to, limit)
	}
	entries, err := decodeEntries(vals.Val())
	var floor time.Time
	m := meta.Val()
	warmed := m[0] == "1"
	f, floorSet := m[1].(string)
	if err == nil && floorSet {
		floor, err = parseSortableTime(f)
	}
	if err != nil {
		r.log.Error("recent-records cache: undecodable entry; answering from this node's cache", "pipeline", pipeline, "err", err)
		return r.local.Range(pipeline, from, to, limit)
	}
	return coverage(entries, from, limit, warmed, floorSet, floor)
}

// Len returns the number of entries cached for the pipeline.
func (r *Redis) Len(pipeline uuid.UUID) int {
	if r.down.Load() {
		return r.local.Len(pipeline)
	}
	ctx, cancel := r.ctx()
	defer cancel()
	n, err := r.rdb.ZCard(ctx, r.setKey(pipeline)).Result()
	if err != nil {
		r.failed("len", uuid.Nil, err)
		return r.local.Len(pipeline)
	}
	return int(n)
}

// Reset drops the local cache only: the shared sets are every node's.
func (r *Redis) Reset() { r.local.Reset() }

// sortableInt encodes n as 20 decimal digits that sort as n does (its
// sign bit flipped).
func sortableInt(n int64) string {
	return fmt.Sprintf("%020d", uint64(n)^(1<<63))
}

// sortableTime encodes t as sortableInt of its Unix nanoseconds, clamped
// to what they can represent (years 1678 to 2262).
func sortableTime(t time.Time) string {
	switch {
	case t.Before(minNanoTime):
		t = minNanoTime
	case t.After(maxNanoTime):
		t = maxNanoTime
	}
	return sortableInt(t.UnixNano())
}

var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

func parseSortable(s string) (int64, error) {
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil || len(s) != 20 {
		return 0, fmt.Errorf("bad sortable number %q", s)
	}
	return int64(u ^ (1 << 63)), nil
}

func parseSortableTime(s string) (time.Time, error) {
	n, err := parseSortable(s)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, n).UTC(), nil
}

// encodeEntry returns what Add and Warm send of e: its member without the
// order added, which the script inserts.
func encodeEntry(e Entry) string {
	b := make([]byte, 0, memberKeyLen+len(e.Data))
	b = append(b, sortableTime(e.TS)...)
	b = append(b, ' ')
	b = append(b, sortableInt(e.ID)...)
	b = append(b, ' ')
	b = append(b, e.Data...)
	return string(b)
}

// decodeEntry reads a member of a pipeline's set.
func decodeEntry(s string) (Entry, error) {
	if len(s) < memberHeadLen || s[memberTimeLen] != ' ' || s[memberKeyLen-1] != ' ' || s[memberHeadLen-1] != ' ' {
		return Entry{}, errors.New("malformed entry")
	}
	ts, err := parseSortableTime(s[:memberTimeLen])
	if err != nil {
		return Entry{}, err
	}
	id, err := parseSortable(s[memberTimeLen+1 : memberKeyLen-1])
	if err != nil {
		return Entry{}, err
	}
	return Entry{ID: id, TS: ts, Data: []byte(s[memberHeadLen:])}, nil
}

func decodeEntries(vals []string) ([]Entry, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	out := make([]Entry, len(vals))
	for i, v := range vals {
		e, err := decodeEntry(v)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}
