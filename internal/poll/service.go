package poll

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/netguard"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/source"
	"github.com/tributary-dev/tributary/internal/store"
)

// Service schedules and runs the polls of polling pipelines; see the
// package documentation for how.
//
// Lifecycle: New, then Start, which claims and runs due polls until Stop;
// Register adds the periodic check (a River job) to a River
// configuration. A Service is started at most once.
type Service struct {
	cfg     Config
	store   Store
	engine  Engine
	secrets SecretVault
	env     source.Env
	log     *slog.Logger
	metrics *metrics

	// wake asks the scheduler to claim now: a worker was freed while it
	// waited for one (starved), or a poll was armed due now.
	wake    chan struct{}
	starved atomic.Bool
	running atomic.Int64
	polls   sync.WaitGroup
	// stop ends the scheduler's loop; cancelPolls the polls in flight.
	stop        context.CancelFunc
	cancelPolls context.CancelFunc
	done        chan struct{}
}

// Store is what polls need of the store; store.Store satisfies it.
type Store interface {
	store.Polls
}

// Engine is what polls need of the engine.
type Engine interface {
	Compiled(p core.Pipeline) (*pipeline.Compiled, error)
	// RunPoll commits a poll's records with its state, dedup keys and
	// next schedule in one transaction.
	RunPoll(ctx context.Context, p core.Pipeline, c *pipeline.Compiled, inputs []any, trigger core.RunTrigger, x engine.PollCommit) (engine.Result, error)
	RecordFailure(ctx context.Context, p core.Pipeline, run engine.FailedRun) (engine.Result, error)
}

var (
	_ Store  = store.Store(nil)
	_ Engine = (*engine.Engine)(nil)
)

// SecretVault opens team secrets; vault.Vault is one.
type SecretVault interface {
	Open(ctx context.Context, teamID uuid.UUID, name string) ([]byte, error)
}

// New returns the scheduler and runner of polls. Every request
// goes through guard.
func New(cfg Config, st Store, eng Engine, secrets SecretVault, guard *netguard.Guard) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, store: st, engine: eng, secrets: secrets, log: cfg.Logger, metrics: m, wake: make(chan struct{}, 1)}
	s.env = source.Env{
		Client:    source.NewClient(guard),
		Limiter:   source.NewHostLimiter(cfg.HostRate, cfg.HostBurst),
		Tokens:    source.NewTokenCache(),
		UserAgent: cfg.UserAgent,
		Log:       cfg.Logger,
	}
	return s, nil
}

// Register adds the periodic check (every CheckInterval, unique across
// nodes) and its worker to cfg, and the worker that completes the poll
// jobs of earlier versions.
func (s *Service) Register(cfg *river.Config) {
	if cfg.Workers == nil {
		cfg.Workers = river.NewWorkers()
	}
	river.AddWorker(cfg.Workers, &legacyWorker{})
	river.AddWorker(cfg.Workers, &checkWorker{s: s})
	cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(s.cfg.CheckInterval),
		func() (river.JobArgs, *river.InsertOpts) { return CheckArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true}))
}
