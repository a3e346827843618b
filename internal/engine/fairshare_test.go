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

// A batch over MaxBatchRecords is written in its team's turn: while the
// team's only slot is held, its huge batch waits and its small ones do
// not; another team's huge batch does not wait either (issue 11: huge
// batches of one team raised another's p99 9–12× on PostgreSQL).
func TestHugeBatchIsWrittenInItsTeamsTurn(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.Open(t, storetest.SQLite), options{cfg: engine.Config{CPUSlots: 2, MaxBatchRecords: 10}})
	ctx := context.Background()
	docs := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = record(i)
		}
		return out
	}
	turn := b.eng.Turn(b.team)
	if err := turn.Take(ctx); err != nil { // the team's one slot (perKey = 2-1)
		t.Fatal(err)
	}
	if res, err := b.submit(ctx, t, docs(5)...); err != nil || res.Accepted != 5 {
		t.Fatalf("small batch while the turn is held: %+v, %v", res, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := b.submit(ctx, t, docs(11)...)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("huge batch written while its team's slot was held (err %v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	turn.Leave()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("huge batch not written after the slot was left")
	}

	// Another team's turn does not hold this team's huge batch back.
	other := b.eng.Turn(uuid.New())
	if err := other.Take(ctx); err != nil {
		t.Fatal(err)
	}
	defer other.Leave()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if res, err := b.submit(wctx, t, docs(11)...); err != nil || res.Accepted != 11 {
		t.Fatalf("huge batch while another team holds a slot: %+v, %v", res, err)
	}
}
