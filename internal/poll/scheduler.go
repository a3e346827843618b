package poll

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tributary-dev/tributary/internal/store"
)

// Start frees the leases of the node's dead processes (Config.Node) and
// starts the scheduler: every FetchInterval, or as soon as a worker is
// free when polls are waiting, it claims the due polls (as many as it has
// free workers, at most ClaimBatch) in one statement and runs each in a
// goroutine of its own.
func (s *Service) Start(ctx context.Context) error {
	if s.done != nil {
		return errors.New("polling: started twice")
	}
	if s.cfg.Node != "" {
		n, err := s.store.ReleasePolls(ctx, s.cfg.Node+"@")
		if err != nil {
			return fmt.Errorf("polling: %w", err)
		}
		if n > 0 {
			s.log.InfoContext(ctx, "polling: freed the polls this node's previous process was running", "polls", n)
		}
	}
	loopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	pollCtx, cancelPolls := context.WithCancel(context.WithoutCancel(ctx))
	s.stop, s.cancelPolls, s.done = stop, cancelPolls, make(chan struct{})
	go s.loop(loopCtx, pollCtx)
	return nil
}

// Stop stops claiming polls and waits for the polls in flight until ctx
// ends; then it cancels those left, and frees their leases so that the
// next node to claim takes them at once. Stopping a Service that was
// never started does nothing.
func (s *Service) Stop(ctx context.Context) error {
	if s.done == nil {
		return nil
	}
	s.stop()
	<-s.done
	finished := make(chan struct{})
	go func() {
		s.polls.Wait()
		close(finished)
	}()
	var err error
	select {
	case <-finished:
	case <-ctx.Done():
		s.cancelPolls()
		<-finished
		err = fmt.Errorf("polling: stop: %w", ctx.Err())
	}
	s.cancelPolls()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, rerr := s.store.ReleasePolls(rctx, s.cfg.Owner); rerr != nil {
		err = errors.Join(err, fmt.Errorf("polling: stop: %w", rerr))
	}
	return err
}

// leaseFor is how long a claimed poll's lease holds: its requests
// (RunTimeout), then its commit.
func (s *Service) leaseFor() time.Duration { return s.cfg.RunTimeout + 30*time.Second }

// loop claims due polls until ctx ends and runs them under pollCtx.
func (s *Service) loop(ctx, pollCtx context.Context) {
	defer close(s.done)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		again := false
		if free := s.free(); free > 0 {
			limit := min(free, s.cfg.ClaimBatch)
			now := s.cfg.Now().UTC()
			claim := store.PollBatchClaim{Owner: s.cfg.Owner, Now: now, LeaseUntil: now.Add(s.leaseFor()), Limit: limit}
			if s.cfg.OwnerExpiry > 0 {
				claim.DeadBefore = now.Add(-s.cfg.OwnerExpiry)
			}
			due, err := s.store.ClaimDuePolls(ctx, claim)
			if err != nil && ctx.Err() == nil {
				s.log.WarnContext(ctx, "polling: claim due polls", "err", err)
			}
			for _, d := range due {
				s.running.Add(1)
				s.polls.Add(1)
				go s.run(pollCtx, d, claim.LeaseUntil)
			}
			// A full claim may have left due polls behind: claim again at
			// once while enough workers are free, else when they are.
			if err == nil && len(due) == limit {
				again = s.free() >= s.wakeAt()
				if !again {
					s.starved.Store(true)
					// Workers freed meanwhile did not see the flag.
					again = s.free() >= s.wakeAt() && s.starved.CompareAndSwap(true, false)
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		if again {
			continue
		}
		timer.Reset(s.cfg.FetchInterval)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.wake:
			if !timer.Stop() {
				<-timer.C
			}
		}
	}
}

// free is how many workers are free.
func (s *Service) free() int { return s.cfg.Workers - int(s.running.Load()) }

// wakeAt is how many workers must be free before a scheduler that left
// due polls behind claims again before its next FetchInterval: claims
// then take a tenth of the workers at least, not one poll each.
func (s *Service) wakeAt() int { return max(1, s.cfg.Workers/10) }

// nudge wakes the scheduler without waiting.
func (s *Service) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run runs one claimed poll and frees its worker. A poll that failed
// without committing keeps its lease for RetryAfter and is then claimed
// again; one stopped with its node (pollCtx) is freed by Stop.
func (s *Service) run(ctx context.Context, d store.DuePoll, leaseUntil time.Time) {
	defer func() {
		s.running.Add(-1)
		s.polls.Done()
		if s.free() >= s.wakeAt() && s.starved.CompareAndSwap(true, false) {
			s.nudge()
		}
	}()
	// The lag is until the poll runs, which on a loaded node can be well
	// after the claim began.
	started := s.cfg.Now().UTC()
	s.metrics.lag.Observe(max(started.Sub(d.Due), 0).Seconds())
	// The poll ends before its lease does, so that no other node can
	// claim it while it may still commit.
	ctx, cancel := context.WithTimeout(ctx, leaseUntil.Add(-10*time.Second).Sub(started))
	defer cancel()
	err := s.work(ctx, d, started)
	if err == nil || ctx.Err() != nil {
		return
	}
	s.metrics.outcome("retry")
	s.log.WarnContext(ctx, "poll not committed; retried later", "pipeline", d.Pipeline.ID, "team", d.Pipeline.TeamID, "due", d.Due,
		"retry_after", s.cfg.RetryAfter, "err", err)
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer rcancel()
	if err := s.store.RetryPoll(rctx, d.Pipeline.TeamID, d.Pipeline.ID, d.Due, s.cfg.Now().UTC().Add(s.cfg.RetryAfter)); err != nil {
		s.log.WarnContext(ctx, "poll retry", "pipeline", d.Pipeline.ID, "err", err)
	}
}
