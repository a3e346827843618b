package engine_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
)

func TestCompiled(t *testing.T) {
	t.Parallel()
	eng, err := engine.New(engine.Config{Compiler: compiler, CompiledCache: 2}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := core.Pipeline{ID: uuid.New(), Version: 1, Spec: json.RawMessage(`{"name":"a","kind":"webhook","source":{}}`)}

	// Concurrent first calls share one compilation.
	got := make([]any, 8)
	parallel(8, func(i int) {
		c, err := eng.Compiled(p)
		if err != nil {
			t.Error(err)
		}
		got[i] = c
	})
	for _, c := range got {
		if c != got[0] {
			t.Fatal("the same version was compiled more than once")
		}
	}

	p2 := p
	p2.Version, p2.Spec = 2, json.RawMessage(`{"name":"a","kind":"webhook","source":{},"persist":false}`)
	c2, err := eng.Compiled(p2)
	if err != nil || c2.Persist {
		t.Fatalf("version 2: %+v, %v", c2, err)
	}
	// A request still holding version 1 gets it compiled, uncached.
	c1, err := eng.Compiled(p)
	if err != nil || !c1.Persist || c1 == got[0] {
		t.Fatalf("version 1 again: %+v, %v", c1, err)
	}
	if again, _ := eng.Compiled(p2); again != c2 {
		t.Error("version 2 was evicted by a request for version 1")
	}

	// A stored spec that does not compile gives its problems.
	bad := core.Pipeline{ID: uuid.New(), Version: 3, Spec: json.RawMessage(`{"name":"b","kind":"webhook","source":{},"retention":"soon"}`)}
	if _, err := eng.Compiled(bad); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("bad spec: err = %v", err)
	}

	// The cache is bounded; evicted pipelines compile again.
	for range 5 {
		q := core.Pipeline{ID: uuid.New(), Version: 1, Spec: p.Spec}
		if _, err := eng.Compiled(q); err != nil {
			t.Fatal(err)
		}
	}
	eng.Forget(p.ID)
	if c, _ := eng.Compiled(p2); c == c2 {
		t.Error("Forget kept the compiled spec")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, cfg := range []engine.Config{
		{MaxBatchRecords: -1}, {Linger: -1}, {IdleTimeout: -1}, {FlushConcurrency: -1}, {CommitTimeout: -1}, {CompiledCache: -1},
	} {
		if _, err := engine.New(cfg, nil, nil, nil, nil); err == nil {
			t.Errorf("New accepted %+v", cfg)
		}
	}
	if err := (engine.Config{Compiler: compiler}).Validate(); err != nil {
		t.Errorf("the zero Config: %v", err)
	}
}
