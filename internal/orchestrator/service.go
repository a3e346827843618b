package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"gocloud.dev/blob"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/delivery"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/poll"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/source"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/vault"
)

// Store is what the service needs of the store; store.Store is one.
type Store interface {
	store.Pipelines
	PipelineUpstream(ctx context.Context, teamID, pipelineID uuid.UUID) (uuid.UUID, error)
	Downstreams(ctx context.Context, teamID, upstreamID uuid.UUID) ([]uuid.UUID, error)
	SinkStates(ctx context.Context, teamID, pipelineID uuid.UUID) ([]core.SinkState, error)
	SetSinkStatus(ctx context.Context, teamID, pipelineID uuid.UUID, sink string, status core.SinkStatus, reason string) (core.SinkState, error)
	Delivery(ctx context.Context, teamID, id uuid.UUID) (core.Delivery, error)
	Deliveries(ctx context.Context, teamID, pipelineID uuid.UUID, q store.DeliveryQuery) ([]core.Delivery, error)
	Replay(ctx context.Context, teamID, id uuid.UUID) (core.Replay, error)
	Replays(ctx context.Context, teamID, pipelineID uuid.UUID, sink string) ([]core.Replay, error)
	store.Usage
}

var _ Store = store.Store(nil)

// HookCache is the webhook token cache of this process: it forgets a
// pipeline's entries after the pipeline changed.
type HookCache interface {
	ForgetPipeline(id uuid.UUID)
}

// HookCacheFunc adapts a function to HookCache.
type HookCacheFunc func(id uuid.UUID)

// ForgetPipeline calls f(id).
func (f HookCacheFunc) ForgetPipeline(id uuid.UUID) { f(id) }

// LinkIndex is told after a change that may move p2p links (a p2p
// pipeline saved, any pipeline deleted), so that the batches committed
// next reach the right downstream pipelines.
type LinkIndex interface {
	Changed(ctx context.Context) error
}

// Polls schedules polling pipelines and previews their sources.
type Polls interface {
	// Schedule arms the pipeline's next poll at due, replacing the
	// pending one, and returns when it is due.
	Schedule(ctx context.Context, p core.Pipeline, due time.Time, manual bool) (time.Time, error)
	// NextPoll returns the pipeline's schedule.
	NextPoll(ctx context.Context, teamID, pipelineID uuid.UUID) (store.PollSchedule, error)
	// Preview fetches once with the team's secrets and stores nothing.
	Preview(ctx context.Context, teamID uuid.UUID, c *pipeline.Compiled, state source.Values, lim poll.PreviewLimits) (*source.Result, error)
}

// Engine is what the service needs of the engine.
type Engine interface {
	// Compiled returns the compiled spec of p's version.
	Compiled(p core.Pipeline) (*pipeline.Compiled, error)
	// Process maps and validates inputs without storing anything.
	Process(c *pipeline.Compiled, inputs []any, arrival time.Time) ([]engine.Mapped, []core.Rejected)
	// Forget drops what the engine keeps of a deleted pipeline.
	Forget(pipelineID uuid.UUID)
}

// RecentCache holds the recent records of pipelines.
type RecentCache interface {
	Forget(pipelineID uuid.UUID)
}

// Sinks is what the service needs of the delivery machinery;
// *delivery.Service is one.
type Sinks interface {
	// Check validates a spec's sinks (see delivery.Service.Check).
	Check(sinks []json.RawMessage) ([]pipeline.Problem, []delivery.SecretRef)
	// SinkChanged closes the open sink of a changed or removed sink.
	SinkChanged(pipelineID uuid.UUID, name string)
	Retry(ctx context.Context, teamID, pipelineID uuid.UUID, sinkName string, id uuid.UUID) (core.Delivery, error)
	StartReplay(ctx context.Context, teamID, pipelineID uuid.UUID, sinkName string, from, to time.Time) (core.Replay, error)
	Registry() *sink.Registry
}

var _ Sinks = (*delivery.Service)(nil)

// Config tunes the service.
type Config struct {
	// MaxChain is the longest chain of p2p pipelines a save may build.
	// Zero means DefaultMaxChain.
	MaxChain int
	// Logger receives the failures of side effects, which never fail a
	// change that was saved. Nil means slog.Default().
	Logger *slog.Logger
}

// DefaultMaxChain is the default of Config.MaxChain.
const DefaultMaxChain = 32

// Deps are the parts the service calls. Store, Vault, Engine and Broker
// are required; the others may be nil: a service without Sinks refuses
// specs with sinks' problems unchecked (it checks none), without Polls it
// answers ErrUnavailable to the polling use cases, and the side effects of
// a nil part are skipped.
type Deps struct {
	Store Store
	// Compiler compiles pipeline documents with the process's source and
	// sink kinds.
	Compiler *pipeline.Compiler
	Vault    *vault.Vault
	Engine   Engine
	// Broker carries control events (paused, resumed, updated, deleted)
	// to live streams.
	Broker pubsub.Broker
	Cache  RecentCache
	Hooks  HookCache
	Links  LinkIndex
	Polls  Polls
	Sinks  Sinks
	// Blobs holds uploaded files; nil: uploads answer ErrUnavailable.
	Blobs *blob.Bucket
}

// Service is the pipeline service. It is safe for concurrent use.
type Service struct {
	cfg      Config
	st       Store
	compiler *pipeline.Compiler
	v        *vault.Vault
	eng      Engine
	bus      pubsub.Broker
	rc       RecentCache
	hk       HookCache
	ln       LinkIndex
	pl       Polls
	sk       Sinks
	blobs    *blob.Bucket
	log      *slog.Logger
}

// New returns the service.
func New(cfg Config, d Deps) (*Service, error) {
	switch {
	case d.Store == nil:
		return nil, errors.New("orchestrator: Deps.Store is required")
	case d.Compiler == nil:
		return nil, errors.New("orchestrator: Deps.Compiler is required")
	case d.Vault == nil:
		return nil, errors.New("orchestrator: Deps.Vault is required")
	case d.Engine == nil:
		return nil, errors.New("orchestrator: Deps.Engine is required")
	case d.Broker == nil:
		return nil, errors.New("orchestrator: Deps.Broker is required")
	}
	if cfg.MaxChain == 0 {
		cfg.MaxChain = DefaultMaxChain
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{cfg: cfg, st: d.Store, compiler: d.Compiler, v: d.Vault, eng: d.Engine, bus: d.Broker, rc: d.Cache, hk: d.Hooks,
		ln: d.Links, pl: d.Polls, sk: d.Sinks, blobs: d.Blobs, log: cfg.Logger}, nil
}

// Caller is who asks, and for which team: the request's principal and the
// team it names (uuid.Nil: the principal's own or first team).
type Caller struct {
	Principal *account.Principal
	Team      uuid.UUID
}

// ErrUnauthenticated is returned for a Caller without a principal.
var ErrUnauthenticated = account.ErrUnauthenticated

// access resolves the caller's team and checks the role is at least min.
func (s *Service) access(who Caller, min auth.Role) (uuid.UUID, auth.Role, error) {
	if who.Principal == nil {
		return uuid.Nil, "", ErrUnauthenticated
	}
	return who.Principal.Require(who.Team, min)
}

// load returns a pipeline of the caller's team after checking the role,
// as the caller may see it.
func (s *Service) load(ctx context.Context, who Caller, id uuid.UUID, min auth.Role) (core.Pipeline, auth.Role, error) {
	team, role, err := s.access(who, min)
	if err != nil {
		return core.Pipeline{}, "", err
	}
	p, err := s.st.Pipeline(ctx, team, id)
	if errors.Is(err, core.ErrNotFound) {
		return p, role, errNoPipeline
	}
	if err != nil {
		return p, role, fmt.Errorf("load pipeline %s: %w", id, err)
	}
	p.Spec = s.compiler.CanonicalSpec(p.Spec) // specs saved before a spelling changed
	return p, role, nil
}

// view is p as a caller of role may see it: the webhook token (the ingest
// URL is a credential) and its prefix are for editors and above. The token
// itself is only set after a create or a rotation: the store keeps its hash.
func view(p core.Pipeline, role auth.Role) core.Pipeline {
	if !role.AtLeast(auth.Editor) {
		p.HookToken, p.HookTokenPrefix = "", ""
	}
	return p
}

// event is a kind of change, and what it sets off.
type event struct {
	name string
	// control is the event live streams get ("" for none).
	control string
	// schedule arms a polling pipeline's next poll now.
	schedule bool
	// forgetHooks drops the pipeline's webhook cache entries.
	forgetHooks bool
	// gone drops what the engine and the recent-records cache keep.
	gone bool
}

// The changes the service makes.
var (
	evCreated      = event{name: "created", schedule: true}
	evUpdated      = event{name: "updated", control: "updated", schedule: true, forgetHooks: true}
	evSinksChanged = event{name: "sinks changed", control: "updated", forgetHooks: true}
	evPaused       = event{name: "paused", control: "paused", forgetHooks: true}
	evResumed      = event{name: "resumed", control: "resumed", schedule: true, forgetHooks: true}
	evRotated      = event{name: "token rotated", forgetHooks: true}
	evSecret       = event{name: "secret changed", forgetHooks: true}
	evDeleted      = event{name: "deleted", control: "deleted", forgetHooks: true, gone: true}
)

// change is one change of a pipeline.
type change struct {
	ev event
	p  core.Pipeline // as saved (or as it was, when deleted)
	// linksMoved says whether p2p links may have moved.
	linksMoved bool
	// sink names the sink that changed or went, whose open sink closes.
	sink string
}

// Control is the payload of a control event on a pipeline's topic: Event
// is paused, resumed, updated or deleted.
type Control struct {
	Event    string    `json:"event"`
	Pipeline uuid.UUID `json:"pipeline"`
	Version  int       `json:"version,omitempty"`
}

// changed tells everything that keeps a view of p of a change: the one
// place where a change's side effects fire. They are best effort: the
// change is saved, and each of them also catches up on its own (the hook
// cache expires, the link index reloads, the scheduler's periodic check
// arms polls).
func (s *Service) changed(ctx context.Context, c change) {
	ctx = context.WithoutCancel(ctx)
	ev, p := c.ev, c.p
	if c.sink != "" && s.sk != nil {
		s.sk.SinkChanged(p.ID, c.sink)
	}
	if ev.forgetHooks && s.hk != nil {
		s.hk.ForgetPipeline(p.ID)
	}
	if c.linksMoved && s.ln != nil {
		if err := s.ln.Changed(ctx); err != nil {
			s.log.WarnContext(ctx, "reload p2p links", "change", ev.name, "pipeline", p.ID, "err", err)
		}
	}
	if ev.gone {
		s.eng.Forget(p.ID)
		if s.rc != nil {
			s.rc.Forget(p.ID)
		}
	}
	if ev.control != "" {
		payload, _ := json.Marshal(Control{Event: ev.control, Pipeline: p.ID, Version: p.Version})
		err := s.bus.Publish(ctx, pubsub.PipelineTopic(p.ID), pubsub.Message{Kind: pubsub.KindControl, Payload: payload})
		if err != nil && !errors.Is(err, pubsub.ErrClosed) {
			s.log.WarnContext(ctx, "publish pipeline event", "change", ev.name, "pipeline", p.ID, "err", err)
		}
	}
	if ev.schedule && s.pl != nil && p.Kind == core.KindPolling && p.Status != core.StatusPaused {
		if _, err := s.pl.Schedule(ctx, p, core.Now(), false); err != nil {
			s.log.WarnContext(ctx, "schedule poll; the periodic check will", "change", ev.name, "pipeline", p.ID, "err", err)
		}
	}
}
