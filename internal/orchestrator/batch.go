package orchestrator

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/auth"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// Batch reads serve lists that show the children of many pipelines at
// once (GraphQL's dataloaders): the same rules as Runs and Sinks, in a
// fixed number of store queries whatever the number of pipelines. Ids
// that are not pipelines of the caller's team get nothing, as a missing
// pipeline would.

// RunsOfPipelines returns the newest runs (at most perPipeline) of each
// of the caller's team's pipelines in ids (viewer).
func (s *Service) RunsOfPipelines(ctx context.Context, who Caller, ids []uuid.UUID, perPipeline int) (map[uuid.UUID][]core.Run, error) {
	return batchOr(s, who, ids, "list runs",
		func(br store.BatchReads, team uuid.UUID) (map[uuid.UUID][]core.Run, error) {
			return br.RunsOfPipelines(ctx, team, ids, perPipeline)
		},
		func(id uuid.UUID) ([]core.Run, error) {
			return s.Runs(ctx, who, id, store.RunQuery{Limit: perPipeline})
		})
}

// SinksOfPipelines returns the sinks of each of the caller's team's
// pipelines in ids, as Sinks lists them (viewer).
func (s *Service) SinksOfPipelines(ctx context.Context, who Caller, ids []uuid.UUID) (map[uuid.UUID][]Sink, error) {
	team, _, err := s.access(who, auth.Viewer)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID][]Sink, len(ids))
	br, ok := s.st.(store.BatchReads)
	if !ok {
		for _, id := range ids {
			sinks, err := s.Sinks(ctx, who, id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			out[id] = sinks
		}
		return out, nil
	}
	all, err := s.st.Pipelines(ctx, team)
	if err != nil {
		return nil, fmt.Errorf("list pipelines: %w", err)
	}
	byID := make(map[uuid.UUID]core.Pipeline, len(all))
	for _, p := range all {
		byID[p.ID] = p
	}
	var mine []uuid.UUID
	for _, id := range ids {
		if _, ok := byID[id]; ok {
			mine = append(mine, id)
		}
	}
	states, err := br.SinkStatesOfPipelines(ctx, team, mine)
	if err != nil {
		return nil, fmt.Errorf("sink states of pipelines: %w", err)
	}
	downs, err := br.DownstreamsOfPipelines(ctx, team, mine)
	if err != nil {
		return nil, fmt.Errorf("downstreams of pipelines: %w", err)
	}
	load := func(id uuid.UUID) (core.Pipeline, error) {
		if p, ok := byID[id]; ok {
			return p, nil
		}
		return core.Pipeline{}, core.ErrNotFound
	}
	for _, id := range mine {
		_, sinks, err := parseSinks(byID[id])
		if err != nil {
			return nil, err
		}
		named := make(map[string]core.SinkState, len(states[id]))
		for _, st := range states[id] {
			named[st.Sink] = st
		}
		if out[id], err = s.sinksOf(sinks, named, downs[id], load); err != nil {
			return nil, err
		}
	}
	return out, nil
}
