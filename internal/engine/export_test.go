package engine

import "github.com/google/uuid"

// HasBatcher reports whether the pipeline has a batcher goroutine, for
// tests that wait for a submission to reach it.
func HasBatcher(e *Engine, pipeline uuid.UUID) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.batchers[pipeline] != nil
}
