package poll

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
)

// Args is the River job of one poll that earlier versions inserted for
// every poll. Polls are no longer River jobs (see the package
// documentation); the kind stays registered so that such a job still in
// a database after an upgrade is worked: it does nothing, the schedule's
// row holds the poll it stood for.
type Args struct {
	TeamID     uuid.UUID `json:"team_id"`
	PipelineID uuid.UUID `json:"pipeline_id"`
	Due        time.Time `json:"due"`
	Manual     bool      `json:"manual,omitempty"`
}

// Kind implements river.JobArgs.
func (Args) Kind() string { return "poll" }

// legacyWorker completes the poll jobs of earlier versions.
type legacyWorker struct {
	river.WorkerDefaults[Args]
}

// Work implements river.Worker.
func (*legacyWorker) Work(context.Context, *river.Job[Args]) error { return nil }

// CheckArgs is the periodic check of the schedules.
type CheckArgs struct{}

// Kind implements river.JobArgs.
func (CheckArgs) Kind() string { return "poll_check" }

// InsertOpts makes the check unique per period across nodes.
func (CheckArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: 10 * time.Second}}
}
