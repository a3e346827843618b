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

// Issue 11, defect 11: a replay re-sends the original batches, one
// delivery per original delivery, with the original idempotency ids, even
// when a batch spans pages of the replay.
func TestReplayReusesOriginalDeliveries(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, func(o *options) { o.cfg.ReplayStepPages = 1 })
		rc := newReceiver(t, nil)
		p := b.pipeline(t, spec("batches", httpSink("out", rc.URL)))
		sizes := []int{3, 1500, 1, 700} // 1500 is two parts: 1000 and 500
		first := 0
		for _, n := range sizes {
			b.ingest(t, p, first, n)
			first += n
		}
		originals := b.waitStatus(t, p, "out", 5, core.DeliveryDelivered)
		want := map[string]int{}
		for _, d := range originals {
			want[d.Key] = d.Records
		}
		if len(want) != 5 {
			t.Fatalf("%d distinct original keys, want 5", len(want))
		}
		sent := len(rc.got())

		r, err := b.svc.StartReplay(context.Background(), b.team.ID, p.ID, "out", time.Now().Add(-time.Hour), time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the replay", func() bool {
			r, err = b.st.Replay(context.Background(), b.team.ID, r.ID)
			return err == nil && r.Status == core.ReplayDone && r.Deliveries[core.DeliveryDelivered] == 5
		})
		var replayed []core.Delivery
		for _, d := range b.deliveries(t, p, "out") {
			if d.ReplayID == r.ID {
				replayed = append(replayed, d)
			}
		}
		if len(replayed) != 5 {
			t.Fatalf("the replay made %d deliveries, want one per original delivery (5)", len(replayed))
		}
		for _, d := range replayed {
			if n, ok := want[d.Key]; !ok || n != d.Records {
				t.Fatalf("replayed delivery %s of %d records; the originals were %v", d.Key, d.Records, want)
			}
		}
		// What the receiver saw: the same webhook-ids as the first time.
		got := rc.got()
		ids := map[string]bool{}
		for _, req := range got[:sent] {
			ids[req.header.Get("Webhook-Id")] = true
		}
		for _, req := range got[sent:] {
			if !ids[req.header.Get("Webhook-Id")] {
				t.Fatalf("the replay sent a new webhook-id %q", req.header.Get("Webhook-Id"))
			}
		}
		if len(got)-sent != sent {
			t.Fatalf("the replay made %d requests, the originals %d", len(got)-sent, sent)
		}
	})
}
