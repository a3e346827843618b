package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/sink"
	"github.com/tributary-dev/tributary/internal/store"
)

// Store is what the delivery machinery needs of the store; store.Store
// satisfies it.
type Store interface {
	Pipeline(ctx context.Context, teamID, id uuid.UUID) (core.Pipeline, error)
	RecordsByID(ctx context.Context, teamID, pipelineID uuid.UUID, ids []store.RecordIDRange, from, to time.Time) ([]core.Record, error)
	Records(ctx context.Context, teamID, pipelineID uuid.UUID, q store.RecordQuery) ([]core.Record, error)
	store.RecordBatches
	store.Deliveries
}

var _ Store = store.Store(nil)

// Service is the delivery machinery of one process: the engine's Fanout
// for sinks, the River workers that deliver and replay, the open sinks,
// and what the API asks of deliveries.
//
// Lifecycle: New starts a janitor that closes idle sinks; register the
// workers with Register before the River client starts; Close, after the
// client stopped, closes every open sink (a blob sink writes its pending
// files then) and stops the janitor.
type Service struct {
	cfg  Config
	reg  *sink.Registry
	deps sink.Deps
	st   Store
	log  *slog.Logger
	m    *metrics
	pool *pool

	editor SinkEditor // see UseSinkEditor

	infoMu sync.RWMutex
	infos  map[uuid.UUID]*pipelineInfo

	// retryAt passes the wait before the next attempt, chosen in Work
	// (where the error, and so a Retry-After, is known), to NextRetry; by
	// job id.
	retryAt sync.Map

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// New returns a Service delivering with the kinds of reg.
func New(cfg Config, reg *sink.Registry, deps sink.Deps, st Store) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if st != nil && cfg.Compiler == nil {
		return nil, errors.New("delivery: Config.Compiler is required with a store")
	}
	cfg = cfg.withDefaults()
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg, reg: reg, deps: deps, st: st, log: cfg.Logger, m: m, pool: newPool(),
		infos: map[uuid.UUID]*pipelineInfo{}, stop: make(chan struct{}), done: make(chan struct{}),
	}
	go s.janitor()
	return s, nil
}

// Close closes every open sink and stops the janitor. Call it after the
// River client stopped.
func (s *Service) Close(ctx context.Context) error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return s.pool.close(ctx)
}

func (s *Service) janitor() {
	defer close(s.done)
	t := time.NewTicker(min(s.cfg.IdleClose/2, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.pool.closeIdle(now.Add(-s.cfg.IdleClose))
		}
	}
}

// Registry returns the sink kinds the service knows.
func (s *Service) Registry() *sink.Registry { return s.reg }

// MaxAttempts is how many times a delivery is attempted.
func (s *Service) MaxAttempts() int { return s.cfg.MaxAttempts() }

// Register adds the deliveries queue, the delivery, replay, cleanup and
// reconcile workers, and the periodic cleanup and reconciler, to a River
// configuration.
func (s *Service) Register(cfg *river.Config) {
	if cfg.Queues == nil {
		cfg.Queues = map[string]river.QueueConfig{}
	}
	cfg.Queues[Queue] = river.QueueConfig{MaxWorkers: s.cfg.Workers}
	if cfg.Workers == nil {
		cfg.Workers = river.NewWorkers()
	}
	river.AddWorker(cfg.Workers, &deliverWorker{s: s})
	river.AddWorker(cfg.Workers, &replayWorker{s: s})
	river.AddWorker(cfg.Workers, &cleanupWorker{s: s})
	river.AddWorker(cfg.Workers, &reconcileWorker{s: s})
	cfg.PeriodicJobs = append(cfg.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(CleanupInterval),
		func() (river.JobArgs, *river.InsertOpts) { return CleanupArgs{}, nil }, nil),
		river.NewPeriodicJob(river.PeriodicInterval(ReconcileInterval),
			func() (river.JobArgs, *river.InsertOpts) { return ReconcileArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}))
}

func (s *Service) insertOpts() *river.InsertOpts {
	return &river.InsertOpts{Queue: Queue, MaxAttempts: s.cfg.MaxAttempts()}
}

// pipelineInfo is what a pipeline's spec says about its sinks, parsed once
// per version.
type pipelineInfo struct {
	version int
	sinks   []SinkSpec // the well-formed entries
	fields  []sink.Field
}

const maxInfos = 10000

// info returns the parsed sinks of p's current version.
func (s *Service) info(p core.Pipeline) *pipelineInfo {
	s.infoMu.RLock()
	in := s.infos[p.ID]
	s.infoMu.RUnlock()
	if in != nil && in.version == p.Version {
		return in
	}
	// Only the parts needed, leniently: a stored spec was checked when it
	// was saved.
	var spec pipeline.Spec
	if err := json.Unmarshal(p.Spec, &spec); err != nil {
		s.m.fanoutErr.Inc()
		s.log.Error("delivery: the stored spec does not decode; its sinks get nothing", "pipeline", p.ID, "version", p.Version, "err", err)
	}
	in = &pipelineInfo{version: p.Version, fields: fieldsOf(spec)}
	parsed, _ := ParseSinks(spec.Sinks)
	for _, sk := range parsed {
		if sk.Name != "" && sk.Kind != "" {
			in.sinks = append(in.sinks, sk)
		}
	}
	s.infoMu.Lock()
	if len(s.infos) >= maxInfos {
		clear(s.infos)
	}
	s.infos[p.ID] = in
	s.infoMu.Unlock()
	return in
}

// BatchJobs implements engine.Fanout: one delivery job per enabled sink of
// p and per MaxJobRecords records (or MaxInlineBytes of inline records).
// It touches no database; the store writes each job's delivery row in the
// batch's transaction.
func (s *Service) BatchJobs(_ context.Context, p core.Pipeline, persist bool, runID string, records []core.Record) ([]river.InsertManyParams, error) {
	if len(records) == 0 {
		return nil, nil
	}
	in := s.info(p)
	var enabled []SinkSpec
	for _, sk := range in.sinks {
		if sk.Enabled {
			enabled = append(enabled, sk)
		}
	}
	if len(enabled) == 0 {
		return nil, nil
	}
	run, _ := uuid.Parse(runID)
	chunks, err := split(records, persist, runID)
	if err != nil {
		return nil, err
	}
	out := make([]river.InsertManyParams, 0, len(enabled)*len(chunks))
	opts := s.insertOpts()
	for _, sk := range enabled {
		for i, c := range chunks {
			a := DeliverArgs{
				TeamID: p.TeamID, PipelineID: p.ID, Sink: sk.Name, Delivery: core.NewID(), RunID: run,
				Count: c.count, From: c.from, To: c.to, IDs: c.ids, Records: c.inline,
			}
			if persist {
				a.Key = keyForIDs(p.ID, sk.Name, c.ids)
			} else {
				a.Key = keyForRun(p.ID, sk.Name, runID, i)
			}
			out = append(out, river.InsertManyParams{Args: a, InsertOpts: opts})
			s.m.enqueued.WithLabelValues(p.ID.String(), sk.Name).Inc()
		}
	}
	return out, nil
}

// chunk is one job's share of a batch.
type chunk struct {
	count    int
	from, to time.Time
	ids      [][2]int64
	inline   []InlineRecord
}

// split cuts a batch into job-sized chunks.
func split(records []core.Record, persist bool, runID string) ([]chunk, error) {
	var out []chunk
	var c chunk
	size := 0
	flush := func() {
		if c.count > 0 {
			out = append(out, c)
		}
		c, size = chunk{}, 0
	}
	var ids []int64
	for i, r := range records {
		if c.count > 0 && (c.count >= MaxJobRecords || !persist && size+len(r.Data) > MaxInlineBytes) {
			if persist {
				c.ids, ids = idRanges(ids), nil
			}
			flush()
		}
		if persist {
			if r.ID == 0 {
				return nil, fmt.Errorf("delivery: persisted record %d of run %s has no id", i, runID)
			}
			ids = append(ids, r.ID)
		} else {
			c.inline = append(c.inline, InlineRecord{TS: r.TS, Data: r.Data})
			size += len(r.Data)
		}
		if c.count == 0 || r.TS.Before(c.from) {
			c.from = r.TS
		}
		if c.count == 0 || r.TS.After(c.to) {
			c.to = r.TS
		}
		c.count++
	}
	if persist {
		c.ids = idRanges(ids)
	}
	flush()
	return out, nil
}

// Check validates a spec's sinks at save time: their shape, names and
// kinds, and each kind's settings (URLs through the SSRF guard's save-time
// check, which refuses forbidden literal addresses). It returns the
// problems, with paths in the spec ("sinks[0].http.url"), and the team
// secrets the kinds name that SecretRefs does not find by its naming
// convention, for the caller to check along with those.
func (s *Service) Check(raws []json.RawMessage) ([]pipeline.Problem, []SecretRef) {
	sinks, ps := ParseSinks(raws)
	paths := make([]string, len(sinks))
	for i := range sinks {
		paths[i] = fmt.Sprintf("sinks[%d]", i)
	}
	declared, kps := checkKinds(s.reg, s.deps, sinks, paths)
	ps = append(ps, kps...)
	known := map[string]bool{}
	for _, ref := range SecretRefs(raws) {
		known[ref.Name] = true
	}
	var extra []SecretRef
	for i, names := range declared {
		for _, n := range names {
			if !known[n] {
				known[n] = true
				extra = append(extra, SecretRef{Path: paths[i] + "." + sinks[i].Kind, Name: n})
			}
		}
	}
	return ps, extra
}

// SinkChanged tells the service that a pipeline's sink was changed or
// removed through this process, so that its open sink is closed now
// rather than at its next delivery.
func (s *Service) SinkChanged(pipelineID uuid.UUID, name string) {
	s.pool.forget(poolKey{pipeline: pipelineID, sink: name})
}

// Retry enqueues a dead delivery of the pipeline's sink again, with the
// same records and idempotency id. A delivery that is not dead gives an
// error wrapping core.ErrConflict.
func (s *Service) Retry(ctx context.Context, teamID, pipelineID uuid.UUID, sinkName string, id uuid.UUID) (core.Delivery, error) {
	d, err := s.st.Delivery(ctx, teamID, id)
	if err != nil {
		return d, err
	}
	if d.PipelineID != pipelineID || d.Sink != sinkName {
		return core.Delivery{}, fmt.Errorf("delivery %s: %w", id, core.ErrNotFound)
	}
	d, err = s.st.RetryDelivery(ctx, teamID, id, func(payload json.RawMessage) (river.InsertManyParams, error) {
		var a DeliverArgs
		if err := json.Unmarshal(payload, &a); err != nil {
			return river.InsertManyParams{}, fmt.Errorf("delivery %s: decode its job: %w", id, err)
		}
		return river.InsertManyParams{Args: a, InsertOpts: s.insertOpts()}, nil
	})
	if err == nil {
		s.m.enqueued.WithLabelValues(pipelineID.String(), sinkName).Inc()
	}
	return d, err
}

// ErrSinkDisabled is returned by StartReplay for a disabled sink.
var ErrSinkDisabled = fmt.Errorf("%w: the sink is disabled; enable it first", core.ErrConflict)

// MaxReplayRange is the longest time range one replay may cover.
const MaxReplayRange = 400 * 24 * time.Hour

// StartReplay starts re-delivering the stored records of the pipeline with
// event times in [from, to) to one of its sinks. The sink must exist and
// be enabled.
func (s *Service) StartReplay(ctx context.Context, teamID, pipelineID uuid.UUID, sinkName string, from, to time.Time) (core.Replay, error) {
	if !from.Before(to) {
		return core.Replay{}, fmt.Errorf("%w: from must be before to", core.ErrInvalid)
	}
	if to.Sub(from) > MaxReplayRange {
		return core.Replay{}, fmt.Errorf("%w: a replay covers at most %d days; split the range", core.ErrInvalid, int(MaxReplayRange.Hours()/24))
	}
	p, err := s.st.Pipeline(ctx, teamID, pipelineID)
	if err != nil {
		return core.Replay{}, err
	}
	sk, _, ok := Find(s.info(p).sinks, sinkName)
	switch {
	case !ok:
		return core.Replay{}, fmt.Errorf("sink %q: %w", sinkName, core.ErrNotFound)
	case !sk.Enabled:
		return core.Replay{}, ErrSinkDisabled
	}
	from, to = from.UTC(), to.UTC()
	id := core.NewID()
	args := ReplayArgs{TeamID: teamID, PipelineID: pipelineID, Replay: id, Sink: sinkName, From: from, To: to}
	return s.st.CreateReplay(ctx, store.NewReplay{ID: id, TeamID: teamID, PipelineID: pipelineID, Sink: sinkName, From: from, To: to},
		river.InsertManyParams{Args: args, InsertOpts: &river.InsertOpts{Queue: Queue, MaxAttempts: 10}})
}

// SinkEditor changes a pipeline's sinks the way every other change of a
// pipeline is made, with the same side effects (the pipeline service,
// orchestrator.Service, is one; the composition root wires it in).
type SinkEditor interface {
	// DisableSink sets enabled: false on the sink in a new version of the
	// pipeline's spec and records the reason in its state, in one
	// transaction.
	DisableSink(ctx context.Context, teamID, pipelineID uuid.UUID, sink, reason string) error
}

// UseSinkEditor sets the editor through which the service disables a sink
// whose destination is gone. Call it before the River client starts.
// Without one, such a sink's state alone says it is disabled.
func (s *Service) UseSinkEditor(e SinkEditor) { s.editor = e }

// disable switches a sink off after its destination said it is gone: its
// state says why, and its spec entry gets enabled: false (a new version of
// the pipeline), so that batches stop enqueueing deliveries for it.
func (s *Service) disable(ctx context.Context, a DeliverArgs, cause error) {
	ctx = context.WithoutCancel(ctx)
	reason := truncate(fmt.Sprintf("disabled at %s: %v", core.Now().Format(time.RFC3339), cause))
	var err error
	if s.editor != nil {
		err = s.editor.DisableSink(ctx, a.TeamID, a.PipelineID, a.Sink, reason)
	} else {
		s.log.Warn("delivery: no sink editor; only the sink's state says it is disabled", "pipeline", a.PipelineID, "sink", a.Sink)
		_, err = s.st.SetSinkStatus(ctx, a.TeamID, a.PipelineID, a.Sink, core.SinkDisabled, reason)
	}
	if err != nil && !errors.Is(err, core.ErrNotFound) {
		s.log.Error("delivery: disable the sink", "pipeline", a.PipelineID, "sink", a.Sink, "err", err)
	}
	s.pool.forget(poolKey{pipeline: a.PipelineID, sink: a.Sink})
	s.m.disabled.Inc()
	s.log.Warn("delivery: sink disabled: the destination is gone", "pipeline", a.PipelineID, "sink", a.Sink, "err", cause)
}

// truncate bounds an error message kept in the store.
func truncate(s string) string {
	const limit = 2000
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
