package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/jobs"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

func TestRetentionPolicyFor(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	now := time.Date(2026, 6, 10, 15, 42, 0, 0, time.UTC)
	cases := []struct {
		name                  string
		raw                   time.Duration
		records, minute, hour time.Time
	}{
		// 30 days back is May 11 15:42; whole days: May 11 00:00.
		{"30d", 30 * 24 * time.Hour, time.Date(2026, 5, 11, 0, 0, 0, 0, time.UTC), time.Date(2026, 5, 11, 15, 0, 0, 0, time.UTC), time.Date(2025, 5, 6, 0, 0, 0, 0, time.UTC)},
		{"12h steps by the hour", 12 * time.Hour, time.Date(2026, 6, 10, 3, 0, 0, 0, time.UTC), time.Date(2026, 6, 3, 15, 0, 0, 0, time.UTC), time.Date(2025, 5, 6, 0, 0, 0, 0, time.UTC)},
		{"1y keeps 90 days of minutes", 365 * 24 * time.Hour, time.Date(2025, 6, 10, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 12, 15, 0, 0, 0, time.UTC), time.Date(2022, 6, 11, 0, 0, 0, 0, time.UTC)},
		{"forever", 0, time.Time{}, time.Date(2026, 3, 12, 15, 0, 0, 0, time.UTC), time.Time{}},
	}
	for _, c := range cases {
		p := jobs.RetentionPolicyFor(id, c.raw, now)
		if p.PipelineID != id || !p.Records.Equal(c.records) || !p.Minute.Equal(c.minute) || !p.Hour.Equal(c.hour) || !p.Day.IsZero() {
			t.Errorf("%s: policy = %+v, want records %v minute %v hour %v", c.name, p, c.records, c.minute, c.hour)
		}
	}
}

func TestStorageWorkers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := storetest.Open(t, storetest.SQLite)
	u, err := st.CreateUser(ctx, store.NewUser{Email: "a@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := st.CreateTeam(ctx, store.NewTeam{Name: "t", Slug: "t"}, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	pipe := func(name, retention string) core.Pipeline {
		spec := fmt.Sprintf(`{"name":%q,"kind":"webhook","retention":%q}`, name, retention)
		p, err := st.CreatePipeline(ctx, team.ID, store.NewPipeline{Name: name, Kind: core.KindWebhook, Spec: json.RawMessage(spec), HookToken: uuid.NewString()})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	short, forever := pipe("short", "2d"), pipe("forever", "forever")
	broken, err := st.CreatePipeline(ctx, team.ID, store.NewPipeline{Name: "broken", Kind: core.KindWebhook, Spec: json.RawMessage(`{"name":"broken","kind":"nope"}`)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 6, 10, 12, 0, 0, 0, time.UTC)
	write := func(p core.Pipeline, times ...time.Time) {
		b := &store.Batch{TeamID: team.ID, PipelineID: p.ID, Version: 1, Persist: true,
			Run: core.Run{ID: core.NewID(), Trigger: core.TriggerWebhook, StartedAt: now}}
		for _, ts := range times {
			b.Records = append(b.Records, core.Record{TS: ts, Data: json.RawMessage(`{"v":1}`)})
			b.Rollups.Add(ts, map[string]any{"v": 1.0})
		}
		if err := st.WriteBatch(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	old, recent := now.Add(-5*24*time.Hour), now.Add(-time.Hour)
	for _, p := range []core.Pipeline{short, forever, broken} {
		write(p, old, recent)
	}
	log := slog.New(slog.DiscardHandler)
	if err := (&jobs.PartitionsWorker{Store: st, Log: log}).Work(ctx, &river.Job[jobs.PartitionsArgs]{}); err != nil {
		t.Fatal(err)
	}
	if err := (&jobs.CompactRollupsWorker{Store: st, Log: log}).Work(ctx, &river.Job[jobs.CompactRollupsArgs]{}); err != nil {
		t.Fatal(err)
	}
	w := &jobs.RetentionWorker{Store: st, Log: log, Now: func() time.Time { return now }, Compiler: compiler}
	if err := w.Work(ctx, &river.Job[jobs.RetentionArgs]{}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[uuid.UUID]int64{short.ID: 1, forever.ID: 2, broken.ID: 2} {
		got, err := st.Pipeline(ctx, team.ID, p)
		if err != nil {
			t.Fatal(err)
		}
		if got.Stats.RecordCount != want {
			t.Errorf("pipeline %s keeps %d records, want %d", got.Name, got.Stats.RecordCount, want)
		}
	}
	// The hour rollups outlive the records.
	s, err := st.Series(ctx, team.ID, short.ID, store.SeriesQuery{Field: "v", From: old.Add(-time.Hour), To: now, Bucket: time.Hour, Source: "1h"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Points) != 2 {
		t.Fatalf("hour rollups after retention: %+v", s.Points)
	}
	// A bounded run snoozes to continue.
	write(short, old, old.Add(time.Second), old.Add(2*time.Second))
	w.Options = store.RetentionOptions{BatchSize: 1, MaxRows: 1}
	var snooze *river.JobSnoozeError
	if err := w.Work(ctx, &river.Job[jobs.RetentionArgs]{}); !errors.As(err, &snooze) {
		t.Fatalf("bounded run: err = %v, want a snooze", err)
	}
}
