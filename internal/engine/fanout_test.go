package engine_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

type fanoutArgs struct {
	Pipeline string  `json:"pipeline"`
	Run      string  `json:"run"`
	IDs      []int64 `json:"ids"`
}

func (fanoutArgs) Kind() string { return "engine_test_fanout" }

type fanoutWorker struct {
	river.WorkerDefaults[fanoutArgs]
	got chan fanoutArgs
}

func (w *fanoutWorker) Work(_ context.Context, j *river.Job[fanoutArgs]) error {
	w.got <- j.Args
	return nil
}

// recordingFanout returns one job per batch naming its records, or fails.
type recordingFanout struct {
	mu   sync.Mutex
	fail bool
}

func (f *recordingFanout) BatchJobs(_ context.Context, p core.Pipeline, persist bool, runID string, recs []core.Record) ([]river.InsertManyParams, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, errors.New("fanout refused")
	}
	args := fanoutArgs{Pipeline: p.ID.String(), Run: runID}
	for _, r := range recs {
		args.IDs = append(args.IDs, r.ID)
	}
	return []river.InsertManyParams{{Args: args}}, nil
}

func TestFanoutJobsCommitWithTheBatch(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		b := setup(t, st, options{})
		f := &recordingFanout{}
		b.eng.AddFanout(f)
		w := &fanoutWorker{got: make(chan fanoutArgs, 4)}
		workers := river.NewWorkers()
		river.AddWorker(workers, w)
		client, err := st.NewJobClient(&river.Config{
			Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}}, Workers: workers,
			FetchCooldown: 20 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond, TestOnly: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = client.Stop(context.Background()) })

		res, err := b.submit(ctx, t, record(1), record(2))
		if err != nil || res.Accepted != 2 {
			t.Fatalf("submit: %+v, %v", res, err)
		}
		select {
		case got := <-w.got:
			recs := b.records(t)
			if got.Run != res.RunID.String() || got.Pipeline != b.p.ID.String() || len(got.IDs) != 2 ||
				got.IDs[0] == 0 || (got.IDs[0] != recs[0].ID && got.IDs[0] != recs[1].ID) {
				t.Fatalf("job %+v for run %s, records %+v", got, res.RunID, recs)
			}
		case <-ctx.Done():
			t.Fatal("the batch's job did not run")
		}

		// A fanout that fails fails the batch: nothing is stored.
		f.mu.Lock()
		f.fail = true
		f.mu.Unlock()
		if _, err := b.submit(ctx, t, record(3)); err == nil {
			t.Fatal("a batch whose fanout failed was acknowledged")
		}
		if n := len(b.records(t)); n != 2 {
			t.Fatalf("%d records after a failed fanout, want 2", n)
		}
	})
}
