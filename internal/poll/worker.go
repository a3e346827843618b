package poll

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/source"
	"github.com/tributary-dev/tributary/internal/store"
)

// pollState is what a polling pipeline's state holds: the source's
// variables and the bookkeeping of the schedule, committed with each poll.
type pollState struct {
	Values source.Values `json:"values,omitempty"`
	// Due is the due time of the poll that wrote the state.
	Due *time.Time `json:"due,omitempty"`
	// Failures counts consecutive failed polls.
	Failures int `json:"failures,omitempty"`
	// RetryAfterMS is the wait the API asked for when the poll failed.
	RetryAfterMS int64 `json:"retry_after_ms,omitempty"`
}

func decodePollState(raw json.RawMessage) pollState {
	var st pollState
	if len(raw) == 0 {
		return st
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&st) != nil {
		return pollState{} // a state from elsewhere: start afresh
	}
	return st
}

// work runs one claimed poll; an error means it did not commit.
func (s *Service) work(ctx context.Context, d store.DuePoll, start time.Time) error {
	pl := d.Pipeline
	log := s.log.With("pipeline", pl.ID, "team", pl.TeamID, "due", d.Due)
	if pl.Kind != core.KindPolling || pl.Status == core.StatusPaused {
		// Paused: the schedule stops here; resuming arms it again.
		_, err := s.store.FinishPoll(ctx, store.PollFinish{TeamID: pl.TeamID, PipelineID: pl.ID, Due: d.Due})
		s.metrics.outcome("paused")
		return err
	}
	st := decodePollState(d.State)
	if st.Due == nil || !st.Due.Equal(d.Due) {
		// The poll of this due time has not committed yet: run it. It
		// moves the schedule to the next poll in its own transaction.
		stop := s.poll(ctx, d, pl, st, start, log)
		if errors.Is(stop, core.ErrNotFound) {
			// The pipeline was deleted during the poll; so was its schedule.
			s.metrics.outcome("stale")
			return nil
		}
		return stop
	}
	// The poll committed before and its schedule did not move (a commit
	// whose answer was lost, or a schedule of an older version): only the
	// schedule is left to do; FinishPoll does nothing when the schedule
	// already moved.
	log.DebugContext(ctx, "poll: already done, scheduling the next one")
	var interval time.Duration
	if c, err := s.engine.Compiled(pl); err == nil {
		interval = c.Interval
	}
	_, err := s.store.FinishPoll(ctx, s.finish(pl, d.Due, start, interval, st))
	return err
}

// sameValues reports whether a poll left the source's variables as they
// were (compared as JSON; a difference in form only counts as a change).
func sameValues(before, after source.Values) bool {
	a, err1 := json.Marshal(before)
	b, err2 := json.Marshal(after)
	return err1 == nil && err2 == nil && bytes.Equal(a, b)
}

// finish is the end of the poll of pl due at due, started at start, that
// committed st: the next poll, and the pipeline's status after it.
func (s *Service) finish(pl core.Pipeline, due, start time.Time, interval time.Duration, st pollState) store.PollFinish {
	if interval <= 0 {
		interval = time.Minute // a spec that does not compile is retried at the default
	}
	next := s.nextDue(due, start, interval, st, s.cfg.Now().UTC())
	var status core.PipelineStatus
	switch {
	case st.Failures >= s.cfg.FailingAfter && pl.Status != core.StatusFailing:
		status = core.StatusFailing
	case st.Failures == 0 && pl.Status == core.StatusFailing:
		status = core.StatusActive
	}
	return store.PollFinish{TeamID: pl.TeamID, PipelineID: pl.ID, Due: due, Next: next, Status: status}
}

// poll fetches, dedups and commits one poll, or records its failure; the
// transaction that commits it also holds the poll's dedup keys and moves
// the schedule to the next poll. stop is set when the poll ends without
// that commit (it is retried).
func (s *Service) poll(ctx context.Context, d store.DuePoll, pl core.Pipeline, prev pollState, start time.Time, log *slog.Logger) (stop error) {
	trigger := core.TriggerPoll
	if d.Manual {
		trigger = core.TriggerManual
	}
	due := d.Due
	var interval time.Duration
	failed := func(msg string, retryAfter time.Duration) error {
		st := pollState{Values: prev.Values, Due: &due, Failures: prev.Failures + 1, RetryAfterMS: retryAfter.Milliseconds()}
		if err := s.writeFailure(ctx, pl, trigger, start, msg, st, s.finish(pl, due, start, interval, st)); err != nil {
			return err
		}
		s.metrics.outcome("failed")
		log.WarnContext(ctx, "poll failed", "err", msg, "failures", st.Failures)
		return nil
	}
	c, err := s.engine.Compiled(pl)
	if err != nil || c.Source == nil {
		msg := "the pipeline's spec cannot be polled; save it again to see its problems"
		if se, ok := errors.AsType[*pipeline.SpecError](err); ok && len(se.Problems) > 0 {
			msg = "the pipeline's spec cannot be polled: " + se.Problems[0].String()
		}
		return failed(msg, 0)
	}
	interval = c.Interval

	pctx, cancel := context.WithTimeout(ctx, s.cfg.RunTimeout)
	defer cancel()
	// The poll starts when its requests do: on a loaded node that can be
	// seconds after the claim, and a poll that late sets the schedule
	// from itself (nextDue).
	start = s.cfg.Now().UTC()
	began := time.Now()
	env := s.env
	env.Secrets = func(ctx context.Context, name string) ([]byte, error) { return s.secrets.Open(ctx, pl.TeamID, name) }
	res, err := c.Source.Poll(pctx, &env, prev.Values)
	if err != nil {
		if ctx.Err() != nil {
			// The poll was stopped (the node shuts down): its lease is
			// freed, and the next claim polls again.
			return ctx.Err()
		}
		var se *source.Error
		if errors.As(err, &se) {
			return failed(se.Msg, se.RetryAfter)
		}
		return failed(err.Error(), 0)
	}

	// A request that waited for the per-host rate limit (many pipelines
	// polling one API) went out later still: that is when the API was
	// polled.
	if res.Sent.After(began) {
		start = start.Add(res.Sent.Sub(began))
	}
	records, keys := res.Records, res.Keys
	window, dedup := c.Source.DedupWindow()
	if dedup {
		seen, err := s.store.SeenKeys(ctx, pl.TeamID, pl.ID, keys, s.cfg.Now().UTC())
		if err != nil {
			return err
		}
		records, keys = dropSeen(records, keys, seen)
	}
	if len(records) == 0 && !d.Manual && prev.Failures == 0 && pl.Status != core.StatusFailing && sameValues(prev.Values, res.State) {
		// Nothing new and nothing changed: only the schedule moves (and
		// the pipeline's last run), without a run row or a durable
		// commit; the runs list shows the polls that brought something
		// or failed. Lost in a crash, this period is polled again.
		finish := s.finish(pl, due, start, interval, pollState{Values: prev.Values, Due: &due})
		finish.Empty, finish.PolledAt = true, start
		if _, err := s.store.FinishPoll(ctx, finish); err != nil {
			return fmt.Errorf("poll of pipeline %s: %w", pl.ID, err)
		}
		s.metrics.outcome("empty")
		s.metrics.duration.Observe(time.Since(start).Seconds())
		return nil
	}
	st := pollState{Values: res.State, Due: &due}
	state, err := json.Marshal(st)
	if err != nil {
		return failed("the new state cannot be encoded: "+err.Error(), 0)
	}
	// The records, their dedup keys, the state and the next poll commit
	// together: a crash leaves either all of them or none.
	finish := s.finish(pl, due, start, interval, st)
	// Deduplicated records were fetched: they count in the run's fetched.
	x := engine.PollCommit{State: state, Finish: &finish, Deduplicated: len(res.Records) - len(records)}
	if dedup && len(keys) > 0 {
		x.Keys, x.KeysExpire = keys, s.cfg.Now().UTC().Add(window)
	}
	if _, err := s.engine.RunPoll(ctx, pl, c, records, trigger, x); err != nil {
		return fmt.Errorf("poll of pipeline %s: %w", pl.ID, err)
	}
	s.metrics.outcome("ok")
	s.metrics.duration.Observe(time.Since(start).Seconds())
	log.DebugContext(ctx, "poll done", "records", len(records), "fetched", len(res.Records), "requests", res.Requests, "more", res.More)
	return nil
}

// dropSeen removes the records whose key was seen, and the records that
// repeat a key of an earlier record of the same poll.
func dropSeen(records []any, keys [][]byte, seen []bool) ([]any, [][]byte) {
	outR := records[:0:0]
	var outK [][]byte
	batch := make(map[string]bool, len(keys))
	for i, rec := range records {
		k := keys[i]
		if k != nil {
			if seen[i] || batch[string(k)] {
				continue
			}
			batch[string(k)] = true
			outK = append(outK, k)
		}
		outR = append(outR, rec)
	}
	return outR, outK
}

// writeFailure commits a failed run with the error and the state that
// keeps the previous variables. It goes through the engine, like every
// other run, so that the engine's metrics count it.
func (s *Service) writeFailure(ctx context.Context, pl core.Pipeline, trigger core.RunTrigger, start time.Time, msg string, st pollState, finish store.PollFinish) error {
	state, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode the state of failed poll of pipeline %s: %w", pl.ID, err)
	}
	if _, err := s.engine.RecordFailure(ctx, pl, engine.FailedRun{Trigger: trigger, StartedAt: start, Error: msg, State: state, Finish: &finish}); err != nil {
		return fmt.Errorf("record failed poll of pipeline %s: %w", pl.ID, err)
	}
	return nil
}
