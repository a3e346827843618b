package engine_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

// ProcessFor maps exactly as Process does, with the CPU share on or off,
// under concurrent use by several teams.
func TestProcessForMatchesProcess(t *testing.T) {
	t.Parallel()
	c, err := compiler.Parse([]byte(`{"name":"p","kind":"webhook","mapping":{"fields":{"n":{"path":"n","type":"number","required":true}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	inputs := make([]any, 50)
	for i := range inputs {
		if i%7 == 0 {
			inputs[i] = map[string]any{"n": "not a number"}
		} else {
			inputs[i] = map[string]any{"n": float64(i)}
		}
	}
	arrival := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, slots := range []int{-1, 0, 1} {
		t.Run(fmt.Sprint("slots ", slots), func(t *testing.T) {
			eng, err := engine.New(engine.Config{Compiler: compiler, CPUSlots: slots}, nil, nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			wantA, wantR := eng.Process(c, inputs, arrival)
			var wg sync.WaitGroup
			for range 8 {
				team := uuid.New()
				wg.Go(func() {
					a, r, err := eng.ProcessFor(context.Background(), team, c, inputs, arrival)
					if err != nil || !reflect.DeepEqual(a, wantA) || !reflect.DeepEqual(r, wantR) {
						t.Errorf("ProcessFor: %d accepted, %d rejected, err %v; Process: %d, %d", len(a), len(r), err, len(wantA), len(wantR))
					}
				})
			}
			wg.Wait()
		})
	}
}

// A batch over MaxBatchRecords is written in its team's turn, and counts
// as one of its team's slots while it is written: the team's own work
// waits for it, another team's does not, and it holds none of the node's
// slots (issue 11: huge batches of one
// team raised another's p99 9–12× on PostgreSQL).
func TestHugeBatchCountsAgainstItsTeamsShare(t *testing.T) {
	t.Parallel()
	g := newGate()
	b := setup(t, storetest.Open(t, storetest.SQLite), options{
		cfg:  engine.Config{CPUSlots: 2, MaxBatchRecords: 10},
		wrap: func(s engine.Store) engine.Store { g.Store = s; return g },
	})
	ctx := context.Background()
	docs := make([]string, 11)
	for i := range docs {
		docs[i] = record(i)
	}
	// The write waits for the team's turn, like its decoding and mapping.
	held := b.eng.Turn(b.team)
	if err := held.Take(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.submit(ctx, t, docs...)
		done <- err
	}()
	select {
	case <-g.entered:
		held.Leave()
		close(g.gate)
		t.Fatal("a huge batch began to be written while its team held its only slot")
	case <-time.After(200 * time.Millisecond):
	}
	held.Leave()
	<-g.entered // the huge batch is being written
	opened := false
	defer func() {
		if !opened {
			close(g.gate)
		}
	}()

	take := func(team uuid.UUID, wait time.Duration) error {
		tctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		turn := b.eng.Turn(team)
		defer turn.Leave()
		return turn.Take(tctx)
	}
	if err := take(b.team, 100*time.Millisecond); err == nil {
		t.Fatal("the team took a slot beyond its share while its huge batch was written")
	}
	// Two other teams take both of the node's slots: the write holds none.
	other1, other2 := b.eng.Turn(uuid.New()), b.eng.Turn(uuid.New())
	for _, turn := range []*engine.Turn{other1, other2} {
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := turn.Take(tctx)
		cancel()
		if err != nil {
			t.Fatalf("other teams waited for a slot while a huge batch was written: %v", err)
		}
	}
	other1.Leave()
	other2.Leave()

	close(g.gate)
	opened = true
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := take(b.team, 10*time.Second); err != nil {
		t.Fatalf("the team's slot was not given back after its huge batch: %v", err)
	}
}
