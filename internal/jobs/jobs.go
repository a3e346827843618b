// Package jobs sets River up for `tributary serve` on either storage
// backend: the client configuration, the default queue, and the jobs that
// belong to no domain — maintenance, the storage jobs (partitions,
// retention, rollups) and file uploads. Each domain (poll, p2p, delivery,
// alert) owns its job arguments and workers and registers them itself
// through Deps.Domains. Polls themselves are not River jobs: the poll
// service claims them from their schedules (see package poll); it
// registers only its periodic check here.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"gocloud.dev/blob"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/pipeline"
	"github.com/tributary-dev/tributary/internal/store"
)

// MaintenanceArgs is the periodic housekeeping job.
type MaintenanceArgs struct{}

// Kind implements river.JobArgs.
func (MaintenanceArgs) Kind() string { return "maintenance" }

// InsertOpts makes maintenance unique per period: several nodes enqueueing
// it at once run it once.
func (MaintenanceArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: MaintenanceInterval}}
}

// MaintenanceInterval is how often maintenance runs.
const MaintenanceInterval = time.Hour

// SessionCleaner is what maintenance needs of the store.
type SessionCleaner interface {
	DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error)
	// DeleteExpiredIdempotencyKeys removes the idempotency keys created
	// before before.
	DeleteExpiredIdempotencyKeys(ctx context.Context, before time.Time) (int, error)
}

// MaintenanceWorker removes expired sessions and idempotency keys.
type MaintenanceWorker struct {
	river.WorkerDefaults[MaintenanceArgs]
	Store SessionCleaner
	Log   *slog.Logger
}

// Work implements river.Worker.
func (w *MaintenanceWorker) Work(ctx context.Context, _ *river.Job[MaintenanceArgs]) error {
	now := core.Now()
	n, err := w.Store.DeleteExpiredSessions(ctx, now)
	if err != nil {
		return fmt.Errorf("maintenance: %w", err)
	}
	keys, err := w.Store.DeleteExpiredIdempotencyKeys(ctx, now.Add(-store.IdempotencyKeyTTL))
	if err != nil {
		return fmt.Errorf("maintenance: %w", err)
	}
	w.Log.InfoContext(ctx, "maintenance done", "expired_sessions_deleted", n, "expired_idempotency_keys_deleted", keys)
	return nil
}

// Config is what the job runner needs.
type Config struct {
	Workers int // concurrent workers of the default queue
	Logger  *slog.Logger
	// RescueAfter is how long a job may run before it is rescued as
	// stuck (its node crashed); 0 means DefaultRescueAfter. Below a
	// minute, it also cuts off jobs that set no timeout of their own.
	RescueAfter time.Duration
	// CompletedRetention is how long completed jobs are kept; 0 means
	// DefaultCompletedRetention.
	CompletedRetention time.Duration
	// ClientID is River's client ID: Identity.ClientID, which is also
	// the node's id in the cluster listing (cluster.Membership), so that
	// the listing tells River's leader. Empty: River's default, the host
	// name and the start time.
	ClientID string
}

// LongestJobTimeout is the longest timeout of a built-in job with the
// default settings: an upload attempt and a retention run
// (DefaultUploadTimeout, RetentionTimeout). Deliveries (5m) and alert
// evaluations (1m) take less, and so do polls (2m 30s at most), which run
// outside River.
const LongestJobTimeout = max(DefaultUploadTimeout, RetentionTimeout)

// DefaultRescueAfter is how long a running job may go without finishing
// before River takes its node for dead and runs it again: twice the
// longest job timeout, so that a job still running (a slow upload attempt
// about to hand over) is never rescued into a second copy beside it, and
// yet work a crashed node held resumes within minutes, not River's hour.
const DefaultRescueAfter = 2 * LongestJobTimeout

// Domain is a kind of background work that registers its own queues,
// workers and periodic jobs with River: *poll.Service (its periodic
// check), p2p.Workers, *delivery.Service and *alert.Service are.
type Domain interface {
	Register(cfg *river.Config)
}

// DefaultCompletedRetention is how long completed jobs are kept (River's
// default is a day): they only serve the job dashboard and the delivery
// reconciler (which looks at jobs a few minutes old), and at ingest rates
// of thousands of fan-out jobs a minute a day of them bloats the job table
// that every worker polls.
const DefaultCompletedRetention = time.Hour

// Deps are the parts workers use.
type Deps struct {
	Store store.Store
	// Compiler compiles the stored specs of pipelines (their retention).
	// Required.
	Compiler *pipeline.Compiler
	// Engine runs batches for upload jobs; without it uploads are not
	// processed.
	Engine *engine.Engine
	// Blobs holds uploaded files; without it uploads are not processed.
	Blobs *blob.Bucket
	// UploadChunkRows is how many rows one upload chunk commits (0: the
	// default).
	UploadChunkRows int
	// Domains register their own work (polls, p2p runs, deliveries), in
	// order, after the jobs of this package.
	Domains []Domain
}

// RiverConfig builds the River configuration: the default queue, the
// workers and periodic jobs of this package, then those of every domain.
func RiverConfig(cfg Config, d Deps) *river.Config {
	workers := river.NewWorkers()
	river.AddWorker(workers, &MaintenanceWorker{Store: d.Store, Log: cfg.Logger})
	river.AddWorker(workers, &WebhookIDsWorker{Store: d.Store, Log: cfg.Logger})
	addUploadWorkers(workers, cfg, d)
	addStorageWorkers(workers, cfg, d)
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = DefaultRescueAfter
	}
	if cfg.CompletedRetention <= 0 {
		cfg.CompletedRetention = DefaultCompletedRetention
	}
	rc := &river.Config{
		ID:                          cfg.ClientID,
		Logger:                      cfg.Logger.With("component", "river"),
		RescueStuckJobsAfter:        cfg.RescueAfter,
		CompletedJobRetentionPeriod: cfg.CompletedRetention,
		// River wants jobs cut off before they are rescued: a rescue
		// sooner than River's default timeout shortens the timeout of
		// jobs that set none of their own.
		JobTimeout: min(cfg.RescueAfter, river.JobTimeoutDefault),
		Queues:     map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
		Workers:    workers,
		PeriodicJobs: append([]*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(MaintenanceInterval),
				func() (river.JobArgs, *river.InsertOpts) { return MaintenanceArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
			webhookIDsPeriodicJob(),
		}, storagePeriodicJobs()...),
	}
	for _, dom := range d.Domains {
		dom.Register(rc)
	}
	return rc
}

// Stop stops the client gracefully: running jobs get until ctx ends to
// finish, then they are cancelled and given a short moment to return.
func Stop(ctx context.Context, c store.JobClient) error {
	err := c.Stop(ctx)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return err
	}
	hard, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.StopAndCancel(hard)
}
