package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
)

// WebhookIDsInterval is how often expired webhook-ids are deleted. A
// webhook-id is kept for the pipeline's signature tolerance (5 minutes by
// default) after its timestamp, so the table holds about this interval's
// worth of signed requests beyond the live window.
const WebhookIDsInterval = 5 * time.Minute

// webhookIDsChunk is how many ids one statement deletes, and
// webhookIDsChunks how many statements one run makes at most.
const (
	webhookIDsChunk  = 10_000
	webhookIDsChunks = 100
)

// WebhookIDsArgs is the periodic job that deletes expired webhook-ids
// (replay protection of signed webhooks, store.WebhookIDs).
type WebhookIDsArgs struct{}

// Kind implements river.JobArgs.
func (WebhookIDsArgs) Kind() string { return "webhook_ids_cleanup" }

// InsertOpts makes the job unique per period: several nodes enqueueing it
// at once run it once.
func (WebhookIDsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: WebhookIDsInterval}}
}

// WebhookIDCleaner is what the job needs of the store.
type WebhookIDCleaner interface {
	DeleteExpiredWebhookIDs(ctx context.Context, now time.Time, limit int) (int, error)
}

// WebhookIDsWorker deletes expired webhook-ids, in chunks.
type WebhookIDsWorker struct {
	river.WorkerDefaults[WebhookIDsArgs]
	Store WebhookIDCleaner
	Log   *slog.Logger
	// Now is the clock; nil means core.Now.
	Now func() time.Time
}

// Work implements river.Worker.
func (w *WebhookIDsWorker) Work(ctx context.Context, _ *river.Job[WebhookIDsArgs]) error {
	now := core.Now
	if w.Now != nil {
		now = w.Now
	}
	at := now()
	total := 0
	for range webhookIDsChunks {
		n, err := w.Store.DeleteExpiredWebhookIDs(ctx, at, webhookIDsChunk)
		if err != nil {
			return fmt.Errorf("webhook-id cleanup: %w", err)
		}
		total += n
		if n < webhookIDsChunk {
			break
		}
	}
	if total > 0 {
		w.Log.DebugContext(ctx, "webhook-id cleanup done", "deleted", total)
	}
	return nil
}

func webhookIDsPeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(WebhookIDsInterval),
		func() (river.JobArgs, *river.InsertOpts) { return WebhookIDsArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}
