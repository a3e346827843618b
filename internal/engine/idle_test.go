package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/store/storetest"
)

func TestIdleBatcherExitsAndRestarts(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.Open(t, storetest.SQLite), options{cfg: engine.Config{IdleTimeout: 10 * time.Millisecond}})
	for round := range 3 {
		if _, err := b.submit(context.Background(), t, record(round)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for engine.HasBatcher(b.eng, b.p.ID) {
			if time.Now().After(deadline) {
				t.Fatal("the idle batcher did not exit")
			}
			time.Sleep(time.Millisecond)
		}
	}
	if n := len(b.records(t)); n != 3 {
		t.Errorf("%d records", n)
	}
}
