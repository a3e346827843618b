package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/rollup"
	"github.com/tributary-dev/tributary/internal/store"
)

// Storage maintenance, each a periodic job unique per period, so that
// several nodes run it once:
//   - partitions: record partitions for the next PartitionsAhead are
//     created hourly, so that ingest never waits for DDL (WriteBatch
//     still creates a missing one on demand);
//   - retention: every 15 minutes (not at start), every pipeline's records
//     and rollups older than its retention go (see RetentionPolicyFor);
//     a run with nothing to do is a few cheap queries;
//   - rollup compaction: every minute, the deltas that PostgreSQL's
//     batches insert are folded into the rollups (SQLite's batches merge
//     theirs, and it folds only deltas left by versions before that).

// Intervals and horizons of the storage jobs.
const (
	PartitionsInterval = time.Hour
	PartitionsAhead    = 7 * 24 * time.Hour
	RetentionInterval  = 15 * time.Minute
	CompactInterval    = time.Minute
)

// PartitionsArgs creates record partitions ahead.
type PartitionsArgs struct{}

// Kind implements river.JobArgs.
func (PartitionsArgs) Kind() string { return "storage_partitions" }

// InsertOpts makes the job unique per period.
func (PartitionsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: PartitionsInterval}}
}

// PartitionsWorker creates the partitions of the coming days.
type PartitionsWorker struct {
	river.WorkerDefaults[PartitionsArgs]
	Store store.Storage
	Log   *slog.Logger
	// Now is the clock; nil means core.Now.
	Now func() time.Time
}

// Work implements river.Worker.
func (w *PartitionsWorker) Work(ctx context.Context, _ *river.Job[PartitionsArgs]) error {
	now := clock(w.Now)
	if err := w.Store.EnsurePartitions(ctx, now.Add(-24*time.Hour), now.Add(PartitionsAhead)); err != nil {
		return fmt.Errorf("create record partitions: %w", err)
	}
	return nil
}

func clock(now func() time.Time) time.Time {
	if now != nil {
		return now().UTC()
	}
	return core.Now()
}

// RetentionArgs applies every pipeline's retention.
type RetentionArgs struct{}

// Kind implements river.JobArgs.
func (RetentionArgs) Kind() string { return "storage_retention" }

// InsertOpts makes the job unique per period.
func (RetentionArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: RetentionInterval}}
}

// RetentionWorker removes what pipelines no longer keep.
type RetentionWorker struct {
	river.WorkerDefaults[RetentionArgs]
	Store   store.Storage
	Log     *slog.Logger
	Options store.RetentionOptions
	// Now is the clock; nil means core.Now.
	Now func() time.Time
	// Compiler reads the retention of each pipeline's spec. Required.
	Compiler *pipeline.Compiler
	// Applied, when set, hears of every run's cutoffs (pipeline: records
	// before this event time went) and whether it deleted records, even
	// when the run failed part way: the engine keeps its recent-records
	// cache within them (*engine.Engine.RetentionApplied).
	Applied func(ctx context.Context, cutoffs map[uuid.UUID]time.Time, deleted bool)
}

// RetentionTimeout bounds one retention run. A run deletes in committed
// batches, so one cut off keeps what it did; a bounded run
// (Options.MaxRows) snoozes and continues a minute later.
const RetentionTimeout = 10 * time.Minute

// Timeout implements river.Worker (RetentionTimeout).
func (w *RetentionWorker) Timeout(*river.Job[RetentionArgs]) time.Duration { return RetentionTimeout }

// Work implements river.Worker.
func (w *RetentionWorker) Work(ctx context.Context, _ *river.Job[RetentionArgs]) error {
	if w.Compiler == nil {
		return errors.New("retention: the worker has no compiler")
	}
	now := clock(w.Now)
	stored, err := w.Store.StoredPipelines(ctx)
	if err != nil {
		return err
	}
	policies := make([]store.RetentionPolicy, 0, len(stored))
	for _, p := range stored {
		c, err := w.Compiler.Parse(p.Spec)
		if err != nil {
			// Keep the data of a spec that no longer compiles rather than
			// guess its retention.
			w.Log.WarnContext(ctx, "retention: pipeline spec does not compile; keeping its data", "pipeline", p.ID, "err", err)
			continue
		}
		policies = append(policies, RetentionPolicyFor(p.ID, c.Retention, now))
	}
	start := time.Now()
	res, err := w.Store.ApplyRetention(ctx, policies, w.Options)
	if w.Applied != nil {
		cutoffs := make(map[uuid.UUID]time.Time, len(policies))
		for _, p := range policies {
			cutoffs[p.PipelineID] = p.Records
		}
		// A failed run may have deleted some batches: say so.
		w.Applied(ctx, cutoffs, err != nil || res.DroppedRecords+res.DeletedRecords > 0 || len(res.DroppedPartitions) > 0)
	}
	w.Log.InfoContext(ctx, "retention done", "pipelines", len(policies), "dropped_partitions", len(res.DroppedPartitions),
		"dropped_records", res.DroppedRecords, "deleted_records", res.DeletedRecords, "deleted_rollups", res.DeletedRollups,
		"more", res.More, "took", time.Since(start), "err", err)
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	if res.More {
		return river.JobSnooze(time.Minute)
	}
	return nil
}

// Rollup retention, relative to a pipeline's raw retention R (0 is
// forever). Rollups outlive the raw records by default, so that long
// charts still draw after the records are gone:
//   - 1m rollups: R, at least minuteRollupMin, at most minuteRollupMax
//     (forever-pipelines too: minute detail over years costs as much as
//     the raw records, and raw can answer where it is kept);
//   - 1h rollups: 4×R, at least hourRollupMin; forever with R;
//   - 1d rollups: forever.
const (
	minuteRollupMin = 7 * 24 * time.Hour
	minuteRollupMax = 90 * 24 * time.Hour
	hourRollupMin   = 400 * 24 * time.Hour
)

// RollupRetention returns how long rollups of each width are kept for a
// pipeline whose records are kept for raw (0: forever; so are the results
// that are 0).
func RollupRetention(raw time.Duration) (minute, hour, day time.Duration) {
	minute = minuteRollupMax
	if raw > 0 {
		minute = min(max(raw, minuteRollupMin), minuteRollupMax)
		hour = max(4*raw, hourRollupMin)
	}
	return minute, hour, 0
}

// RetentionPolicyFor turns a pipeline's retention into cutoffs at now.
// Cutoffs move in steps, whole days for retentions of a day or more and
// whole hours below, so that a day partition goes in one piece once its
// last hour has expired, instead of being deleted from hour by hour: a
// record stays between R and R plus one step.
func RetentionPolicyFor(id uuid.UUID, raw time.Duration, now time.Time) store.RetentionPolicy {
	p := store.RetentionPolicy{PipelineID: id}
	cut := func(keep, step time.Duration) time.Time {
		if keep <= 0 {
			return time.Time{}
		}
		return rollup.Bucket(now.Add(-keep), step)
	}
	step := rollup.Day
	if raw > 0 && raw < rollup.Day {
		step = rollup.Hour
	}
	p.Records = cut(raw, step)
	minute, hour, day := RollupRetention(raw)
	p.Minute = cut(minute, rollup.Hour)
	p.Hour = cut(hour, rollup.Day)
	p.Day = cut(day, rollup.Day)
	return p
}

// CompactRollupsArgs folds pending rollup deltas into hours and days.
type CompactRollupsArgs struct{}

// Kind implements river.JobArgs.
func (CompactRollupsArgs) Kind() string { return "storage_compact_rollups" }

// InsertOpts makes the job unique per period.
func (CompactRollupsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: CompactInterval}}
}

// compactSlice is how many pending deltas one compaction transaction
// folds; compactRounds bounds the slices of one run.
const (
	compactSlice  = 20_000
	compactRounds = 50
)

// CompactRollupsWorker folds pending rollup deltas.
type CompactRollupsWorker struct {
	river.WorkerDefaults[CompactRollupsArgs]
	Store store.Storage
	Log   *slog.Logger
}

// Work implements river.Worker.
func (w *CompactRollupsWorker) Work(ctx context.Context, _ *river.Job[CompactRollupsArgs]) error {
	total := 0
	for range compactRounds {
		n, err := w.Store.CompactRollups(ctx, compactSlice)
		if err != nil {
			return err
		}
		total += n
		if n < compactSlice {
			break
		}
	}
	if total > 0 {
		w.Log.DebugContext(ctx, "rollups compacted", "deltas", total)
	}
	return nil
}

// addStorageWorkers registers the storage workers.
func addStorageWorkers(workers *river.Workers, cfg Config, d Deps) {
	log := cfg.Logger.With("component", "storage")
	river.AddWorker(workers, &PartitionsWorker{Store: d.Store, Log: log})
	rw := &RetentionWorker{Store: d.Store, Log: log, Compiler: d.Compiler}
	if d.Engine != nil {
		rw.Applied = d.Engine.RetentionApplied
	}
	river.AddWorker(workers, rw)
	river.AddWorker(workers, &CompactRollupsWorker{Store: d.Store, Log: log})
}

// storagePeriodicJobs schedules the storage jobs.
func storagePeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(PartitionsInterval),
			func() (river.JobArgs, *river.InsertOpts) { return PartitionsArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
		// Not on start: a restart should not begin with a heavy run (nor
		// delete, seconds after start, what an import just brought); the
		// interval is short enough that restarts do not starve it.
		river.NewPeriodicJob(river.PeriodicInterval(RetentionInterval),
			func() (river.JobArgs, *river.InsertOpts) { return RetentionArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: false}),
		river.NewPeriodicJob(river.PeriodicInterval(CompactInterval),
			func() (river.JobArgs, *river.InsertOpts) { return CompactRollupsArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
	}
}
