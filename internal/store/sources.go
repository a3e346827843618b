package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
)

// Polls keeps what polling pipelines need between runs besides their
// state (which WriteBatch writes with each batch): the schedule of each
// pipeline and the dedup keys of the records it stored.
//
// The schedule of a polling pipeline is one row: the due time of the
// pipeline's next poll (next_due) and, while a poll runs, a lease naming
// the due time of the poll that holds it. Exactly one River job carries
// each due time; a job whose due time is no longer the schedule's is stale
// and does nothing, so that arming a schedule again (resume, run now, a
// changed spec) replaces the pending poll instead of adding one.
type Polls interface {
	// ArmPoll sets the pipeline's next poll to due and inserts job, the
	// poll job of that due time, in the same transaction. A pipeline the
	// team does not have gives core.ErrNotFound.
	ArmPoll(ctx context.Context, teamID, pipelineID uuid.UUID, due time.Time, job river.InsertManyParams) error
	// ClaimPoll takes the lease of the poll due at c.Due and returns the
	// pipeline with its state. The claim is Stale when the schedule's next
	// poll is not c.Due (or the pipeline is gone), and Busy when another
	// poll holds an unexpired lease; a lease of the same due time (a retry
	// of the same job) is taken over.
	ClaimPoll(ctx context.Context, c PollClaimArgs) (PollClaim, error)
	// FinishPoll ends the poll due at f.Due, in one transaction: when the
	// schedule is still at f.Due it moves to f.Next and f.Job (the next
	// poll) is inserted, unless f.Next is zero (the schedule stops);
	// otherwise only the lease is released. It sets the pipeline's status
	// to f.Status when that is not empty and the pipeline is not paused.
	// It reports whether the schedule moved.
	FinishPoll(ctx context.Context, f PollFinish) (bool, error)
	// PollSchedule returns a pipeline's schedule; core.ErrNotFound when
	// it has none.
	PollSchedule(ctx context.Context, teamID, pipelineID uuid.UUID) (PollSchedule, error)
	// UnarmedPolls lists polling pipelines that are not paused and whose
	// schedule is missing, or overdue since before overdue with no lease
	// held at now: their chain of poll jobs was lost and must be armed
	// again. Across all teams, for the scheduler's periodic check.
	UnarmedPolls(ctx context.Context, overdue, now time.Time, limit int) ([]PollRef, error)

	// SeenKeys reports, for each key, whether the pipeline stored a record
	// with it that is still remembered at now.
	SeenKeys(ctx context.Context, teamID, pipelineID uuid.UUID, keys [][]byte, now time.Time) ([]bool, error)
	// AddKeys remembers keys until expires.
	AddKeys(ctx context.Context, teamID, pipelineID uuid.UUID, keys [][]byte, expires time.Time) error
	// DeleteExpiredKeys forgets up to limit keys that expired before now,
	// across all pipelines, and returns how many.
	DeleteExpiredKeys(ctx context.Context, now time.Time, limit int) (int, error)
}

// PollClaimArgs selects the poll to claim.
type PollClaimArgs struct {
	TeamID, PipelineID uuid.UUID
	// Due is the due time of the poll (its job's).
	Due time.Time
	// Now is the clock of the claimer; a lease that ended before it is
	// free.
	Now time.Time
	// LeaseUntil is how long the lease holds if the poll never finishes
	// (its node died).
	LeaseUntil time.Time
}

// PollClaim is the outcome of ClaimPoll.
type PollClaim struct {
	// Stale means the poll is not the schedule's: do nothing.
	Stale bool
	// BusyUntil, when not zero, is when the lease of another poll of the
	// pipeline ends: try again later.
	BusyUntil time.Time
	// Pipeline and State are set for a claimed poll.
	Pipeline core.Pipeline
	State    json.RawMessage
}

// PollFinish ends a poll.
type PollFinish struct {
	TeamID, PipelineID uuid.UUID
	Due                time.Time
	// Next is the due time of the next poll; zero stops the schedule.
	Next time.Time
	// Job is the job of the next poll.
	Job *river.InsertManyParams
	// Status, when not empty, becomes the pipeline's status unless it is
	// paused.
	Status core.PipelineStatus
}

// PollSchedule is a pipeline's poll schedule.
type PollSchedule struct {
	TeamID, PipelineID uuid.UUID
	NextDue            time.Time
	// LeaseDue and LeaseUntil are set while a poll runs.
	LeaseDue, LeaseUntil *time.Time
	UpdatedAt            time.Time
}

// PollRef names a pipeline to arm.
type PollRef struct {
	TeamID, PipelineID uuid.UUID
}
