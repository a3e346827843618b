package poll

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Queue is the River queue of polls, apart from the default queue so
// that slow APIs never hold up other jobs, nor other jobs polls.
const Queue = "poll"

// Args is the job of one poll of one pipeline.
type Args struct {
	TeamID     uuid.UUID `json:"team_id"`
	PipelineID uuid.UUID `json:"pipeline_id" river:"unique"`
	// Due is when the poll is due: whole milliseconds, unique per
	// pipeline.
	Due time.Time `json:"due" river:"unique"`
	// Manual marks a poll asked for with "run now".
	Manual bool `json:"manual,omitempty"`
}

// Kind implements river.JobArgs.
func (Args) Kind() string { return "poll" }

// InsertOpts makes a poll unique per pipeline and due time, in the poll
// queue.
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// Hooks implements river.JobArgsWithHooks.
func (Args) Hooks() []rivertype.Hook { return []rivertype.Hook{&dueHook{}} }

// dueHook inserts a poll that is due later as available instead of
// scheduled. River moves scheduled jobs to available in a leader's pass
// every five seconds, which would make polls up to five seconds late;
// an available job is fetched only once its scheduled time has come (the
// fetch query orders and filters by it), by the poll queue's own fetch
// loop every FetchInterval.
type dueHook struct{ river.HookDefaults }

// InsertBegin implements rivertype.HookInsertBegin.
func (*dueHook) InsertBegin(_ context.Context, params *rivertype.JobInsertParams) error {
	if params.State == rivertype.JobStateScheduled {
		params.State = rivertype.JobStateAvailable
	}
	return nil
}

var _ rivertype.HookInsertBegin = (*dueHook)(nil)

// CheckArgs is the periodic check of the schedules.
type CheckArgs struct{}

// Kind implements river.JobArgs.
func (CheckArgs) Kind() string { return "poll_check" }

// InsertOpts makes the check unique per period across nodes.
func (CheckArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: 10 * time.Second}}
}
