package jobs_test

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"

	"github.com/tributary-dev/tributary/internal/jobs"
	"github.com/tributary-dev/tributary/internal/store"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// Two live processes sharing a data directory never share a node name;
// a process started after one stopped takes its name over.
func TestClaimIdentity(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	a, err := jobs.ClaimIdentity(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := jobs.ClaimIdentity(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if a.Node == b.Node || a.ClientID == b.ClientID {
		t.Fatalf("two live processes share a name: %q and %q", a.ClientID, b.ClientID)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := jobs.ClaimIdentity(dir, now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer b.Close()
	if c.Node != a.Node || c.ClientID == a.ClientID {
		t.Fatalf("restarted process: node %q client %q, want node %q and a new client ID (was %q)", c.Node, c.ClientID, a.Node, a.ClientID)
	}
	if len(c.ClientID) > 100 {
		t.Fatalf("client ID %q is longer than River allows", c.ClientID)
	}
}

type stuckArgs struct {
	N int `json:"n"`
}

func (stuckArgs) Kind() string { return "test_stuck" }

// A job that was running when its process died is requeued by the next
// process of the same node, unless it was on its last attempt; the jobs of
// other nodes and of the live process itself are left alone.
func TestRequeueJobsOfACrashedNode(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		node := uuid.NewString()
		var calls atomic.Int32
		started := make(chan int, 4)
		release := make(chan struct{})
		done := make(chan int, 4)
		workers := river.NewWorkers()
		river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[stuckArgs]) error {
			if calls.Add(1) <= 2 {
				// The first process dies in the middle: it never returns.
				started <- j.Args.N
				<-release
				return nil
			}
			done <- j.Args.N
			return nil
		}))
		client := func(id string) store.JobClient {
			c, err := st.NewJobClient(&river.Config{
				ID: id, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Workers: workers,
				Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 2}},
				FetchPollInterval: 50 * time.Millisecond, FetchCooldown: 10 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		first := client(node + "@1")
		if err := first.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			close(release)
			stop, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_ = first.StopAndCancel(stop)
		})
		if _, err := first.Insert(ctx, stuckArgs{N: 1}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := first.Insert(ctx, stuckArgs{N: 2}, &river.InsertOpts{MaxAttempts: 1}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			select {
			case <-started:
			case <-time.After(time.Minute):
				t.Fatal("the jobs never started")
			}
		}
		// The first process stops fetching; its jobs stay running, as
		// after kill -9.
		stop, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		_ = first.Stop(stop)
		cancel()

		for _, c := range []struct {
			node, except string
		}{{uuid.NewString(), "other@1"}, {node, node + "@1"}} {
			if n, err := st.RequeueJobsOf(ctx, c.node, c.except); err != nil || n != 0 {
				t.Fatalf("RequeueJobsOf(%s, %s) = %d, %v; want 0: not the jobs of a dead process", c.node, c.except, n, err)
			}
		}
		n, err := st.RequeueJobsOf(ctx, node, node+"@2")
		if err != nil || n != 1 {
			t.Fatalf("RequeueJobsOf after the restart = %d, %v; want 1 (the job on its last attempt is left to River's rescue)", n, err)
		}
		second := client(node + "@2")
		if err := second.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stop, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_ = second.Stop(stop)
		})
		select {
		case got := <-done:
			if got != 1 {
				t.Fatalf("the restarted process ran job %d, want 1", got)
			}
		case <-time.After(time.Minute):
			t.Fatal("the requeued job never ran in the restarted process")
		}
	})
}
