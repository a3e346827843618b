package pipeline

import (
	"github.com/tributary-dev/tributary/internal/source"
)

// compilePolling decodes and builds the polled source of a polling
// pipeline (the part of the named kind, with source.state), so that a
// spec that could not be polled is refused when it is saved.
func (cc *Compiler) compilePolling(c *Compiled, part string, ps *problems) {
	src := &c.Spec.Source
	kind, ok := cc.sources.Kind(part)
	raw := src.Parts[part]
	if !ok || !isObject(raw) {
		return // reported by compileSource
	}
	spec := kind.NewSpec()
	if !decodeStrict(raw, spec, "source."+part, ps) {
		return
	}
	var state source.StateSpec
	if src.State != nil {
		if !isObject(src.State) || !decodeStrict(src.State, &state, "source.state", ps) {
			return
		}
	}
	s, problems := cc.sources.Build(part, spec, state)
	for _, p := range problems {
		ps.add(joinPath("source", p.Path), p.Message)
	}
	c.Source = s
}
