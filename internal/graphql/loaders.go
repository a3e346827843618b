package graphql

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/vikstrous/dataloadgen"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/orchestrator"
)

// Dataloaders collect the children a list of pipelines asks for (runs,
// sinks) and fetch them with one service call per kind, which reads them
// in a fixed number of store queries (orchestrator's batch reads). They
// live for one operation.

// runsKey asks for the first runs of a pipeline of a team.
type runsKey struct {
	team, pipeline uuid.UUID
	first          int
}

// sinksKey asks for the sinks of a pipeline of a team.
type sinksKey struct {
	team, pipeline uuid.UUID
}

type loaders struct {
	runs  *dataloadgen.Loader[runsKey, []core.Run]
	sinks *dataloadgen.Loader[sinksKey, []orchestrator.Sink]
}

type loadersKey struct{}

// loaderWait is how long a loader collects keys before it fetches.
const loaderWait = 2 * time.Millisecond

// withLoaders returns ctx with fresh loaders acting for ctx's principal.
func withLoaders(ctx context.Context, svc Service) context.Context {
	p := account.PrincipalFrom(ctx)
	l := &loaders{
		runs: dataloadgen.NewMappedLoader(func(ctx context.Context, keys []runsKey) (map[runsKey][]core.Run, error) {
			type group struct {
				team  uuid.UUID
				first int
			}
			groups := map[group][]uuid.UUID{}
			for _, k := range keys {
				g := group{k.team, k.first}
				groups[g] = append(groups[g], k.pipeline)
			}
			out := make(map[runsKey][]core.Run, len(keys))
			for g, ids := range groups {
				runs, err := svc.RunsOfPipelines(ctx, orchestrator.Caller{Principal: p, Team: g.team}, ids, g.first)
				if err != nil {
					return nil, err
				}
				for _, id := range ids {
					out[runsKey{g.team, id, g.first}] = runs[id]
				}
			}
			return out, nil
		}, dataloadgen.WithWait(loaderWait)),
		sinks: dataloadgen.NewMappedLoader(func(ctx context.Context, keys []sinksKey) (map[sinksKey][]orchestrator.Sink, error) {
			groups := map[uuid.UUID][]uuid.UUID{}
			for _, k := range keys {
				groups[k.team] = append(groups[k.team], k.pipeline)
			}
			out := make(map[sinksKey][]orchestrator.Sink, len(keys))
			for t, ids := range groups {
				sinks, err := svc.SinksOfPipelines(ctx, orchestrator.Caller{Principal: p, Team: t}, ids)
				if err != nil {
					return nil, err
				}
				for _, id := range ids {
					out[sinksKey{t, id}] = sinks[id]
				}
			}
			return out, nil
		}, dataloadgen.WithWait(loaderWait)),
	}
	return context.WithValue(ctx, loadersKey{}, l)
}

// loadersFrom returns the operation's loaders, or nil.
func loadersFrom(ctx context.Context) *loaders {
	l, _ := ctx.Value(loadersKey{}).(*loaders)
	return l
}
