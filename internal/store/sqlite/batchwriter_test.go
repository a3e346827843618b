package sqlite_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// Batches written at once share transactions; a batch that fails (its
// pipeline does not exist) fails alone, and every other batch commits
// with its own ids.
func TestConcurrentBatchesFailAlone(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, storetest.SQLite)
	team := newTeam(t, st)
	p, err := st.CreatePipeline(ctx, team.ID, store.NewPipeline{Name: "p", Kind: core.KindWebhook,
		Spec: []byte(`{"name":"p","kind":"webhook"}`), HookToken: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	const writers, perWriter = 8, 25
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ids      = map[int64]bool{}
		failures []error
	)
	batch := func(pipeline uuid.UUID) *store.Batch {
		now := time.Now().UTC()
		b := &store.Batch{TeamID: team.ID, PipelineID: pipeline, Version: 1, Persist: true,
			Run: core.Run{ID: uuid.New(), TeamID: team.ID, PipelineID: pipeline, Version: 1, Trigger: core.TriggerWebhook, StartedAt: now}}
		for range 3 {
			b.Records = append(b.Records, core.Record{PipelineID: pipeline, TS: now, Version: 1, Data: []byte(`{"v":1}`)})
		}
		b.Run.Fetched, b.Run.Stored = 3, 3
		return b
	}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				pipeline := p.ID
				bad := w == 0 && i%5 == 0
				if bad {
					pipeline = uuid.New() // no such pipeline
				}
				b := batch(pipeline)
				err := st.WriteBatch(ctx, b)
				mu.Lock()
				switch {
				case bad && !errors.Is(err, core.ErrNotFound):
					failures = append(failures, errors.New("a batch of a missing pipeline did not fail with ErrNotFound: "+errString(err)))
				case bad:
					for _, r := range b.Records {
						if r.ID != 0 {
							failures = append(failures, errors.New("a failed batch kept a record id"))
						}
					}
				case err != nil:
					failures = append(failures, err)
				default:
					for _, r := range b.Records {
						if r.ID == 0 || ids[r.ID] {
							failures = append(failures, errors.New("record id missing or repeated"))
						}
						ids[r.ID] = true
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, err := range failures {
		t.Error(err)
	}
	got, err := st.Pipeline(ctx, team.ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len(ids)); got.Stats.RecordCount != want {
		t.Errorf("record count %d, want %d (the committed batches' records)", got.Stats.RecordCount, want)
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// newTeam stores an owner and a team of theirs.
func newTeam(t *testing.T, st store.Store) core.Team {
	t.Helper()
	ctx := context.Background()
	owner, err := st.CreateUser(ctx, store.NewUser{Email: uuid.NewString() + "@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := st.CreateTeam(ctx, store.NewTeam{Name: "Team", Slug: "team-" + uuid.NewString()[:8]}, owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	return team
}
