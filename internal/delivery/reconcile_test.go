package delivery_test

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/delivery"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// endJob does to a delivery's River job what River does after a crash
// during the job's last attempt (it rescues the job and, out of attempts,
// discards it), or what its cleaner does later (deletes it).
func endJob(t *testing.T, st store.Store, deliveryID string, discard bool) {
	t.Helper()
	ctx := context.Background()
	q := `DELETE FROM river_job WHERE id = (SELECT job_id FROM deliveries WHERE id = $1)`
	if discard {
		q = `UPDATE river_job SET state = 'discarded', finalized_at = created_at WHERE id = (SELECT job_id FROM deliveries WHERE id = $1)`
	}
	switch db := st.(type) {
	case interface{ Pool() *pgxpool.Pool }:
		if _, err := db.Pool().Exec(ctx, q, deliveryID); err != nil {
			t.Fatal(err)
		}
	case interface{ DB() *sql.DB }:
		res, err := db.DB().ExecContext(ctx, q, deliveryID)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("changed %d jobs", n)
		}
	default:
		t.Fatalf("store %T", st)
	}
}

// Issue 11, defect 12: a delivery whose job ended without an outcome (a
// crash during its last attempt) does not stay retrying for ever: the
// reconciler makes it dead, retryable by hand while River keeps the job's
// arguments.
func TestReconcileStuckDeliveries(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, func(o *options) {
			// The first retry waits an hour: the job stays retryable while
			// the test plays River's part.
			o.cfg.Schedule = []time.Duration{time.Hour}
		})
		var healthy atomic.Bool
		rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			if healthy.Load() {
				w.WriteHeader(http.StatusOK)
				return
			}
			w.WriteHeader(http.StatusBadGateway)
		})
		p := b.pipeline(t, spec("stuck", httpSink("down", rc.URL), httpSink("gone", rc.URL)))
		b.ingest(t, p, 0, 3)
		down := b.waitStatus(t, p, "down", 1, core.DeliveryRetrying)[0]
		gone := b.waitStatus(t, p, "gone", 1, core.DeliveryRetrying)[0]
		if down.Attempts != 1 {
			t.Fatalf("attempts %d after one refused sending", down.Attempts)
		}
		endJob(t, st, down.ID.String(), true)
		endJob(t, st, gone.ID.String(), false)

		// Within the grace period nothing is touched.
		if n, err := b.svc.Reconcile(context.Background(), core.Now().Add(-delivery.ReconcileGrace)); err != nil || n != 0 {
			t.Fatalf("reconciled %d (err %v) within the grace period", n, err)
		}
		n, err := b.svc.Reconcile(context.Background(), core.Now().Add(time.Second))
		if err != nil || n != 2 {
			t.Fatalf("reconciled %d, err %v; want 2", n, err)
		}
		for _, d := range b.deliveries(t, p, "down") {
			if d.Status != core.DeliveryDead || d.Attempts != 1 || d.LastError == "" {
				t.Fatalf("reconciled delivery = %+v", d)
			}
		}
		// The discarded job's arguments were kept: a retry by hand works.
		healthy.Store(true)
		if _, err := b.svc.Retry(context.Background(), b.team.ID, p.ID, "down", down.ID); err != nil {
			t.Fatalf("retry by hand: %v", err)
		}
		b.waitStatus(t, p, "down", 1, core.DeliveryDelivered)
		// The deleted job's were not: the delivery is dead and says why.
		g := b.deliveries(t, p, "gone")[0]
		if g.Status != core.DeliveryDead {
			t.Fatalf("delivery of a deleted job = %+v", g)
		}
		if _, err := b.svc.Retry(context.Background(), b.team.ID, p.ID, "gone", gone.ID); !errors.Is(err, core.ErrConflict) {
			t.Fatalf("retry without arguments: err = %v", err)
		}
		// Nothing is left to reconcile.
		if n, err := b.svc.Reconcile(context.Background(), core.Now().Add(time.Second)); err != nil || n != 0 {
			t.Fatalf("second pass reconciled %d (err %v)", n, err)
		}
	})
}
