package delivery

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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

// item is one delivery a job carries: the one it was enqueued for, or one
// it claimed (see carry).
type item struct {
	a        DeliverArgs
	attempts int             // attempts of the delivery that sent its records so far
	payload  json.RawMessage // a claimed delivery's own job's arguments; nil for the job's own
	records  []core.Record
}

// deliver makes one attempt of the deliveries a job carries, in the order
// their batches committed, and records their outcomes.
func (s *Service) deliver(ctx context.Context, job *river.Job[DeliverArgs]) error {
	a := job.Args
	started := time.Now()
	// A job rescued after a crash may have delivered already: its row
	// says so when the crash came between the row's update and River's
	// completion of the job. It may still carry others.
	d, err := s.st.Delivery(ctx, a.TeamID, a.Delivery)
	switch {
	case errors.Is(err, core.ErrNotFound):
		return nil // deleted with its pipeline, and the deliveries it carried with it
	case err != nil:
		return s.failAll(ctx, job, started, []*item{{a: a}}, false, fmt.Errorf("load the delivery: %w", err))
	}
	var items []*item
	if d.Status == core.DeliveryPending || d.Status == core.DeliveryRetrying {
		items = append(items, &item{a: a, attempts: d.Attempts})
	} else {
		s.log.Debug("delivery: done already", "pipeline", a.PipelineID, "sink", a.Sink, "delivery", a.Delivery, "status", d.Status)
	}
	// Failures before sending hold for what the job carried before too
	// (a run after a crash or a failure), never for more.
	carriedOnly := func() []*item {
		c, err := s.carry(ctx, job, false)
		if err != nil {
			s.log.Error("delivery: read the deliveries the job carries", "pipeline", a.PipelineID, "sink", a.Sink, "err", err)
		}
		return append(items, c...)
	}
	p, err := s.st.Pipeline(ctx, a.TeamID, a.PipelineID)
	if errors.Is(err, core.ErrNotFound) {
		return nil // the pipeline was deleted, and its deliveries with it
	}
	if err != nil {
		return s.failAll(ctx, job, started, carriedOnly(), false, fmt.Errorf("load the pipeline: %w", err))
	}
	in := s.info(p)
	spec, _, ok := Find(in.sinks, a.Sink)
	if !ok {
		return s.failAll(ctx, job, started, carriedOnly(), false, sink.Permanent(fmt.Errorf("the pipeline has no sink named %q any more", a.Sink)))
	}
	if !spec.Enabled {
		return s.failAll(ctx, job, started, carriedOnly(), false, sink.Permanent(errors.New("the sink is disabled; enable it, then retry the delivery")))
	}
	kind, ok := s.reg.Kind(spec.Kind)
	if !ok {
		return s.failAll(ctx, job, started, carriedOnly(), false, sink.Permanent(fmt.Errorf("this server has no sink kind %q", spec.Kind)))
	}

	// The sink first, then the claim: a job put back because its sink is
	// busy takes nothing from the jobs that will carry the backlog.
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
		// Nothing was sent: the attempt does not count in the
		// deliveries' attempts (River's attempt is used up all the same).
		return s.failAll(ctx, job, started, carriedOnly(), false, err)
	}
	carried, err := s.carry(ctx, job, true)
	if err != nil {
		s.pool.release(inst, nil)
		return s.failAll(ctx, job, started, items, false, err)
	}
	items = append(items, carried...)
	if len(items) == 0 {
		s.pool.release(inst, nil)
		return nil
	}
	slices.SortFunc(items, func(x, y *item) int { return bytes.Compare(x.a.Delivery[:], y.a.Delivery[:]) })
	if err := s.load(ctx, items); err != nil {
		s.pool.release(inst, nil)
		return s.failAll(ctx, job, started, items, false, err)
	}
	limit := kind.MaxBatch
	if bl, ok := inst.sink.(sink.BatchLimiter); ok && bl.MaxBatch() > 0 && (limit == 0 || bl.MaxBatch() < limit) {
		limit = bl.MaxBatch()
	}

	var (
		out      []store.DeliveryOutcome // not yet recorded
		lastErr  error                   // of the last Deliver call
		stopErr  error                   // a failure that stops the run: the job is retried
		gone     error                   // the destination is gone: the sink is disabled
		killed   error                   // the first permanent failure
		finished = 0                     // items with an outcome
		deadline = started.Add(s.cfg.CarryFor)
	)
	for i, it := range items {
		if i > 0 && time.Now().After(deadline) {
			break // the rest go on at the job's next run
		}
		t0 := time.Now()
		derr := s.send(ctx, inst.sink, p.Name, in.fields, it, limit)
		lastErr = derr
		if derr != nil && ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) &&
			!errors.Is(context.Cause(ctx), rivertype.ErrJobCancelledRemotely) {
			break // the process is stopping: the rest go on at the next start
		}
		finished++
		if derr == nil {
			out = append(out, s.deliveredOutcome(job, it, t0))
		} else {
			o := s.failedOutcome(job, it, t0, it.attempts+1, derr)
			out = append(out, o)
			var g *sink.GoneError
			switch {
			case errors.As(derr, &g):
				gone = derr
			case o.Status == core.DeliveryDead && sink.IsPermanent(derr):
				killed = cmp.Or(killed, derr)
			default:
				stopErr = derr
			}
		}
		if gone != nil || stopErr != nil {
			break
		}
		if len(out) >= recordEvery {
			s.record(ctx, out)
			out = out[:0]
		}
	}
	s.pool.release(inst, lastErr)
	rest := items[finished:]
	switch {
	case gone != nil:
		s.disable(ctx, a, gone)
		for _, it := range rest {
			out = append(out, s.failedOutcome(job, it, started, it.attempts,
				sink.Permanent(fmt.Errorf("not attempted: the destination is gone and the sink was disabled: %w", gone))))
		}
		s.record(ctx, out)
		return river.JobCancel(gone)
	case stopErr != nil:
		if job.Attempt >= job.MaxAttempts {
			for _, it := range rest {
				out = append(out, s.failedOutcome(job, it, started, it.attempts,
					fmt.Errorf("not attempted: an earlier delivery of the sink carried by the same job failed: %w", stopErr)))
			}
		}
		s.record(ctx, out)
		s.logFailure(job, stopErr, len(rest))
		return stopErr
	}
	s.record(ctx, out)
	if len(rest) > 0 {
		// Out of time or stopping: the job runs again, without using up an
		// attempt, and goes on with the deliveries it still carries.
		return river.JobSnooze(0)
	}
	if killed != nil && finished == len(items) && allDead(out) {
		return river.JobCancel(killed)
	}
	return nil
}

// recordEvery is how many outcomes a job records at once, at most: a crash
// delivers again at most that many deliveries that had succeeded.
const recordEvery = 50

func allDead(os []store.DeliveryOutcome) bool {
	for _, o := range os {
		if o.Status != core.DeliveryDead {
			return false
		}
	}
	return true
}

// carry returns the deliveries the job carries besides its own: those it
// carried before (a run after a crash, a failure or a pause) and, on a
// first attempt of a small delivery (at most a tenth of CarryRecords),
// the sink's pending deliveries whose jobs have not started,
// up to Config.CarryMax deliveries and Config.CarryRecords records. The
// claim is what coalesces deliveries when a sink lags: one job takes the
// backlog, the claimed jobs are gone, and the batches go out in order.
func (s *Service) carry(ctx context.Context, job *river.Job[DeliverArgs], more bool) ([]*item, error) {
	a := job.Args
	limit := 0
	// Small batches only: their jobs cost more than sending them. Big
	// ones go out faster one job each, in parallel up to the sink's
	// concurrency, than one after the other in one job.
	if more && job.Attempt == 1 && a.Count*10 <= s.cfg.CarryRecords {
		// Only a job that has not failed takes on more: a claimed batch
		// must not inherit a used-up retry schedule.
		limit = max(s.cfg.CarryMax, 0)
	}
	cs, err := s.st.ClaimDeliveries(ctx, store.DeliveryClaim{
		TeamID: a.TeamID, PipelineID: a.PipelineID, Sink: a.Sink, Carrier: job.ID, Own: a.Delivery,
		Limit: limit, MaxRecords: s.cfg.CarryRecords - a.Count,
	})
	if err != nil {
		return nil, fmt.Errorf("claim the sink's pending deliveries: %w", err)
	}
	out := make([]*item, 0, len(cs))
	claimed := 0
	for _, c := range cs {
		if c.Claimed {
			claimed++
		}
		var ca DeliverArgs
		if err := json.Unmarshal(c.Args, &ca); err != nil || ca.Delivery != c.ID {
			// Not a job of ours: leave it to the reconciler, which kills
			// it with its arguments kept.
			s.log.Error("delivery: a carried delivery's arguments do not decode", "delivery", c.ID, "err", err)
			continue
		}
		out = append(out, &item{a: ca, attempts: c.Attempts, payload: c.Args})
	}
	if claimed > 0 {
		s.m.carried.WithLabelValues(a.PipelineID.String(), a.Sink).Add(float64(claimed))
	}
	return out, nil
}

// send delivers one item's records, split to the sink's limit; a split
// part's idempotency id adds ".n".
func (s *Service) send(ctx context.Context, sk sink.Sink, pipelineName string, fields []sink.Field, it *item, limit int) error {
	a := it.a
	if len(it.records) == 0 {
		// Retention removed the records before they could be delivered.
		s.log.Warn("delivery: the records are gone from the store; nothing to deliver", "pipeline", a.PipelineID, "sink", a.Sink, "delivery", a.Delivery)
		return nil
	}
	ps := parts(it.records, limit)
	for i, part := range ps {
		b := sink.Batch{
			TeamID: a.TeamID, PipelineID: a.PipelineID, Pipeline: pipelineName, Sink: a.Sink,
			DeliveryID: a.Key, Records: part, Fields: fields,
		}
		if len(ps) > 1 {
			b.DeliveryID = a.Key + "." + strconv.Itoa(i)
		}
		if err := sk.Deliver(ctx, b); err != nil {
			if len(ps) > 1 {
				err = fmt.Errorf("part %d of %d: %w", i+1, len(ps), err)
			}
			return err
		}
	}
	return nil
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

// load fills the items' records: inline, or read back by id, those of all
// the items in one read.
func (s *Service) load(ctx context.Context, items []*item) error {
	var (
		ranges   []store.RecordIDRange
		from, to time.Time
	)
	for _, it := range items {
		a := it.a
		if a.Records != nil {
			it.records = make([]core.Record, len(a.Records))
			for i, r := range a.Records {
				it.records[i] = core.Record{PipelineID: a.PipelineID, TS: r.TS, Data: r.Data}
			}
			continue
		}
		// Each range is looked for within its own batch's time window
		// (see store.RecordIDRange), not within all the items' windows.
		for _, r := range a.IDs {
			ranges = append(ranges, store.RecordIDRange{First: r[0], Last: r[1], From: a.From, To: a.To})
		}
		if len(a.IDs) > 0 {
			if from.IsZero() || a.From.Before(from) {
				from = a.From
			}
			if a.To.After(to) {
				to = a.To
			}
		}
	}
	if len(ranges) == 0 {
		return nil
	}
	a := items[0].a
	recs, err := s.st.RecordsByID(ctx, a.TeamID, a.PipelineID, ranges, from, to)
	if err != nil {
		return fmt.Errorf("read the records: %w", err)
	}
	// Two carried deliveries may hold the same records (a batch and its
	// replay): each gets every record of its ranges, in id order.
	byID := make(map[int64]core.Record, len(recs))
	for _, r := range recs {
		byID[r.ID] = r
	}
	for _, it := range items {
		for _, rg := range it.a.IDs {
			for id := rg[0]; id <= rg[1]; id++ {
				if r, ok := byID[id]; ok {
					it.records = append(it.records, r)
				}
			}
		}
	}
	return nil
}

// deliveredOutcome is the outcome of an item delivered by an attempt
// that started at t0.
func (s *Service) deliveredOutcome(job *river.Job[DeliverArgs], it *item, t0 time.Time) store.DeliveryOutcome {
	a := it.a
	now := core.Now()
	pl, sk := a.PipelineID.String(), a.Sink
	s.m.attempts.WithLabelValues(pl, sk, "delivered").Inc()
	s.m.records.WithLabelValues(pl, sk).Add(float64(len(it.records)))
	s.m.duration.WithLabelValues(pl, sk).Observe(time.Since(t0).Seconds())
	created := job.CreatedAt
	if it.payload != nil {
		if sec, nsec := a.Delivery.Time().UnixTime(); sec > 0 {
			created = time.Unix(sec, nsec)
		}
	}
	s.m.latency.WithLabelValues(pl, sk).Observe(now.Sub(created).Seconds())
	return store.DeliveryOutcome{
		TeamID: a.TeamID, PipelineID: a.PipelineID, Sink: a.Sink, ID: a.Delivery,
		Status: core.DeliveryDelivered, Attempt: it.attempts + 1, At: now, Duration: time.Since(t0), Records: len(it.records),
		FailingAfter: s.cfg.FailingAfter,
	}
}

// failedOutcome is the outcome of a failed attempt of an item: retrying
// when the schedule (or the destination's Retry-After) says, or dead.
// sent is the number of attempts that sent the records to the destination,
// this one included if it did: the delivery's attempts count those only.
func (s *Service) failedOutcome(job *river.Job[DeliverArgs], it *item, t0 time.Time, sent int, cause error) store.DeliveryOutcome {
	a := it.a
	o := store.DeliveryOutcome{
		TeamID: a.TeamID, PipelineID: a.PipelineID, Sink: a.Sink, ID: a.Delivery,
		Attempt: sent, At: core.Now(), Duration: time.Since(t0), Error: truncate(cause.Error()),
		FailingAfter: s.cfg.FailingAfter,
	}
	var (
		gone *sink.GoneError
		ra   *sink.RetryAfterError
	)
	switch {
	case errors.As(cause, &gone), sink.IsPermanent(cause):
		o.Status = core.DeliveryDead
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
		// What a retry by hand enqueues again: the delivery's own job.
		o.Payload = it.payload
		if o.Payload == nil {
			o.Payload = job.EncodedArgs
		}
	}
	outcome := "failed"
	if o.Status == core.DeliveryDead {
		outcome = "dead"
	}
	s.m.attempts.WithLabelValues(a.PipelineID.String(), a.Sink, outcome).Inc()
	s.m.duration.WithLabelValues(a.PipelineID.String(), a.Sink).Observe(time.Since(t0).Seconds())
	return o
}

// failAll records that every item's attempt failed with cause, before or
// after sending, and returns what River should do with the job.
func (s *Service) failAll(ctx context.Context, job *river.Job[DeliverArgs], started time.Time, items []*item, sent bool, cause error) error {
	if ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled) &&
		!errors.Is(context.Cause(ctx), rivertype.ErrJobCancelledRemotely) {
		// The process is stopping: try again at the next start, without
		// using up an attempt.
		return river.JobSnooze(0)
	}
	out := make([]store.DeliveryOutcome, 0, len(items))
	for _, it := range items {
		n := it.attempts
		if sent {
			n++
		}
		out = append(out, s.failedOutcome(job, it, started, n, cause))
	}
	s.record(ctx, out)
	s.logFailure(job, cause, len(items))
	var gone *sink.GoneError
	switch {
	case errors.As(cause, &gone):
		s.disable(ctx, job.Args, cause)
		return river.JobCancel(cause)
	case sink.IsPermanent(cause):
		return river.JobCancel(cause)
	}
	return cause
}

// record writes outcomes, in one transaction. A failure to write them is
// logged, not returned: the records of the delivered ones were delivered,
// and failing the job would deliver them again; their rows stay behind
// until the reconciler settles them (delivered, once the job completed).
func (s *Service) record(ctx context.Context, out []store.DeliveryOutcome) {
	if len(out) == 0 {
		return
	}
	st, err := s.st.RecordDeliveries(context.WithoutCancel(ctx), out)
	o := out[len(out)-1]
	switch {
	case errors.Is(err, core.ErrNotFound):
		// deleted with its pipeline meanwhile
	case err != nil:
		s.log.Error("delivery: record outcomes", "pipeline", o.PipelineID, "sink", o.Sink, "deliveries", len(out), "err", err)
	case o.Status != core.DeliveryDelivered && st.Status == core.SinkFailing && st.ConsecutiveFailures >= s.cfg.FailingAfter &&
		st.ConsecutiveFailures-len(out) < s.cfg.FailingAfter:
		s.log.Warn("delivery: sink failing", "pipeline", o.PipelineID, "sink", o.Sink, "failures", st.ConsecutiveFailures, "err", o.Error)
	}
}

func (s *Service) logFailure(job *river.Job[DeliverArgs], cause error, n int) {
	a := job.Args
	level := "retry"
	if job.Attempt >= job.MaxAttempts || sink.IsPermanent(cause) {
		level = "dead"
	}
	s.log.Info("delivery: attempt failed", "pipeline", a.PipelineID, "sink", a.Sink, "delivery", a.Delivery,
		"attempt", job.Attempt, "deliveries", n, "outcome", level, "err", cause)
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
