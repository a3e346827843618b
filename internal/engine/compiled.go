package engine

import (
	"fmt"
	"sync"

	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/internal/core"
	"github.com/tributary-dev/tributary/internal/pipeline"
)

// compiledCache keeps the compiled spec of each pipeline's newest version
// seen. It is bounded: past max pipelines, an arbitrary one is dropped.
type compiledCache struct {
	max int
	mu  sync.Mutex
	m   map[uuid.UUID]*compiledEntry
}

type compiledEntry struct {
	version int
	once    sync.Once
	c       *pipeline.Compiled
	err     error
}

// Compiled returns the compiled spec of p's version, compiling it on the
// first call for that version; concurrent first calls compile once. A
// newer version replaces the older one in the cache; asking for an older
// version than the cached one compiles it without caching (a request that
// loaded the pipeline just before an update). A spec that does not
// compile gives the same error until the pipeline changes.
func (e *Engine) Compiled(p core.Pipeline) (*pipeline.Compiled, error) {
	cc := &e.compiled
	cc.mu.Lock()
	ent := cc.m[p.ID]
	switch {
	case ent == nil || ent.version < p.Version:
		if ent == nil && len(cc.m) >= cc.max {
			for id := range cc.m { // map order is random enough for a rare eviction
				delete(cc.m, id)
				break
			}
		}
		ent = &compiledEntry{version: p.Version}
		cc.m[p.ID] = ent
	case ent.version > p.Version:
		cc.mu.Unlock()
		return e.compile(p)
	}
	cc.mu.Unlock()
	ent.once.Do(func() { ent.c, ent.err = e.compile(p) })
	return ent.c, ent.err
}

// Forget drops what the engine keeps of a deleted pipeline: its compiled
// spec and its recent records.
func (e *Engine) Forget(pipelineID uuid.UUID) {
	e.compiled.mu.Lock()
	delete(e.compiled.m, pipelineID)
	e.compiled.mu.Unlock()
	if e.cache != nil {
		e.cache.Forget(pipelineID)
	}
}

func (e *Engine) compile(p core.Pipeline) (*pipeline.Compiled, error) {
	c, err := e.cfg.Compiler.Parse(p.Spec)
	if err == nil {
		return c, nil
	}
	return nil, fmt.Errorf("compile pipeline %s version %d: %w", p.ID, p.Version, err)
}
