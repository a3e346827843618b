package p2p_test

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
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/p2p"
	"github.com/tributary-dev/tributary/internal/pubsub"
	"github.com/tributary-dev/tributary/internal/store"
)

var _ engine.Fanout = (*p2p.Fanout)(nil)

// links is a LinkStore in memory.
type links struct {
	mu   sync.Mutex
	ls   []store.PipelineLink
	err  error
	hits int
}

func (l *links) PipelineLinks(context.Context) ([]store.PipelineLink, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hits++
	return append([]store.PipelineLink(nil), l.ls...), l.err
}

func (l *links) set(ls ...store.PipelineLink) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ls = ls
}

func started(t *testing.T, cfg p2p.IndexConfig, st p2p.LinkStore, b pubsub.Broker) *p2p.Index {
	t.Helper()
	ix, err := p2p.NewIndex(cfg, st, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ix.Stop)
	return ix
}

// testClock is a clock that moves only when told to.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func records(n int, persisted bool, start time.Time) []core.Record {
	out := make([]core.Record, n)
	for i := range out {
		out[i] = core.Record{TS: start.Add(time.Duration(i) * time.Second), Data: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
		if persisted {
			out[i].ID = int64(100 + i)
			if i >= 1500 {
				out[i].ID += 10 // a gap: two ranges in the second job
			}
		}
	}
	return out
}

func TestFanout(t *testing.T) {
	t.Parallel()
	team, otherTeam := uuid.New(), uuid.New()
	up, down1, down2, foreign := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	st := &links{}
	st.set(
		store.PipelineLink{TeamID: team, Downstream: down1, Upstream: up},
		store.PipelineLink{TeamID: team, Downstream: down2, Upstream: up},
		store.PipelineLink{TeamID: otherTeam, Downstream: foreign, Upstream: up}, // cannot exist; must be ignored
	)
	ix := started(t, p2p.IndexConfig{RefreshInterval: time.Hour, StaleAfter: 2 * time.Hour}, st, nil)
	f := p2p.NewFanout(ix, nil)
	p := core.Pipeline{ID: up, TeamID: team}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()

	t.Run("persisted records travel by id", func(t *testing.T) {
		jobs, err := f.BatchJobs(ctx, p, true, "run-1", records(2500, true, start))
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) != 6 { // 2 downstreams × 3 jobs of ≤1000
			t.Fatalf("%d jobs, want 6", len(jobs))
		}
		seen := map[uuid.UUID]int{}
		for _, j := range jobs {
			a := j.Args.(p2p.RunArgs)
			seen[a.Pipeline] += a.Len()
			if a.TeamID != team || a.Upstream != up || a.UpstreamRun != "run-1" || a.Depth != 1 || a.Records != nil {
				t.Fatalf("job args = %+v", a)
			}
		}
		if seen[down1] != 2500 || seen[down2] != 2500 || seen[foreign] != 0 {
			t.Fatalf("records per downstream = %v", seen)
		}
		second := jobs[1].Args.(p2p.RunArgs)
		if fmt.Sprint(second.IDs) != "[[1100 1599] [1610 2109]]" || !second.From.Equal(start.Add(1000*time.Second)) || !second.To.Equal(start.Add(1999*time.Second)) {
			t.Fatalf("second job: ids %v from %v to %v", second.IDs, second.From, second.To)
		}
	})
	t.Run("records of an upstream that does not persist travel inline", func(t *testing.T) {
		jobs, err := f.BatchJobs(ctx, p, false, "run-2", records(3, false, start))
		if err != nil || len(jobs) != 2 {
			t.Fatalf("jobs %v, err %v", jobs, err)
		}
		a := jobs[0].Args.(p2p.RunArgs)
		if len(a.Records) != 3 || a.IDs != nil || string(a.Records[2].Data) != `{"i":2}` || !a.Records[2].TS.Equal(start.Add(2*time.Second)) {
			t.Fatalf("inline job = %+v", a)
		}
	})
	t.Run("a persisted record without an id fails the batch", func(t *testing.T) {
		if _, err := f.BatchJobs(ctx, p, true, "run-3", records(2, false, start)); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("no downstream, no job", func(t *testing.T) {
		jobs, err := f.BatchJobs(ctx, core.Pipeline{ID: down1, TeamID: team}, true, "run-4", records(2, true, start))
		if err != nil || len(jobs) != 0 {
			t.Fatalf("jobs %v, err %v", jobs, err)
		}
	})
	t.Run("the chain ends at MaxDepth", func(t *testing.T) {
		jobs, err := f.BatchJobs(p2p.WithDepth(ctx, p2p.MaxDepth-1), p, true, "run-5", records(1, true, start))
		if err != nil || len(jobs) != 2 || jobs[0].Args.(p2p.RunArgs).Depth != p2p.MaxDepth {
			t.Fatalf("at depth %d: jobs %v, err %v", p2p.MaxDepth-1, jobs, err)
		}
		jobs, err = f.BatchJobs(p2p.WithDepth(ctx, p2p.MaxDepth), p, true, "run-5", records(1, true, start))
		if err != nil || len(jobs) != 0 {
			t.Fatalf("past MaxDepth: jobs %v, err %v", jobs, err)
		}
	})
}

func TestFanoutInlineSplitsLargeBatches(t *testing.T) {
	t.Parallel()
	team, up, down := uuid.New(), uuid.New(), uuid.New()
	st := &links{}
	st.set(store.PipelineLink{TeamID: team, Downstream: down, Upstream: up})
	f := p2p.NewFanout(started(t, p2p.IndexConfig{}, st, nil), nil)
	big := make([]core.Record, 5)
	for i := range big {
		big[i] = core.Record{TS: time.Now(), Data: json.RawMessage(fmt.Sprintf(`{"s":"%0*d"}`, p2p.MaxInlineBytes/3, i))}
	}
	jobs, err := f.BatchJobs(context.Background(), core.Pipeline{ID: up, TeamID: team}, false, "r", big)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, j := range jobs {
		a := j.Args.(p2p.RunArgs)
		size := 0
		for _, r := range a.Records {
			size += len(r.Data)
		}
		if size > p2p.MaxInlineBytes {
			t.Fatalf("a job carries %d bytes inline", size)
		}
		total += len(a.Records)
	}
	if total != 5 || len(jobs) < 2 {
		t.Fatalf("%d jobs carry %d records", len(jobs), total)
	}
}

func TestFanoutFallsBackWhenStale(t *testing.T) {
	t.Parallel()
	team, up := uuid.New(), uuid.New()
	ctx := context.Background()
	// Never loaded: nothing can be trusted, not even "no downstream".
	ix, err := p2p.NewIndex(p2p.IndexConfig{}, &links{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := p2p.NewFanout(ix, nil)
	jobs, err := f.BatchJobs(ctx, core.Pipeline{ID: up, TeamID: team}, true, "r", records(1500, true, time.Now()))
	if err != nil || len(jobs) != 2 {
		t.Fatalf("jobs %v, err %v", jobs, err)
	}
	for _, j := range jobs {
		if a, ok := j.Args.(p2p.DispatchArgs); !ok || a.TeamID != team || a.Upstream != up {
			t.Fatalf("stale index: job %T %+v, want DispatchArgs", j.Args, j.Args)
		}
	}

	// Loaded, then its reloads fail past StaleAfter. The index's clock is
	// ours: a load that read the links before they failed was stamped
	// before the clock moves on, so the index is stale once it has.
	st := &links{}
	clock := &testClock{now: time.Date(2026, 3, 12, 15, 0, 0, 0, time.UTC)}
	ix2 := started(t, p2p.IndexConfig{RefreshInterval: 10 * time.Millisecond, StaleAfter: 50 * time.Millisecond, Now: clock.Now}, st, nil)
	f2 := p2p.NewFanout(ix2, nil)
	if jobs, _ := f2.BatchJobs(ctx, core.Pipeline{ID: up, TeamID: team}, true, "r", records(1, true, time.Now())); len(jobs) != 0 {
		t.Fatalf("fresh index without links: %d jobs", len(jobs))
	}
	st.mu.Lock()
	st.err = errors.New("database down")
	st.mu.Unlock()
	clock.Advance(100 * time.Millisecond)
	jobs, _ = f2.BatchJobs(ctx, core.Pipeline{ID: up, TeamID: team}, true, "r", records(1, true, time.Now()))
	if len(jobs) != 1 || jobs[0].Args.Kind() != (p2p.DispatchArgs{}).Kind() {
		t.Fatalf("index stale for 100ms: jobs %+v, want one dispatch job", jobs)
	}
	var _ river.JobArgs = p2p.DispatchArgs{}
}

// TestIndexChangedReachesOtherNodes: two nodes' indexes on one broker.
func TestIndexChangedReachesOtherNodes(t *testing.T) {
	t.Parallel()
	broker, err := pubsub.NewMemory(pubsub.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { broker.Close() })
	st := &links{}
	cfg := p2p.IndexConfig{RefreshInterval: time.Hour, StaleAfter: 2 * time.Hour} // only notifications refresh
	a, b := started(t, cfg, st, broker), started(t, cfg, st, broker)
	team, up, down := uuid.New(), uuid.New(), uuid.New()
	st.set(store.PipelineLink{TeamID: team, Downstream: down, Upstream: up})
	if err := a.Changed(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, fresh := a.Downstreams(team, up); len(got) != 1 || got[0] != down || !fresh {
		t.Fatalf("node a right after Changed: %v fresh=%v", got, fresh)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, _ := b.Downstreams(team, up); len(got) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node b never heard of the change")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got, _ := b.Downstreams(uuid.New(), up); len(got) != 0 {
		t.Fatalf("another team's view of up: %v", got)
	}
}

func TestIndexStartFails(t *testing.T) {
	t.Parallel()
	ix, err := p2p.NewIndex(p2p.IndexConfig{}, &links{err: errors.New("no database")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Start(context.Background()); err == nil {
		t.Fatal("Start succeeded without links")
	}
	ix.Stop() // harmless
	if _, err := p2p.NewIndex(p2p.IndexConfig{RefreshInterval: time.Minute, StaleAfter: time.Second}, &links{}, nil, nil); err == nil {
		t.Fatal("StaleAfter shorter than RefreshInterval accepted")
	}
}

func TestInputs(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 2, 3, 4, 5, 6, 700, time.UTC)
	got, err := p2p.Inputs([]core.Record{
		{TS: ts, Data: json.RawMessage(`{"a":12345678901234567890,"b":{"c":1.5}}`)},
		{TS: ts, Data: json.RawMessage(`{"ts":"kept","a":1}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	if want := `[{"a":12345678901234567890,"b":{"c":1.5},"ts":"2026-02-03T04:05:06.0000007Z"},{"a":1,"ts":"kept"}]`; string(b) != want {
		t.Fatalf("inputs = %s, want %s", b, want)
	}
}
