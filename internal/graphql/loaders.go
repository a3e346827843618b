package graphql

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
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

// prefetch fills the loaders for the children a list of pipelines
// selects (the first page of runs, the sinks) with one service call each,
// so the number of store queries does not depend on how many keys a
// loader's wait happened to collect.
func (r *Resolver) prefetch(ctx context.Context, ps []core.Pipeline) {
	l, fc, oc := loadersFrom(ctx), graphql.GetFieldContext(ctx), graphql.GetOperationContext(ctx)
	if l == nil || fc == nil || oc == nil || len(ps) == 0 {
		return
	}
	team := ps[0].TeamID
	ids := make([]uuid.UUID, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	who := orchestrator.Caller{Principal: account.PrincipalFrom(ctx), Team: team}
	done := map[string]bool{}
	for _, f := range graphql.CollectFields(oc, fc.Field.Selections, []string{"Pipeline"}) {
		switch f.Name {
		case "runs":
			args := f.ArgumentMap(oc.Variables)
			first, ok := intArg(args["first"])
			if !ok || args["after"] != nil || first < 1 || first > 100 || done[f.Name+strconv.Itoa(first)] {
				continue
			}
			done[f.Name+strconv.Itoa(first)] = true
			runs, err := r.svc.RunsOfPipelines(ctx, who, ids, first+1)
			if err != nil {
				continue // the loader fetches and reports it
			}
			for _, id := range ids {
				l.runs.Prime(runsKey{team: team, pipeline: id, first: first + 1}, runs[id])
			}
		case "sinks":
			if done[f.Name] {
				continue
			}
			done[f.Name] = true
			sinks, err := r.svc.SinksOfPipelines(ctx, who, ids)
			if err != nil {
				continue
			}
			for _, id := range ids {
				l.sinks.Prime(sinksKey{team: team, pipeline: id}, sinks[id])
			}
		}
	}
}

// intArg reads an Int argument's value.
func intArg(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	case json.Number:
		i, err := n.Int64()
		return int(i), err == nil
	}
	return 0, false
}
