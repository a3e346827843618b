package delivery

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/store"
)

// deliverWorker works DeliverArgs jobs.
type deliverWorker struct {
	river.WorkerDefaults[DeliverArgs]
	s *Service
}

// Work implements river.Worker.
func (w *deliverWorker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	return w.s.deliver(ctx, job)
}

// NextRetry implements river.Worker: the time Work chose, which honours
// the destination's Retry-After, else the schedule.
func (w *deliverWorker) NextRetry(job *river.Job[DeliverArgs]) time.Time {
	if wait, ok := w.s.retryAt.LoadAndDelete(job.ID); ok {
		return time.Now().Add(wait.(time.Duration))
	}
	return time.Now().Add(w.s.cfg.retryWait(job.Attempt))
}

// Timeout implements river.Worker.
func (w *deliverWorker) Timeout(*river.Job[DeliverArgs]) time.Duration { return w.s.cfg.AttemptTimeout }

// deliver makes one attempt of a delivery and records its outcome.
func (s *Service) deliver(ctx context.Context, job *river.Job[DeliverArgs]) error {
	a := job.Args
	started := time.Now()
	// A job rescued after a crash may have delivered already: its row
	// says so when the crash came between the row's update and River's
	// completion of the job.
	d, err := s.st.Delivery(ctx, a.TeamID, a.Delivery)
	switch {
	case errors.Is(err, core.ErrNotFound):
		return nil // deleted with its pipeline
	case err != nil:
		return s.failed(ctx, job, started, 0, fmt.Errorf("load the delivery: %w", err))
	case d.Status == core.DeliveryDelivered:
		s.log.Debug("delivery: delivered already", "pipeline", a.PipelineID, "sink", a.Sink, "delivery", a.Delivery)
		return nil
	}
	p, err := s.st.Pipeline(ctx, a.TeamID, a.PipelineID)
	if errors.Is(err, core.ErrNotFound) {
		return nil // the pipeline was deleted, and its deliveries with it
	}
	if err != nil {
		return s.failed(ctx, job, started, d.Attempts, fmt.Errorf("load the pipeline: %w", err))
	}
	in := s.info(p)
	spec, _, ok := Find(in.sinks, a.Sink)
	if !ok {
		return s.failed(ctx, job, started, d.Attempts, sink.Permanent(fmt.Errorf("the pipeline has no sink named %q any more", a.Sink)))
	}
	if !spec.Enabled {
		return s.failed(ctx, job, started, d.Attempts, sink.Permanent(errors.New("the sink is disabled; enable it, then retry the delivery")))
	}
	kind, ok := s.reg.Kind(spec.Kind)
	if !ok {
		return s.failed(ctx, job, started, d.Attempts, sink.Permanent(fmt.Errorf("this server has no sink kind %q", spec.Kind)))
	}
	records, err := s.load(ctx, a)
	if err != nil {
		return s.failed(ctx, job, started, d.Attempts, err)
	}
	if len(records) == 0 {
		// Retention removed the records before they could be delivered.
		s.log.Warn("delivery: the records are gone from the store; nothing to deliver", "pipeline", a.PipelineID, "sink", a.Sink, "delivery", a.Delivery)
		return s.succeeded(ctx, job, started, d.Attempts, 0)
	}

	key := poolKey{pipeline: a.PipelineID, sink: spec.Name}
	inst, err := s.pool.acquire(ctx, key, kind, spec.Settings, s.cfg.BusyWait, func(ctx context.Context) (sink.Sink, error) {
		return kind.Open(ctx, a.TeamID, spec.Settings, s.deps)
	})
	if errors.Is(err, errBusy) {
		s.m.snoozed.Inc()
		return river.JobSnooze(jitter(s.cfg.BusySnooze, 0.5))
	}
	if err != nil {
		if !errors.Is(err, errProbing) {
			err = fmt.Errorf("open the sink: %w", err)
		}
		// Nothing was sent: the attempt does not count in the delivery's
		// attempts (River's attempt is used up all the same).
		return s.failed(ctx, job, started, d.Attempts, err)
	}
	limit := kind.MaxBatch
	if bl, ok := inst.sink.(sink.BatchLimiter); ok && bl.MaxBatch() > 0 && (limit == 0 || bl.MaxBatch() < limit) {
		limit = bl.MaxBatch()
	}
	parts := parts(records, limit)
	var derr error
	for i, part := range parts {
		b := sink.Batch{
			TeamID: a.TeamID, PipelineID: a.PipelineID, Pipeline: p.Name, Sink: spec.Name,
			DeliveryID: a.Key, Records: part, Fields: in.fields,
		}
		if len(parts) > 1 {
			b.DeliveryID = a.Key + "." + strconv.Itoa(i)
		}
		if derr = inst.sink.Deliver(ctx, b); derr != nil {
			if len(parts) > 1 {
				derr = fmt.Errorf("part %d of %d: %w", i+1, len(parts), derr)
			}
			break
		}
	}
	s.pool.release(inst, derr)
	// The records were sent: the attempt counts.
	if derr != nil {
		return s.failed(ctx, job, started, d.Attempts+1, derr)
	}
	return s.succeeded(ctx, job, started, d.Attempts+1, len(records))
}

// parts cuts records into pieces of at most limit (0: no limit).
func parts(records []core.Record, limit int) [][]core.Record {
	if limit <= 0 || len(records) <= limit {
		return [][]core.Record{records}
	}
	var out [][]core.Record
	for start := 0; start < len(records); start += limit {
		out = append(out, records[start:min(start+limit, len(records))])
	}
	return out
}

// load returns a delivery's records: inline, or read back by id.
func (s *Service) load(ctx context.Context, a DeliverArgs) ([]core.Record, error) {
	if a.Records != nil {
		out := make([]core.Record, len(a.Records))
		for i, r := range a.Records {
			out[i] = core.Record{PipelineID: a.PipelineID, TS: r.TS, Data: r.Data}
		}
		return out, nil
	}
	if len(a.IDs) == 0 {
		return nil, nil
	}
	recs, err := s.st.RecordsByID(ctx, a.TeamID, a.PipelineID, a.ranges(), a.From, a.To)
	if err != nil {
		return nil, fmt.Errorf("read the records: %w", err)
	}
	return recs, nil
}

// succeeded records a delivered delivery; sent is the number of attempts
// that sent the records to the destination, this one included.
func (s *Service) succeeded(ctx context.Context, job *river.Job[DeliverArgs], started time.Time, sent, n int) error {
	a := job.Args
	now := core.Now()
	pl, sk := a.PipelineID.String(), a.Sink
	s.m.attempts.WithLabelValues(pl, sk, "delivered").Inc()
	s.m.records.WithLabelValues(pl, sk).Add(float64(n))
	s.m.duration.WithLabelValues(pl, sk).Observe(time.Since(started).Seconds())
	s.m.latency.WithLabelValues(pl, sk).Observe(now.Sub(job.CreatedAt).Seconds())
	_, err := s.st.RecordDelivery(context.WithoutCancel(ctx), store.DeliveryOutcome{
		TeamID: a.TeamID, PipelineID: a.PipelineID, Sink: a.Sink, ID: a.Delivery,
		Status: core.DeliveryDelivered, Attempt: sent, At: now, Duration: time.Since(started), Records: n,
		FailingAfter: s.cfg.FailingAfter,
	})
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		// The records were delivered; failing the job would deliver them
		// again. The row stays behind until a retry by hand, if any.
		s.log.Error("delivery: record a delivered delivery", "pipeline", a.PipelineID, "sink", a.Sink, "delivery", a.Delivery, "err", err)
	}
	return nil
}

// failed records a failed attempt and returns what River should do with
// the job: retry it when the schedule (or the destination's Retry-After)
// says, or stop, the delivery dead. sent is the number of attempts that
// sent the records to the destination, this one included if it did: the
// delivery's attempts count those only.
func (s *Service) failed(ctx context.Context, job *river.Job[DeliverArgs], started time.Time, sent int, cause error) error {
	a := job.Args
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) &&
		!errors.Is(context.Cause(ctx), rivertype.ErrJobCancelledRemotely) {
		// The process is stopping: try again at the next start, without
		// using up an attempt.
		return river.JobSnooze(0)
	}
	o := store.DeliveryOutcome{
		TeamID: a.TeamID, PipelineID: a.PipelineID, Sink: a.Sink, ID: a.Delivery,
		Attempt: sent, At: core.Now(), Duration: time.Since(started), Error: truncate(cause.Error()),
		FailingAfter: s.cfg.FailingAfter,
	}
	var (
		gone *sink.GoneError
		ra   *sink.RetryAfterError
		ret  = cause
	)
	switch {
	case errors.As(cause, &gone):
		o.Status = core.DeliveryDead
		s.disable(ctx, a, cause)
		ret = river.JobCancel(cause)
	case sink.IsPermanent(cause):
		o.Status = core.DeliveryDead
		ret = river.JobCancel(cause)
	case job.Attempt >= job.MaxAttempts:
		o.Status = core.DeliveryDead
		o.Error = truncate(fmt.Sprintf("gave up after %d attempts: %v", job.Attempt, cause))
	default:
		wait := s.cfg.retryWait(job.Attempt)
		if errors.As(cause, &ra) {
			wait = min(max(ra.After, 0), s.cfg.MaxRetryAfter)
		}
		next := time.Now().Add(wait)
		s.retryAt.Store(job.ID, wait)
		o.Status, o.NextAttemptAt = core.DeliveryRetrying, &next
	}
	if o.Status == core.DeliveryDead {
		o.Payload = job.EncodedArgs
	}
	pl := a.PipelineID.String()
	outcome := "failed"
	if o.Status == core.DeliveryDead {
		outcome = "dead"
	}
	s.m.attempts.WithLabelValues(pl, a.Sink, outcome).Inc()
	s.m.duration.WithLabelValues(pl, a.Sink).Observe(time.Since(started).Seconds())
	st, err := s.st.RecordDelivery(context.WithoutCancel(ctx), o)
	switch {
	case errors.Is(err, core.ErrNotFound):
		return nil // deleted with its pipeline meanwhile
	case err != nil:
		s.log.Error("delivery: record a failed attempt", "pipeline", a.PipelineID, "sink", a.Sink, "delivery", a.Delivery, "err", err)
	case st.Status == core.SinkFailing && st.ConsecutiveFailures == s.cfg.FailingAfter:
		s.log.Warn("delivery: sink failing", "pipeline", a.PipelineID, "sink", a.Sink, "failures", st.ConsecutiveFailures, "err", cause)
	}
	level := "retry"
	if o.Status == core.DeliveryDead {
		level = "dead"
	}
	s.log.Info("delivery: attempt failed", "pipeline", a.PipelineID, "sink", a.Sink, "delivery", a.Delivery,
		"attempt", job.Attempt, "outcome", level, "err", cause)
	return ret
}

// replayWorker works ReplayArgs jobs.
type replayWorker struct {
	river.WorkerDefaults[ReplayArgs]
	s *Service
}

// Work implements river.Worker: it hands up to ReplayStepPages pages of
// the range's records to delivery jobs, each page in one transaction with
// the replay's progress, then yields (a snooze that uses up no attempt)
// so other work runs between the steps of a long replay.
func (w *replayWorker) Work(ctx context.Context, job *river.Job[ReplayArgs]) error {
	s, a := w.s, job.Args
	err := s.replaySteps(ctx, a)
	switch {
	case err == nil || errors.Is(err, errReplayYield):
		if err != nil {
			return river.JobSnooze(0)
		}
		return nil
	case errors.Is(err, core.ErrNotFound):
		return nil // finished, or its pipeline deleted
	case job.Attempt >= job.MaxAttempts:
		step := store.ReplayStep{TeamID: a.TeamID, ID: a.Replay, Status: core.ReplayFailed, Error: truncate(err.Error())}
		if aerr := s.st.AdvanceReplay(context.WithoutCancel(ctx), step, nil); aerr != nil {
			s.log.Error("delivery: record a failed replay", "replay", a.Replay, "err", aerr)
		}
	}
	return err
}

var errReplayYield = errors.New("delivery: replay yields")

func (s *Service) replaySteps(ctx context.Context, a ReplayArgs) error {
	opts := s.insertOpts()
	for range s.cfg.ReplayStepPages {
		cur, err := s.st.ReplayCursor(ctx, a.TeamID, a.Replay)
		if err != nil {
			return err
		}
		recs, err := s.st.Records(ctx, a.TeamID, a.PipelineID, store.RecordQuery{
			From: a.From, To: a.To, Limit: MaxJobRecords, BeforeTS: cur.TS, BeforeID: cur.ID,
		})
		if err != nil {
			return fmt.Errorf("replay %s: read records: %w", a.Replay, err)
		}
		step := store.ReplayStep{TeamID: a.TeamID, ID: a.Replay}
		var jobs []river.InsertManyParams
		if len(recs) > 0 {
			chunks, err := s.replayChunks(ctx, a, recs)
			if err != nil {
				return err
			}
			for _, ch := range chunks {
				jobs = append(jobs, river.InsertManyParams{InsertOpts: opts, Args: DeliverArgs{
					TeamID: a.TeamID, PipelineID: a.PipelineID, Sink: a.Sink, Delivery: core.NewID(),
					Key: keyForIDs(a.PipelineID, a.Sink, ch.ids), ReplayID: a.Replay,
					Count: ch.count, From: ch.from, To: ch.to, IDs: ch.ids,
				}})
				s.m.enqueued.WithLabelValues(a.PipelineID.String(), a.Sink).Inc()
			}
			last := recs[len(recs)-1]
			step.Enqueued, step.CursorTS, step.CursorID = len(recs), last.TS, last.ID
		}
		if len(recs) < MaxJobRecords {
			step.Status = core.ReplayDone
		}
		if err := s.st.AdvanceReplay(ctx, step, jobs); err != nil {
			return err
		}
		if step.Status == core.ReplayDone {
			return nil
		}
	}
	return errReplayYield
}

// replayChunks cuts a page of a replay into deliveries as the records'
// batches were first delivered: each part of MaxJobRecords records of an
// original batch that holds a record of the page is one delivery, whole,
// with the original idempotency id (AdvanceReplay drops a part already
// enqueued for an earlier page). Records whose batch is not known (stored
// before batches were kept, or their batch row expired) are cut in pages,
// as they come.
func (s *Service) replayChunks(ctx context.Context, a ReplayArgs, recs []core.Record) ([]chunk, error) {
	ids := make([]int64, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	batches, err := s.st.RecordBatches(ctx, a.TeamID, a.PipelineID, ids)
	if err != nil {
		return nil, fmt.Errorf("replay %s: %w", a.Replay, err)
	}
	want := make(map[int64]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	var out []chunk
	for _, b := range batches {
		for _, part := range batchParts(b.Ranges, MaxJobRecords) {
			held := false
			for _, r := range part {
				for id := r[0]; id <= r[1] && !held; id++ {
					if want[id] {
						held = true
					}
				}
			}
			if !held {
				continue
			}
			for _, r := range part {
				for id := r[0]; id <= r[1]; id++ {
					delete(want, id)
				}
			}
			n := 0
			for _, r := range part {
				n += int(r[1]-r[0]) + 1
			}
			out = append(out, chunk{ids: part, count: n, from: b.From, to: b.To})
		}
	}
	if len(want) > 0 {
		var rest []core.Record
		for _, r := range recs {
			if want[r.ID] {
				rest = append(rest, r)
			}
		}
		c, err := split(rest, true, a.Replay.String())
		if err != nil {
			return nil, err
		}
		out = append(out, c...)
	}
	return out, nil
}

// batchParts cuts a batch's id ranges, in order, into parts of at most
// limit ids: the parts the delivery fanout made of the batch (split).
func batchParts(rs []store.RecordIDRange, limit int) [][][2]int64 {
	var out [][][2]int64
	var cur [][2]int64
	n := 0
	for _, r := range rs {
		first := r.First
		for first <= r.Last {
			take := min(r.Last-first+1, int64(limit-n))
			cur = append(cur, [2]int64{first, first + take - 1})
			n += int(take)
			first += take
			if n == limit {
				out, cur, n = append(out, cur), nil, 0
			}
		}
	}
	if n > 0 {
		out = append(out, cur)
	}
	return out
}

// cleanupWorker works CleanupArgs jobs.
type cleanupWorker struct {
	river.WorkerDefaults[CleanupArgs]
	s *Service
}

// Work implements river.Worker.
func (w *cleanupWorker) Work(ctx context.Context, _ *river.Job[CleanupArgs]) error {
	now := core.Now()
	c := store.DeliveryCleanup{DeliveredBefore: now.Add(-w.s.cfg.KeepDelivered), DeadBefore: now.Add(-w.s.cfg.KeepDead), Limit: 10000}
	total := 0
	for {
		n, err := w.s.st.DeleteDeliveries(ctx, c)
		if err != nil {
			return fmt.Errorf("delivery cleanup: %w", err)
		}
		total += n
		if n < c.Limit {
			break
		}
	}
	w.s.log.Info("delivery cleanup done", "deleted", total)
	return nil
}
