package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/cache"
	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/lowpriority"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/store"
)

// Result is what a committed batch did with a caller's records.
type Result struct {
	// Accepted and Rejected count the caller's records.
	Accepted int
	Rejected int
	// RunID is the run the records were committed in; with group commit,
	// other callers' records share it.
	RunID uuid.UUID
}

// RunBatch processes inputs and commits them as one batch of their own,
// in the caller's goroutine and under ctx: the direct path of polls,
// uploads and p2p runs, which bring many records at once and need no
// grouping. state, when not nil, replaces the pipeline's incremental
// polling state in the same transaction. A run row is written even when
// inputs hold no record (a poll that found nothing is still a run).
func (e *Engine) RunBatch(ctx context.Context, p core.Pipeline, c *pipeline.Compiled, inputs []any, trigger core.RunTrigger, state json.RawMessage) (Result, error) {
	res, err := e.runDirect(ctx, p, c, inputs, trigger, func(b *store.Batch) { b.State = state })
	if err != nil {
		return Result{}, fmt.Errorf("engine: write batch of pipeline %s: %w", p.ID, err)
	}
	return res, nil
}

// PollCommit is what a poll commits in its batch's transaction besides
// its records: the state, the dedup keys of the records (store.Batch.Keys)
// and the end of the poll, which schedules the next one
// (store.Batch.Finish). Either all of it commits with the records, or
// none of it.
type PollCommit struct {
	State      json.RawMessage
	Keys       [][]byte
	KeysExpire time.Time
	Finish     *store.PollFinish
	// Deduplicated is how many fetched records the source dropped as
	// seen before: they count in the run's fetched, so that fetched is
	// stored + rejected + deduplicated.
	Deduplicated int
}

// RunPoll is RunBatch for a poll: its records commit in one transaction
// with everything in x.
func (e *Engine) RunPoll(ctx context.Context, p core.Pipeline, c *pipeline.Compiled, inputs []any, trigger core.RunTrigger, x PollCommit) (Result, error) {
	res, err := e.runDirect(ctx, p, c, inputs, trigger, func(b *store.Batch) {
		b.State, b.Keys, b.KeysExpire, b.Finish = x.State, x.Keys, x.KeysExpire, x.Finish
		b.Run.Fetched += x.Deduplicated
	})
	if err != nil {
		return Result{}, fmt.Errorf("engine: write batch of pipeline %s: %w", p.ID, err)
	}
	return res, nil
}

// runDirect is the direct path shared by RunBatch and RunUploadChunk:
// process inputs, let decorate add what the caller commits along (state,
// upload progress, a run error), and write the batch in the caller's
// goroutine.
func (e *Engine) runDirect(ctx context.Context, p core.Pipeline, c *pipeline.Compiled, inputs []any, trigger core.RunTrigger, decorate func(*store.Batch)) (Result, error) {
	if !e.enter() {
		return Result{}, ErrClosed
	}
	defer e.wg.Done()
	started := time.Now()
	accepted, rejected, err := e.ProcessFor(ctx, p.TeamID, c, inputs, started)
	if err != nil {
		return Result{}, err
	}
	b := newBatch(p, c.Persist, trigger, started, len(accepted), len(rejected))
	decorate(b)
	appendRecords(b, accepted, rejected)
	if err := e.write(ctx, p, b); err != nil {
		return Result{}, err
	}
	return Result{Accepted: len(accepted), Rejected: len(rejected), RunID: b.Run.ID}, nil
}

// enter registers a direct run, unless the engine is closed.
func (e *Engine) enter() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.wg.Add(1)
	return true
}

// newBatch starts the batch of one run with room for the records.
func newBatch(p core.Pipeline, persist bool, trigger core.RunTrigger, started time.Time, accepted, rejected int) *store.Batch {
	runID, err := uuid.NewV7()
	if err != nil {
		runID = uuid.New() // NewV7 fails only when the random source does
	}
	return &store.Batch{
		TeamID:     p.TeamID,
		PipelineID: p.ID,
		Version:    p.Version,
		Persist:    persist,
		Run: core.Run{
			ID:         runID,
			TeamID:     p.TeamID,
			PipelineID: p.ID,
			Version:    p.Version,
			Trigger:    trigger,
			StartedAt:  started,
		},
		Records:  make([]core.Record, 0, accepted),
		Rejected: make([]core.Rejected, 0, rejected),
	}
}

// appendRecords adds processed records to b and counts them in its run.
func appendRecords(b *store.Batch, accepted []Mapped, rejected []core.Rejected) {
	for _, m := range accepted {
		b.Records = append(b.Records, core.Record{PipelineID: b.PipelineID, TS: m.TS, Version: b.Version, Data: m.Data})
		b.Run.Bytes += int64(len(m.Data))
		if b.Persist {
			b.Rollups.AddNumbers(m.TS, m.Numbers)
		}
	}
	for _, r := range rejected {
		r.PipelineID, r.RunID, r.Version = b.PipelineID, b.Run.ID, b.Version
		b.Rejected = append(b.Rejected, r)
	}
	b.Run.Stored += len(accepted)
	b.Run.Rejected += len(rejected)
	b.Run.Fetched += len(accepted) + len(rejected)
}

// write commits b, then adds its records to the cache and publishes it.
// Nothing reaches the cache or the broker unless the commit succeeded.
func (e *Engine) write(ctx context.Context, p core.Pipeline, b *store.Batch) error {
	if e.hasFanouts() {
		persist, runID := b.Persist, b.Run.ID.String()
		b.Jobs = func(records []core.Record) ([]river.InsertManyParams, error) {
			return e.batchJobs(ctx, p, persist, runID, records)
		}
	}
	big := len(b.Records)+len(b.Rejected) > e.cfg.MaxBatchRecords
	if big {
		// A batch this big keeps a database backend busy for tens of
		// milliseconds, a core's worth of the team's share: it counts as
		// one of the team's slots meanwhile, so that a team sending huge
		// batches decodes and maps its next ones only in the slots it has
		// left, and the other teams find a core free (issue 11: without
		// it, another team's p99 went up 9–12× on PostgreSQL). It waits
		// for the team's turn, like the team's decoding and mapping, but
		// then holds none of the node's slots, which other teams'
		// requests may need.
		end, err := e.Turn(b.TeamID).Reserve(ctx)
		if err != nil {
			return err
		}
		defer end()
	}
	l := e.warmLock(b.PipelineID)
	l.RLock()
	start := time.Now()
	b.Run.Duration = start.Sub(b.Run.StartedAt)
	var err error
	if big {
		// Encoding and sending ten thousand records to PostgreSQL takes
		// the first ten milliseconds or so of the write: at low priority,
		// they wait for other teams' requests rather than delaying them.
		lowpriority.Run(func() { err = e.st.WriteBatch(ctx, b) })
	} else {
		err = e.st.WriteBatch(ctx, b)
	}
	e.metrics.commitSeconds.Observe(time.Since(start).Seconds())
	if err != nil {
		l.RUnlock()
		if !errors.Is(err, core.ErrAlreadyReceived) {
			e.metrics.commitErrors.Inc()
		}
		return err
	}
	if e.cache != nil && len(b.Records) > 0 {
		entries := make([]cache.Entry, len(b.Records))
		for i, r := range b.Records {
			entries[i] = cache.Entry{ID: r.ID, TS: r.TS, Data: r.Data}
		}
		e.cache.Add(b.PipelineID, entries...)
	}
	l.RUnlock()

	e.metrics.accepted.Add(float64(len(b.Records)))
	e.metrics.rejected.Add(float64(len(b.Rejected)))
	pid := b.PipelineID.String()
	if len(b.Records) > 0 {
		e.metrics.byPipeline.WithLabelValues(pid, "accepted").Add(float64(len(b.Records)))
	}
	if len(b.Rejected) > 0 {
		e.metrics.byPipeline.WithLabelValues(pid, "rejected").Add(float64(len(b.Rejected)))
	}
	e.metrics.batchRecords.Observe(float64(len(b.Records) + len(b.Rejected)))
	if e.broker != nil && len(b.Records)+len(b.Rejected) > 0 {
		msg := pubsub.Message{Kind: pubsub.KindRecords, Payload: batchPayload(b), Team: b.TeamID, Pointer: batchPointer(b)}
		// Publish never waits for subscribers; it fails only when the
		// broker is closed, which must not fail a committed batch.
		if err := e.broker.Publish(context.Background(), pubsub.PipelineTopic(b.PipelineID), msg); err != nil {
			e.log.Warn("engine: publish batch", "pipeline", b.PipelineID, "run", b.Run.ID, "err", err)
		}
	}
	return nil
}

// batchPayload encodes the pubsub.Batch of a committed batch without
// re-reading the records: each element of its records array is
// {"id":…,"ts":…,"data":…}, as AppendRecord writes it.
func batchPayload(b *store.Batch) []byte {
	size := 128
	for _, r := range b.Records {
		size += len(r.Data) + 64
	}
	buf := make([]byte, 0, size)
	buf = append(buf, `{"pipeline":"`...)
	buf = append(buf, b.PipelineID.String()...)
	buf = append(buf, `","version":`...)
	buf = strconv.AppendInt(buf, int64(b.Version), 10)
	buf = append(buf, `,"count":`...)
	buf = strconv.AppendInt(buf, int64(len(b.Records)), 10)
	buf = append(buf, `,"rejected":`...)
	buf = strconv.AppendInt(buf, int64(len(b.Rejected)), 10)
	buf = append(buf, `,"records":[`...)
	for i, r := range b.Records {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = AppendRecord(buf, r.ID, r.TS, r.Data)
	}
	return append(buf, "]}"...)
}

// batchPointer builds the pubsub.Pointer of a committed batch from its
// records, for a cluster broker that cannot send its payload.
func batchPointer(b *store.Batch) func() (pubsub.Pointer, error) {
	return func() (pubsub.Pointer, error) {
		return pubsub.PointerOf(b.TeamID, b.PipelineID, int64(b.Version), len(b.Rejected), len(b.Records), func(i int) (int64, time.Time) {
			return b.Records[i].ID, b.Records[i].TS
		})
	}
}

// AppendRecord appends the JSON form of one record as live streams carry
// it — {"id":42,"ts":"2026-01-01T00:00:00.5Z","data":{…}}, id 0 for a
// record that was not persisted — to dst. It is the form of the elements
// of pubsub.Batch.Records that the engine publishes, so a stream that
// sends cached records too can use it to send them alike.
func AppendRecord(dst []byte, id int64, ts time.Time, data json.RawMessage) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendInt(dst, id, 10)
	dst = append(dst, `,"ts":"`...)
	dst = ts.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","data":`...)
	dst = append(dst, data...)
	return append(dst, '}')
}
