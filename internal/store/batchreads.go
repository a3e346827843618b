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
	// RecordsOfPipelines returns, per pipeline, the first page of its
	// records as Records answers q (From, To and Limit per pipeline; the
	// Before cursor is not used).
	RecordsOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, q RecordQuery) (map[uuid.UUID][]core.Record, error)
	// RejectedOfPipelines returns, per pipeline, its newest rejected
	// records (at most perPipeline), as RejectedRecords orders them.
	RejectedOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, perPipeline int) (map[uuid.UUID][]core.Rejected, error)
	// DeliveriesOfPipelines returns, per pipeline, the first page of its
	// deliveries as Deliveries answers q (Sink, Status, ReplayID and
	// Limit per pipeline; BeforeID is not used).
	DeliveriesOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, q DeliveryQuery) (map[uuid.UUID][]core.Delivery, error)
	// ReplaysOfPipelines returns, per pipeline, the replays of its sink
	// named sink, as Replays does.
	ReplaysOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, sink string) (map[uuid.UUID][]core.Replay, error)
	// UploadsOfPipelines returns, per pipeline, its newest uploads (at
	// most perPipeline), as Uploads orders them.
	UploadsOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, perPipeline int) (map[uuid.UUID][]core.Upload, error)
	// StorageStatsOfPipelines returns, per pipeline, what it stores, as
	// StorageStats does.
	StorageStatsOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID) (map[uuid.UUID]StorageStats, error)
	// PollSchedulesOfPipelines returns the schedules of the pipelines
	// that have one, as PollSchedule does.
	PollSchedulesOfPipelines(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID) (map[uuid.UUID]PollSchedule, error)
}
