package graphql

import (
	"context"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/orchestrator"
)

// Service is what the resolvers call: the use cases of the pipeline
// service, which checks who may do what; *orchestrator.Service is one.
type Service interface {
	Pipelines(ctx context.Context, who orchestrator.Caller) ([]core.Pipeline, error)
	Pipeline(ctx context.Context, who orchestrator.Caller, id uuid.UUID) (core.Pipeline, error)
	CreatePipeline(ctx context.Context, who orchestrator.Caller, doc []byte) (core.Pipeline, error)
	PausePipeline(ctx context.Context, who orchestrator.Caller, id uuid.UUID) (core.Pipeline, error)
	ResumePipeline(ctx context.Context, who orchestrator.Caller, id uuid.UUID) (core.Pipeline, error)
	DeletePipeline(ctx context.Context, who orchestrator.Caller, id uuid.UUID) error
}

var _ Service = (*orchestrator.Service)(nil)

// Resolver is the root resolver: it turns GraphQL arguments into calls of
// the service and nothing more.
type Resolver struct {
	svc Service
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

// withPipeline calls a use case on the pipeline id of team.
func (r *Resolver) withPipeline(ctx context.Context, id string, team *string,
	use func(context.Context, orchestrator.Caller, uuid.UUID) (core.Pipeline, error)) (*core.Pipeline, error) {
	who, err := caller(ctx, team)
	if err != nil {
		return nil, err
	}
	pid, err := parseID(id, "pipeline")
	if err != nil {
		return nil, err
	}
	p, err := use(ctx, who, pid)
	if err != nil {
		return nil, err
	}
	return &p, nil
}
