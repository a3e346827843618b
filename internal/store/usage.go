package store

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// RunUsage sums one pipeline's runs over a period: what the team's usage
// page shows.
type RunUsage struct {
	PipelineID uuid.UUID
	// Runs counts the runs; Failed those that ended with an error.
	Runs, Failed int64
	// Fetched, Stored and Rejected sum the runs' record counts, Bytes the
	// bytes they stored.
	Fetched, Stored, Rejected, Bytes int64
}

// Usage reads what a team's pipelines used.
type Usage interface {
	// RunUsage sums the runs of the team's pipelines started at or after
	// since, one entry per pipeline that ran (in no particular order).
	RunUsage(ctx context.Context, teamID uuid.UUID, pipelineIDs []uuid.UUID, since time.Time) ([]RunUsage, error)
}
