package sqlite

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
)

// A big batch's slices are aloneSliceRecords while no other team writes,
// bigSliceRecords while others do, and the last one publishes the batch.
func TestSliceSizeFollowsOthers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTemp(t)
	u, err := s.CreateUser(ctx, store.NewUser{Email: "a@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := s.CreateTeam(ctx, store.NewTeam{Name: "t", Slug: "t"}, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.CreatePipeline(ctx, team.ID, store.NewPipeline{Name: "w", Kind: core.KindWebhook, Spec: json.RawMessage(`{}`), HookToken: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	n := aloneSliceRecords + 2*bigSliceRecords + 1
	now := time.Now().UTC()
	b := &store.Batch{TeamID: team.ID, PipelineID: p.ID, Version: 1, Persist: true,
		Run: core.Run{ID: uuid.New(), TeamID: team.ID, PipelineID: p.ID, Version: 1, Trigger: core.TriggerWebhook, StartedAt: now, Fetched: n, Stored: n}}
	for range n {
		b.Records = append(b.Records, core.Record{PipelineID: p.ID, TS: now, Version: 1, Data: []byte(`{"v":1}`)})
	}
	r := &writeReq{ctx: ctx, b: b, done: make(chan error, 1), big: big(b)}
	if !r.big {
		t.Fatalf("a batch of %d records is not big", n)
	}
	stored := func() int {
		t.Helper()
		got, err := s.Pipeline(ctx, team.ID, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return int(got.Stats.RecordCount)
	}
	for i, step := range []struct {
		others bool
		staged int
	}{
		{false, aloneSliceRecords},
		{true, aloneSliceRecords + bigSliceRecords},
		{true, aloneSliceRecords + 2*bigSliceRecords},
	} {
		if done, _, _ := s.writeSlice(r, step.others); done || r.staged != step.staged {
			t.Fatalf("slice %d (others %v): done %v, %d records written, want %d", i+1, step.others, done, r.staged, step.staged)
		}
		if c := stored(); c != 0 {
			t.Fatalf("after slice %d the pipeline counts %d records, want 0 until the batch commits", i+1, c)
		}
	}
	if done, _, _ := s.writeSlice(r, false); !done {
		t.Fatal("the last slice did not end the batch")
	}
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
	if c := stored(); c != n {
		t.Fatalf("the pipeline counts %d records, want %d", c, n)
	}
}
