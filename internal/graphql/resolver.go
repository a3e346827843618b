package graphql

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/orchestrator"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/vault"
)

// Service is what the resolvers call: the use cases of the pipeline
// service, which checks who may do what; *orchestrator.Service is one.
type Service interface {
	Pipelines(ctx context.Context, who orchestrator.Caller) ([]core.Pipeline, error)
	Pipeline(ctx context.Context, who orchestrator.Caller, id uuid.UUID) (core.Pipeline, error)
	CreatePipeline(ctx context.Context, who orchestrator.Caller, doc []byte) (core.Pipeline, error)
	UpdatePipeline(ctx context.Context, who orchestrator.Caller, id uuid.UUID, ifVersion int, doc []byte) (core.Pipeline, error)
	PausePipeline(ctx context.Context, who orchestrator.Caller, id uuid.UUID) (core.Pipeline, error)
	ResumePipeline(ctx context.Context, who orchestrator.Caller, id uuid.UUID) (core.Pipeline, error)
	DeletePipeline(ctx context.Context, who orchestrator.Caller, id uuid.UUID) error
	RunNow(ctx context.Context, who orchestrator.Caller, id uuid.UUID) (core.Pipeline, time.Time, error)
	Schedule(ctx context.Context, who orchestrator.Caller, id uuid.UUID) (orchestrator.Schedule, error)
	Preview(ctx context.Context, who orchestrator.Caller, in orchestrator.PreviewRequest) (orchestrator.Preview, error)

	Records(ctx context.Context, who orchestrator.Caller, id uuid.UUID, q store.RecordQuery) ([]core.Record, error)
	RejectedRecords(ctx context.Context, who orchestrator.Caller, id uuid.UUID, q store.RejectedQuery) ([]core.Rejected, error)
	Runs(ctx context.Context, who orchestrator.Caller, id uuid.UUID, q store.RunQuery) ([]core.Run, error)
	RunsOfPipelines(ctx context.Context, who orchestrator.Caller, ids []uuid.UUID, perPipeline int) (map[uuid.UUID][]core.Run, error)
	Series(ctx context.Context, who orchestrator.Caller, id uuid.UUID, q store.SeriesQuery) (store.Series, error)
	StorageStats(ctx context.Context, who orchestrator.Caller, id uuid.UUID) (store.StorageStats, error)
	Uploads(ctx context.Context, who orchestrator.Caller, id uuid.UUID, limit int) ([]core.Upload, error)

	Sinks(ctx context.Context, who orchestrator.Caller, pipelineID uuid.UUID) ([]orchestrator.Sink, error)
	SinksOfPipelines(ctx context.Context, who orchestrator.Caller, ids []uuid.UUID) (map[uuid.UUID][]orchestrator.Sink, error)
	CreateSink(ctx context.Context, who orchestrator.Caller, pipelineID uuid.UUID, ifVersion int, raw []byte) (core.Pipeline, orchestrator.Sink, error)
	UpdateSink(ctx context.Context, who orchestrator.Caller, pipelineID uuid.UUID, name string, ifVersion int, raw []byte) (core.Pipeline, orchestrator.Sink, error)
	DeleteSink(ctx context.Context, who orchestrator.Caller, pipelineID uuid.UUID, name string, ifVersion int) error
	Deliveries(ctx context.Context, who orchestrator.Caller, pipelineID uuid.UUID, q store.DeliveryQuery) ([]core.Delivery, error)
	RetryDelivery(ctx context.Context, who orchestrator.Caller, pipelineID uuid.UUID, sinkName string, id uuid.UUID) (core.Delivery, error)
	StartReplay(ctx context.Context, who orchestrator.Caller, pipelineID uuid.UUID, sinkName string, from, to time.Time) (core.Replay, error)
	Replays(ctx context.Context, who orchestrator.Caller, pipelineID uuid.UUID, sinkName string) ([]core.Replay, error)

	// The batch reads of a list's children (loaders.go).
	RecordsOfPipelines(ctx context.Context, who orchestrator.Caller, ids []uuid.UUID, q store.RecordQuery) (map[uuid.UUID][]core.Record, error)
	RejectedOfPipelines(ctx context.Context, who orchestrator.Caller, ids []uuid.UUID, n int) (map[uuid.UUID][]core.Rejected, error)
	DeliveriesOfPipelines(ctx context.Context, who orchestrator.Caller, ids []uuid.UUID, q store.DeliveryQuery) (map[uuid.UUID][]core.Delivery, error)
	ReplaysOfPipelines(ctx context.Context, who orchestrator.Caller, ids []uuid.UUID, sink string) (map[uuid.UUID][]core.Replay, error)
	UploadsOfPipelines(ctx context.Context, who orchestrator.Caller, ids []uuid.UUID, n int) (map[uuid.UUID][]core.Upload, error)
	StorageOfPipelines(ctx context.Context, who orchestrator.Caller, ids []uuid.UUID) (map[uuid.UUID]store.StorageStats, error)
	SchedulesOfPipelines(ctx context.Context, who orchestrator.Caller, ids []uuid.UUID) (map[uuid.UUID]orchestrator.Schedule, error)

	Secrets(ctx context.Context, who orchestrator.Caller) ([]vault.Secret, error)
	CreateSecret(ctx context.Context, who orchestrator.Caller, name string, value []byte) (vault.Secret, error)
	RotateSecret(ctx context.Context, who orchestrator.Caller, name string, value []byte) (vault.Secret, error)
	DeleteSecret(ctx context.Context, who orchestrator.Caller, name string) error

	Dashboards(ctx context.Context, who orchestrator.Caller) ([]orchestrator.DashboardView, error)
	Dashboard(ctx context.Context, who orchestrator.Caller, id uuid.UUID) (orchestrator.DashboardView, error)
	CreateDashboard(ctx context.Context, who orchestrator.Caller, doc []byte) (orchestrator.DashboardView, error)
	UpdateDashboard(ctx context.Context, who orchestrator.Caller, id uuid.UUID, ifVersion int, doc []byte) (orchestrator.DashboardView, error)
	DeleteDashboard(ctx context.Context, who orchestrator.Caller, id uuid.UUID) error
}

var _ Service = (*orchestrator.Service)(nil)

// Accounts is what the resolvers call of the account service (teams,
// members, tokens; authentication of a WebSocket's connection_init);
// *account.Service is one.
type Accounts interface {
	TeamsOf(ctx context.Context, p *account.Principal) ([]account.TeamRole, error)
	CreateTeam(ctx context.Context, p *account.Principal, name string) (core.Team, error)
	RenameTeam(ctx context.Context, p *account.Principal, team uuid.UUID, name string) (core.Team, error)
	TeamMembers(ctx context.Context, p *account.Principal, team uuid.UUID) ([]core.Membership, error)
	AddTeamMember(ctx context.Context, p *account.Principal, team uuid.UUID, email string, role auth.Role) (core.Membership, error)
	SetTeamMemberRole(ctx context.Context, p *account.Principal, team, userID uuid.UUID, role auth.Role) (core.Membership, error)
	RemoveTeamMember(ctx context.Context, p *account.Principal, team, userID uuid.UUID) error
	TeamTokens(ctx context.Context, p *account.Principal, team uuid.UUID) ([]core.Token, error)
	CreateTeamToken(ctx context.Context, p *account.Principal, team uuid.UUID, name string, role auth.Role, expiresAt *time.Time) (core.Token, string, error)
	RevokeTeamToken(ctx context.Context, p *account.Principal, team, tokenID uuid.UUID) error
	AuthenticateToken(ctx context.Context, plaintext string) (*account.Principal, error)
}

var _ Accounts = (*account.Service)(nil)

// Recent is the recent-records cache the subscriptions start from and
// catch up with; *cache.Memory is one.
type Recent interface {
	Recent(pipeline uuid.UUID, limit int) []cache.Entry
}

// Warmer loads a pipeline's newest records into the recent-records cache
// once per process; *engine.Engine is one.
type Warmer interface {
	Warm(ctx context.Context, p core.Pipeline) error
}

// Deps are the services the resolvers call. Service is required; without
// Accounts the account fields answer UNAVAILABLE, without Alerts the alert
// fields do, without Broker, Recent and Warmer the subscriptions do.
type Deps struct {
	Service  Service
	Accounts Accounts
	Alerts   AlertService
	Broker   pubsub.Broker
	Recent   Recent
	Warmer   Warmer
}

// Resolver is the root resolver: it turns GraphQL arguments into calls of
// the services and nothing more.
type Resolver struct {
	svc  Service
	acc  Accounts
	deps Deps
	opts Options
}

// parseID reads an ID argument naming an object of the kind what
// ("pipeline"); an id that is not a UUID names nothing, and is reported
// like an id of another team, as missing.
func parseID(id, what string) (uuid.UUID, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return uuid.Nil, &orchestrator.Error{Kind: orchestrator.ErrNotFound, Msg: "There is no such " + what + " in the team."}
	}
	return u, nil
}

// caller is the request's principal acting in team (nil: the principal's
// own or first team).
func caller(ctx context.Context, team *string) (orchestrator.Caller, error) {
	who := orchestrator.Caller{Principal: account.PrincipalFrom(ctx)}
	if team != nil {
		id, err := uuid.Parse(*team)
		if err != nil {
			return who, &orchestrator.Error{Kind: orchestrator.ErrNotFound, Msg: "There is no such team."}
		}
		who.Team = id
	}
	return who, nil
}

// in is the request's principal acting in the team of an object.
func in(ctx context.Context, team uuid.UUID) orchestrator.Caller {
	return orchestrator.Caller{Principal: account.PrincipalFrom(ctx), Team: team}
}

// withPipeline calls a use case on the pipeline id of team.
func (r *Resolver) withPipeline(ctx context.Context, id string, team *string,
	use func(context.Context, orchestrator.Caller, uuid.UUID) (core.Pipeline, error)) (*core.Pipeline, error) {
	who, pid, err := pipelineArgs(ctx, id, team)
	if err != nil {
		return nil, err
	}
	p, err := use(ctx, who, pid)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// pipelineArgs reads the caller and a pipeline id argument.
func pipelineArgs(ctx context.Context, id string, team *string) (orchestrator.Caller, uuid.UUID, error) {
	who, err := caller(ctx, team)
	if err != nil {
		return who, uuid.Nil, err
	}
	pid, err := parseID(id, "pipeline")
	return who, pid, err
}

// teamArgs returns the account service, the request's principal and the
// team it names (uuid.Nil: the principal's default); the account service
// checks the role.
func (r *Resolver) teamArgs(ctx context.Context, team *string) (Accounts, *account.Principal, uuid.UUID, error) {
	acc, err := r.accounts()
	if err != nil {
		return nil, nil, uuid.Nil, err
	}
	who, err := caller(ctx, team)
	if err != nil {
		return nil, nil, uuid.Nil, err
	}
	if who.Principal == nil {
		return nil, nil, uuid.Nil, orchestrator.ErrUnauthenticated
	}
	return acc, who.Principal, who.Team, nil
}

// dashboardArgs reads a dashboard id argument in the caller's team.
func dashboardArgs(ctx context.Context, id string, team *string) (orchestrator.Caller, uuid.UUID, error) {
	who, err := caller(ctx, team)
	if err != nil {
		return who, uuid.Nil, err
	}
	did, err := parseID(id, "dashboard")
	return who, did, err
}

// accounts returns the account service, or UNAVAILABLE.
func (r *Resolver) accounts() (Accounts, error) {
	if r.acc == nil {
		return nil, &orchestrator.Error{Kind: orchestrator.ErrUnavailable, Msg: "This server does not serve accounts over GraphQL."}
	}
	return r.acc, nil
}

// orZero is *p, or 0 for nil.
func orZero(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// pageSize checks a first argument against 1..max.
func pageSize(first *int, def, max int) (int, error) {
	n := def
	if first != nil {
		n = *first
	}
	if n < 1 || n > max {
		return 0, invalidArg("first", "must be between 1 and "+itoa(max))
	}
	return n, nil
}
