package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/store"
)

// Defaults of IndexConfig.
const (
	DefaultRefreshInterval = 2 * time.Second
	DefaultStaleAfter      = 30 * time.Second
)

// Topic is the pub/sub topic on which nodes tell each other that links
// changed.
const Topic = "p2p:links"

// IndexConfig tunes an Index. The zero value of a field means its default.
type IndexConfig struct {
	// RefreshInterval is how often the index reloads every link. Default 2s.
	RefreshInterval time.Duration
	// StaleAfter is how long after its last successful load the index is
	// still trusted; past it, Fanout falls back to dispatch jobs. Default
	// 30s. It must exceed RefreshInterval.
	StaleAfter time.Duration
	// Now is the clock that stamps loads and judges staleness; nil means
	// time.Now. Tests set it.
	Now func() time.Time
}

// Validate reports a configuration that cannot work.
func (cfg IndexConfig) Validate() error {
	switch {
	case cfg.RefreshInterval < 0:
		return fmt.Errorf("p2p: RefreshInterval %s is negative", cfg.RefreshInterval)
	case cfg.StaleAfter < 0:
		return fmt.Errorf("p2p: StaleAfter %s is negative", cfg.StaleAfter)
	}
	c := cfg.withDefaults()
	if c.StaleAfter <= c.RefreshInterval {
		return fmt.Errorf("p2p: StaleAfter %s must be longer than RefreshInterval %s", c.StaleAfter, c.RefreshInterval)
	}
	return nil
}

func (cfg IndexConfig) withDefaults() IndexConfig {
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.StaleAfter == 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// LinkStore is what the index reads; store.Store satisfies it.
type LinkStore interface {
	PipelineLinks(ctx context.Context) ([]store.PipelineLink, error)
}

// Index maps each upstream pipeline to its downstream p2p pipelines, in
// memory, so that a batch finds them without a query inside its
// transaction. See the package doc for how it stays fresh across nodes.
//
// Lifecycle: Start loads it (and fails when it cannot), then keeps it
// fresh until Stop. Downstreams may be called at any time; before the
// first load it reports the index as not fresh.
type Index struct {
	cfg    IndexConfig
	st     LinkStore
	broker pubsub.Broker
	log    *slog.Logger

	load sync.Mutex // one reload at a time, applied in the order they read

	mu       sync.RWMutex
	down     map[uuid.UUID][]store.PipelineLink // by upstream
	loadedAt time.Time

	cancel context.CancelFunc
	done   chan struct{}
}

// NewIndex returns an index over st. broker may be nil: changes then
// reach other nodes at their next reload only.
func NewIndex(cfg IndexConfig, st LinkStore, broker pubsub.Broker, log *slog.Logger) (*Index, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Index{cfg: cfg.withDefaults(), st: st, broker: broker, log: log}, nil
}

// Start loads every link and starts keeping the index fresh: reloading it
// every RefreshInterval and whenever another node publishes a change.
func (ix *Index) Start(ctx context.Context) error {
	if err := ix.Refresh(ctx); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var notes <-chan pubsub.Message
	if ix.broker != nil {
		sub, err := ix.broker.Subscribe(runCtx, Topic, 16)
		if err != nil {
			cancel()
			return fmt.Errorf("p2p: subscribe to link changes: %w", err)
		}
		notes = sub.C()
	}
	ix.cancel, ix.done = cancel, make(chan struct{})
	go ix.run(runCtx, notes)
	return nil
}

// Stop ends the reloads; it waits for the one running, if any.
func (ix *Index) Stop() {
	if ix.cancel == nil {
		return
	}
	ix.cancel()
	<-ix.done
}

func (ix *Index) run(ctx context.Context, notes <-chan pubsub.Message) {
	defer close(ix.done)
	tick := time.NewTicker(ix.cfg.RefreshInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case _, ok := <-notes:
			if !ok {
				notes = nil // the broker closed; keep the ticker
				continue
			}
		}
		if err := ix.Refresh(ctx); err != nil && ctx.Err() == nil {
			ix.log.WarnContext(ctx, "p2p: reload pipeline links", "err", err)
		}
	}
}

// Refresh reloads every link from the store.
func (ix *Index) Refresh(ctx context.Context) error {
	ix.load.Lock()
	defer ix.load.Unlock()
	started := ix.cfg.Now()
	links, err := ix.st.PipelineLinks(ctx)
	if err != nil {
		return fmt.Errorf("p2p: load pipeline links: %w", err)
	}
	down := make(map[uuid.UUID][]store.PipelineLink, len(links))
	for _, l := range links {
		down[l.Upstream] = append(down[l.Upstream], l)
	}
	ix.mu.Lock()
	ix.down, ix.loadedAt = down, started
	ix.mu.Unlock()
	return nil
}

// Changed reloads the index after this node changed links (a pipeline was
// saved or deleted) and tells the other nodes to reload theirs. Call it
// after the change committed and before answering, so that the batches
// this node commits next see it.
func (ix *Index) Changed(ctx context.Context) error {
	errLoad := ix.Refresh(ctx)
	var errPub error
	if ix.broker != nil {
		errPub = ix.broker.Publish(context.WithoutCancel(ctx), Topic, pubsub.Message{Kind: pubsub.KindControl, Payload: []byte(`{"event":"links"}`)})
		if errors.Is(errPub, pubsub.ErrClosed) {
			errPub = nil
		}
	}
	return errors.Join(errLoad, errPub)
}

// Downstreams returns the downstream pipelines of the team's upstream,
// and whether the index is fresh enough to trust an empty answer.
func (ix *Index) Downstreams(teamID, upstream uuid.UUID) ([]uuid.UUID, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	fresh := !ix.loadedAt.IsZero() && ix.cfg.Now().Sub(ix.loadedAt) < ix.cfg.StaleAfter
	var out []uuid.UUID
	for _, l := range ix.down[upstream] {
		if l.TeamID == teamID { // links never cross teams; this keeps it so
			out = append(out, l.Downstream)
		}
	}
	return out, fresh
}
