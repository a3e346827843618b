package sqlite_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// Poll batches written at once share a transaction: each batch kept moves
// its schedule, and a batch that fails after its schedule was finished
// (here: its delivery jobs cannot be built) leaves it where it was.
func TestConcurrentPollBatchesMoveTheirSchedules(t *testing.T) {
	ctx := context.Background()
	st := storetest.Open(t, storetest.SQLite)
	team := newTeam(t, st)
	due := core.Now().Add(time.Hour).Truncate(time.Millisecond)
	next := due.Add(10 * time.Second)
	const n = 24
	pipelines := make([]core.Pipeline, n)
	for i := range pipelines {
		name := fmt.Sprintf("p%d", i)
		p, err := st.CreatePipeline(ctx, team.ID, store.NewPipeline{Name: name, Kind: core.KindPolling,
			Spec: json.RawMessage(`{"name":"` + name + `","kind":"polling","source":{"http":{"url":"https://api.example.com"}}}`)})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.ArmPoll(ctx, team.ID, p.ID, due, false); err != nil {
			t.Fatal(err)
		}
		pipelines[i] = p
	}
	bad := func(i int) bool { return i%6 == 5 }
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, p := range pipelines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			now := time.Now().UTC()
			b := &store.Batch{TeamID: team.ID, PipelineID: p.ID, Version: p.Version, Persist: true,
				Run:    core.Run{ID: uuid.New(), TeamID: team.ID, PipelineID: p.ID, Version: p.Version, Trigger: core.TriggerPoll, StartedAt: now},
				Finish: &store.PollFinish{TeamID: team.ID, PipelineID: p.ID, Due: due, Next: next}}
			b.Records = []core.Record{{PipelineID: p.ID, TS: now, Version: p.Version, Data: []byte(`{"v":1}`)}}
			b.Run.Fetched, b.Run.Stored = 1, 1
			if bad(i) {
				b.Jobs = func([]core.Record) ([]river.InsertManyParams, error) { return nil, errors.New("no jobs") }
			}
			errs[i] = st.WriteBatch(ctx, b)
		}()
	}
	wg.Wait()

	for i, p := range pipelines {
		sched, err := st.PollSchedule(ctx, team.ID, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case bad(i) && errs[i] == nil:
			t.Errorf("pipeline %d: a batch whose jobs cannot be built committed", i)
		case bad(i) && !sched.NextDue.Equal(due):
			t.Errorf("pipeline %d: failed batch left the schedule at %s (want %s)", i, sched.NextDue, due)
		case !bad(i) && errs[i] != nil:
			t.Errorf("pipeline %d: %v", i, errs[i])
		case !bad(i) && !sched.NextDue.Equal(next):
			t.Errorf("pipeline %d: schedule at %s (want %s)", i, sched.NextDue, next)
		}
	}
}
