package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/netguard"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/source"
	"github.com/tributary-dev/tributary/internal/store"
)

// Polling schedules and runs the polls of polling pipelines on River.
//
// Each poll is a PollArgs job, unique per pipeline and due time, so that
// any number of nodes inserting the same poll insert it once. The
// schedule's truth is a row per pipeline (store.Polls): the due time of
// its next poll and, while a poll runs, a lease. A job runs its poll only
// when its due time is the schedule's and it holds the lease, then — in
// one transaction — moves the schedule to the next due time and inserts
// that poll's job. Everything a node needs to go on is in the database: a
// job of a stopped node is retried by River and takes its own lease over,
// and a chain whose job was lost (a node killed mid-poll, a job deleted by
// hand) is found overdue by the periodic PollCheck job and armed again.
//
// The records, the run row and the new incremental state of a poll commit
// in one batch (engine.RunBatch). The state also records the due time of
// the poll that produced it and the count of consecutive failures, so a
// job retried after its batch committed knows its poll is done and only
// schedules the next one: a period is never polled twice. A failed poll
// writes a run row with the error and the previous state, so the next poll
// asks for the same range again.
type Polling struct {
	cfg     PollConfig
	store   PollStore
	engine  PollEngine
	secrets SecretVault
	env     source.Env
	log     *slog.Logger
	metrics *pollMetrics
}

// PollQueue is the River queue of polls, apart from the default queue so
// that slow APIs never hold up other jobs, nor other jobs polls.
const PollQueue = "poll"

// Defaults of PollConfig.
const (
	DefaultPollWorkers       = 100
	DefaultPollFetchInterval = 100 * time.Millisecond
	DefaultPollRunTimeout    = 2 * time.Minute
	DefaultFailingAfter      = 3
	DefaultMaxBackoff        = time.Hour
	DefaultMaxJitter         = 500 * time.Millisecond
	DefaultHostRate          = 50
	DefaultCheckInterval     = 30 * time.Second
	DefaultOverdue           = time.Minute
)

// PollConfig configures Polling. Zero fields take their defaults.
type PollConfig struct {
	// Workers is how many polls a node runs at once. Default 100.
	Workers int
	// FetchInterval is how often the poll queue looks for due polls; it
	// bounds the scheduling lag when the queue is idle. Default 100ms.
	FetchInterval time.Duration
	// RunTimeout bounds one poll, requests, retries and commit included.
	// Default 2m.
	RunTimeout time.Duration
	// FailingAfter is how many consecutive failed polls mark a pipeline
	// failing; a successful poll makes it active again. Default 3.
	FailingAfter int
	// MaxBackoff bounds how far failures push the next poll beyond the
	// interval (never below the interval). Default 1h.
	MaxBackoff time.Duration
	// MaxJitter bounds the random shift of each next due time, at most a
	// twentieth of the interval, so that pipelines created together drift
	// apart. Default 500ms; negative turns it off.
	MaxJitter time.Duration
	// HostRate limits requests per second to each host across all polls
	// of the node; HostBurst is the burst (default: one second's worth).
	// Default 50; negative means no limit.
	HostRate  float64
	HostBurst int
	// CheckInterval is how often the schedules are checked for pipelines
	// without a pending poll and for expired dedup keys. Default 30s.
	CheckInterval time.Duration
	// Overdue is how long past its due time a schedule without a running
	// poll counts as lost and is armed again. Default 1m.
	Overdue time.Duration
	// UserAgent is sent with every request.
	UserAgent string
	// Registerer receives the poll metrics; nil registers none.
	Registerer prometheus.Registerer
	// Logger receives poll failures (without secrets) and debug lines.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

func (c PollConfig) withDefaults() PollConfig {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Workers == 0 {
		c.Workers = DefaultPollWorkers
	}
	def(&c.FetchInterval, DefaultPollFetchInterval)
	def(&c.RunTimeout, DefaultPollRunTimeout)
	if c.FailingAfter == 0 {
		c.FailingAfter = DefaultFailingAfter
	}
	def(&c.MaxBackoff, DefaultMaxBackoff)
	def(&c.MaxJitter, DefaultMaxJitter)
	if c.HostRate == 0 {
		c.HostRate = DefaultHostRate
	}
	if c.HostBurst == 0 {
		c.HostBurst = max(int(c.HostRate), 1)
	}
	def(&c.CheckInterval, DefaultCheckInterval)
	def(&c.Overdue, DefaultOverdue)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c PollConfig) Validate() error {
	switch {
	case c.Workers < 0 || c.Workers > 10000:
		return fmt.Errorf("polling: Workers %d is not between 1 and 10000", c.Workers)
	case c.FetchInterval < 0:
		return errors.New("polling: FetchInterval is negative")
	case c.RunTimeout < 0:
		return errors.New("polling: RunTimeout is negative")
	case c.FailingAfter < 0:
		return errors.New("polling: FailingAfter is negative")
	case c.CheckInterval < 0 || c.Overdue < 0 || c.MaxBackoff < 0:
		return errors.New("polling: CheckInterval, Overdue and MaxBackoff must not be negative")
	}
	return nil
}

// PollStore is what polls need of the store.
type PollStore interface {
	store.Polls
	WriteBatch(ctx context.Context, b *store.Batch) error
}

// PollEngine is what polls need of the engine.
type PollEngine interface {
	Compiled(p core.Pipeline) (*pipeline.Compiled, error)
	RunBatch(ctx context.Context, p core.Pipeline, c *pipeline.Compiled, inputs []any, trigger core.RunTrigger, state json.RawMessage) (engine.Result, error)
}

var _ PollEngine = (*engine.Engine)(nil)

// SecretVault opens team secrets; vault.Vault is one.
type SecretVault interface {
	Open(ctx context.Context, teamID uuid.UUID, name string) ([]byte, error)
}

// NewPolling returns the scheduler and runner of polls. Every request
// goes through guard.
func NewPolling(cfg PollConfig, st PollStore, eng PollEngine, secrets SecretVault, guard *netguard.Guard) (*Polling, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m, err := newPollMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	p := &Polling{cfg: cfg, store: st, engine: eng, secrets: secrets, log: cfg.Logger, metrics: m}
	p.env = source.Env{
		Client:    source.NewClient(guard),
		Limiter:   source.NewHostLimiter(cfg.HostRate, cfg.HostBurst),
		Tokens:    source.NewTokenCache(),
		UserAgent: cfg.UserAgent,
		Log:       cfg.Logger,
	}
	return p, nil
}

// PollArgs is the job of one poll of one pipeline.
type PollArgs struct {
	TeamID     uuid.UUID `json:"team_id"`
	PipelineID uuid.UUID `json:"pipeline_id" river:"unique"`
	// Due is when the poll is due: whole milliseconds, unique per
	// pipeline.
	Due time.Time `json:"due" river:"unique"`
	// Manual marks a poll asked for with "run now".
	Manual bool `json:"manual,omitempty"`
}

// Kind implements river.JobArgs.
func (PollArgs) Kind() string { return "poll" }

// InsertOpts makes a poll unique per pipeline and due time, in the poll
// queue.
func (PollArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: PollQueue, MaxAttempts: 10, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// Hooks implements river.JobArgsWithHooks.
func (PollArgs) Hooks() []rivertype.Hook { return []rivertype.Hook{&dueHook{}} }

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

// PollCheckArgs is the periodic check of the schedules.
type PollCheckArgs struct{}

// Kind implements river.JobArgs.
func (PollCheckArgs) Kind() string { return "poll_check" }

// InsertOpts makes the check unique per period across nodes.
func (PollCheckArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: 10 * time.Second}}
}

// addPollWorkers registers the poll workers.
func addPollWorkers(workers *river.Workers, _ Config, d Deps) {
	if d.Polling == nil {
		return
	}
	river.AddWorker(workers, &PollWorker{p: d.Polling})
	river.AddWorker(workers, &PollCheckWorker{p: d.Polling})
}

// withPolling adds the poll queue and the periodic check to a River
// configuration.
func withPolling(d Deps, rc *river.Config) *river.Config {
	p := d.Polling
	if p == nil {
		return rc
	}
	if rc.Queues == nil {
		rc.Queues = map[string]river.QueueConfig{}
	}
	rc.Queues[PollQueue] = river.QueueConfig{MaxWorkers: p.cfg.Workers, FetchPollInterval: p.cfg.FetchInterval,
		FetchCooldown: min(p.cfg.FetchInterval, 50*time.Millisecond)}
	rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(p.cfg.CheckInterval),
		func() (river.JobArgs, *river.InsertOpts) { return PollCheckArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true}))
	return rc
}

// Schedule arms the pipeline's next poll at due (truncated to
// milliseconds), replacing the pending one: for a new or resumed pipeline,
// a changed spec, or "run now" (manual). A pipeline that is not polling
// is left alone.
func (p *Polling) Schedule(ctx context.Context, pl core.Pipeline, due time.Time, manual bool) (time.Time, error) {
	if pl.Kind != core.KindPolling {
		return time.Time{}, nil
	}
	due = due.UTC().Truncate(time.Millisecond)
	if err := p.store.ArmPoll(ctx, pl.TeamID, pl.ID, due, p.job(pl.TeamID, pl.ID, due, manual)); err != nil {
		return time.Time{}, err
	}
	return due, nil
}

func (p *Polling) job(teamID, pipelineID uuid.UUID, due time.Time, manual bool) river.InsertManyParams {
	opts := PollArgs{}.InsertOpts()
	opts.ScheduledAt = due
	return river.InsertManyParams{Args: PollArgs{TeamID: teamID, PipelineID: pipelineID, Due: due, Manual: manual}, InsertOpts: &opts}
}

// NextPoll returns a pipeline's schedule; core.ErrNotFound when it has
// none yet.
func (p *Polling) NextPoll(ctx context.Context, teamID, pipelineID uuid.UUID) (store.PollSchedule, error) {
	return p.store.PollSchedule(ctx, teamID, pipelineID)
}

// PollWorker runs polls.
type PollWorker struct {
	river.WorkerDefaults[PollArgs]
	p *Polling
}

// Timeout bounds a poll job: the poll, then its commit and the schedule.
func (w *PollWorker) Timeout(*river.Job[PollArgs]) time.Duration {
	return w.p.cfg.RunTimeout + 30*time.Second
}

// Work implements river.Worker.
func (w *PollWorker) Work(ctx context.Context, job *river.Job[PollArgs]) error {
	return w.p.work(ctx, job)
}

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

// work runs one poll job.
func (p *Polling) work(ctx context.Context, job *river.Job[PollArgs]) error {
	a := job.Args
	start := p.cfg.Now().UTC()
	if job.Attempt <= 1 {
		p.metrics.lag.Observe(max(start.Sub(a.Due), 0).Seconds())
	}
	claim, err := p.store.ClaimPoll(ctx, store.PollClaimArgs{
		TeamID: a.TeamID, PipelineID: a.PipelineID, Due: a.Due, Now: start,
		LeaseUntil: start.Add(p.cfg.RunTimeout + 30*time.Second),
	})
	switch {
	case err != nil:
		return err
	case claim.Stale:
		p.metrics.outcome("stale")
		return nil
	case !claim.BusyUntil.IsZero():
		// Another poll of the pipeline runs (a "run now" during a poll):
		// come back when it should be done.
		p.metrics.outcome("busy")
		return river.JobSnooze(min(max(claim.BusyUntil.Sub(start), time.Second), 5*time.Second))
	}
	pl := claim.Pipeline
	log := p.log.With("pipeline", pl.ID, "team", pl.TeamID, "due", a.Due)
	if pl.Kind != core.KindPolling || pl.Status == core.StatusPaused {
		// Paused: the schedule stops here; resuming arms it again.
		_, err := p.store.FinishPoll(ctx, store.PollFinish{TeamID: pl.TeamID, PipelineID: pl.ID, Due: a.Due})
		p.metrics.outcome("paused")
		return err
	}
	st := decodePollState(claim.State)
	var interval time.Duration
	if st.Due == nil || !st.Due.Equal(a.Due) {
		// The poll of this due time has not committed yet: run it.
		var stop error
		st, interval, stop = p.poll(ctx, job, pl, st, start, log)
		if errors.Is(stop, core.ErrNotFound) {
			// The pipeline was deleted during the poll; so was its schedule.
			p.metrics.outcome("stale")
			return nil
		}
		if stop != nil {
			return stop
		}
	} else {
		log.DebugContext(ctx, "poll: already done, scheduling the next one")
		if c, err := p.engine.Compiled(pl); err == nil {
			interval = c.Interval
		}
	}
	if interval <= 0 {
		interval = time.Minute // a spec that does not compile is retried at the default
	}
	next := p.nextDue(a.Due, interval, st, p.cfg.Now().UTC())
	var status core.PipelineStatus
	switch {
	case st.Failures >= p.cfg.FailingAfter && pl.Status != core.StatusFailing:
		status = core.StatusFailing
	case st.Failures == 0 && pl.Status == core.StatusFailing:
		status = core.StatusActive
	}
	nextJob := p.job(pl.TeamID, pl.ID, next, false)
	if _, err := p.store.FinishPoll(ctx, store.PollFinish{TeamID: pl.TeamID, PipelineID: pl.ID, Due: a.Due, Next: next,
		Job: &nextJob, Status: status}); err != nil {
		return err
	}
	return nil
}

// poll fetches, dedups and commits one poll, or records its failure. It
// returns the state the poll committed and the pipeline's interval; stop
// is set when the job must end without scheduling (it is retried).
func (p *Polling) poll(ctx context.Context, job *river.Job[PollArgs], pl core.Pipeline, prev pollState, start time.Time, log *slog.Logger) (st pollState, interval time.Duration, stop error) {
	a := job.Args
	trigger := core.TriggerPoll
	if a.Manual {
		trigger = core.TriggerManual
	}
	due := a.Due
	failed := func(msg string, retryAfter time.Duration) (pollState, time.Duration, error) {
		st := pollState{Values: prev.Values, Due: &due, Failures: prev.Failures + 1, RetryAfterMS: retryAfter.Milliseconds()}
		if err := p.writeFailure(ctx, pl, trigger, start, msg, st); err != nil {
			return pollState{}, 0, err
		}
		p.metrics.outcome("failed")
		log.WarnContext(ctx, "poll failed", "err", msg, "failures", st.Failures)
		return st, interval, nil
	}
	c, err := p.engine.Compiled(pl)
	if err != nil || c.Source == nil {
		msg := "the pipeline's spec cannot be polled; save it again to see its problems"
		if se, ok := errors.AsType[*pipeline.SpecError](err); ok && len(se.Problems) > 0 {
			msg = "the pipeline's spec cannot be polled: " + se.Problems[0].String()
		}
		return failed(msg, 0)
	}
	interval = c.Interval

	pctx, cancel := context.WithTimeout(ctx, p.cfg.RunTimeout)
	defer cancel()
	env := p.env
	env.Secrets = func(ctx context.Context, name string) ([]byte, error) { return p.secrets.Open(ctx, pl.TeamID, name) }
	res, err := c.Source.Poll(pctx, &env, prev.Values)
	if err != nil {
		if ctx.Err() != nil {
			// The job was stopped (the node shuts down): River retries it,
			// and the retry takes the lease over.
			return pollState{}, 0, ctx.Err()
		}
		var se *source.Error
		if errors.As(err, &se) {
			return failed(se.Msg, se.RetryAfter)
		}
		return failed(err.Error(), 0)
	}

	records, keys := res.Records, res.Keys
	window, dedup := c.Source.DedupWindow()
	if dedup {
		seen, err := p.store.SeenKeys(ctx, pl.TeamID, pl.ID, keys, p.cfg.Now().UTC())
		if err != nil {
			return pollState{}, 0, err
		}
		records, keys = dropSeen(records, keys, seen)
	}
	st = pollState{Values: res.State, Due: &due}
	state, err := json.Marshal(st)
	if err != nil {
		return failed("the new state cannot be encoded: "+err.Error(), 0)
	}
	if _, err := p.engine.RunBatch(ctx, pl, c, records, trigger, state); err != nil {
		return pollState{}, 0, fmt.Errorf("poll of pipeline %s: %w", pl.ID, err)
	}
	if dedup && len(keys) > 0 {
		// After the commit: a crash in between can store a record twice
		// when a later poll fetches it again (at least once), never lose
		// one.
		if err := p.store.AddKeys(ctx, pl.TeamID, pl.ID, keys, p.cfg.Now().UTC().Add(window)); err != nil {
			log.WarnContext(ctx, "poll: remembering dedup keys failed; overlapping polls may store these records again", "err", err)
		}
	}
	p.metrics.outcome("ok")
	p.metrics.duration.Observe(time.Since(start).Seconds())
	log.DebugContext(ctx, "poll done", "records", len(records), "fetched", len(res.Records), "requests", res.Requests, "more", res.More)
	return st, interval, nil
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
// keeps the previous variables.
func (p *Polling) writeFailure(ctx context.Context, pl core.Pipeline, trigger core.RunTrigger, start time.Time, msg string, st pollState) error {
	state, err := json.Marshal(st)
	if err != nil {
		return err
	}
	id, err := uuid.NewV7()
	if err != nil {
		id = uuid.New()
	}
	b := &store.Batch{
		TeamID: pl.TeamID, PipelineID: pl.ID, Version: pl.Version,
		Run: core.Run{ID: id, TeamID: pl.TeamID, PipelineID: pl.ID, Version: pl.Version, Trigger: trigger,
			StartedAt: start.Truncate(time.Microsecond), Duration: time.Since(start), Error: msg},
		State: state,
	}
	if err := p.store.WriteBatch(ctx, b); err != nil {
		return fmt.Errorf("record failed poll of pipeline %s: %w", pl.ID, err)
	}
	return nil
}

// nextDue computes the due time of the poll after the one due at due. A
// successful poll is followed one interval after its due time (so the
// schedule does not drift with the poll's duration), a failed one after a
// backoff from now that doubles with each consecutive failure, bounded by
// MaxBackoff but never below the interval, and never before the API's
// Retry-After. A next poll that would be due already is due now. The
// result carries a small random jitter.
func (p *Polling) nextDue(due time.Time, interval time.Duration, st pollState, now time.Time) time.Time {
	var next time.Time
	if st.Failures == 0 {
		next = due.Add(interval)
	} else {
		backoff := interval
		for i := 1; i < st.Failures && backoff < p.cfg.MaxBackoff; i++ {
			backoff *= 2
		}
		backoff = max(min(backoff, p.cfg.MaxBackoff), interval)
		backoff = max(backoff, time.Duration(st.RetryAfterMS)*time.Millisecond)
		next = now.Add(backoff)
	}
	if j := min(p.cfg.MaxJitter, interval/20); j > 0 {
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

// PollCheckWorker arms the schedules that have no pending poll and drops
// expired dedup keys.
type PollCheckWorker struct {
	river.WorkerDefaults[PollCheckArgs]
	p *Polling
}

// Work implements river.Worker.
func (w *PollCheckWorker) Work(ctx context.Context, _ *river.Job[PollCheckArgs]) error {
	return w.p.check(ctx)
}

// check arms lost schedules, spreading their first polls over a few
// seconds, and deletes expired dedup keys.
func (p *Polling) check(ctx context.Context) error {
	now := p.cfg.Now().UTC()
	armed := 0
	for {
		refs, err := p.store.UnarmedPolls(ctx, now.Add(-p.cfg.Overdue), now, 1000)
		if err != nil {
			return err
		}
		for _, r := range refs {
			due := now.Add(time.Duration(rand.Int64N(int64(5 * time.Second)))).Truncate(time.Millisecond)
			if err := p.store.ArmPoll(ctx, r.TeamID, r.PipelineID, due, p.job(r.TeamID, r.PipelineID, due, false)); err != nil && !errors.Is(err, core.ErrNotFound) {
				return err
			}
			armed++
		}
		if len(refs) < 1000 {
			break
		}
	}
	if armed > 0 {
		p.log.InfoContext(ctx, "poll check: armed schedules without a pending poll", "pipelines", armed)
	}
	for range 10 {
		n, err := p.store.DeleteExpiredKeys(ctx, now, 10_000)
		if err != nil {
			return err
		}
		if n < 10_000 {
			break
		}
	}
	return nil
}

// PreviewLimits bound a preview's fetch.
type PreviewLimits struct {
	// MaxPages bounds the pages; 0 means 1.
	MaxPages int
	// MaxRecords bounds the records; 0 means 1000.
	MaxRecords int
}

// Preview runs the source of a compiled polling spec once for the team,
// from its initial state (or state when not nil), and returns what it
// fetched without storing anything or waiting out rate limits.
func (p *Polling) Preview(ctx context.Context, teamID uuid.UUID, c *pipeline.Compiled, state source.Values, lim PreviewLimits) (*source.Result, error) {
	if c.Source == nil {
		return nil, errors.New("the pipeline has no polled source")
	}
	env := p.env
	env.Secrets = func(ctx context.Context, name string) ([]byte, error) { return p.secrets.Open(ctx, teamID, name) }
	env.MaxPages = max(lim.MaxPages, 1)
	env.MaxRecords = cmpOr(lim.MaxRecords, 1000)
	env.Retries = -1
	ctx, cancel := context.WithTimeout(ctx, min(p.cfg.RunTimeout, time.Minute))
	defer cancel()
	return c.Source.Poll(ctx, &env, state)
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// pollMetrics are the poll metrics.
type pollMetrics struct {
	lag      prometheus.Histogram
	duration prometheus.Histogram
	polls    *prometheus.CounterVec
}

func newPollMetrics(reg prometheus.Registerer) (*pollMetrics, error) {
	m := &pollMetrics{
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tributary_poll_lag_seconds",
			Help:    "How late polls start: start time minus due time.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tributary_poll_duration_seconds",
			Help:    "Duration of successful polls, fetch and commit.",
			Buckets: prometheus.DefBuckets,
		}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tributary_polls_total",
			Help: "Poll jobs by outcome: ok, failed, stale (superseded), busy (another poll ran), paused.",
		}, []string{"outcome"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.lag, m.duration, m.polls} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("polling metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *pollMetrics) outcome(o string) { m.polls.WithLabelValues(o).Inc() }

// CheckPolls runs the periodic schedule check once (tests, and the CLI).
func CheckPolls(ctx context.Context, p *Polling) error { return p.check(ctx) }
