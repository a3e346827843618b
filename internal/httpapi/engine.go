package httpapi

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/engine"
	"github.com/tributary-dev/tributary/internal/pipeline"
)

// Engine is what the routes need of the engine; *engine.Engine has it.
type Engine interface {
	// Compiled returns the compiled spec of p's version.
	Compiled(p core.Pipeline) (*pipeline.Compiled, error)
	// Process maps and validates inputs in the caller's goroutine.
	Process(c *pipeline.Compiled, inputs []any, arrival time.Time) ([]engine.Mapped, []core.Rejected)
	// Warm loads a pipeline's recent records into the cache once.
	Warm(ctx context.Context, p core.Pipeline) error
	// Forget drops what the engine keeps of a deleted pipeline.
	Forget(pipelineID uuid.UUID)
}

var _ Engine = (*engine.Engine)(nil)
