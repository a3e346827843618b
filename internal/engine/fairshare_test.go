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
