package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/fairshare"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/store"
)

// ErrClosed is returned by Submit and RunBatch after Close was called.
var ErrClosed = errors.New("engine: closed")

// Errors Submit wraps together with the context's error.
var (
	// ErrWithdrawn means the submission was taken back before it was
	// written: none of its records is stored.
	ErrWithdrawn = errors.New("the records were not written")
	// ErrOutcomeUnknown means the caller stopped waiting while the
	// submission's batch was being written: its records may or may not
	// be stored.
	ErrOutcomeUnknown = errors.New("the records may or may not have been written")
)

// Store is what the engine needs of the store: writing a batch in one
// transaction, and reading a pipeline's newest records to warm the cache.
// store.Store satisfies it.
type Store interface {
	// WriteBatch commits a batch in one transaction and sets the ids of
	// persisted records. Nothing of a failed batch is kept.
	WriteBatch(ctx context.Context, b *store.Batch) error
	// Records lists a pipeline's records, newest first.
	Records(ctx context.Context, teamID, pipelineID uuid.UUID, q store.RecordQuery) ([]core.Record, error)
}

var _ Store = store.Store(nil)

// Defaults of Config.
const (
	DefaultMaxBatchRecords = 1000
	DefaultLinger          = 2 * time.Millisecond
	// MinAdaptiveLinger and MaxAdaptiveLinger bound the Linger that adapts
	// to a pipeline's commits (Config.Linger zero).
	MinAdaptiveLinger       = 200 * time.Microsecond
	MaxAdaptiveLinger       = 50 * time.Millisecond
	DefaultIdleTimeout      = time.Minute
	DefaultFlushConcurrency = 2
	DefaultCommitTimeout    = 30 * time.Second
	DefaultCompiledCache    = 50000
	DefaultPushRunInterval  = time.Minute
)

// Config configures an Engine. The zero value of a field means its
// default.
type Config struct {
	// MaxBatchRecords is how many records (accepted and rejected) a
	// group-committed batch holds at most; a batch is written as soon as
	// it is full. A single submission of more records is written alone.
	// Default 1000.
	MaxBatchRecords int
	// Linger bounds how long a group waits for more submissions while
	// another write of the pipeline is in flight; after it, the group is
	// written alongside (see FlushConcurrency). A group is written at once
	// when no write of the pipeline is in flight, so Linger adds nothing to
	// the latency of a lone request. Zero (the default) adapts it to the
	// pipeline's commits: the average time of its recent writes divided by
	// FlushConcurrency (DefaultLinger until a write is measured), between
	// MinAdaptiveLinger and MaxAdaptiveLinger, so that the writes in
	// flight are spread over a commit and a group grows for as long as a
	// commit takes: slow commits make larger groups, not more of them.
	Linger time.Duration
	// IdleTimeout is how long a pipeline's batcher goroutine lives without
	// submissions before it exits; the next submission starts a new one.
	// Default 1 minute.
	IdleTimeout time.Duration
	// FlushConcurrency is how many batches of one pipeline may be written
	// at the same time. While they are, the next batch keeps gathering
	// submissions, up to MaxBatchRecords. Default 2.
	FlushConcurrency int
	// CommitTimeout bounds the writing of one group-committed batch.
	// Default 30s.
	CommitTimeout time.Duration
	// CompiledCache is how many pipelines' compiled specs are kept.
	// Default 50000: a compiled spec of a few fields takes about 3.6 KB,
	// and a node polling 10,000 pipelines besides its webhooks should not
	// compile specs again and again (compiling was 16% of a node's CPU
	// when each poll compiled).
	CompiledCache int
	// PushRunInterval is how long one run of pushed (Submit) traffic
	// lasts: the group-committed batches of a pipeline and trigger within
	// it add up in one run row instead of one row each (see
	// docs/architecture.md, "Runs for push traffic"). Default 1 minute.
	PushRunInterval time.Duration
	// CPUSlots is how many requests' turns (Turn: ProcessFor's mapping,
	// the decoding of big bodies) work at once, shared fairly between
	// teams in slices of work (see internal/fairshare); one team holds at
	// most CPUSlots-1 of them (at least 1), a batch of its over
	// MaxBatchRecords being written counting as one. Zero means
	// GOMAXPROCS. So a team flooding costly mappings leaves a processor
	// to everything else (another team's mapping, commits, the HTTP
	// server, network wake-ups, the garbage collector), and another
	// team's request takes a free slot at once instead of waiting for the
	// flooding team's slice. A negative value turns the sharing off
	// (ProcessFor is Process).
	CPUSlots int
	// Registerer receives the engine's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Compiler compiles the stored specs of pipelines. Required.
	Compiler *pipeline.Compiler
}

// withDefaults returns cfg with its zero fields set to the defaults.
func (cfg Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.MaxBatchRecords, DefaultMaxBatchRecords)
	defDur(&cfg.IdleTimeout, DefaultIdleTimeout)
	def(&cfg.FlushConcurrency, DefaultFlushConcurrency)
	defDur(&cfg.CommitTimeout, DefaultCommitTimeout)
	def(&cfg.CompiledCache, DefaultCompiledCache)
	defDur(&cfg.PushRunInterval, DefaultPushRunInterval)
	return cfg
}

// Validate reports a configuration that cannot work.
func (cfg Config) Validate() error {
	switch {
	case cfg.MaxBatchRecords < 0:
		return fmt.Errorf("engine: MaxBatchRecords %d is negative", cfg.MaxBatchRecords)
	case cfg.Linger < 0:
		return fmt.Errorf("engine: Linger %s is negative", cfg.Linger)
	case cfg.IdleTimeout < 0:
		return fmt.Errorf("engine: IdleTimeout %s is negative", cfg.IdleTimeout)
	case cfg.FlushConcurrency < 0:
		return fmt.Errorf("engine: FlushConcurrency %d is negative", cfg.FlushConcurrency)
	case cfg.CommitTimeout < 0:
		return fmt.Errorf("engine: CommitTimeout %s is negative", cfg.CommitTimeout)
	case cfg.CompiledCache < 0:
		return fmt.Errorf("engine: CompiledCache %d is negative", cfg.CompiledCache)
	case cfg.Compiler == nil:
		return errors.New("engine: Compiler is required")
	case cfg.PushRunInterval < 0:
		return fmt.Errorf("engine: PushRunInterval %s is negative", cfg.PushRunInterval)
	}
	return nil
}

// Engine processes and commits the batches of every pipeline. It is safe
// for concurrent use.
//
// Lifecycle: an Engine works as soon as New returns. Close stops it: it
// refuses new work, writes what was submitted, and waits for the writes.
type Engine struct {
	fanout  fanouts
	cfg     Config
	st      Store
	cache   Cache
	broker  pubsub.Broker
	log     *slog.Logger
	metrics *metrics

	// ctx is the context of group-committed writes; cancel ends them when
	// Close runs out of time.
	ctx    context.Context
	cancel context.CancelFunc

	compiled compiledCache
	// share divides mapping CPU between teams; nil when off.
	share *fairshare.Share
	// warmLocks order cache warm-ups after the commits they might see:
	// a commit holds its pipeline's lock for reading from before its write
	// until its records are in the cache, a warm-up holds it for writing.
	warmLocks [64]sync.RWMutex

	mu       sync.Mutex
	closed   bool
	stopping chan struct{} // closed by Close
	batchers map[uuid.UUID]*batcher
	wg       sync.WaitGroup // batchers, flushes and direct runs
}

// Cache is the recent-records cache the engine fills after each commit
// and warms from the store: *cache.Memory on one node, *cache.Redis
// shared by a cluster.
type Cache interface {
	Size() int
	Add(pipeline uuid.UUID, entries ...cache.Entry)
	Has(pipeline uuid.UUID) bool
	Warm(pipeline uuid.UUID, entries []cache.Entry, complete bool)
	// Trim drops the pipeline's entries older than before, which
	// retention deleted from the store.
	Trim(pipeline uuid.UUID, before time.Time)
	// Forget drops the pipeline's entries, when it is deleted.
	Forget(pipeline uuid.UUID)
}

var (
	_ Cache = (*cache.Memory)(nil)
	_ Cache = (*cache.Redis)(nil)
)

// New returns an Engine that writes to st, keeps recent records in c and
// publishes committed batches on b. c and b may be nil (tests), which
// skips that step.
func New(cfg Config, st Store, c Cache, b pubsub.Broker, log *slog.Logger) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	var share *fairshare.Share
	switch {
	case cfg.CPUSlots == 0:
		n := runtime.GOMAXPROCS(0)
		share = fairshare.New(n, n-1)
	case cfg.CPUSlots > 0:
		share = fairshare.New(cfg.CPUSlots, cfg.CPUSlots-1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Engine{
		share:    share,
		cfg:      cfg,
		st:       st,
		cache:    c,
		broker:   b,
		log:      log,
		metrics:  m,
		ctx:      ctx,
		cancel:   cancel,
		compiled: compiledCache{max: cfg.CompiledCache, m: make(map[uuid.UUID]*compiledEntry)},
		stopping: make(chan struct{}),
		batchers: make(map[uuid.UUID]*batcher),
	}, nil
}

// Close stops accepting submissions, writes every batch already submitted
// (without waiting for Linger), and waits until all writes, cache updates
// and publications are done. When ctx ends first, the writes still running
// are cancelled — their submitters get errors and nothing of them is kept
// — and Close returns ctx's error. Close may be called more than once.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	if !e.closed {
		e.closed = true
		close(e.stopping)
	}
	e.mu.Unlock()
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		e.cancel()
		return nil
	case <-ctx.Done():
		e.cancel()
		return fmt.Errorf("engine: close: %w", ctx.Err())
	}
}

// Warm loads a pipeline's newest records from the store into the cache,
// once per process: it does nothing when the cache already has them. Use
// it before reading the cache for a live stream or a records query. It
// waits for the pipeline's writes in progress, so that no batch appears
// twice in the cache.
func (e *Engine) Warm(ctx context.Context, p core.Pipeline) error {
	if e.cache == nil || e.cache.Has(p.ID) {
		return nil
	}
	l := e.warmLock(p.ID)
	l.Lock()
	defer l.Unlock()
	if e.cache.Has(p.ID) {
		return nil
	}
	limit := min(e.cache.Size(), store.MaxLimit)
	rs, err := e.st.Records(ctx, p.TeamID, p.ID, store.RecordQuery{Limit: limit})
	if err != nil {
		return fmt.Errorf("load recent records of pipeline %s: %w", p.ID, err)
	}
	entries := make([]cache.Entry, len(rs))
	for i, r := range rs {
		entries[i] = cache.Entry{ID: r.ID, TS: r.TS, Data: r.Data}
	}
	e.cache.Warm(p.ID, entries, len(rs) < limit)
	return nil
}

func (e *Engine) warmLock(pipeline uuid.UUID) *sync.RWMutex {
	x := binary.LittleEndian.Uint64(pipeline[:8]) ^ binary.LittleEndian.Uint64(pipeline[8:])
	return &e.warmLocks[x%uint64(len(e.warmLocks))]
}
