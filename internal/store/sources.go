package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
)

// Polls keeps what polling pipelines need between runs besides their
// state (which WriteBatch writes with each batch): the schedule of each
// pipeline and the dedup keys of the records it stored.
//
// The schedule of a polling pipeline is one row: the due time of the
// pipeline's next poll (next_due) and, while a poll runs, a lease naming
// the due time of the poll that holds it, its node (the owner) and when it
// ends if the node dies. Schedulers claim due rows in batches
// (ClaimDuePolls): a row is claimed by one node at a time, so one due time
// is polled once across nodes. The poll's batch moves the row to the next
// due time in its own transaction (Batch.Finish), which also frees the
// lease; arming a row again (resume, run now, a changed spec) replaces its
// due time, and a poll still running for the old one then only frees the
// lease.
type Polls interface {
	// ArmPoll sets the pipeline's next poll to due; manual marks it a
	// "run now". A pipeline the team does not have gives
	// core.ErrNotFound.
	ArmPoll(ctx context.Context, teamID, pipelineID uuid.UUID, due time.Time, manual bool) error
	// ArmNewPoll sets the pipeline's first poll to due unless it has a
	// schedule already (which it leaves as it is, lease included); armed
	// is false then, and when the team has no such pipeline. The
	// periodic check arms with it: a pipeline it read as unarmed may have
	// been armed, and even polled, since.
	ArmNewPoll(ctx context.Context, teamID, pipelineID uuid.UUID, due time.Time) (armed bool, err error)
	// ClaimDuePolls leases up to c.Limit schedules due at c.Now whose
	// lease is free or ended before c.Now, to c.Owner until c.LeaseUntil,
	// and returns them (earliest due first) with their pipelines and
	// states. Concurrent claims never return the same schedule. Across
	// all teams: the scheduler's claim.
	ClaimDuePolls(ctx context.Context, c PollBatchClaim) ([]DuePoll, error)
	// ReleasePolls frees the leases of every owner whose name starts
	// with prefix (not empty) and returns how many: a node stopping frees
	// those of the polls it stopped (its own name), a restarted node those
	// of its dead processes (its slot's name and "@").
	ReleasePolls(ctx context.Context, prefix string) (int, error)
	// RetryPoll keeps the lease of the poll due at due until until, when
	// that poll still holds it: a poll that failed without committing is
	// claimed again (by any node, with the state as it is then) once the
	// lease ends.
	RetryPoll(ctx context.Context, teamID, pipelineID uuid.UUID, due, until time.Time) error
	// FinishPoll ends the poll due at f.Due, in one transaction: when the
	// schedule is still at f.Due it moves to f.Next, or, when f.Next is
	// zero, the schedule is deleted (the pipeline was paused: resuming
	// arms it again); otherwise only the lease of f.Due is released. It
	// sets the pipeline's status to f.Status when that is not empty and
	// the pipeline is not paused. It reports whether the schedule moved
	// (or was deleted).
	FinishPoll(ctx context.Context, f PollFinish) (bool, error)
	// PollSchedule returns a pipeline's schedule; core.ErrNotFound when
	// it has none.
	PollSchedule(ctx context.Context, teamID, pipelineID uuid.UUID) (PollSchedule, error)
	// UnarmedPolls lists polling pipelines that are not paused and have
	// no schedule: created on another path than the pipeline service, or
	// armed while they were paused. Across all teams, for the scheduler's
	// periodic check.
	UnarmedPolls(ctx context.Context, limit int) ([]PollRef, error)

	// SeenKeys reports, for each key, whether the pipeline stored a record
	// with it that is still remembered at now.
	SeenKeys(ctx context.Context, teamID, pipelineID uuid.UUID, keys [][]byte, now time.Time) ([]bool, error)
	// AddKeys remembers keys until expires.
	AddKeys(ctx context.Context, teamID, pipelineID uuid.UUID, keys [][]byte, expires time.Time) error
	// DeleteExpiredKeys forgets up to limit keys that expired before now,
	// across all pipelines, and returns how many.
	DeleteExpiredKeys(ctx context.Context, now time.Time, limit int) (int, error)
}

// PollBatchClaim asks for the due polls of a node.
type PollBatchClaim struct {
	// Owner names the claiming node (its River client ID).
	Owner string
	// Now is the clock of the claimer: schedules due at or before it are
	// claimed, and a lease that ended before it is free.
	Now time.Time
	// LeaseUntil is how long the leases hold if the polls never finish
	// (their node died).
	LeaseUntil time.Time
	// Limit bounds the polls claimed.
	Limit int
	// DeadBefore, when set, frees the leases of owners that no node of
	// the cluster listing (store.Nodes) has renewed since: their node
	// died, so its polls go on once its heartbeat expires instead of
	// when their leases end. Zero leaves every lease to its end.
	DeadBefore time.Time
}

// DuePoll is a claimed poll: the pipeline with its state, the due time
// the poll is for, and whether it was asked for with "run now". The
// pipeline's stats may lag behind (PostgreSQL reads its row without the
// deltas of recent batches): polls do not use them.
type DuePoll struct {
	Pipeline core.Pipeline
	State    json.RawMessage
	Due      time.Time
	Manual   bool
}

// PollFinish ends a poll.
type PollFinish struct {
	TeamID, PipelineID uuid.UUID
	Due                time.Time
	// Next is the due time of the next poll; zero stops the schedule.
	Next time.Time
	// Status, when not empty, becomes the pipeline's status unless it is
	// paused.
	Status core.PipelineStatus
	// Empty marks the end of a poll that found nothing new and changed
	// no state (FinishPoll only; a batch's finish ignores it): the
	// pipeline's last run becomes PolledAt, no run is written, and the
	// transaction commits without waiting for the disk, as a claim does —
	// lost in a crash, the period is only polled again.
	Empty    bool
	PolledAt time.Time
}

// PollSchedule is a pipeline's poll schedule.
type PollSchedule struct {
	TeamID, PipelineID uuid.UUID
	NextDue            time.Time
	// LeaseDue, LeaseUntil and LeaseOwner are set while a poll runs.
	LeaseDue, LeaseUntil *time.Time
	LeaseOwner           string
	// Manual says the next poll was asked for with "run now".
	Manual    bool
	UpdatedAt time.Time
}

// PollRef names a pipeline to arm.
type PollRef struct {
	TeamID, PipelineID uuid.UUID
}
