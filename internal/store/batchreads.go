package store

import (
	"context"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
)

// BatchReads reads what belongs to many pipelines of a team in one query
// each, so that a list showing every pipeline's runs or sinks (GraphQL's
// dataloaders) costs a fixed number of queries whatever its length. Ids of
// another team's pipelines, or of none, get nothing. Both backends
// implement it; the conformance suite checks each method answers what the
// per-pipeline read answers.
type BatchReads interface {
	// RunsOfPipelines returns, per pipeline, its newest runs (at most
	// perPipeline, clamped like RunQuery.Limit), newest first, as Runs
	// orders them.
	RunsOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, perPipeline int) (map[uuid.UUID][]core.Run, error)
	// SinkStatesOfPipelines returns, per pipeline, its sink states by
	// sink name, as SinkStates does.
	SinkStatesOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID) (map[uuid.UUID][]core.SinkState, error)
	// DownstreamsOfPipelines returns, per upstream pipeline, the p2p
	// pipelines reading it, as Downstreams does.
	DownstreamsOfPipelines(ctx context.Context, teamID uuid.UUID, upstreamIDs []uuid.UUID) (map[uuid.UUID][]uuid.UUID, error)
}
