package graphql

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/account"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/orchestrator"
)

// Batch loading of the children of a list of pipelines (issue 12: N+1
// avoided where a list resolves children).
//
// A resolver returning a list of pipelines (the pipelines connection, the
// downstream pipelines of a list's sinks) registers the list's ids with
// the operation's loaders. The first resolver of a child field (runs,
// sinks, records, deliveries…) of one of those pipelines fetches that
// child for every pipeline of the list with one batch use case of the
// orchestrator (a fixed number of store queries), keyed by the field and
// its arguments; the other pipelines' resolvers take their part of the
// answer. Nothing waits for keys to gather, so the number of queries does
// not depend on timing. A pipeline fetched alone (pipeline(id), a
// mutation's answer) reads its children one by one as before.

// loaders are one operation's lists and batches.
type loaders struct {
	mu    sync.Mutex
	lists map[uuid.UUID]*pipelineList // by pipeline id: the list it came in
}

// pipelineList is a list of pipelines of one team whose children are
// fetched together.
type pipelineList struct {
	team uuid.UUID
	ids  []uuid.UUID

	mu    sync.Mutex
	calls map[string]*batchCall // by field and arguments
}

// batchCall is one batch fetch: done once, shared by the list's
// resolvers.
type batchCall struct {
	once sync.Once
	val  any // map[uuid.UUID]T
	err  error
}

type loadersKey struct{}

// withLoaders returns ctx with fresh loaders for one operation.
func withLoaders(ctx context.Context) context.Context {
	return context.WithValue(ctx, loadersKey{}, &loaders{lists: map[uuid.UUID]*pipelineList{}})
}

// loadersFrom returns the operation's loaders, or nil.
func loadersFrom(ctx context.Context) *loaders {
	l, _ := ctx.Value(loadersKey{}).(*loaders)
	return l
}

// registerList records ps (of one team) as a list whose children are
// batched. A pipeline already in a list stays in it.
func registerList(ctx context.Context, ps []*core.Pipeline) {
	l := loadersFrom(ctx)
	if l == nil || len(ps) < 2 {
		return
	}
	list := &pipelineList{team: ps[0].TeamID, calls: map[string]*batchCall{}}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range ps {
		if _, ok := l.lists[p.ID]; ok || p.TeamID != list.team {
			continue
		}
		list.ids = append(list.ids, p.ID)
		l.lists[p.ID] = list
	}
}

// batched returns the child of p named by key from a batch fetch over
// p's list, and true; false when p came in no list (fetch it alone).
// fetch is called once per list and key, as the principal of ctx acting
// in the list's team.
func batched[T any](ctx context.Context, p *core.Pipeline, key string,
	fetch func(ctx context.Context, who orchestrator.Caller, ids []uuid.UUID) (map[uuid.UUID]T, error)) (T, bool, error) {
	var zero T
	l := loadersFrom(ctx)
	if l == nil {
		return zero, false, nil
	}
	l.mu.Lock()
	list := l.lists[p.ID]
	l.mu.Unlock()
	if list == nil {
		return zero, false, nil
	}
	list.mu.Lock()
	call := list.calls[key]
	if call == nil {
		call = &batchCall{}
		list.calls[key] = call
	}
	list.mu.Unlock()
	call.once.Do(func() {
		who := orchestrator.Caller{Principal: account.PrincipalFrom(ctx), Team: list.team}
		call.val, call.err = fetch(ctx, who, list.ids)
	})
	if call.err != nil {
		return zero, true, call.err
	}
	m, ok := call.val.(map[uuid.UUID]T)
	if !ok {
		return zero, true, fmt.Errorf("graphql: batch %q holds %T", key, call.val)
	}
	return m[p.ID], true, nil
}
