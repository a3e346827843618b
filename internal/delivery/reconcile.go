package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// reconcileBatch is how many stuck deliveries one query returns.
const reconcileBatch = 1000

// errNoOutcome is the error a reconciled delivery dies with.
const errNoOutcome = "the delivery's job ended without recording an outcome (the process stopped during its last attempt)"

// reconcileWorker works ReconcileArgs jobs.
type reconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	s *Service
}

// Work implements river.Worker.
func (w *reconcileWorker) Work(ctx context.Context, _ *river.Job[ReconcileArgs]) error {
	_, err := w.s.Reconcile(ctx, core.Now().Add(-ReconcileGrace))
	return err
}

// Reconcile gives an outcome to the deliveries that are still pending or
// retrying, untouched since before, although their River job ended: a
// process killed during a delivery's last attempt leaves its row
// retrying, and River, once it rescues the job, discards it as out of
// attempts. A delivery whose job completed was delivered (the job
// completes only after the row was written, or when writing it failed
// after the destination acknowledged): it becomes delivered. Any other
// becomes dead, with the job's arguments when River still has them, so
// that a user can retry it by hand. It returns how many deliveries it
// settled.
func (s *Service) Reconcile(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		stuck, err := s.st.StuckDeliveries(ctx, before, reconcileBatch)
		if err != nil {
			return total, fmt.Errorf("delivery reconcile: %w", err)
		}
		for _, d := range stuck {
			o := store.DeliveryOutcome{
				TeamID: d.TeamID, PipelineID: d.PipelineID, Sink: d.Sink, ID: d.ID,
				At: core.Now(), FailingAfter: s.cfg.FailingAfter,
			}
			if d.JobState == "completed" {
				o.Status, o.Records = core.DeliveryDelivered, d.Records
			} else {
				o.Status, o.Error, o.Payload = core.DeliveryDead, errNoOutcome, d.Args
			}
			if _, err := s.st.RecordDelivery(ctx, o); errors.Is(err, core.ErrNotFound) {
				continue // deleted with its pipeline meanwhile
			} else if err != nil {
				return total, fmt.Errorf("delivery reconcile: delivery %s: %w", d.ID, err)
			}
			s.log.Warn("delivery: reconciled a delivery left without outcome", "pipeline", d.PipelineID, "sink", d.Sink,
				"delivery", d.ID, "was", d.Status, "job", d.JobState, "now", o.Status)
		}
		total += len(stuck)
		if len(stuck) < reconcileBatch {
			return total, nil
		}
	}
}
