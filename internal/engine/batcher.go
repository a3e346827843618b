package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/store"
)

// Group commit. Each pipeline with traffic has a batcher goroutine that
// gathers submissions into groups and hands each group to a flush
// goroutine, which writes it as one store.Batch (one transaction, one run
// row) and then answers every submitter of the group.
//
// Groups of one pipeline and trigger share a run for
// Config.PushRunInterval (pushRun): a run row per group would be noise at
// thousands of groups a second.
//
// A group takes submissions of one pipeline version and trigger. It is
// written, as long as fewer than FlushConcurrency writes of the pipeline
// are in flight, as soon as:
//   - no write of the pipeline is in flight: a lone request waits for
//     nothing but its own commit;
//   - or it holds MaxBatchRecords records;
//   - or Linger has passed since its first submission: a write in flight
//     that takes long does not hold the next group back for longer. By
//     default Linger follows the pipeline's commit time (Config.Linger),
//     so the groups in flight start about evenly spread over a commit.
//
// Otherwise it keeps growing, up to MaxBatchRecords. So batches grow with
// load: under a burst, what arrives while one batch is written goes into
// the next, and clients that wait for their acknowledgement before they
// send again are answered one commit after they sent.

// queueSize is how many submissions may wait for a pipeline's batcher.
const queueSize = 256

// Submission states: a submitter may withdraw a submission as long as its
// group has not begun to write.
const (
	pending int32 = iota
	taken
	withdrawn
)

type submission struct {
	p        core.Pipeline
	persist  bool
	trigger  core.RunTrigger
	accepted []Mapped
	rejected []core.Rejected
	start    time.Time
	// webhookID, when its Hash is set, is the signed request's id,
	// inserted with the batch (store.Batch.WebhookIDs).
	webhookID store.WebhookID
	state     atomic.Int32
	done      chan outcome // buffered: the flush never waits for the submitter
}

func (s *submission) records() int { return len(s.accepted) + len(s.rejected) }

type outcome struct {
	res Result
	err error
}

// Submit hands a request's processed records (from Process) to the
// pipeline's batcher and blocks until the transaction that contains them
// has committed, then returns their counts and run. A write that fails
// returns an error, and nothing of the submission is kept. Callers
// acknowledge their sender only after Submit returned nil.
//
// Concurrent submissions to one pipeline share transactions (group
// commit). A submission with more than Config.MaxBatchRecords records is
// written alone. Submitting nothing returns a zero Result and writes
// nothing. Submit does not check the pipeline's status; the caller does.
//
// When ctx ends while Submit waits: if the submission's batch has not
// begun to write, the submission is withdrawn — nothing of it will be
// stored — and the error wraps ctx.Err() and ErrWithdrawn. If the write
// has begun, Submit returns at once with an error wrapping ctx.Err() and
// ErrOutcomeUnknown: the records commit or not together with the rest of
// their batch, and the caller cannot tell which (a webhook sender that
// retries may then deliver them twice).
func (e *Engine) Submit(ctx context.Context, p core.Pipeline, c *pipeline.Compiled, accepted []Mapped, rejected []core.Rejected, trigger core.RunTrigger) (Result, error) {
	return e.submit(ctx, p, c, accepted, rejected, trigger, store.WebhookID{})
}

// SubmitOnce is Submit for the records of a signed webhook request: its
// webhook-id is stored in the transaction that commits them, so that the
// id is remembered if and only if the records are. When the pipeline
// already stored a batch with that id (not expired at id.At), nothing is
// stored and the error wraps core.ErrAlreadyReceived. A request without
// records stores nothing, its id neither.
func (e *Engine) SubmitOnce(ctx context.Context, p core.Pipeline, c *pipeline.Compiled, accepted []Mapped, rejected []core.Rejected, trigger core.RunTrigger, id store.WebhookID) (Result, error) {
	if len(id.Hash) == 0 {
		return Result{}, errors.New("engine: submit once: the webhook-id has no hash")
	}
	return e.submit(ctx, p, c, accepted, rejected, trigger, id)
}

func (e *Engine) submit(ctx context.Context, p core.Pipeline, c *pipeline.Compiled, accepted []Mapped, rejected []core.Rejected, trigger core.RunTrigger, id store.WebhookID) (Result, error) {
	if len(accepted)+len(rejected) == 0 {
		return Result{}, nil
	}
	s := &submission{
		p: p, persist: c.Persist, trigger: trigger,
		accepted: accepted, rejected: rejected, webhookID: id,
		start: time.Now(), done: make(chan outcome, 1),
	}
	b, err := e.batcherFor(p.ID)
	if err != nil {
		return Result{}, err
	}
	select {
	case b.in <- s:
		b.senders.Add(-1)
	case <-ctx.Done():
		b.senders.Add(-1)
		return Result{}, fmt.Errorf("engine: submit: %w (%w)", ctx.Err(), ErrWithdrawn)
	}
	select {
	case o := <-s.done:
		return o.res, o.err
	case <-ctx.Done():
		if s.state.CompareAndSwap(pending, withdrawn) {
			return Result{}, fmt.Errorf("engine: submit: %w (%w)", ctx.Err(), ErrWithdrawn)
		}
		select {
		case o := <-s.done: // finished meanwhile
			return o.res, o.err
		default:
			return Result{}, fmt.Errorf("engine: submit: %w (%w)", ctx.Err(), ErrOutcomeUnknown)
		}
	}
}

// batcher gathers the submissions of one pipeline.
type batcher struct {
	e  *Engine
	id uuid.UUID
	in chan *submission
	// senders counts Submits that found this batcher and have not yet
	// sent; while it is not 0 the batcher does not exit. It grows only
	// under e.mu.
	senders atomic.Int32
	// written receives the time each flush goroutine took, when it is
	// done; it has room for FlushConcurrency, so a flush never waits.
	written chan time.Duration

	// runs are the pipeline's current push runs, one per trigger.
	runsMu sync.Mutex
	runs   map[core.RunTrigger]pushRun
}

// pushRun is a run that group-committed batches of one pipeline and
// trigger share for Config.PushRunInterval.
type pushRun struct {
	id    uuid.UUID
	start time.Time
	// stored is set once a batch of the run has committed.
	stored bool
}

// runFor returns the push run a batch of trigger starting at started
// belongs to, starting a new one when the current one is over.
func (b *batcher) runFor(trigger core.RunTrigger, started time.Time) pushRun {
	b.runsMu.Lock()
	defer b.runsMu.Unlock()
	r, ok := b.runs[trigger]
	if !ok || started.Sub(r.start) >= b.e.cfg.PushRunInterval || started.Before(r.start) {
		id, err := uuid.NewV7()
		if err != nil {
			id = uuid.New()
		}
		r = pushRun{id: id, start: started}
		if b.runs == nil {
			b.runs = make(map[core.RunTrigger]pushRun)
		}
		b.runs[trigger] = r
	}
	return r
}

// runStored notes that a batch of run id committed, so that the next
// batches of the run only add to it (store.Batch.RunStored).
func (b *batcher) runStored(trigger core.RunTrigger, id uuid.UUID) {
	b.runsMu.Lock()
	defer b.runsMu.Unlock()
	if r, ok := b.runs[trigger]; ok && r.id == id {
		r.stored = true
		b.runs[trigger] = r
	}
}

// group is a batch in the making.
type group struct {
	subs     []*submission
	records  int
	version  int
	trigger  core.RunTrigger
	persist  bool
	complete bool // Linger passed, or the engine is closing
}

func (g *group) full(max int) bool { return g.records >= max }

// fits reports whether s can join g: same version, trigger and
// persistence, and room for its records.
func (g *group) fits(s *submission, max int) bool {
	return s.p.Version == g.version && s.trigger == g.trigger && s.persist == g.persist &&
		g.records+s.records() <= max
}

func (g *group) add(s *submission) {
	g.subs = append(g.subs, s)
	g.records += s.records()
}

func newGroup(s *submission) *group {
	return &group{subs: []*submission{s}, records: s.records(), version: s.p.Version, trigger: s.trigger, persist: s.persist}
}

// batcherFor returns the pipeline's batcher, starting it if needed, with
// its senders count raised for the caller.
func (e *Engine) batcherFor(id uuid.UUID) (*batcher, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	b := e.batchers[id]
	if b == nil {
		b = &batcher{e: e, id: id, in: make(chan *submission, queueSize), written: make(chan time.Duration, e.cfg.FlushConcurrency)}
		e.batchers[id] = b
		e.wg.Add(1)
		go b.run()
	}
	b.senders.Add(1)
	return b, nil
}

// tryExit removes the batcher from the engine when nobody is about to
// send to it and nothing waits in its queue.
func (b *batcher) tryExit() bool {
	b.e.mu.Lock()
	defer b.e.mu.Unlock()
	if b.senders.Load() != 0 || len(b.in) != 0 {
		return false
	}
	delete(b.e.batchers, b.id)
	return true
}

// closingPoll is how often a closing batcher checks whether its last
// senders are gone.
const closingPoll = 5 * time.Millisecond

func (b *batcher) run() {
	defer b.e.wg.Done()
	cfg := &b.e.cfg
	var (
		cur      *group      // gathering
		next     *submission // did not fit cur; waits for it to be written
		inflight int         // flushes running
		closing  bool
	)
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	idle := time.NewTimer(cfg.IdleTimeout)
	defer idle.Stop()
	// avgWrite is a moving average of the pipeline's write times, for an
	// adaptive Linger.
	avgWrite := DefaultLinger * time.Duration(cfg.FlushConcurrency)
	lingerFor := func() time.Duration {
		if cfg.Linger > 0 {
			return cfg.Linger
		}
		return min(max(avgWrite/time.Duration(cfg.FlushConcurrency), MinAdaptiveLinger), MaxAdaptiveLinger)
	}
	start := func(s *submission) {
		cur = newGroup(s)
		cur.complete = closing
		linger.Reset(lingerFor())
	}
	for {
		if cur != nil && inflight < cfg.FlushConcurrency &&
			(inflight == 0 || cur.complete || next != nil || cur.full(cfg.MaxBatchRecords)) {
			// Take along what is queued already.
			for next == nil && !cur.full(cfg.MaxBatchRecords) && len(b.in) > 0 {
				if s := <-b.in; cur.fits(s, cfg.MaxBatchRecords) {
					cur.add(s)
				} else {
					next = s
				}
			}
			linger.Stop()
			inflight++
			b.e.wg.Add(1)
			go b.flush(cur)
			cur = nil
			if next != nil {
				start(next)
				next = nil
			}
			continue
		}

		in := b.in
		if next != nil || (cur != nil && cur.full(cfg.MaxBatchRecords)) {
			in = nil // no room; the queue holds them
		}
		var stopping <-chan struct{}
		if !closing {
			stopping = b.e.stopping
		}
		var idleC <-chan time.Time
		if cur == nil && inflight == 0 {
			idleC = idle.C
		}
		select {
		case s := <-in:
			switch {
			case cur == nil:
				start(s)
			case cur.fits(s, cfg.MaxBatchRecords):
				cur.add(s)
			default:
				next = s
			}
		case <-linger.C:
			if cur != nil {
				cur.complete = true
			}
		case took := <-b.written:
			avgWrite += (took - avgWrite) / 8
			if inflight--; inflight == 0 && cur == nil {
				idle.Reset(b.idleWait(closing))
			}
		case <-stopping:
			closing = true
			if cur != nil {
				cur.complete = true
			}
			idle.Reset(closingPoll)
		case <-idleC:
			if b.tryExit() {
				return
			}
			idle.Reset(b.idleWait(closing))
		}
	}
}

func (b *batcher) idleWait(closing bool) time.Duration {
	if closing {
		return closingPoll
	}
	return b.e.cfg.IdleTimeout
}

// flush writes one group and answers its submitters, in its own
// goroutine.
func (b *batcher) flush(g *group) {
	began := time.Now()
	defer func() {
		b.written <- time.Since(began)
		b.e.wg.Done()
	}()
	subs := g.subs[:0]
	for _, s := range g.subs {
		if s.state.CompareAndSwap(pending, taken) {
			subs = append(subs, s)
		}
	}
	if len(subs) == 0 {
		return
	}
	runID, err := b.writeGroup(subs)
	if err != nil && len(subs) > 1 && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		// One submission may have made the whole batch fail (a record the
		// database refuses): write each alone so that the others still
		// commit.
		b.e.log.Warn("engine: group commit failed; writing its submissions one by one",
			"pipeline", b.id, "submissions", len(subs), "err", err)
		for _, s := range subs {
			runID, err := b.writeGroup([]*submission{s})
			s.answer(runID, err)
		}
		return
	}
	for _, s := range subs {
		s.answer(runID, err)
	}
}

// answer tells the submitter how its batch ended. It never blocks.
func (s *submission) answer(runID uuid.UUID, err error) {
	o := outcome{err: err}
	if err == nil {
		o.res = Result{Accepted: len(s.accepted), Rejected: len(s.rejected), RunID: runID}
	}
	s.done <- o
}

// writeGroup writes the submissions as one batch under the engine's
// context, as part of the pipeline's current push run, and returns the
// run's id.
func (bt *batcher) writeGroup(subs []*submission) (uuid.UUID, error) {
	e := bt.e
	first := subs[0]
	var accepted, rejected int
	started := first.start
	for _, s := range subs {
		accepted += len(s.accepted)
		rejected += len(s.rejected)
		if s.start.Before(started) {
			started = s.start
		}
	}
	b := newBatch(first.p, first.persist, first.trigger, started, accepted, rejected)
	run := bt.runFor(first.trigger, started)
	b.Run.ID, b.MergeRun, b.RunStored = run.id, true, run.stored
	for _, s := range subs {
		appendRecords(b, s.accepted, s.rejected)
		if len(s.webhookID.Hash) > 0 {
			b.WebhookIDs = append(b.WebhookIDs, s.webhookID)
		}
	}
	ctx, cancel := context.WithTimeout(e.ctx, e.cfg.CommitTimeout)
	defer cancel()
	if err := e.write(ctx, first.p, b); err != nil {
		if len(subs) == 1 && errors.Is(err, core.ErrAlreadyReceived) {
			return uuid.Nil, fmt.Errorf("engine: write batch of pipeline %s: %w", b.PipelineID, err)
		}
		e.log.Error("engine: write batch", "pipeline", b.PipelineID, "submissions", len(subs),
			"records", len(b.Records)+len(b.Rejected), "err", err)
		return uuid.Nil, fmt.Errorf("engine: write batch of pipeline %s: %w", b.PipelineID, err)
	}
	bt.runStored(first.trigger, run.id)
	e.metrics.batchRequests.Observe(float64(len(subs)))
	return b.Run.ID, nil
}
