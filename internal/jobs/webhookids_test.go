package jobs_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/jobs"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// The cleanup job deletes expired webhook-ids and keeps live ones, on
// both backends.
func TestWebhookIDsWorker(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		u, err := st.CreateUser(ctx, store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		team, err := st.CreateTeam(ctx, store.NewTeam{Name: "t", Slug: "t-" + uuid.NewString()[:8]}, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		p, err := st.CreatePipeline(ctx, team.ID, store.NewPipeline{Name: "w", Kind: core.KindWebhook, Spec: json.RawMessage(`{}`), HookToken: uuid.NewString()})
		if err != nil {
			t.Fatal(err)
		}
		now := core.Now().Truncate(time.Second)
		b := &store.Batch{TeamID: team.ID, PipelineID: p.ID, Version: 1, Persist: true,
			Records: []core.Record{{TS: now, Data: json.RawMessage(`{}`)}},
			Run:     core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: now, Fetched: 1, Stored: 1}}
		for i := range 50 {
			exp := now.Add(time.Minute)
			if i%2 == 0 {
				exp = now.Add(time.Hour)
			}
			b.WebhookIDs = append(b.WebhookIDs, store.WebhookID{Hash: store.WebhookIDHash(uuid.NewString()), At: now, Expires: exp})
		}
		if err := st.WriteBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
		w := &jobs.WebhookIDsWorker{Store: st, Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return now.Add(2 * time.Minute) }}
		if err := w.Work(ctx, nil); err != nil {
			t.Fatal(err)
		}
		for i, id := range b.WebhookIDs {
			seen, err := st.WebhookIDSeen(ctx, team.ID, p.ID, id.Hash, now.Add(2*time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if seen != (i%2 == 0) {
				t.Fatalf("id %d seen = %v after the cleanup", i, seen)
			}
		}
		if n, err := st.DeleteExpiredWebhookIDs(ctx, now.Add(2*time.Minute), 100); err != nil || n != 0 {
			t.Fatalf("left %d expired ids (%v)", n, err)
		}
	})
}
