package alert

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
)

// EvaluateArgs is the job that evaluates every due rule at one tick. The
// periodic job of each node inserts it unique by tick, so one tick is
// evaluated once across nodes; a node that crashed mid-way leaves its job
// to River's rescuer, and the rerun skips the rules already written for
// the tick.
type EvaluateArgs struct {
	Tick time.Time `json:"tick"`
}

// Kind implements river.JobArgs.
func (EvaluateArgs) Kind() string { return "alert_evaluate" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (EvaluateArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// NotifyArgs is the job that sends one transition (or one repeat of a
// firing state) to one channel. It is inserted in the transaction that
// records the transition, unique by its arguments.
type NotifyArgs struct {
	TeamID     uuid.UUID `json:"team_id"`
	Channel    uuid.UUID `json:"channel"`
	Transition uuid.UUID `json:"transition"`
	// Repeat is 0 for the transition itself, n for its n-th repeat.
	Repeat int `json:"repeat,omitempty"`
}

// Kind implements river.JobArgs.
func (NotifyArgs) Kind() string { return "alert_notify" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (NotifyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type evaluateWorker struct {
	river.WorkerDefaults[EvaluateArgs]
	s *Service
}

func (w *evaluateWorker) Work(ctx context.Context, job *river.Job[EvaluateArgs]) error {
	res, err := w.s.Evaluate(ctx, job.Args.Tick)
	if err != nil {
		return fmt.Errorf("evaluate alerts at %s: %w", job.Args.Tick.Format(time.RFC3339), err)
	}
	if res.Rules > 0 {
		w.s.log.DebugContext(ctx, "alerts evaluated", "tick", job.Args.Tick, "rules", res.Rules, "transitions", res.Transitions, "took", res.Took)
	}
	return nil
}

// Timeout bounds one evaluation to its tick.
func (w *evaluateWorker) Timeout(*river.Job[EvaluateArgs]) time.Duration {
	return max(w.s.cfg.Interval, time.Minute)
}

type notifyWorker struct {
	river.WorkerDefaults[NotifyArgs]
	s *Service
}

func (w *notifyWorker) Work(ctx context.Context, job *river.Job[NotifyArgs]) error {
	return w.s.deliver(ctx, job.Args)
}

func (w *notifyWorker) NextRetry(job *river.Job[NotifyArgs]) time.Time {
	return time.Now().Add(w.s.cfg.Retry(job.Attempt))
}

func (w *notifyWorker) Timeout(*river.Job[NotifyArgs]) time.Duration {
	return w.s.cfg.SendTimeout + 5*time.Second
}

// notifyJob builds the insert of one notification.
func (s *Service) notifyJob(a NotifyArgs) river.InsertManyParams {
	opts := a.InsertOpts()
	opts.MaxAttempts = s.cfg.MaxAttempts
	return river.InsertManyParams{Args: a, InsertOpts: &opts}
}
