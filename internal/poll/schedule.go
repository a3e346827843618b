package poll

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// Schedule arms the pipeline's next poll at due (truncated to
// milliseconds), replacing the pending one: for a new or resumed pipeline,
// a changed spec, or "run now" (manual). A pipeline that is not polling
// is left alone.
func (s *Service) Schedule(ctx context.Context, pl core.Pipeline, due time.Time, manual bool) (time.Time, error) {
	if pl.Kind != core.KindPolling {
		return time.Time{}, nil
	}
	due = due.UTC().Truncate(time.Millisecond)
	if err := s.store.ArmPoll(ctx, pl.TeamID, pl.ID, due, manual); err != nil {
		return time.Time{}, err
	}
	if !due.After(s.cfg.Now()) {
		s.nudge() // due now: claim it now if this node has free workers
	}
	return due, nil
}

// NextPoll returns a pipeline's schedule; core.ErrNotFound when it has
// none yet.
func (s *Service) NextPoll(ctx context.Context, teamID, pipelineID uuid.UUID) (store.PollSchedule, error) {
	return s.store.PollSchedule(ctx, teamID, pipelineID)
}

// nextDue computes the due time of the poll after the one due at due and
// started at start. A successful poll is followed one interval after its
// due time (so the schedule does not drift with the poll's duration) —
// unless it started more than a quarter of an interval late (its node died
// or was overloaded): then it was the catch-up, and the next one follows
// one interval after it started, not at once. A failed one follows after a
// backoff from now that doubles with each consecutive failure, bounded by
// MaxBackoff but never below the interval, and never before the API's
// Retry-After. A next poll that would be due already is due now. The
// result carries a small random jitter.
func (s *Service) nextDue(due, start time.Time, interval time.Duration, st pollState, now time.Time) time.Time {
	var next time.Time
	if st.Failures == 0 {
		next = due.Add(interval)
		if start.Sub(due) > interval/4 {
			next = start.Add(interval)
		}
	} else {
		backoff := interval
		for i := 1; i < st.Failures && backoff < s.cfg.MaxBackoff; i++ {
			backoff *= 2
		}
		backoff = max(min(backoff, s.cfg.MaxBackoff), interval)
		backoff = max(backoff, time.Duration(st.RetryAfterMS)*time.Millisecond)
		next = now.Add(backoff)
	}
	if j := min(s.cfg.MaxJitter, interval/20); j > 0 {
		next = next.Add(time.Duration(rand.Int64N(int64(2*j))) - j)
	}
	if next.Before(now) {
		next = now
	}
	next = next.Truncate(time.Millisecond)
	if !next.After(due) {
		next = due.Add(time.Millisecond)
	}
	return next
}

// checkWorker arms the polling pipelines that have no schedule and drops
// expired dedup keys.
type checkWorker struct {
	river.WorkerDefaults[CheckArgs]
	s *Service
}

// Work implements river.Worker.
func (w *checkWorker) Work(ctx context.Context, _ *river.Job[CheckArgs]) error {
	return w.s.check(ctx)
}

// Check runs the periodic check of the schedules once (tests, and the
// command line): it arms the polling pipelines that have no schedule and
// deletes expired dedup keys.
func (s *Service) Check(ctx context.Context) error { return s.check(ctx) }

// check arms the polling pipelines without a schedule, spreading their
// first polls over a few seconds, and deletes expired dedup keys.
func (s *Service) check(ctx context.Context) error {
	now := s.cfg.Now().UTC()
	armed := 0
	for {
		refs, err := s.store.UnarmedPolls(ctx, 1000)
		if err != nil {
			return err
		}
		for _, r := range refs {
			due := now.Add(time.Duration(rand.Int64N(int64(5 * time.Second)))).Truncate(time.Millisecond)
			// Only if still unarmed: the pipeline may have been armed,
			// and polled, since it was read.
			ok, err := s.store.ArmNewPoll(ctx, r.TeamID, r.PipelineID, due)
			if err != nil {
				return err
			}
			if ok {
				armed++
			}
		}
		if len(refs) < 1000 {
			break
		}
	}
	if armed > 0 {
		s.log.InfoContext(ctx, "poll check: armed polling pipelines without a schedule", "pipelines", armed)
	}
	for range 10 {
		n, err := s.store.DeleteExpiredKeys(ctx, now, 10_000)
		if err != nil {
			return err
		}
		if n < 10_000 {
			break
		}
	}
	return nil
}
